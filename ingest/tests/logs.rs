//! `POST /v1/logs` against real Postgres: the layer's own OTLP exporter
//! round-trips its events into identical rows; the auth matrix; gzip and
//! the body bound; hostile bodies keep their good records; a full write
//! queue answers 429 and the exporter's retry lands every event once.

mod common;

use std::io::Write as _;
use std::time::Duration;

use ai_runtime_ingest::status::Status;
use ai_runtime_ingest::{spawn_status_publisher, ReceiverSettings};
use common::{post, sink_builder, stalled_receiver, TestReceiver, BEARER, TOKEN};
use observability_layer::{RuntimeLayer, RuntimeSink};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message as _;
use serde_json::{json, Value};
use sqlx::PgPool;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

const PROTOBUF: &str = "application/x-protobuf";

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// A record of ours with reason code `code`.
fn record(code: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_760_000_000_000_000_000,
        severity_number: 9,
        attributes: vec![
            kv("ai_runtime.layer", "tool_runtime"),
            kv("ai_runtime.operation", "TOOL_CALL"),
            kv("ai_runtime.reason_code", code),
            kv("ai_runtime.entity_id", "search_kb"),
            kv("ai_runtime.target", "py_agent"),
        ],
        ..LogRecord::default()
    }
}

fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            schema_url: String::new(),
        }],
    }
}

async fn codes(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("select reason_code from ai_runtime_events order by reason_code")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_layers_own_export_round_trips_into_identical_rows(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    // The sending service: the layer writing to Postgres and exporting
    // OTLP logs to the receiver, which writes to the same table.
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = RuntimeLayer::builder()
        .pool(pool.clone())
        .flush_interval(Duration::from_millis(20))
        .otlp_logs_endpoint(&receiver.logs())
        .otlp_header("authorization", &format!("Bearer {TOKEN}"))
        .service_name("sender")
        .build()
        .unwrap();
    let task = Uuid::new_v4();
    let persona = Uuid::new_v4();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span =
            tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "w-1");
        span.in_scope(|| {
            tracing::info!(
                layer = "provider_runtime",
                operation = "CALL",
                reason_code = "PROVIDER_CALL_OK",
                entity_id = "sim/sim-large-1",
                provider = "sim",
                model = "sim-large-1",
                input_tokens = 512u64,
                ratio = 0.25,
                cached = false,
                big = u64::MAX / 4,
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                span_id = "00f067aa0ba902b7",
                "provider call ok"
            );
            tracing::warn!(
                layer = "provider_runtime",
                operation = "CALL",
                reason_code = "PROVIDER_CALL_FAILED",
                gen_ai.operation.name = "chat",
                error = "timeout",
                api_key = "sk-never-stored",
                level = "a host field named like a layer key",
                "provider call failed"
            );
            tracing::info!(
                layer = "tool_runtime",
                operation = "TOOL_CALL",
                reason_code = "TOOL_CALL_OK",
                entity_id = "search_kb",
            );
            tracing::error!(
                layer = "execution",
                operation = "TASK",
                reason_code = "TASK_FAILED",
                note = "nul \0 inside"
            );
        });
    });
    assert!(handle.flush(Duration::from_secs(10)));
    let sent = guard.shutdown();
    assert_eq!(sent.written, 4, "{sent:?}");
    assert_eq!(sent.exporters[1].exported, 4, "{sent:?}");
    receiver.flush();
    let stats = receiver.shutdown();
    assert_eq!(stats.written, 4, "{stats:?}");
    // Every row twice (the sender's and the receiver's), equal but for its id.
    let unpaired: i64 = sqlx::query_scalar(
        "select count(*) from (
            select count(*) as copies from ai_runtime_events
            group by layer, operation, reason_code, entity_id, task_id, persona_id,
                     worker_id, metadata, occurred_at
         ) g where copies <> 2",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let total: i64 = sqlx::query_scalar("select count(*) from ai_runtime_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((total, unpaired), (8, 0));
    let failed: Value = sqlx::query_scalar(
        "select metadata from ai_runtime_events where reason_code = 'PROVIDER_CALL_FAILED' limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // The exporter's own GenAI additions are not taken for the event's fields.
    assert_eq!(failed["gen_ai.operation.name"], "chat");
    assert!(failed.get("error.type").is_none(), "{failed}");
    assert_eq!(failed["api_key"], "[REDACTED]");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn only_the_ingest_token_is_let_in(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let body = || request(vec![record("AUTH")]).encode_to_vec();
    let url = receiver.logs();
    let wrong = ("authorization", "Bearer not-the-ingest-token-000");
    let own = ("x-ai-runtime-token", TOKEN);
    let cases: [(&[(&str, &str)], u16); 5] = [
        (&[], 401),
        (&[wrong], 401),
        (&[("authorization", TOKEN)], 401),
        (&[BEARER], 200),
        (&[own], 200),
    ];
    for (headers, expected) in cases {
        let answer = post(&url, PROTOBUF, body(), headers).await;
        assert_eq!(answer.status, expected, "{headers:?}");
        if expected == 401 {
            let status = Status::decode(answer.body.as_slice()).unwrap();
            assert_eq!(status.code, 16, "UNAUTHENTICATED");
            assert!(status.message.contains("token"), "{}", status.message);
        }
    }
    // Unsupported content comes before the token.
    let answer = post(&url, "text/plain", body(), &[BEARER]).await;
    assert_eq!(answer.status, 415);
    receiver.flush();
    assert_eq!(receiver.receiver.stats.counts().unauthorized, 3);
    assert_eq!(codes(&pool).await, ["AUTH", "AUTH"]);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn gzip_bodies_are_read_within_the_limit(pool: PgPool) {
    let settings = ReceiverSettings {
        max_body_bytes: 64 * 1024,
        ..ReceiverSettings::default()
    };
    let receiver = TestReceiver::start_with(sink_builder(&pool), settings);
    let headers = [BEARER, ("content-encoding", "gzip")];
    let body = gzip(&request(vec![record("GZIP_A"), record("GZIP_B")]).encode_to_vec());
    let answer = post(&receiver.logs(), PROTOBUF, body, &headers).await;
    assert_eq!(answer.status, 200);
    // 1 MiB of one record's padding gzips to a few KiB: refused after
    // decompression, at the limit.
    let mut bomb = record("BOMB");
    bomb.attributes
        .push(kv("padding", &"0".repeat(1024 * 1024)));
    let compressed = gzip(&request(vec![bomb]).encode_to_vec());
    assert!(compressed.len() < 64 * 1024);
    let answer = post(&receiver.logs(), PROTOBUF, compressed, &headers).await;
    assert_eq!(answer.status, 413);
    let status = Status::decode(answer.body.as_slice()).unwrap();
    assert!(status.message.contains("65536 bytes"), "{}", status.message);
    receiver.flush();
    assert_eq!(codes(&pool).await, ["GZIP_A", "GZIP_B"]);
}

/// A JSON log record of ours (the OTLP JSON form).
fn json_record(code: &str) -> Value {
    json!({
        "timeUnixNano": "1760000000000000000",
        "severityNumber": 9,
        "attributes": [
            {"key": "ai_runtime.layer", "value": {"stringValue": "tool_runtime"}},
            {"key": "ai_runtime.operation", "value": {"stringValue": "TOOL_CALL"}},
            {"key": "ai_runtime.reason_code", "value": {"stringValue": code}},
        ]
    })
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn hostile_bodies_get_a_400_and_keep_their_good_records(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let url = receiver.logs();

    // Truncated protobuf: the records before the cut are kept.
    let whole = request(vec![
        record("TRUNC_1"),
        record("TRUNC_2"),
        record("TRUNC_3"),
    ]);
    let mut bytes = whole.encode_to_vec();
    bytes.truncate(bytes.len() - 10);
    let answer = post(&url, PROTOBUF, bytes, &[BEARER]).await;
    assert_eq!(answer.status, 400);
    // A 400 carries a google.rpc.Status, not an export response.
    let status = Status::decode(answer.body.as_slice()).unwrap();
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(status.message.contains("truncated"), "{}", status.message);
    assert!(
        status
            .message
            .contains("(1 of 3 log records rejected, 2 accepted)"),
        "the cut record: {}",
        status.message
    );
    let violation = &status.bad_request().unwrap().field_violations[0];
    assert_eq!(violation.field, "resourceLogs");
    assert!(violation.description.contains("truncated"));

    // Invalid UTF-8 in one record's string: only that record is lost.
    let mut broken =
        request(vec![record("UTF8_1"), record("UTF8_BAD"), record("UTF8_3")]).encode_to_vec();
    let at = broken.windows(8).position(|w| w == b"UTF8_BAD").unwrap();
    broken[at + 5] = 0xff;
    let answer = post(&url, PROTOBUF, broken, &[BEARER]).await;
    assert_eq!(answer.status, 400);
    let status = Status::decode(answer.body.as_slice()).unwrap();
    assert!(
        status
            .message
            .contains("(1 of 3 log records rejected, 2 accepted)"),
        "{}",
        status.message
    );

    // Deep JSON (past serde_json's depth limit) and a wrong type: those
    // records fail alone.
    let deep = format!(
        "{}{{\"intValue\":1}}{}",
        "{\"arrayValue\":{\"values\":[".repeat(5000),
        "]}}".repeat(5000)
    );
    let deep_record = json_record("DEEP").to_string();
    let deep_text = format!(
        "{},\"body\":{deep}}}",
        &deep_record[..deep_record.len() - 1]
    );
    let mut wrong_type = json_record("WRONG_TYPE");
    wrong_type["timeUnixNano"] = json!({"not": "a number"});
    let body = format!(
        "{{\"resourceLogs\":[{{\"scopeLogs\":[{{\"logRecords\":[{},{},{},{}]}}]}}]}}",
        json_record("JSON_1"),
        deep_text,
        wrong_type,
        json_record("JSON_4"),
    );
    let answer = post(&url, "application/json", body.into_bytes(), &[BEARER]).await;
    assert_eq!(
        answer.status,
        400,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.headers["content-type"], "application/json");
    // The Status's JSON form (proto3 JSON mapping).
    let status: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(status["code"], json!(3), "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("(2 of 4 log records rejected, 2 accepted)"),
        "{status}"
    );
    assert!(status.get("partialSuccess").is_none(), "{status}");
    assert_eq!(
        status["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        status["details"][0]["fieldViolations"][0]["field"],
        "resourceLogs"
    );

    // A NUL, a huge value and an unknown layer: decodable, so 200; the
    // unknown layer is rejected, the others stored (NUL replaced, the
    // value cut with a marker).
    let mut nul = record("NUL");
    nul.attributes.push(kv("note", "a\0b"));
    let mut huge = record("HUGE");
    huge.attributes.push(kv("blob", &"x".repeat(900 * 1024)));
    let mut unknown = record("UNKNOWN_LAYER");
    unknown.attributes[0] = kv("ai_runtime.layer", "no_such_layer");
    let answer = post(
        &url,
        PROTOBUF,
        request(vec![nul, huge, unknown]).encode_to_vec(),
        &[BEARER],
    )
    .await;
    assert_eq!(answer.status, 200);
    let partial = ExportLogsServiceResponse::decode(answer.body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("ai_runtime.layer"));

    receiver.flush();
    assert_eq!(
        codes(&pool).await,
        ["HUGE", "JSON_1", "JSON_4", "NUL", "TRUNC_1", "TRUNC_2", "UTF8_1", "UTF8_3"]
    );
    let note: String = sqlx::query_scalar(
        "select metadata->>'note' from ai_runtime_events where reason_code = 'NUL'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(note, "a\u{FFFD}b");
    let (blob_len, truncated): (i32, bool) = sqlx::query_as(
        "select length(metadata->>'blob'), (metadata->>'truncated')::boolean
         from ai_runtime_events where reason_code = 'HUGE'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(blob_len < 4096 && truncated, "{blob_len}");
    let counts = receiver.receiver.stats.counts();
    // The cut record, the bad UTF-8, the deep and the wrong-typed JSON, the unknown layer.
    assert_eq!(counts.rejected, 1 + 1 + 2 + 1, "{counts:?}");
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_full_queue_answers_429_and_the_exporters_retry_lands_every_event_once(pool: PgPool) {
    // Postgres stalls (the events table locked) until the test lets it go.
    let (receiver, locker) = stalled_receiver(&pool).await;
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = RuntimeLayer::builder()
        .flush_interval(Duration::from_millis(10))
        .batch_size(6)
        .max_backoff(Duration::from_millis(200))
        .shutdown_deadline(Duration::from_secs(10))
        .otlp_logs_endpoint(&receiver.logs())
        .otlp_header("authorization", &format!("Bearer {TOKEN}"))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for i in 0..30 {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!(
                layer = "worker",
                operation = "TASK",
                reason_code = "RETRIED",
                n = i
            );
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    // The receiver holds at most its limit and throttles the rest.
    let throttled = common_wait(|| receiver.receiver.stats.counts().throttled > 0).await;
    assert!(throttled, "a 429 was answered");
    locker.rollback().await.unwrap();
    assert!(
        tokio::task::spawn_blocking(move || handle.flush(Duration::from_secs(20)))
            .await
            .unwrap()
    );
    let sent = guard.shutdown();
    let otlp = &sent.exporters[0];
    assert_eq!((otlp.exported, otlp.dropped()), (30, 0), "{otlp:?}");
    assert!(otlp.retries > 0, "{otlp:?}");
    receiver.flush();
    let stats = receiver.shutdown();
    assert_eq!((stats.written, stats.dropped()), (30, 0), "{stats:?}");
    let distinct: i64 = sqlx::query_scalar(
        "select count(distinct metadata->>'n') from ai_runtime_events where reason_code = 'RETRIED'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(distinct, 30);
    assert_eq!(codes(&pool).await.len(), 30, "each once");
}

async fn common_wait(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The receiver's own `ai_worker_status` row, as the admin API's
/// `receivers` reads it: its counts under `ingest`, its sink's under `sink`.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn the_status_row_carries_the_receivers_counts(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let mut bad = record("BAD_TASK");
    bad.attributes.push(kv("ai_runtime.task_id", "not-a-uuid"));
    let mut other = record("FOREIGN");
    other.attributes.remove(0);
    let body = request(vec![record("ROW_1"), record("ROW_2"), bad, other]).encode_to_vec();
    let answer = post(&receiver.logs(), PROTOBUF, body, &[BEARER]).await;
    assert_eq!(answer.status, 200);
    receiver.flush();
    let publisher = spawn_status_publisher(
        std::sync::Arc::clone(&receiver.receiver),
        "otlp-test",
        Duration::from_millis(50),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let metadata = loop {
        let row: Option<Value> = sqlx::query_scalar(
            "select metadata from ai_worker_status where worker_id = 'otlp-test'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        match row {
            // The two accepted records, and the sink's event for the
            // receiver's own state change (its first report: RUNNING).
            Some(m) if m["sink"]["written"] == 3 => break m,
            _ if std::time::Instant::now() > deadline => panic!("no status row: {row:?}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    publisher.abort();
    let ingest = &metadata["ingest"];
    assert_eq!(
        (&ingest["accepted"], &ingest["rejected"], &ingest["ignored"]),
        (&json!(2), &json!(1), &json!(1)),
        "{metadata}"
    );
    assert_eq!(metadata["sink"]["emitted"], 3);
    assert_eq!(metadata["sink"]["droppedChannelFull"], 0);
    assert_eq!(metadata["sink"]["droppedDatabase"], 0);
}
