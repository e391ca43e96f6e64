//! The `phase1-worker` binary as a process: drains with `--until-drained`,
//! and on SIGTERM finishes its tasks and writes STOPPED.

#[path = "../../observability-layer/tests/common/otlp_receiver.rs"]
mod otlp_receiver;

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

/// Outcome per task index of a namespace: (status, reason code, attempts).
async fn outcomes(pool: &PgPool, namespace: &str) -> Vec<(i64, String, String, i32)> {
    sqlx::query_as(
        "select (payload->>'index')::bigint as i, status, reason_code, attempts
         from persona_tasks where idempotency_key like $1 || ':%' order by i",
    )
    .bind(namespace)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The seed's regression through the binary's own flags: `--workers 1`,
/// the same seed, events to the database or to an unreachable address.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn same_seed_same_outcomes_when_the_events_database_is_unreachable(pool: PgPool) {
    let run = |namespace: &'static str, events_url: String| {
        let mut command = worker(
            &pool,
            &[
                "--workers",
                "1",
                "--seed",
                "77",
                "--enqueue",
                "150",
                "--namespace",
                namespace,
                "--worker-id-prefix",
                namespace,
                "--latency-ms",
                "0",
                "--failure-rate",
                "0.6",
                "--retry-backoff-ms",
                "0",
                "--requeue-delay",
                "0",
                "--until-drained",
            ],
        );
        command.args([
            "--events-database-url",
            &events_url,
            "--events-flush-deadline",
            "0.2",
        ]);
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The run itself, from the summary line (the process also waits
        // for the layer's shutdown deadline when its database is gone).
        let elapsed_ms: u64 = stdout
            .split_once("elapsed_ms=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|ms| ms.parse().ok())
            .expect("the summary line has elapsed_ms");
        (Duration::from_millis(elapsed_ms), stdout)
    };
    let (ok_time, ok_out) = run("ok", database_url(&pool));
    let (down_time, down_out) = run(
        "down",
        "postgres://postgres@127.0.0.1:1/unreachable".to_owned(),
    );

    let ok = outcomes(&pool, "ok").await;
    let down = outcomes(&pool, "down").await;
    assert_eq!(ok.len(), 150);
    assert_eq!(
        ok.iter()
            .map(|(i, s, r, a)| (i, s, r, a))
            .collect::<Vec<_>>(),
        down.iter()
            .map(|(i, s, r, a)| (i, s, r, a))
            .collect::<Vec<_>>()
    );
    assert!(
        ok.iter().any(|(_, _, _, attempts)| *attempts > 0),
        "some provider retries"
    );
    assert!(ok_out.contains("dropped_database=0"), "{ok_out}");
    assert!(down_out.contains(" written=0 "), "{down_out}");
    println!(
        "run with events written: {ok_time:?}, with the events database unreachable: {down_time:?}"
    );
    // Not slower (generous: a shared machine).
    assert!(
        down_time <= ok_time * 2 + Duration::from_secs(2),
        "{down_time:?} vs {ok_time:?}"
    );
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT=... phase1-worker --no-events-database`:
/// the run's events reach the collector with the GenAI attributes, and
/// none is written to Postgres.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_otlp_endpoint_alone_receives_the_runs_events(pool: PgPool) {
    use otlp_receiver::{attr_int, attr_str, Receiver};
    let receiver = Receiver::start();
    let output = worker(
        &pool,
        &[
            "--workers",
            "1",
            "--seed",
            "9",
            "--enqueue",
            "30",
            "--namespace",
            "otlp",
            "--worker-id-prefix",
            "otlp",
            "--latency-ms",
            "0",
            "--failure-rate",
            "0.3",
            "--retry-backoff-ms",
            "0",
            "--until-drained",
            "--no-events-database",
        ],
    )
    .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
    .env("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%3D1")
    .env("OTEL_SERVICE_NAME", "phase1-under-test")
    .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exported: usize = stdout
        .split_once("events otlp: exported=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an otlp summary line: {stdout}"));
    assert!(stdout.contains("dropped=0"), "{stdout}");
    let records = receiver.accepted_records();
    assert!(exported > 30, "{stdout}");
    assert_eq!(records.len(), exported);
    let requests = receiver.requests();
    assert_eq!(requests[0].headers["x-api-key"], "k=1");
    assert_eq!(requests[0].resource["service.name"], "phase1-under-test");
    assert_eq!(requests[0].resource["deployment.environment"], "ci");
    let call = records
        .iter()
        .find(|r| attr_str(r, "ai_runtime.reason_code").as_deref() == Some("PROVIDER_CALL_OK"))
        .expect("a provider call");
    assert_eq!(
        attr_str(call, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(
        attr_str(call, "gen_ai.provider.name").as_deref(),
        Some("simulated")
    );
    assert_eq!(
        attr_str(call, "gen_ai.request.model").as_deref(),
        Some("sim-large-1")
    );
    assert!(attr_int(call, "gen_ai.usage.input_tokens").is_some_and(|n| n >= 380));
    assert!(attr_int(call, "gen_ai.usage.output_tokens").is_some_and(|n| n > 0));
    assert!(records
        .iter()
        .any(
            |r| attr_str(r, "gen_ai.operation.name").as_deref() == Some("execute_tool")
                && attr_str(r, "gen_ai.tool.name").is_some()
        ));
    // The queue is in Postgres; the events are not.
    assert_eq!(
        count(&pool, "select count(*) from ai_runtime_events").await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from persona_tasks where status in ('PENDING', 'RUNNING')"
        )
        .await,
        0
    );

    // Without an endpoint the flag is refused, with a message.
    let refused = worker(&pool, &["--no-events-database", "--until-drained"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
}
