//! The data the browser tests write: workers, tasks and events for the
//! overview, and an hour of history for the trends.

use std::time::Instant;

use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

// ------------------------------------------------------------ the data ---

/// What [`seed`] wrote, for the assertions.
pub struct Seeded {
    pub stuck_task: Uuid,
    pub failed_task: Uuid,
    /// Every event written.
    pub total_events: usize,
    /// Each event's age when seeded (s).
    pub ages: Vec<f64>,
    /// When the seeding ended, on the test's clock.
    pub seeded_at: Instant,
    /// The database's clock when the seeding ended (ms since the epoch): the
    /// ages above count back from it, however long the test runs after.
    pub seeded_at_ms: f64,
}

/// A task to write: status, lease owner, lease expiry from now (s), reason code, reason.
pub type TaskRow = (
    &'static str,
    Option<&'static str>,
    Option<f64>,
    Option<&'static str>,
    Option<&'static str>,
);
/// An event to write: layer, operation, reason code, entity, task, worker, age (s).
pub type EventRow = (
    &'static str,
    &'static str,
    &'static str,
    String,
    Option<Uuid>,
    &'static str,
    f64,
);

/// Three workers (one with an open breaker, one stale), five tasks (one
/// stuck, one failed) and 61 events across every layer.
pub async fn seed(pool: &PgPool) -> Seeded {
    let route = json!({"provider": "sim-primary", "model": "sim-large"});
    let workers = [
        // id, status, breaker open, breaker reason, heartbeat age (s), metadata
        (
            "worker-a",
            "RUNNING",
            false,
            None,
            2.0,
            json!({"route": route, "heartbeatIntervalSeconds": 10,
            "sink": {"sinkId": "sink-a", "droppedChannelFull": 3, "droppedDatabase": 2}}),
        ),
        (
            "worker-b",
            "DEGRADED",
            true,
            Some("5 consecutive provider failures"),
            3.0,
            json!({"route": route, "heartbeatIntervalSeconds": 10}),
        ),
        (
            "worker-c",
            "RUNNING",
            false,
            None,
            600.0,
            json!({"heartbeatIntervalSeconds": 10}),
        ),
    ];
    for (id, status, open, reason, age, metadata) in workers {
        sqlx::query(
            "insert into ai_worker_status (worker_id, agent_type, status, circuit_open, circuit_reason, \
             last_heartbeat, metadata) values ($1, 'phase1_reply_runner', $2, $3, $4, \
             now() - make_interval(secs => $5), $6)",
        )
        .bind(id)
        .bind(status)
        .bind(open)
        .bind(reason)
        .bind(age)
        .bind(metadata)
        .execute(pool)
        .await
        .expect("insert worker");
    }
    // The built-in alert evaluator's row for worker-b's breaker, firing.
    sqlx::query(
        "insert into ai_runtime_alerts (alert, subject, since, firing_at, value, message) \
         values ('BREAKER_OPEN', 'worker-b', now() - interval '5 minutes', \
         now() - interval '3 minutes', 300, 'circuit breaker of worker-b open for 300 s: 5 consecutive provider failures')",
    )
    .execute(pool)
    .await
    .expect("insert alert");

    // status, lease owner, lease expiry from now (s), reason code, reason
    let tasks: [TaskRow; 5] = [
        ("RUNNING", Some("worker-a"), Some(-300.0), None, None), // lease expired: stuck
        (
            "FAILED",
            None,
            None,
            Some("PROVIDER_EXHAUSTED"),
            Some("every provider route failed"),
        ),
        (
            "SKIPPED",
            None,
            None,
            Some("SAFETY_BLOCKED"),
            Some("the safety gate refused the reply"),
        ),
        ("DONE", None, None, None, None),
        ("PENDING", None, None, None, None),
    ];
    let mut ids = Vec::new();
    for (status, owner, lease_in, code, reason) in tasks {
        let id: Uuid = sqlx::query_scalar(
            "insert into persona_tasks (persona_id, kind, status, attempts, lease_owner, lease_expires_at, \
             reason_code, reason, idempotency_key) values (gen_random_uuid(), 'reply', $1, 1, $2, \
             now() + make_interval(secs => $3), $4, $5, gen_random_uuid()::text) returning id",
        )
        .bind(status)
        .bind(owner)
        .bind(lease_in)
        .bind(code)
        .bind(reason)
        .fetch_one(pool)
        .await
        .expect("insert task");
        // Its last transition, as the queue writes it: finished tasks are
        // counted by the ones that finished within the status window.
        sqlx::query(
            "insert into task_transition_events (task_id, from_status, to_status, reason_code, occurred_at) \
             values ($1, case when $2 = 'PENDING' then null else 'PENDING' end, $2, 'TEST', now() - interval '1 minute')",
        )
        .bind(id)
        .bind(status)
        .execute(pool)
        .await
        .expect("insert transition");
        ids.push(id);
    }
    let (stuck, failed) = (ids[0], ids[1]);

    let mut events: Vec<EventRow> = vec![
        (
            "provider_runtime",
            "RETRY",
            "PROVIDER_RETRY",
            "sim-primary/sim-large".into(),
            Some(failed),
            "worker-b",
            300.0,
        ),
        (
            "provider_runtime",
            "FALLBACK",
            "PROVIDER_FALLBACK",
            "sim-backup/sim-small".into(),
            Some(failed),
            "worker-b",
            290.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_FAILED",
            failed.to_string(),
            Some(failed),
            "worker-b",
            280.0,
        ),
        (
            "worker",
            "BREAKER",
            "BREAKER_OPENED",
            "worker-b".into(),
            None,
            "worker-b",
            270.0,
        ),
        (
            "dispatcher",
            "TASK",
            "TASK_LEASED",
            stuck.to_string(),
            Some(stuck),
            "worker-a",
            210.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_STARTED",
            stuck.to_string(),
            Some(stuck),
            "worker-a",
            200.0,
        ),
        (
            "provider_runtime",
            "CALL",
            "PROVIDER_CALL_OK",
            "sim-primary/sim-large".into(),
            Some(stuck),
            "worker-a",
            190.0,
        ),
        (
            "model_adapter",
            "CALL",
            "ADAPTER_PARSED",
            "sim-large".into(),
            Some(stuck),
            "worker-a",
            185.0,
        ),
        (
            "tool_runtime",
            "TOOL_CALL",
            "TOOL_CALL_OK",
            "search".into(),
            Some(stuck),
            "worker-a",
            180.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_DONE",
            "old-task".into(),
            None,
            "worker-a",
            2.0 * 3600.0,
        ),
        (
            "execution",
            "TASK",
            "TASK_DONE",
            "older-task".into(),
            None,
            "worker-a",
            2.0 * 86_400.0,
        ),
    ];
    // Heartbeats a minute apart, 80 s to 50 min 20 s ago: 14 fall in the last 15 minutes.
    for minute in 1..=50 {
        events.push((
            "worker",
            "HEARTBEAT",
            "HEARTBEAT",
            "worker-a".into(),
            None,
            "worker-a",
            60.0 * f64::from(minute) + 20.0,
        ));
    }
    for (layer, operation, reason, entity, task, worker, age) in &events {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, worker_id, \
             metadata, occurred_at) values ($1, $2, $3, $4, $5, $6, $7, now() - make_interval(secs => $8))",
        )
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(entity)
        .bind(task)
        .bind(worker)
        .bind(json!({"latency_ms": 12, "message": format!("{reason} for the dashboard test")}))
        .bind(age)
        .execute(pool)
        .await
        .expect("insert event");
    }
    let ages = events.iter().map(|e| e.6).collect();
    let seeded_at_ms: f64 = sqlx::query_scalar("select (extract(epoch from now()) * 1000)::float8")
        .fetch_one(pool)
        .await
        .expect("read the database's clock");
    Seeded {
        stuck_task: stuck,
        failed_task: failed,
        total_events: events.len(),
        ages,
        seeded_at: Instant::now(),
        seeded_at_ms,
    }
}

impl Seeded {
    /// How many events the last 15 minutes hold: an event seeded 14 minutes
    /// ago leaves that window while a slow run goes on, so any count between
    /// the window's now (with a second's slack) and at seeding is right.
    pub fn last_15_min(&self) -> std::ops::RangeInclusive<usize> {
        let aged = self.seeded_at.elapsed().as_secs_f64() + 1.0;
        let now = self.ages.iter().filter(|age| *age + aged < 900.0).count();
        let at_seeding = self.ages.iter().filter(|age| **age < 900.0).count();
        now..=at_seeding
    }
}

/// What [`seed_trends`] wrote: the range (RFC 3339, whole minutes) and the
/// number of events within it.
pub struct TrendsSeed {
    pub from: String,
    pub to: String,
    pub events: usize,
}

/// An hour of history ending at the last whole minute: provider calls of one
/// route every three minutes (latency and tokens), three failed calls, a
/// task completed every ten minutes, and worker-b's circuit breaker open
/// for about five minutes (opened after the failures, closed again).
pub async fn seed_trends(pool: &PgPool) -> TrendsSeed {
    let (from, to): (String, String) = sqlx::query_as(
        "select to_char((date_trunc('minute', now()) - interval '60 minutes') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                to_char(date_trunc('minute', now()) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .fetch_one(pool)
    .await
    .expect("range");
    // layer, operation, reason, entity, worker, seconds after `from`, metadata
    let mut events: Vec<(&str, &str, &str, &str, &str, i64, Value)> = Vec::new();
    for minute in (0..60).step_by(3) {
        events.push((
            "provider_runtime",
            "CALL",
            "PROVIDER_CALL_OK",
            "sim/fast",
            "worker-a",
            minute * 60 + 10,
            json!({"route": "sim/fast", "provider": "sim", "model": "fast", "latency_ms": 100 + minute * 5,
                   "input_tokens": 50, "output_tokens": 20, "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 20}),
        ));
    }
    for minute in [20, 21, 22] {
        events.push((
            "provider_runtime",
            "CALL",
            "PROVIDER_CALL_FAILED",
            "sim/fast",
            "worker-b",
            minute * 60 + 30,
            json!({"route": "sim/fast", "provider": "sim", "model": "fast", "latency_ms": 900, "error": "outage"}),
        ));
    }
    for minute in (5..60).step_by(10) {
        events.push((
            "execution",
            "TASK",
            "TASK_COMPLETED",
            "task",
            "worker-a",
            minute * 60,
            json!({}),
        ));
    }
    events.push((
        "execution",
        "BREAKER",
        "BREAKER_OPENED",
        "breaker/worker-b",
        "worker-b",
        22 * 60 + 40,
        json!({"from_state": "CLOSED", "to_state": "OPEN", "consecutive_failures": 3, "open_reason": "3 consecutive provider failures"}),
    ));
    events.push((
        "execution",
        "BREAKER",
        "BREAKER_HALF_OPENED",
        "breaker/worker-b",
        "worker-b",
        26 * 60 + 40,
        json!({"from_state": "OPEN", "to_state": "HALF_OPEN"}),
    ));
    events.push((
        "execution",
        "BREAKER",
        "BREAKER_CLOSED",
        "breaker/worker-b",
        "worker-b",
        27 * 60,
        json!({"from_state": "HALF_OPEN", "to_state": "CLOSED"}),
    ));
    // What the layer writes when the worker reports its circuit (the trends' bands).
    events.push((
        "worker",
        "HEARTBEAT",
        "WORKER_CIRCUIT_OPENED",
        "worker-b",
        "worker-b",
        22 * 60 + 41,
        json!({"status": "DEGRADED", "circuit_open": true, "circuit_reason": "3 consecutive provider failures"}),
    ));
    events.push((
        "worker",
        "HEARTBEAT",
        "WORKER_CIRCUIT_CLOSED",
        "worker-b",
        "worker-b",
        27 * 60 + 1,
        json!({"status": "RUNNING", "circuit_open": false}),
    ));
    for (layer, operation, reason, entity, worker, offset, metadata) in &events {
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, worker_id, metadata, occurred_at) \
             values ($1, $2, $3, $4, $5, $6, $7::timestamptz + make_interval(secs => $8))",
        )
        .bind(layer)
        .bind(operation)
        .bind(reason)
        .bind(entity)
        .bind(worker)
        .bind(metadata)
        .bind(&from)
        .bind(*offset as f64)
        .execute(pool)
        .await
        .expect("insert event");
    }
    TrendsSeed {
        from,
        to,
        events: events.len(),
    }
}
