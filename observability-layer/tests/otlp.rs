//! The OTLP exporter against a real OTLP/HTTP receiver on 127.0.0.1
//! (decoding with the OpenTelemetry proto crate), beside real Postgres:
//! every event Postgres stored is received with its attributes, resource
//! attributes and headers arrive, and a collector that is down, hangs or
//! answers 503 leaves the host and the Postgres rows untouched, its drops
//! counted in its own statistics.

mod common;
#[path = "common/otlp_receiver.rs"]
mod otlp_receiver;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{assert_balanced, install, wait_until};
use observability_layer::{
    ExporterStats, RuntimeLayer, RuntimeLayerBuilder, SinkStats, WorkerReport, WorkerState,
};
use otlp_receiver::{attr_int, attr_str, body, dead_endpoint, Receiver, ACCEPT, HANG};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

const SECRET_HEADER: &str = "Basic c2VjcmV0LWhlYWRlci12YWx1ZQ==";

fn builder(pool: &PgPool, collector: &str) -> RuntimeLayerBuilder {
    RuntimeLayer::builder()
        .pool(common::as_writer(pool))
        .agent_type("phase1_reply_runner")
        .flush_interval(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_millis(1500))
        .otlp_endpoint(collector)
        .otlp_header("authorization", SECRET_HEADER)
        .service_name("otlp-test")
        .resource_attribute("deployment.environment", "test")
}

fn otlp(stats: &SinkStats) -> &ExporterStats {
    stats
        .exporters
        .iter()
        .find(|e| e.name == "otlp")
        .expect("an otlp exporter")
}

fn assert_each_exporter_balanced(stats: &SinkStats) {
    assert_balanced(stats);
    for e in &stats.exporters {
        assert_eq!(e.emitted, e.exported + e.dropped() + e.invalid, "{e:?}");
    }
}

/// A provider call, a failed one, a tool call and a task event, in a task span.
fn emit_the_story(task: Uuid) {
    tracing::info_span!("task", task_id = %task, worker_id = "worker-1").in_scope(|| {
        tracing::info!(
            layer = "provider_runtime",
            operation = "CALL",
            reason_code = "PROVIDER_CALL_OK",
            entity_id = "simulated/sim-large-1",
            provider = "simulated",
            model = "sim-large-1",
            input_tokens = 512u64,
            output_tokens = 96u64,
            latency_ms = 41u64,
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            "provider call ok"
        );
        tracing::warn!(
            layer = "provider_runtime",
            operation = "CALL",
            reason_code = "PROVIDER_CALL_FAILED",
            entity_id = "simulated/sim-large-1",
            gen_ai.provider.name = "simulated",
            gen_ai.request.model = "sim-large-1",
            error = "timeout",
            "provider call failed"
        );
        tracing::info!(
            layer = "tool_runtime",
            operation = "TOOL_CALL",
            reason_code = "TOOL_CALL_OK",
            entity_id = "search_kb",
            "tool call ok"
        );
        tracing::info!(
            layer = "execution",
            operation = "TASK",
            reason_code = "TASK_DONE"
        );
    });
}

/// The trace context recorded on a span (as a host using
/// `tracing-opentelemetry` knows it) arrives on the records of the events
/// inside as their `trace_id` / `span_id`.
#[test]
fn a_spans_trace_context_arrives_on_its_events_records() {
    let receiver = Receiver::start();
    let builder = RuntimeLayer::builder()
        .otlp_endpoint(&receiver.endpoint())
        .flush_interval(Duration::from_millis(20));
    let (_default, guard, _handle) = install(builder);
    let span = tracing::info_span!(
        "request",
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty
    );
    span.record("trace_id", "0af7651916cd43dd8448eb211c80319c");
    span.record("span_id", "b7ad6b7169203331");
    span.in_scope(|| {
        tracing::info!(
            layer = "tool_runtime",
            operation = "TOOL_CALL",
            reason_code = "TOOL_CALL_OK",
            tool = "search_kb"
        );
    });
    tracing::info!(
        layer = "worker",
        operation = "HEARTBEAT",
        reason_code = "OUTSIDE"
    );
    let stats = guard.shutdown();
    assert_each_exporter_balanced(&stats);
    let records = receiver.accepted_records();
    assert_eq!(records.len(), 2);
    let inside = &records[0];
    assert_eq!(
        attr_str(inside, "gen_ai.tool.name").as_deref(),
        Some("search_kb")
    );
    assert_eq!(
        inside.trace_id,
        [
            0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80,
            0x31, 0x9c
        ]
    );
    assert_eq!(
        inside.span_id,
        [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]
    );
    assert!(records[1].trace_id.is_empty() && records[1].span_id.is_empty());
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn every_event_postgres_stored_is_received_with_its_attributes(pool: PgPool) {
    let receiver = Receiver::start();
    let (_default, guard, handle) = install(builder(&pool, &receiver.endpoint()));
    let task = Uuid::new_v4();
    emit_the_story(task);
    for i in 0..200u64 {
        tracing::info!(
            layer = "worker",
            operation = "HEARTBEAT",
            reason_code = "BULK",
            n = i
        );
    }
    handle
        .worker("worker-1")
        .publish(WorkerReport::new(WorkerState::Running));
    assert!(handle.flush(Duration::from_secs(5)));

    // The same events on both sides: (reason code, entity, task, occurred_at in µs).
    let rows =
        sqlx::query("select reason_code, entity_id, task_id, occurred_at from ai_runtime_events")
            .fetch_all(&pool)
            .await
            .unwrap();
    let stored: BTreeSet<(String, String, Option<Uuid>, i64)> = rows
        .iter()
        .map(|r| {
            let at: chrono::DateTime<chrono::Utc> = r.get("occurred_at");
            (
                r.get("reason_code"),
                r.get("entity_id"),
                r.get("task_id"),
                at.timestamp_micros(),
            )
        })
        .collect();
    let records = receiver.accepted_records();
    let received: BTreeSet<(String, String, Option<Uuid>, i64)> = records
        .iter()
        .map(|r| {
            (
                attr_str(r, "ai_runtime.reason_code").unwrap(),
                attr_str(r, "ai_runtime.entity_id").unwrap(),
                attr_str(r, "ai_runtime.task_id").map(|t| t.parse().unwrap()),
                (r.time_unix_nano / 1000) as i64,
            )
        })
        .collect();
    assert_eq!(rows.len(), 205, "4 + 200 + the worker's WORKER_ONLINE");
    assert_eq!(records.len(), rows.len());
    assert_eq!(received, stored);

    let find = |code: &str| {
        records
            .iter()
            .find(|r| attr_str(r, "ai_runtime.reason_code").as_deref() == Some(code))
            .unwrap_or_else(|| panic!("{code} received"))
    };
    let ok = find("PROVIDER_CALL_OK");
    assert_eq!(body(ok).as_deref(), Some("provider call ok"));
    assert_eq!((ok.severity_number, ok.severity_text.as_str()), (9, "INFO"));
    assert_eq!(
        attr_str(ok, "ai_runtime.layer").as_deref(),
        Some("provider_runtime")
    );
    assert_eq!(
        attr_str(ok, "ai_runtime.operation").as_deref(),
        Some("CALL")
    );
    assert_eq!(
        attr_str(ok, "ai_runtime.worker_id").as_deref(),
        Some("worker-1")
    );
    assert_eq!(
        attr_str(ok, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(
        attr_str(ok, "gen_ai.provider.name").as_deref(),
        Some("simulated")
    );
    assert_eq!(
        attr_str(ok, "gen_ai.request.model").as_deref(),
        Some("sim-large-1")
    );
    assert_eq!(attr_int(ok, "gen_ai.usage.input_tokens"), Some(512));
    assert_eq!(attr_int(ok, "gen_ai.usage.output_tokens"), Some(96));
    assert_eq!(attr_int(ok, "latency_ms"), Some(41));
    assert_eq!(attr_str(ok, "error.type"), None);
    // The trace context, from the event's W3C ids.
    assert_eq!(
        ok.trace_id,
        [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36
        ]
    );
    assert_eq!(ok.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    let failed = find("PROVIDER_CALL_FAILED");
    assert_eq!(failed.severity_number, 13);
    assert_eq!(attr_str(failed, "error.type").as_deref(), Some("timeout"));
    assert_eq!(
        attr_str(failed, "gen_ai.provider.name").as_deref(),
        Some("simulated")
    );
    assert_eq!(
        attr_str(failed, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    let tool = find("TOOL_CALL_OK");
    assert_eq!(
        attr_str(tool, "gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert_eq!(
        attr_str(tool, "gen_ai.tool.name").as_deref(),
        Some("search_kb")
    );
    assert_eq!(attr_str(find("TASK_DONE"), "gen_ai.operation.name"), None);

    // The convention names given directly land in Postgres metadata too.
    let metadata: Value = sqlx::query_scalar(
        "select metadata from ai_runtime_events where reason_code = 'PROVIDER_CALL_FAILED'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(metadata["gen_ai.provider.name"], "simulated");

    // Resource attributes and headers arrive.
    let requests = receiver.requests();
    let first = &requests[0];
    assert_eq!(first.resource["service.name"], "otlp-test");
    assert_eq!(first.resource["deployment.environment"], "test");
    assert_eq!(first.resource["telemetry.sdk.language"], "rust");
    assert_eq!(first.scope, "observability-layer");
    assert_eq!(first.headers["authorization"], SECRET_HEADER);
    assert_eq!(first.headers["content-type"], "application/x-protobuf");

    // The OTLP exporter's figures are stored beside Postgres's.
    assert!(
        wait_until(Duration::from_secs(5), || handle.stats().exporters.len()
            == 2),
        "two exporters"
    );
    let stats = guard.shutdown();
    assert_each_exporter_balanced(&stats);
    assert_eq!(otlp(&stats).exported, 205);
    let sink: Value = sqlx::query_scalar(
        "select metadata->'sink' from ai_worker_status where worker_id = 'worker-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sink["exporters"]["otlp"]["exported"], 205, "{sink}");
    assert_eq!(sink["exporters"]["postgres"]["exported"], 205, "{sink}");
    // The header's value is a credential: nowhere in the database.
    let leaked: i64 = sqlx::query_scalar(
        "select (select count(*) from ai_worker_status where metadata::text like '%c2VjcmV0%')
              + (select count(*) from ai_runtime_events where metadata::text like '%c2VjcmV0%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
}

#[test]
fn with_only_an_otlp_endpoint_no_database_is_needed() {
    let receiver = Receiver::start();
    let builder = RuntimeLayer::builder()
        .apply_env(|name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(receiver.endpoint()),
            "OTEL_EXPORTER_OTLP_HEADERS" => {
                Some("x-tenant=acme%20corp,authorization=Bearer%20abc".into())
            }
            "OTEL_SERVICE_NAME" => Some("from-env".into()),
            "OTEL_RESOURCE_ATTRIBUTES" => Some("service.namespace=ai,host.name=box-1".into()),
            _ => None,
        })
        .unwrap()
        .flush_interval(Duration::from_millis(20));
    let (_default, guard, _handle) = install(builder);
    emit_the_story(Uuid::new_v4());
    let stats = guard.shutdown();
    // OTLP is the only, so the primary, exporter.
    assert_eq!(stats.exporters.len(), 1);
    assert_eq!((stats.written, stats.emitted), (4, 4));
    assert_each_exporter_balanced(&stats);
    let requests = receiver.requests();
    assert_eq!(requests.iter().map(|r| r.records.len()).sum::<usize>(), 4);
    let first = &requests[0];
    assert_eq!(first.headers["x-tenant"], "acme corp");
    assert_eq!(first.headers["authorization"], "Bearer abc");
    assert_eq!(first.resource["service.name"], "from-env");
    assert_eq!(first.resource["service.namespace"], "ai");
    assert_eq!(first.resource["host.name"], "box-1");
}

/// Emits `n` events and returns how long the emitting thread took.
fn emit_bulk(n: u64) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        tracing::info!(
            layer = "worker",
            operation = "HEARTBEAT",
            reason_code = "BULK",
            n = i
        );
    }
    started.elapsed()
}

/// A collector that is down, hangs, or answers 503: Postgres gets every
/// row, the host is not held up, shutdown keeps its deadline, and the OTLP
/// exporter counts what it could not deliver.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_failing_collector_leaves_the_host_and_postgres_untouched(pool: PgPool) {
    for failure in ["down", "hang", "503"] {
        sqlx::query("truncate ai_runtime_events")
            .execute(&pool)
            .await
            .unwrap();
        let receiver = Receiver::start();
        let endpoint = match failure {
            "down" => dead_endpoint(),
            "hang" => {
                receiver.answer(HANG);
                receiver.endpoint()
            }
            _ => {
                receiver.answer(503);
                receiver.endpoint()
            }
        };
        let (default, guard, handle) = install(builder(&pool, &endpoint).batch_size(500));
        let took = emit_bulk(3000);
        assert!(
            took < Duration::from_secs(2),
            "{failure}: emitting took {took:?}"
        );
        assert!(
            wait_until(Duration::from_secs(10), || {
                handle.exporter_stats()[0].exported == 3000
            }),
            "{failure}: postgres got every row: {:?}",
            handle.exporter_stats()
        );
        // (Seen while running: the last attempt may be cut by the deadline.)
        let answered_503 = failure == "503"
            && wait_until(Duration::from_secs(5), || {
                handle.exporter_stats()[1]
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("503"))
            });
        let started = Instant::now();
        let stats = guard.shutdown();
        let shutdown = started.elapsed();
        drop(default);
        assert!(
            shutdown < Duration::from_millis(2500),
            "{failure}: shutdown took {shutdown:?}"
        );
        assert_each_exporter_balanced(&stats);
        assert_eq!(
            (stats.written, stats.dropped()),
            (3000, 0),
            "{failure}: {stats:?}"
        );
        let o = otlp(&stats);
        assert_eq!(o.exported, 0, "{failure}: {o:?}");
        assert_eq!(
            o.dropped_queue_full + o.dropped_failing,
            3000,
            "{failure}: {o:?}"
        );
        assert!(o.retries >= 1 && o.last_error.is_some(), "{failure}: {o:?}");
        if failure == "503" {
            assert!(answered_503, "{o:?}");
            assert!(!receiver.requests().is_empty());
        }
        // The header never reaches the error text.
        assert!(
            !o.last_error.as_deref().unwrap().contains("c2VjcmV0"),
            "{o:?}"
        );
        let rows: i64 = sqlx::query_scalar("select count(*) from ai_runtime_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 3000, "{failure}");
    }
}

/// A collector back after a few 503s gets everything; a batch it refuses
/// for one event's sake is split until that event alone is left out.
#[test]
fn a_recovered_collector_gets_everything_and_a_refused_event_is_isolated() {
    let receiver = Receiver::start();
    receiver.answer(503);
    let builder = RuntimeLayer::builder()
        .otlp_endpoint(&receiver.endpoint())
        .flush_interval(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(50));
    let (_default, guard, handle) = install(builder);
    emit_bulk(100);
    assert!(wait_until(Duration::from_secs(5), || receiver
        .requests()
        .len()
        >= 3));
    receiver.answer(ACCEPT);
    receiver.reject_code("BAD");
    assert!(handle.flush(Duration::from_secs(5)));
    tracing::info!(
        layer = "worker",
        operation = "HEARTBEAT",
        reason_code = "OK1"
    );
    tracing::info!(
        layer = "worker",
        operation = "HEARTBEAT",
        reason_code = "BAD"
    );
    tracing::info!(
        layer = "worker",
        operation = "HEARTBEAT",
        reason_code = "OK2"
    );
    let stats = guard.shutdown();
    assert_each_exporter_balanced(&stats);
    let o = otlp(&stats);
    assert_eq!((o.exported, o.rejected, o.dropped()), (102, 1, 0), "{o:?}");
    assert!(o.retries >= 3, "{o:?}");
    let codes: Vec<String> = receiver
        .accepted_records()
        .iter()
        .map(|r| attr_str(r, "ai_runtime.reason_code").unwrap())
        .filter(|c| c != "BULK")
        .collect();
    assert_eq!(codes, ["OK1", "OK2"]);
}
