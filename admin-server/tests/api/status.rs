//! `GET /status` on crafted data: trend deltas, stuck detection, staleness,
//! breakers, dropped events, the active route and the overall verdict.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::fixtures::{
    ago, insert_event, insert_task, insert_transition, upsert_worker, Event, Task, Worker,
};
use crate::server;

fn queue_entry<'a>(body: &'a Value, status: &str) -> &'a Value {
    body["queue"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == status)
        .unwrap()
}

fn kinds(body: &Value) -> Vec<String> {
    body["degraded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn trend_deltas_are_entries_minus_exits_in_the_window(pool: PgPool) {
    let m = 60; // seconds per minute
    let t1 = insert_task(
        &pool,
        Task {
            status: "DONE",
            ..Task::default()
        },
    )
    .await;
    insert_transition(&pool, t1, None, "PENDING", ago(20 * m)).await;
    insert_transition(&pool, t1, Some("PENDING"), "RUNNING", ago(10 * m)).await;
    insert_transition(&pool, t1, Some("RUNNING"), "DONE", ago(5 * m)).await;
    let t2 = insert_task(&pool, Task::default()).await;
    insert_transition(&pool, t2, None, "PENDING", ago(3 * m)).await;
    let t3 = insert_task(
        &pool,
        Task {
            status: "FAILED",
            ..Task::default()
        },
    )
    .await;
    insert_transition(&pool, t3, Some("PENDING"), "RUNNING", ago(30 * m)).await;
    insert_transition(&pool, t3, Some("RUNNING"), "FAILED", ago(m)).await;
    let t4 = insert_task(
        &pool,
        Task {
            status: "RUNNING",
            lease_expires_at: Some(ago(-60)),
            ..Task::default()
        },
    )
    .await;
    insert_transition(&pool, t4, Some("RUNNING"), "RUNNING", ago(2 * m)).await;
    let t5 = insert_task(&pool, Task::default()).await;
    insert_transition(&pool, t5, None, "PENDING", ago(2 * m)).await;
    upsert_worker(&pool, Worker::default()).await;
    let server = server::start(pool).await;

    let body = server.ok("status").await;
    assert_eq!(body["queue"]["windowMinutes"], 15);
    let expect = [
        ("PENDING", 2, 1),
        ("RUNNING", 1, -1),
        ("IN_REVIEW", 0, 0),
        ("DONE", 1, 1),
        ("SKIPPED", 0, 0),
        ("FAILED", 1, 1),
    ];
    let order: Vec<&str> = body["queue"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(order, expect.iter().map(|e| e.0).collect::<Vec<_>>());
    for (status, count, delta) in expect {
        let entry = queue_entry(&body, status);
        assert_eq!(entry["count"], count, "{status}: {entry}");
        assert_eq!(entry["delta"], delta, "{status}: {entry}");
    }

    let hour = server.ok("status?window=60").await;
    assert_eq!(hour["queue"]["windowMinutes"], 60);
    for (status, delta) in [("PENDING", 1), ("RUNNING", 0), ("DONE", 1), ("FAILED", 1)] {
        assert_eq!(
            queue_entry(&hour, status)["delta"],
            delta,
            "{status} over an hour"
        );
    }
    assert_eq!(body["overall"], "HEALTHY", "{body}");
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn stuck_tasks_are_detected(pool: PgPool) {
    upsert_worker(&pool, Worker::default()).await;
    insert_task(
        &pool,
        Task {
            status: "RUNNING",
            lease_expires_at: Some(ago(1)),
            ..Task::default()
        },
    )
    .await;
    insert_task(
        &pool,
        Task {
            status: "RUNNING",
            lease_expires_at: Some(ago(-60)),
            ..Task::default()
        },
    )
    .await;
    insert_task(
        &pool,
        Task {
            status: "PENDING",
            scheduled_at: ago(301),
            ..Task::default()
        },
    )
    .await;
    insert_task(
        &pool,
        Task {
            status: "PENDING",
            scheduled_at: ago(301),
            ..Task::default()
        },
    )
    .await;
    insert_task(
        &pool,
        Task {
            status: "PENDING",
            scheduled_at: ago(200),
            ..Task::default()
        },
    )
    .await;
    insert_task(
        &pool,
        Task {
            status: "DONE",
            scheduled_at: ago(9000),
            ..Task::default()
        },
    )
    .await;
    let server = server::start(pool).await;
    let body = server.ok("status").await;
    assert_eq!(body["queue"]["stuckRunning"], 1);
    assert_eq!(body["queue"]["stuckPending"], 2);
    assert_eq!(kinds(&body), vec!["STUCK_TASKS"]);
    assert_eq!(body["overall"], "DEGRADED");
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn worker_flags_route_and_dropped_events(pool: PgPool) {
    let sink = |id: &str, channel: i64, database: i64| {
        json!({"sinkId": id, "emitted": 100, "written": 90, "droppedChannelFull": channel,
               "droppedDatabase": database, "invalid": 0, "retries": 0, "batches": 3,
               "lastError": null, "lastErrorAt": null})
    };
    // Fresh, closed, on the newest route.
    upsert_worker(&pool, Worker {
        worker_id: "a-fresh",
        last_heartbeat: ago(1),
        metadata: json!({"route": {"provider": "sim", "model": "m-new"}, "heartbeatIntervalSeconds": 10,
                         "sink": sink("s1", 3, 2)}),
        ..Worker::default()
    }).await;
    // Shares sink s1: its drops count once.
    upsert_worker(&pool, Worker {
        worker_id: "b-same-sink",
        last_heartbeat: ago(2),
        metadata: json!({"route": {"provider": "sim", "model": "m-old"}, "sink": sink("s1", 3, 2)}),
        ..Worker::default()
    }).await;
    // A 2 s interval, silent for 7 s: stale.
    upsert_worker(
        &pool,
        Worker {
            worker_id: "c-stale",
            status: "IDLE",
            last_heartbeat: ago(7),
            metadata: json!({"heartbeatIntervalSeconds": 2, "sink": sink("s2", 0, 4)}),
            ..Worker::default()
        },
    )
    .await;
    // Breaker open.
    upsert_worker(
        &pool,
        Worker {
            worker_id: "d-open",
            status: "DEGRADED",
            circuit_open: true,
            circuit_reason: Some("PROVIDER_OUTAGE"),
            last_heartbeat: ago(0),
            metadata: json!({}),
        },
    )
    .await;
    // Stopped long ago: neither stale nor counted.
    upsert_worker(&pool, Worker {
        worker_id: "e-stopped",
        status: "STOPPED",
        circuit_open: true,
        last_heartbeat: ago(86_400),
        metadata: json!({"route": {"provider": "old", "model": "gone"}, "sink": sink("s3", 50, 50)}),
        ..Worker::default()
    }).await;
    let at = ago(42);
    insert_event(
        &pool,
        Event {
            occurred_at: at,
            ..Event::default()
        },
    )
    .await;
    let server = server::start(pool).await;
    let body = server.ok("status").await;

    let workers = body["workers"].as_array().unwrap();
    let ids: Vec<&str> = workers
        .iter()
        .map(|w| w["workerId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["a-fresh", "b-same-sink", "c-stale", "d-open", "e-stopped"]
    );
    let stale: Vec<bool> = workers
        .iter()
        .map(|w| w["stale"].as_bool().unwrap())
        .collect();
    assert_eq!(stale, [false, false, true, false, false]);
    assert!(workers[2]["heartbeatAgeSeconds"].as_f64().unwrap() >= 7.0);
    assert_eq!(workers[0]["droppedEvents"], 5);
    assert_eq!(
        workers[0]["route"],
        json!({"provider": "sim", "model": "m-new"})
    );
    assert_eq!(body["droppedEvents"], 9);
    assert_eq!(
        body["activeRoute"],
        json!({"provider": "sim", "model": "m-new"})
    );
    let last: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["lastEventAt"].clone()).unwrap();
    assert_eq!(last.timestamp_micros(), at.timestamp_micros());

    let mut flags = kinds(&body);
    flags.sort();
    assert_eq!(flags, ["BREAKER_OPEN", "EVENTS_DROPPED", "STALE_HEARTBEAT"]);
    let by_kind = |k: &str| {
        body["degraded"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(by_kind("BREAKER_OPEN")["workerId"], "d-open");
    assert!(by_kind("BREAKER_OPEN")["message"]
        .as_str()
        .unwrap()
        .contains("PROVIDER_OUTAGE"));
    assert_eq!(by_kind("STALE_HEARTBEAT")["workerId"], "c-stale");
    assert_eq!(body["overall"], "DEGRADED");
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn no_running_worker_is_degraded(pool: PgPool) {
    let server = server::start(pool.clone()).await;
    let body = server.ok("status").await;
    assert_eq!(kinds(&body), ["NO_WORKERS"]);
    assert!(body["lastEventAt"].is_null());
    upsert_worker(
        &pool,
        Worker {
            status: "STOPPED",
            ..Worker::default()
        },
    )
    .await;
    assert_eq!(kinds(&server.ok("status").await), ["NO_WORKERS"]);
    upsert_worker(&pool, Worker::default()).await;
    let body = server.ok("status").await;
    assert_eq!(body["overall"], "HEALTHY", "{body}");
    assert!(body["degraded"].as_array().unwrap().is_empty());
    server.stop().await;
}

/// A task of the model: its final status and its transitions `(from, to, at)`.
type ModelTask = (
    &'static str,
    Vec<(Option<&'static str>, &'static str, DateTime<Utc>)>,
);

/// `n` tasks walking random paths through the statuses, their transitions
/// at random times between `oldest` seconds ago and now, inserted.
async fn model_tasks(
    pool: &PgPool,
    roll: &mut impl FnMut(u64) -> u64,
    n: usize,
    oldest: i64,
) -> Vec<ModelTask> {
    const NEXT: &[(&str, &[&str])] = &[
        ("PENDING", &["RUNNING"]),
        (
            "RUNNING",
            &["DONE", "FAILED", "SKIPPED", "IN_REVIEW", "PENDING"],
        ),
        ("IN_REVIEW", &["DONE", "SKIPPED"]),
    ];
    let now = Utc::now();
    // Postgres keeps microseconds: the model compares what it stores.
    let at = |seconds_ago: i64| {
        (now - Duration::seconds(seconds_ago))
            .duration_trunc(Duration::microseconds(1))
            .unwrap()
    };
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut ago_s = oldest - roll((oldest / 3).max(1) as u64) as i64;
        let mut status = "PENDING";
        let mut path = vec![(None, "PENDING", at(ago_s))];
        while let Some((_, next)) = NEXT.iter().find(|(s, _)| *s == status) {
            if roll(4) == 0 {
                break; // stays where it is
            }
            let to = next[roll(next.len() as u64) as usize];
            ago_s -= 1 + roll(ago_s.max(2) as u64 / 2) as i64;
            path.push((Some(status), to, at(ago_s.max(0))));
            status = to;
        }
        let id = insert_task(
            pool,
            Task {
                status,
                ..Task::default()
            },
        )
        .await;
        for (from, to, at) in &path {
            insert_transition(pool, id, *from, to, *at).await;
        }
        tasks.push((status, path));
    }
    tasks
}

/// Checks every count and delta of `/status` over a few windows against the
/// model, at the instant the server computed it (`generatedAt`).
async fn check_against_model(server: &server::TestServer, tasks: &[ModelTask], when: &str) {
    use std::collections::BTreeMap;
    for window in [15_i64, 60, 240] {
        let body = server.ok(&format!("status?window={window}")).await;
        let now: DateTime<Utc> = body["generatedAt"].as_str().unwrap().parse().unwrap();
        let start = now - Duration::minutes(window);
        let mut count: BTreeMap<&str, i64> = BTreeMap::new();
        let mut delta: BTreeMap<&str, i64> = BTreeMap::new();
        for (status, path) in tasks {
            if matches!(*status, "PENDING" | "RUNNING" | "IN_REVIEW") {
                *count.entry(status).or_default() += 1;
            }
            for (from, to, _) in path.iter().filter(|t| t.2 > start) {
                *delta.entry(to).or_default() += 1;
                if let Some(from) = from {
                    *delta.entry(from).or_default() -= 1;
                }
                if matches!(*to, "DONE" | "FAILED" | "SKIPPED") {
                    *count.entry(to).or_default() += 1;
                }
            }
        }
        for status in [
            "PENDING",
            "RUNNING",
            "IN_REVIEW",
            "DONE",
            "SKIPPED",
            "FAILED",
        ] {
            let entry = queue_entry(&body, status);
            let scope = if matches!(status, "DONE" | "FAILED" | "SKIPPED") {
                "WINDOW"
            } else {
                "CURRENT"
            };
            assert_eq!(entry["scope"], scope, "{status}");
            assert_eq!(
                entry["count"],
                count.get(status).copied().unwrap_or(0),
                "{when}: {status} count over {window} min: {entry}"
            );
            assert_eq!(
                entry["delta"],
                delta.get(status).copied().unwrap_or(0),
                "{when}: {status} delta over {window} min: {entry}"
            );
        }
    }
}

/// Queue counts against a model: tasks walk random paths through the
/// statuses at random times over the last three hours (a seeded generator,
/// so a failure reproduces). Active statuses count the tasks in them now;
/// finished ones count the tasks that reached them within the window; every
/// delta is entries minus exits within the window. Checked with every
/// transition raw, then rolled up by a maintenance pass (the window's
/// partial first minute and the tail after the mark raw), then with
/// transitions made after the pass, then with older ones rolled up again.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn queue_counts_follow_a_model_of_the_transitions(pool: PgPool) {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut roll = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut tasks = model_tasks(&pool, &mut roll, 60, 3 * 3600).await;
    upsert_worker(&pool, Worker::default()).await;
    let server = server::start(pool.clone()).await;
    check_against_model(&server, &tasks, "raw").await;

    let options = ai_runtime_maintain::Options::default();
    let report = ai_runtime_maintain::run_rollup(&pool, &options)
        .await
        .unwrap()
        .expect("no other roll-up runs");
    assert_eq!(report.rolled.len(), 2, "{report}");
    let rolled: i64 = sqlx::query_scalar(
        "select coalesce(sum(transitions), 0)::bigint from task_transition_minutes",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(rolled > 100, "the pass rolled {rolled} transitions up");
    check_against_model(&server, &tasks, "rolled up").await;

    // After the pass: the raw tail holds them.
    tasks.extend(model_tasks(&pool, &mut roll, 15, 0).await);
    check_against_model(&server, &tasks, "tail after a pass").await;

    // Older ones stored late: counted once a pass rolls their minutes up
    // again (here a pass that reaches back four hours).
    tasks.extend(model_tasks(&pool, &mut roll, 20, 3 * 3600).await);
    let reach_back = ai_runtime_maintain::Options {
        rollup_late: std::time::Duration::from_secs(4 * 3600),
        ..options
    };
    ai_runtime_maintain::run_rollup(&pool, &reach_back)
        .await
        .unwrap()
        .unwrap();
    check_against_model(&server, &tasks, "rolled up again").await;
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_task_finished_before_the_window_is_not_counted(pool: PgPool) {
    let old = insert_task(
        &pool,
        Task {
            status: "DONE",
            ..Task::default()
        },
    )
    .await;
    insert_transition(&pool, old, Some("RUNNING"), "DONE", ago(3600)).await;
    upsert_worker(&pool, Worker::default()).await;
    let server = server::start(pool).await;
    let body = server.ok("status").await;
    assert_eq!(queue_entry(&body, "DONE")["count"], 0, "{body}");
    assert_eq!(queue_entry(&body, "DONE")["scope"], "WINDOW");
    let hours = server.ok("status?window=120").await;
    assert_eq!(queue_entry(&hours, "DONE")["count"], 1, "{hours}");
    server.stop().await;
}

/// Twenty dashboards polling at once cost one status computation: they all
/// get the answer computed at the same database instant.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn concurrent_callers_share_one_computation(pool: PgPool) {
    upsert_worker(&pool, Worker::default()).await;
    let config = admin_server::AppConfig {
        status_ttl: std::time::Duration::from_secs(2),
        ..server::config()
    };
    let server = std::sync::Arc::new(server::start_with(config, pool).await);
    let calls = (0..20).map(|_| {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(async move { server.ok("status").await["generatedAt"].clone() })
    });
    let mut computed_at = std::collections::BTreeSet::new();
    for call in calls.collect::<Vec<_>>() {
        computed_at.insert(call.await.unwrap().to_string());
    }
    assert!(computed_at.len() <= 2, "{computed_at:?}");
    // Another window is its own computation.
    let hour = server.ok("status?window=60").await;
    assert!(!computed_at.contains(&hour["generatedAt"].to_string()));
    std::sync::Arc::into_inner(server).unwrap().stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_active_route_comes_from_captured_calls_when_no_worker_reports_one(pool: PgPool) {
    // A running worker that reports no route, and a stopped one that does
    // (not active).
    upsert_worker(
        &pool,
        Worker {
            worker_id: "rig-1",
            metadata: json!({}),
            ..Worker::default()
        },
    )
    .await;
    upsert_worker(
        &pool,
        Worker {
            worker_id: "old",
            status: "STOPPED",
            ..Worker::default()
        },
    )
    .await;
    let captured = |model: &str, code: &'static str, seconds: i64| Event {
        reason_code: code,
        entity_id: format!("openai/{model}"),
        occurred_at: ago(seconds),
        metadata: json!({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                         "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": model}),
        ..Event::default()
    };
    // Older successful call, the newest successful one, a newer failure and a
    // newer hand-written call: the newest successful captured call wins.
    insert_event(
        &pool,
        captured("gpt-4o-mini-2024-07-18", "PROVIDER_CALL_OK", 120),
    )
    .await;
    insert_event(&pool, captured("gpt-4.1-nano", "PROVIDER_CALL_OK", 60)).await;
    insert_event(&pool, captured("gpt-4o", "PROVIDER_CALL_FAILED", 30)).await;
    insert_event(
        &pool,
        Event {
            entity_id: "sim/hand".into(),
            occurred_at: ago(10),
            metadata: json!({"provider": "sim", "model": "hand"}),
            ..Event::default()
        },
    )
    .await;
    // Too old to say what is active now.
    insert_event(&pool, captured("ancient", "PROVIDER_CALL_OK", 3600)).await;
    let server = server::start(pool.clone()).await;
    let body = server.ok("status").await;
    assert_eq!(
        body["activeRoute"],
        json!({"provider": "openai", "model": "gpt-4.1-nano"})
    );
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn without_a_reported_or_captured_route_there_is_no_active_route(pool: PgPool) {
    upsert_worker(
        &pool,
        Worker {
            worker_id: "rig-1",
            metadata: json!({}),
            ..Worker::default()
        },
    )
    .await;
    insert_event(
        &pool,
        Event {
            metadata: json!({"provider": "sim", "model": "fast"}),
            ..Event::default()
        },
    )
    .await;
    let server = server::start(pool.clone()).await;
    assert_eq!(server.ok("status").await["activeRoute"], Value::Null);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn receivers_counts_come_from_their_status_rows(pool: PgPool) {
    // An ordinary worker: no receiver.
    upsert_worker(&pool, Worker::default()).await;
    // A receiver's row as ai-runtime-ingest publishes it: its counts under
    // `ingest`, its sink's under `sink`.
    upsert_worker(
        &pool,
        Worker {
            worker_id: "otlp-ingest",
            metadata: json!({
                "ingest": {"received": 1030, "accepted": 1000, "ignored": 12, "rejected": 8,
                           "throttled": 10, "unauthorized": 2},
                "sink": {"sinkId": "s-ingest", "emitted": 1000, "written": 990,
                         "droppedChannelFull": 3, "droppedDatabase": 4, "invalid": 0},
            }),
            ..Worker::default()
        },
    )
    .await;
    // A stopped one keeps its last totals; one without a sink yet reports
    // zeros for the sink's part.
    upsert_worker(
        &pool,
        Worker {
            worker_id: "otlp-old",
            status: "STOPPED",
            metadata: json!({"ingest": {"accepted": 5, "rejected": 1}}),
            ..Worker::default()
        },
    )
    .await;
    let server = server::start(pool).await;
    let body = server.ok("status").await;
    assert_eq!(
        body["receivers"],
        json!([
            {"workerId": "otlp-ingest", "accepted": 1000, "written": 990, "dropped": 7,
             "rejected": 8, "ignored": 12, "throttled": 10},
            {"workerId": "otlp-old", "accepted": 5, "written": 0, "dropped": 0,
             "rejected": 1, "ignored": 0, "throttled": 0},
        ])
    );
    // The typed client reads it back.
    let typed: ai_runtime_api::StatusResponse = serde_json::from_value(body).unwrap();
    assert_eq!(typed.receivers[0].dropped, 7);
    server.stop().await;
}
