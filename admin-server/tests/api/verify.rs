//! `ai-runtime-verify`'s exit codes: 0 healthy, 1 degraded, 2 unreachable
//! or wrong usage; and the role it reports. It runs as `ai_runtime_reader`,
//! the admin server's role, unless a test says otherwise.

use std::process::{Command, Output};

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::fixtures::{ago, insert_event, upsert_worker, Event, Worker};

/// The test database's URL as the reader role (taken at connection start).
fn url_of(options: &PgConnectOptions) -> String {
    format!(
        "{}?options=-c%20role%3Dai_runtime_reader",
        owner_url_of(options)
    )
}

/// The test database's URL as the tests' login (a superuser).
fn owner_url_of(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    )
}

fn verify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-runtime-verify"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

async fn pool(options: &PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn healthy_runtime_exits_0(_: PgPoolOptions, options: PgConnectOptions) {
    let pool = pool(&options).await;
    upsert_worker(&pool, Worker::default()).await;
    insert_event(
        &pool,
        Event {
            reason_code: "PROVIDER_TIMEOUT",
            metadata: json!({"level": "WARN", "message": "slow"}),
            ..Event::default()
        },
    )
    .await;
    insert_event(&pool, Event::default()).await;
    let url = url_of(&options);

    let text = verify(&["--database-url", &url]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(
        code(&text),
        0,
        "{stdout}{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(stdout.contains("Verdict: HEALTHY"), "{stdout}");
    assert!(stdout.contains("worker-1"), "{stdout}");
    assert!(stdout.contains("sim/fast-1"), "{stdout}");
    assert!(stdout.contains("PROVIDER_TIMEOUT"), "{stdout}");

    let json_run = verify(&["--database-url", &url, "--json"]);
    assert_eq!(code(&json_run), 0);
    let report: Value = serde_json::from_slice(&json_run.stdout).unwrap();
    assert_eq!(report["status"]["overall"], "HEALTHY");
    assert_eq!(report["recent"]["total"], 2);
    assert_eq!(
        report["recent"]["latestError"]["reasonCode"],
        "PROVIDER_TIMEOUT"
    );
    assert_eq!(report["recent"]["latestError"]["message"], "slow");
    pool.close().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn degraded_runtime_exits_1(_: PgPoolOptions, options: PgConnectOptions) {
    let pool = pool(&options).await;
    let url = url_of(&options);
    let run = |expect: &str| {
        let out = verify(&["--database-url", &url]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(code(&out), 1, "{expect}: {stdout}");
        assert!(stdout.contains("Verdict: DEGRADED"), "{stdout}");
        assert!(stdout.contains(expect), "{expect}: {stdout}");
    };
    // No worker at all.
    run("no worker is running");
    // Breaker open.
    upsert_worker(
        &pool,
        Worker {
            circuit_open: true,
            circuit_reason: Some("PROVIDER_OUTAGE"),
            ..Worker::default()
        },
    )
    .await;
    run("circuit breaker of worker-1 is open: PROVIDER_OUTAGE");
    // Stale heartbeat: 31 s without a beat at a 10 s interval.
    upsert_worker(
        &pool,
        Worker {
            last_heartbeat: ago(31),
            ..Worker::default()
        },
    )
    .await;
    run("worker-1 has not sent a heartbeat");
    // Events dropped.
    upsert_worker(&pool, Worker {
        metadata: json!({"sink": {"sinkId": "s", "droppedChannelFull": 0, "droppedDatabase": 12}}),
        ..Worker::default()
    }).await;
    run("dropped 12 event(s)");
    // And back to healthy.
    upsert_worker(&pool, Worker::default()).await;
    assert_eq!(code(&verify(&["--database-url", &url])), 0);
    pool.close().await;
}

#[test]
fn unreachable_database_and_bad_usage_exit_2() {
    let out = verify(&["--database-url", "postgres://postgres@127.0.0.1:1/nowhere"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the database"));
    // A database that does not exist on a live server.
    let out = verify(&[
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/no_such_database_here",
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(code(&verify(&["--no-such-flag"])), 2);
    assert_eq!(code(&verify(&["--minutes", "0"])), 2);
}

/// The built-in alerts firing now (the evaluator's table) are listed, in
/// text and JSON; a pending one (not fired yet) is not.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn firing_alerts_are_listed(_: PgPoolOptions, options: PgConnectOptions) {
    let pool = pool(&options).await;
    upsert_worker(&pool, Worker::default()).await;
    sqlx::query(
        "insert into ai_runtime_alerts (alert, subject, since, firing_at, value, message) values \
         ('BREAKER_OPEN', 'worker-1', now() - interval '3 minutes', now() - interval '1 minute', \
          180, 'circuit breaker of worker-1 open for 180 s: outage'), \
         ('STUCK_TASKS', '', now(), null, 1, 'pending, not shown')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let url = url_of(&options);
    let text = verify(&["--database-url", &url]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("Alerts firing:\n  BREAKER_OPEN    since "),
        "{stdout}"
    );
    assert!(stdout.contains("circuit breaker of worker-1 open for 180 s: outage"));
    assert!(!stdout.contains("pending, not shown"), "{stdout}");
    let json = verify(&["--database-url", &url, "--json"]);
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    let alerts = report["status"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"], "BREAKER_OPEN");
    assert_eq!(alerts[0]["workerId"], "worker-1");
    assert_eq!(alerts[0]["value"], 180.0);
    pool.close().await;
}

/// The role verify runs as, and a warning for a role holding more than
/// its component needs; the verdict does not depend on them.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_role_is_reported_and_excess_privileges_warned(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let pool = pool(&options).await;
    upsert_worker(&pool, Worker::default()).await;
    let as_reader = verify(&["--database-url", &url_of(&options)]);
    let stdout = String::from_utf8_lossy(&as_reader.stdout);
    assert_eq!(code(&as_reader), 0, "{stdout}");
    assert!(
        stdout.contains("Database role: ai_runtime_reader (member of ai_runtime_reader)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("each role holds what its component needs, no more"),
        "{stdout}"
    );

    // An admin server that could delete events (a grant in this database).
    sqlx::query("grant delete, truncate on ai_runtime_events to ai_runtime_reader")
        .execute(&pool)
        .await
        .unwrap();
    let json = verify(&["--database-url", &url_of(&options), "--json"]);
    assert_eq!(code(&json), 0);
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["roles"]["current"]["role"], "ai_runtime_reader");
    assert_eq!(
        report["roles"]["current"]["beyondNeed"],
        json!([
            "DELETE on ai_runtime_events",
            "TRUNCATE on ai_runtime_events"
        ])
    );
    let text = verify(&["--database-url", &url_of(&options)]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(
            "warning: ai_runtime_reader holds more than the admin server and ai-runtime-verify \
             (ai_runtime_reader) need: DELETE on ai_runtime_events, TRUNCATE on ai_runtime_events"
        ),
        "{stdout}"
    );

    // The owner's login: a superuser, and a member of no role of its own.
    let as_owner = verify(&["--database-url", &owner_url_of(&options)]);
    let stdout = String::from_utf8_lossy(&as_owner.stdout);
    assert!(
        stdout.contains(
            "warning: postgres is a superuser: no grant and no row-level security restricts it"
        ),
        "{stdout}"
    );
    pool.close().await;
}
