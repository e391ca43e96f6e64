//! Real OpenTelemetry SDKs as clients, started by the tests: Python's SDK
//! with its protobuf exporter (gzip, the token through
//! `OTEL_EXPORTER_OTLP_HEADERS`), and the JavaScript SDK's JSON exporter on
//! Node.js. Each sends a chat with usage, a tool call, a failed chat and an
//! ordinary span inside a task span (`tests/clients/`). `scripts/test`
//! installs the SDKs (pinned) under `target/` (`ensure_python_otel`,
//! `ensure_node_otel` in `scripts/lib.sh`).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{
    installed, post, python_client, stalled_receiver, workspace, TestReceiver, BEARER, TOKEN,
};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

fn node(receiver: &TestReceiver, task: Uuid) -> Command {
    let mut command = Command::new("node");
    command
        .arg(workspace().join("ingest/tests/clients/genai_spans.cjs"))
        .env(
            "NODE_PATH",
            installed(
                "AI_RUNTIME_OTEL_NODE_MODULES",
                "target/otel-node/node_modules",
            ),
        )
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces())
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("x-ai-runtime-token={TOKEN}"),
        )
        .env("OTEL_SERVICE_NAME", "js-agent")
        .env("TASK_ID", task.to_string());
    command
}

async fn run(mut command: Command) -> Output {
    let output = tokio::task::spawn_blocking(move || command.output().expect("client started"))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "client failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The rows of `task`, by reason code then entity.
async fn task_rows(pool: &PgPool, task: Uuid) -> Vec<(String, String, Option<String>, Value)> {
    sqlx::query(
        "select reason_code, entity_id, worker_id, metadata from ai_runtime_events
         where task_id = $1 order by reason_code, entity_id",
    )
    .bind(task)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("reason_code"),
            r.get("entity_id"),
            r.get("worker_id"),
            r.get("metadata"),
        )
    })
    .collect()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn python_sdk_spans_become_events_over_gzip_protobuf(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let task = Uuid::new_v4();
    run(python_client(&receiver, task)).await;
    receiver.flush();
    let rows = task_rows(&pool, task).await;
    let summary: Vec<(&str, &str, Option<&str>)> = rows
        .iter()
        .map(|(code, entity, worker, _)| (code.as_str(), entity.as_str(), worker.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "PROVIDER_CALL_FAILED",
                "openai/gpt-4o-mini",
                Some("py-worker-1")
            ),
            (
                "PROVIDER_CALL_OK",
                "openai/gpt-4o-mini-2024-07-18",
                Some("py-worker-1")
            ),
            ("TOOL_CALL_OK", "search_kb", Some("py-worker-1")),
        ]
    );
    let failed = &rows[0].3;
    assert_eq!(failed["error.type"], "timeout");
    assert_eq!(failed["level"], "ERROR");
    let chat = &rows[1].3;
    assert_eq!(chat["gen_ai.usage.input_tokens"], 120);
    assert_eq!(chat["gen_ai.usage.output_tokens"], 42);
    assert_eq!(chat["gen_ai.response.id"], "chatcmpl-py-1");
    assert_eq!(chat["service.name"], "py-agent");
    assert_eq!(chat["telemetry.sdk.language"], "python");
    assert_eq!(chat["target"], "py-agent");
    assert!(chat["cost_usd"].as_f64().unwrap() > 0.0, "{chat}");
    assert!(chat["latency_ms"].as_f64().is_some());
    assert_eq!(chat["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(rows[2].3["gen_ai.tool.call.id"], "call-py-1");
    let all: String = rows.iter().map(|r| r.3.to_string()).collect();
    assert!(!all.contains("never stored"), "content is not stored");
    let counts = receiver.receiver.stats.counts();
    // The task span and the database span: ordinary, ignored.
    assert_eq!(
        (counts.accepted, counts.ignored, counts.rejected),
        (3, 2, 0)
    );
    receiver.shutdown();
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn javascript_sdk_spans_become_events_over_json(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let task = Uuid::new_v4();
    run(node(&receiver, task)).await;
    receiver.flush();
    let rows = task_rows(&pool, task).await;
    let summary: Vec<(&str, &str)> = rows
        .iter()
        .map(|(code, entity, _, _)| (code.as_str(), entity.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("PROVIDER_CALL_FAILED", "anthropic/claude-sonnet-4"),
            ("PROVIDER_CALL_OK", "anthropic/claude-sonnet-4"),
            ("TOOL_CALL_OK", "get_weather"),
        ]
    );
    assert_eq!(rows[0].3["error.type"], "rate_limited");
    assert_eq!(rows[0].3["otel.status_code"], "ERROR");
    let chat = &rows[1].3;
    assert_eq!(chat["gen_ai.usage.input_tokens"], 300);
    assert_eq!(chat["gen_ai.response.id"], "msg-js-1");
    assert_eq!(chat["service.name"], "js-agent");
    assert_eq!(chat["telemetry.sdk.language"], "nodejs");
    assert_eq!(rows[2].3["gen_ai.tool.call.id"], "call-js-1");
    let counts = receiver.receiver.stats.counts();
    assert_eq!(
        (counts.accepted, counts.ignored, counts.rejected),
        (3, 2, 0)
    );
    receiver.shutdown();
}

/// One of our log records, to fill the queue with.
fn filler(n: usize) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message as _;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..KeyValue::default()
    };
    let records = (0..4)
        .map(|i| LogRecord {
            attributes: vec![
                kv("ai_runtime.layer", "worker"),
                kv("ai_runtime.operation", "TASK"),
                kv("ai_runtime.reason_code", "FILLER"),
                kv("ai_runtime.entity_id", &format!("filler-{n}-{i}")),
            ],
            ..LogRecord::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
    .encode_to_vec()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_full_queue_answers_429_and_the_python_sdks_retry_lands_every_span_once(pool: PgPool) {
    // Postgres stalls (the events table locked) until the test lets it go.
    let (receiver, locker) = stalled_receiver(&pool).await;
    // Full for good: 8 events queued and the writer's batch of 4 stuck in
    // flight (which the queue no longer counts). Stopping at the first 429
    // could leave room for the SDK's 3 spans once that batch is taken.
    let mut filled = 0;
    let mut tries = 0;
    loop {
        let answer = post(
            &receiver.logs(),
            "application/x-protobuf",
            filler(filled),
            &[BEARER],
        )
        .await;
        if answer.status == 429 {
            assert_eq!(answer.headers["retry-after"], "1");
            if filled * 4 >= 8 + 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            assert_eq!(answer.status, 200);
            filled += 1;
        }
        tries += 1;
        assert!(tries < 500, "the queue never filled");
    }
    let throttled_before = receiver.receiver.stats.counts().throttled;
    let task = Uuid::new_v4();
    let mut client = python_client(&receiver, task);
    client.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = client.spawn().expect("python started");
    // The SDK's first try is answered 429 too; then Postgres comes back.
    let mut waited = 0;
    while receiver.receiver.stats.counts().throttled == throttled_before {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 1500, "the SDK never sent");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    locker.rollback().await.unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    receiver.flush();
    let rows = task_rows(&pool, task).await;
    let codes: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        codes,
        ["PROVIDER_CALL_FAILED", "PROVIDER_CALL_OK", "TOOL_CALL_OK"],
        "every span once"
    );
    let fillers: i64 = sqlx::query_scalar(
        "select count(distinct entity_id) from ai_runtime_events where reason_code = 'FILLER'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(fillers, filled as i64 * 4);
    let stats = receiver.shutdown();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
}
