//! The `phase1-worker` binary as a process: drains with `--until-drained`,
//! and on SIGTERM finishes its tasks and writes STOPPED.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| ai_runtime_migrations::DEFAULT_DATABASE_URL.to_owned());
    let name = pool.connect_options().get_database().unwrap().to_owned();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

fn worker(pool: &PgPool, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_phase1-worker"));
    command
        .args(["--database-url", &database_url(pool)])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn until_drained_exits_zero_with_every_task_settled(pool: PgPool) {
    let output = worker(
        &pool,
        &[
            "--workers",
            "2",
            "--enqueue",
            "40",
            "--seed",
            "5",
            "--latency-ms",
            "0",
            "--until-drained",
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("enqueued=40"), "{stdout}");
    assert_eq!(
        count(
            &pool,
            "select count(*) from persona_tasks where status in ('PENDING', 'RUNNING')"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from ai_worker_status where status = 'STOPPED'"
        )
        .await,
        2
    );
    let route: serde_json::Value = sqlx::query_scalar(
        "select metadata->'route' from ai_worker_status where worker_id = 'phase1-worker-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        route,
        serde_json::json!({"provider": "simulated", "model": "sim-large-1"})
    );
    assert!(count(&pool, "select count(*) from ai_runtime_events").await > 100);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn bad_flags_are_refused_with_a_message(pool: PgPool) {
    let output = worker(&pool, &["--failure-rate", "2"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("between 0 and 1"), "{stderr}");
    let output = worker(&pool, &["--until-drained", "--continuous"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn sigterm_finishes_current_tasks_and_writes_stopped(pool: PgPool) {
    let mut child = worker(
        &pool,
        &[
            "--workers",
            "2",
            "--enqueue",
            "200",
            "--latency-ms",
            "100",
            "--failure-rate",
            "0",
        ],
    )
    .spawn()
    .unwrap();
    let started = Instant::now();
    while count(
        &pool,
        "select count(*) from persona_tasks where status = 'DONE'",
    )
    .await
        < 2
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // Nothing is left leased; both workers say STOPPED with no task.
    assert_eq!(
        count(
            &pool,
            "select count(*) from persona_tasks where status = 'RUNNING'"
        )
        .await,
        0
    );
    assert!(
        count(
            &pool,
            "select count(*) from persona_tasks where status = 'PENDING'"
        )
        .await
            > 0
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from ai_worker_status where status = 'STOPPED' and current_task_id is null"
        )
        .await,
        2
    );
}
