//! The pieces every capture test uses: the layer on this thread writing to
//! the test's database, a task span, and the rows read back.
#![allow(dead_code)]

use std::time::Duration;

use observability_layer::{RuntimeLayer, RuntimeLayerBuilder, RuntimeSink, SinkGuard, SinkHandle};
use serde_json::Value;
use sqlx::{PgPool, Row};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

pub fn builder(pool: &PgPool) -> RuntimeLayerBuilder {
    RuntimeLayer::builder()
        .pool(pool.clone())
        .flush_interval(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_secs(5))
}

/// The layer as this thread's subscriber (the tests' runtime runs every
/// task on this thread).
pub fn install(builder: RuntimeLayerBuilder) -> (DefaultGuard, SinkGuard, SinkHandle) {
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = builder.build().expect("build");
    let default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (default, guard, handle)
}

/// The enclosing span a host opens per task, as the phase1 worker does.
pub fn task_span(task: Uuid) -> tracing::Span {
    tracing::info_span!("task", task_id = %task, worker_id = "rig-worker-1")
}

/// One stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub layer: String,
    pub operation: String,
    pub reason_code: String,
    pub entity_id: String,
    pub task_id: Option<Uuid>,
    pub worker_id: Option<String>,
    pub metadata: Value,
    /// The whole row as text, to search for content.
    pub text: String,
}

/// Every stored event, oldest first.
pub async fn rows(pool: &PgPool, handle: &SinkHandle) -> Vec<StoredRow> {
    assert!(handle.flush(Duration::from_secs(30)), "flush timed out");
    sqlx::query(
        "select layer, operation, reason_code, entity_id, task_id, worker_id, metadata, e::text as text
         from ai_runtime_events e order by occurred_at, id",
    )
    .fetch_all(pool)
    .await
    .expect("rows")
    .into_iter()
    .map(|r| StoredRow {
        layer: r.get("layer"),
        operation: r.get("operation"),
        reason_code: r.get("reason_code"),
        entity_id: r.get("entity_id"),
        task_id: r.get("task_id"),
        worker_id: r.get("worker_id"),
        metadata: r.get("metadata"),
        text: r.get("text"),
    })
    .collect()
}

/// A row's `(layer, operation, reason_code, entity_id)`.
pub type Shape<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The shape of an answered call to the tests' model.
pub const CALL_OK: Shape<'static> = (
    "provider_runtime",
    "CALL",
    "PROVIDER_CALL_OK",
    "openai/gpt-4o-mini",
);

/// `(layer, operation, reason_code, entity_id)` of each row.
pub fn shapes(rows: &[StoredRow]) -> Vec<Shape<'_>> {
    rows.iter()
        .map(|r| {
            (
                r.layer.as_str(),
                r.operation.as_str(),
                r.reason_code.as_str(),
                r.entity_id.as_str(),
            )
        })
        .collect()
}

/// The price of `(input, output)` tokens of gpt-4o-mini in the table
/// ($0.15 and $0.60 per million).
pub fn gpt_4o_mini_cost(input: u64, output: u64) -> f64 {
    (input as f64 * 0.15 + output as f64 * 0.60) / 1_000_000.0
}

/// Asserts a provider call row: its model, tokens, price, latency and ids.
pub fn assert_priced_call(row: &StoredRow, task: Uuid, tokens: (u64, u64)) {
    let m = &row.metadata;
    assert_eq!(row.task_id, Some(task), "{row:?}");
    assert_eq!(row.worker_id.as_deref(), Some("rig-worker-1"), "{row:?}");
    assert_eq!(m["gen_ai.usage.input_tokens"], tokens.0, "{m}");
    assert_eq!(m["gen_ai.usage.output_tokens"], tokens.1, "{m}");
    let cost = m["cost_usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no cost: {m}"));
    assert!(
        (cost - gpt_4o_mini_cost(tokens.0, tokens.1)).abs() < 1e-12,
        "{cost} {m}"
    );
    let latency = m["latency_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no latency: {m}"));
    assert!(latency > 0.0 && latency < 30_000.0, "{latency}");
}

/// Asserts that no row holds any of `texts`, in any column.
pub fn assert_absent(rows: &[StoredRow], texts: &[&str]) {
    for row in rows {
        for text in texts {
            assert!(
                !row.text.contains(text),
                "{text:?} was stored: {}",
                row.text
            );
        }
    }
}
