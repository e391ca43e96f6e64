//! Against real Postgres: rows land with the right columns, worker status
//! upserts coalesce, statistics are persisted, shutdown flushes, and a row
//! the database rejects does not lose its batch; the layer writing as the
//! `ai_runtime_writer` role.

mod common;

use std::time::Duration;

use common::{as_writer, assert_balanced, install, wait_until};
use observability_layer::{
    reason_codes, RuntimeLayer, RuntimeLayerBuilder, WorkerReport, WorkerState,
};
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// The layer as the writer role; the tests read back as the owner.
fn builder(pool: &PgPool) -> RuntimeLayerBuilder {
    RuntimeLayer::builder()
        .pool(as_writer(pool))
        .agent_type("phase1_reply_runner")
        .flush_interval(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_secs(2))
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn rows_land_with_the_right_columns(pool: PgPool) {
    let (_default, guard, handle) = install(builder(&pool));
    let task = Uuid::new_v4();
    let persona = Uuid::new_v4();
    let before = chrono::Utc::now();
    tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1")
        .in_scope(|| {
            tracing::info!(
                layer = "provider_runtime",
                operation = "CALL",
                reason_code = "PROVIDER_CALL_OK",
                entity_id = "sim/gpt-sim-1",
                latency_ms = 12,
                api_key = "sk-secret",
                "llm call ok"
            );
        });
    tracing::info!(
        layer = "dispatcher",
        operation = "TASK",
        reason_code = "TASK_LEASED"
    );
    assert!(handle.flush(Duration::from_secs(5)));

    let rows = sqlx::query(
        "select layer, operation, reason_code, entity_id, task_id, persona_id, worker_id,
                metadata, occurred_at, created_at
         from ai_runtime_events order by occurred_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(r.get::<String, _>("layer"), "provider_runtime");
    assert_eq!(r.get::<String, _>("operation"), "CALL");
    assert_eq!(r.get::<String, _>("reason_code"), "PROVIDER_CALL_OK");
    assert_eq!(r.get::<String, _>("entity_id"), "sim/gpt-sim-1");
    assert_eq!(r.get::<Option<Uuid>, _>("task_id"), Some(task));
    assert_eq!(r.get::<Option<Uuid>, _>("persona_id"), Some(persona));
    assert_eq!(
        r.get::<Option<String>, _>("worker_id").as_deref(),
        Some("worker-1")
    );
    assert_eq!(
        r.get::<Value, _>("metadata"),
        json!({"latency_ms": 12, "api_key": "[REDACTED]", "message": "llm call ok",
               "level": "INFO", "target": "database"})
    );
    let occurred: chrono::DateTime<chrono::Utc> = r.get("occurred_at");
    let created: chrono::DateTime<chrono::Utc> = r.get("created_at");
    assert!(before - chrono::Duration::milliseconds(1) <= occurred && occurred <= created);
    let r = &rows[1];
    assert_eq!(r.get::<String, _>("entity_id"), "database");
    assert_eq!(r.get::<Option<Uuid>, _>("task_id"), None);
    assert_eq!(r.get::<Option<String>, _>("worker_id"), None);

    let stats = guard.shutdown();
    assert_eq!((stats.emitted, stats.written), (2, 2));
    assert!(stats.batches >= 1);
    // A clean run, down to closing the connection at shutdown.
    assert_eq!(stats.last_error, None, "{stats:?}");
    assert_eq!(stats.exporters.len(), 1);
    assert_eq!(stats.exporters[0].name, "postgres");
    assert_eq!(stats.exporters[0].exported, 2);
    assert_balanced(&stats);
}

/// The writer gives each row a time-ordered id (UUIDv7), so the primary
/// key's index grows at its right edge: ids sort in the order the rows were
/// written.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn ids_are_time_ordered(pool: PgPool) {
    let (_default, guard, handle) = install(builder(&pool));
    for batch in 0..3 {
        for i in 0..50 {
            tracing::info!(
                layer = "dispatcher",
                operation = "TASK",
                reason_code = "TASK_LEASED",
                seq = batch * 50 + i
            );
        }
        assert!(handle.flush(Duration::from_secs(5)));
    }
    let ids: Vec<(Uuid, i64)> =
        sqlx::query_as("select id, (metadata->>'seq')::bigint from ai_runtime_events order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(ids.len(), 150);
    assert!(
        ids.iter().all(|(id, _)| id.get_version_num() == 7),
        "{ids:?}"
    );
    let seqs: Vec<i64> = ids.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs, (0..150).collect::<Vec<_>>());
    guard.shutdown();
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn worker_reports_coalesce_and_only_changes_become_events(pool: PgPool) {
    // Counts the writes to ai_worker_status (this test's database only),
    // as the owner: the writer role may write nothing but its two tables.
    sqlx::raw_sql(
        "create table upserts (worker_id text);
         create function log_upsert() returns trigger language plpgsql security definer as
           $$ begin insert into upserts values (new.worker_id); return new; end $$;
         create trigger log_upsert after insert or update on ai_worker_status
           for each row execute function log_upsert();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (_default, guard, handle) = install(builder(&pool).flush_interval(Duration::from_secs(30)));
    let w1 = handle.worker("worker-1");
    let w2 = handle.worker("worker-2");
    let task = Uuid::new_v4();
    let mut running = WorkerReport::new(WorkerState::Running);
    running.current_task_id = Some(task);
    running.metadata.insert(
        "route".into(),
        json!({"provider": "sim", "model": "gpt-sim-1"}),
    );
    running
        .metadata
        .insert("heartbeatIntervalSeconds".into(), json!(10));
    running
        .metadata
        .insert("providerApiKey".into(), json!("sk-live"));
    for _ in 0..200 {
        w1.publish(running.clone());
    }
    w2.publish(WorkerReport::new(WorkerState::Idle));
    let mut open = WorkerReport::new(WorkerState::Degraded);
    open.circuit_open = true;
    open.circuit_reason = Some("5 consecutive provider failures".into());
    w1.publish(open);
    w1.heartbeat();
    assert!(handle.flush(Duration::from_secs(5)));

    let rows = sqlx::query(
        "select worker_id, agent_type, status, circuit_open, circuit_reason, current_task_id, metadata
         from ai_worker_status order by worker_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let w1_row = &rows[0];
    assert_eq!(w1_row.get::<String, _>("agent_type"), "phase1_reply_runner");
    assert_eq!(w1_row.get::<String, _>("status"), "DEGRADED");
    assert!(w1_row.get::<bool, _>("circuit_open"));
    assert_eq!(
        w1_row.get::<Option<String>, _>("circuit_reason").as_deref(),
        Some("5 consecutive provider failures")
    );
    assert_eq!(w1_row.get::<Option<Uuid>, _>("current_task_id"), None);
    let metadata: Value = w1_row.get("metadata");
    // Only the latest report was written; keys of earlier reports that were
    // upserted stay (metadata merges by top-level key).
    assert_eq!(metadata["sink"]["sinkId"], handle.sink_id().to_string());
    assert_eq!(rows[1].get::<String, _>("status"), "IDLE");

    // 200 publications in a tight loop became a handful of upserts.
    let upserts = count(
        &pool,
        "select count(*) from upserts where worker_id = 'worker-1'",
    )
    .await;
    assert!(
        (1..50).contains(&upserts),
        "{upserts} upserts for 202 publications"
    );

    // 203 publications, 3 events: online x2, circuit opened, nothing for heartbeats.
    let codes: Vec<String> = sqlx::query_scalar(
        "select reason_code from ai_runtime_events
         where layer = 'worker' and operation = 'HEARTBEAT' order by occurred_at, reason_code",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        codes,
        [
            reason_codes::WORKER_ONLINE,
            reason_codes::WORKER_ONLINE,
            reason_codes::WORKER_CIRCUIT_OPENED
        ]
    );

    // A later running report: route metadata written, secrets redacted.
    w1.publish(running);
    assert!(handle.flush(Duration::from_secs(5)));
    let metadata: Value =
        sqlx::query_scalar("select metadata from ai_worker_status where worker_id = 'worker-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        metadata["route"],
        json!({"provider": "sim", "model": "gpt-sim-1"})
    );
    assert_eq!(metadata["heartbeatIntervalSeconds"], 10);
    assert_eq!(metadata["providerApiKey"], "[REDACTED]");
    assert_eq!(
        count(
            &pool,
            "select count(*) from ai_runtime_events where reason_code = 'WORKER_CIRCUIT_CLOSED'"
        )
        .await,
        1
    );
    assert_balanced(&guard.shutdown());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn statistics_are_persisted_in_worker_metadata(pool: PgPool) {
    let (_default, guard, handle) =
        install(builder(&pool).stats_interval(Duration::from_millis(50)));
    handle
        .worker("worker-1")
        .publish(WorkerReport::new(WorkerState::Running));
    for i in 0..10 {
        tracing::info!(
            layer = "execution",
            operation = "TASK",
            reason_code = "TASK_DONE",
            n = i
        );
    }
    tracing::info!(layer = "nope", operation = "TASK", reason_code = "X");
    assert!(handle.flush(Duration::from_secs(5)));
    let expected = handle.stats();
    assert_eq!((expected.written, expected.invalid), (11, 1));

    let until = std::time::Instant::now() + Duration::from_secs(5);
    let sink: Value = loop {
        let sink: Value = sqlx::query_scalar("select metadata->'sink' from ai_worker_status")
            .fetch_one(&pool)
            .await
            .unwrap();
        if sink["written"] == 11 || std::time::Instant::now() > until {
            break sink;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let persisted = sink["written"] == 11;
    assert!(persisted, "stats not persisted: {sink}");
    assert_eq!(sink["sinkId"], handle.sink_id().to_string());
    assert_eq!(sink["emitted"], 12);
    assert_eq!(sink["invalid"], 1);
    assert_eq!(sink["droppedChannelFull"], 0);
    assert_eq!(sink["droppedDatabase"], 0);
    assert!(sink["batches"].as_u64().unwrap() >= 1);
    // Each exporter's own figures, by name, for the dashboard.
    let postgres = &sink["exporters"]["postgres"];
    assert_eq!(postgres["exported"], 11, "{sink}");
    assert_eq!(postgres["droppedQueueFull"], 0);
    assert_eq!(postgres["droppedFailing"], 0);
    assert_eq!(sink["lastError"], Value::Null);
    assert_balanced(&guard.shutdown());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn shutdown_flushes_what_is_queued(pool: PgPool) {
    // A batch would otherwise wait for a full minute or 100k events.
    let (default, guard, _handle) = install(
        builder(&pool)
            .flush_interval(Duration::from_secs(60))
            .batch_size(100_000),
    );
    for i in 0..2500 {
        tracing::info!(
            layer = "execution",
            operation = "TASK",
            reason_code = "TASK_DONE",
            n = i
        );
    }
    drop(default);
    let stats = guard.shutdown();
    assert_eq!(stats.written, 2500);
    assert_eq!(
        count(&pool, "select count(*) from ai_runtime_events").await,
        2500
    );
    assert_balanced(&stats);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_rejected_row_does_not_lose_its_batch(pool: PgPool) {
    // A constraint only this test's database has, to make one row bad.
    sqlx::query(
        "alter table ai_runtime_events add constraint no_poison check (reason_code <> 'POISON')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (_default, guard, handle) = install(builder(&pool).flush_interval(Duration::from_secs(60)));
    for i in 0..100 {
        let code = if i == 37 { "POISON" } else { "TASK_DONE" };
        tracing::info!(
            layer = "execution",
            operation = "TASK",
            reason_code = code,
            n = i
        );
    }
    // NUL bytes cannot be stored in text or jsonb: they are replaced, not lost.
    tracing::info!(
        layer = "execution",
        operation = "TASK",
        reason_code = "NUL",
        note = "a\0b"
    );
    assert!(handle.flush(Duration::from_secs(5)));
    assert_eq!(
        count(&pool, "select count(*) from ai_runtime_events").await,
        100
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from ai_runtime_events where metadata->>'note' = 'a\u{FFFD}b'"
        )
        .await,
        1
    );
    let stats = guard.shutdown();
    assert_eq!(stats.written, 100);
    assert_eq!(
        stats.invalid_by_reason.get("rejected_by_database"),
        Some(&1)
    );
    assert!(stats
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("no_poison"));
    assert_balanced(&stats);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_recorder_keeps_recent_events(pool: PgPool) {
    let (_default, guard, handle) = install(builder(&pool).recorder_capacity(3));
    for code in ["A", "B", "C", "D"] {
        tracing::info!(layer = "execution", operation = "TASK", reason_code = code);
    }
    assert!(wait_until(Duration::from_secs(5), || handle
        .recent_events()
        .len()
        == 3
        && handle.recent_events()[2].reason_code == "D"));
    let codes: Vec<_> = handle
        .recent_events()
        .into_iter()
        .map(|e| e.reason_code)
        .collect();
    assert_eq!(codes, ["B", "C", "D"]);
    assert_balanced(&guard.shutdown());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn secrets_inside_values_never_reach_the_tables(pool: PgPool) {
    let (_default, guard, handle) = install(builder(&pool));
    let key = "sk-proj-AbC123dEf456GhI789jKl012MnO345pQr678";
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3b3JrZXIifQ.c2lnbmF0dXJl";
    tracing::warn!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_FAILED",
        entity_id = %format!("route-with-{key}"),
        error = %format!("401: headers had Authorization: Bearer {key}"),
        "call failed for token {jwt}"
    );
    let worker = handle.worker("worker-1");
    worker.publish(WorkerReport::new(WorkerState::Running));
    let mut report = WorkerReport::new(WorkerState::Degraded);
    report.circuit_open = true;
    report.circuit_reason = Some(format!("auth failed with {key}"));
    report.metadata.insert(
        "lastProviderError".into(),
        json!({"detail": [format!("postgres://app:hunter2@db/x; key {key}")]}),
    );
    worker.publish(report);
    assert!(handle.flush(Duration::from_secs(5)));

    let row = sqlx::query(
        "select entity_id, metadata from ai_runtime_events where reason_code = 'PROVIDER_CALL_FAILED'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        row.get::<String, _>("entity_id"),
        "route-with-[REDACTED:api_key]"
    );
    let metadata: Value = row.get("metadata");
    assert_eq!(
        metadata["error"],
        "401: headers had Authorization: Bearer [REDACTED:bearer]"
    );
    assert_eq!(metadata["message"], "call failed for token [REDACTED:jwt]");

    let status = sqlx::query("select circuit_reason, metadata from ai_worker_status")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        status.get::<Option<String>, _>("circuit_reason").as_deref(),
        Some("auth failed with [REDACTED:api_key]")
    );
    let metadata: Value = status.get("metadata");
    assert_eq!(
        metadata["lastProviderError"]["detail"][0],
        "postgres://app:[REDACTED:url_password]@db/x; key [REDACTED:api_key]"
    );
    // The worker's circuit event carries the reason scrubbed too.
    let reason: Value = sqlx::query_scalar(
        "select metadata->'circuit_reason' from ai_runtime_events where reason_code = $1",
    )
    .bind(reason_codes::WORKER_CIRCUIT_OPENED)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(reason, "auth failed with [REDACTED:api_key]");
    // Nothing anywhere in the two tables holds the key.
    let leaks = count(
        &pool,
        "select (select count(*) from ai_runtime_events where metadata::text like '%AbC123%' or entity_id like '%AbC123%')
              + (select count(*) from ai_worker_status where metadata::text like '%AbC123%' or circuit_reason like '%AbC123%')",
    )
    .await;
    assert_eq!(leaks, 0);
    assert_balanced(&guard.shutdown());
}
