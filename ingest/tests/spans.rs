//! `POST /v1/traces` against real Postgres: a GenAI span sent over OTLP
//! gives the row the same span gives through the layer in-process (one
//! mapping, two ways in); ids come from the span, its ancestors or the
//! resource; ordinary spans are ignored, bad ids rejected.

mod common;

use std::time::Duration;

use common::{post, TestReceiver, BEARER};
use observability_layer::{RuntimeLayer, RuntimeSink};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message as _;
use serde_json::Value;
use sqlx::{PgPool, Row};
use tracing_subscriber::prelude::*;
use uuid::Uuid;

const PROTOBUF: &str = "application/x-protobuf";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn request(scope: &str, resource: Vec<KeyValue>, spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

/// A row, as compared: columns, metadata and time (µs).
async fn row(pool: &PgPool, sql: &str) -> (Vec<Option<String>>, Value, i64) {
    let r = sqlx::query(sql).fetch_one(pool).await.unwrap();
    let at: chrono::DateTime<chrono::Utc> = r.get("occurred_at");
    let columns = [
        "layer",
        "operation",
        "reason_code",
        "entity_id",
        "worker_id",
    ]
    .iter()
    .map(|c| r.get::<Option<String>, _>(*c))
    .chain([r.get::<Option<Uuid>, _>("task_id").map(|t| t.to_string())])
    .collect();
    (columns, r.get("metadata"), at.timestamp_micros())
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_otlp_genai_span_gives_the_row_the_layer_gives_in_process(pool: PgPool) {
    let task = Uuid::new_v4();
    // In process: a chat span through the layer, its usage recorded later.
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = RuntimeLayer::builder()
        .pool(pool.clone())
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let outer = tracing::info_span!("task", task_id = %task, worker_id = "agent-1");
        outer.in_scope(|| {
            let chat = tracing::info_span!(
                target: "agent_scope",
                "chat gpt-4o-mini",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = "openai",
                gen_ai.request.model = "gpt-4o-mini",
                gen_ai.response.model = tracing::field::Empty,
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                gen_ai.input.messages = "[{\"role\":\"user\",\"content\":\"never stored\"}]",
            );
            chat.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
            chat.record("gen_ai.usage.input_tokens", 1200);
            chat.record("gen_ai.usage.output_tokens", 300);
            std::thread::sleep(Duration::from_millis(3));
            drop(chat);
        });
    });
    // Generous: the first price lookup loads the price table (slow in a debug build).
    assert!(handle.flush(Duration::from_secs(60)));
    let stats = guard.shutdown();
    assert_eq!(stats.written, 1, "{stats:?}");
    let (columns, metadata, at_us) = row(&pool, "select * from ai_runtime_events").await;
    let latency_ms = metadata["latency_ms"].as_f64().unwrap();

    // Over OTLP: the same span, timed the same, its ids from its parent.
    let receiver = TestReceiver::start(&pool);
    let start = at_us as u64 * 1000;
    let end = start + (latency_ms * 1e6).round() as u64;
    let parent = Span {
        trace_id: vec![7; 16],
        span_id: vec![1; 8],
        name: "task".into(),
        attributes: vec![
            kv("task_id", s(&task.to_string())),
            kv("worker_id", s("agent-1")),
        ],
        ..Span::default()
    };
    let chat = Span {
        trace_id: vec![7; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![1; 8],
        name: "chat gpt-4o-mini".into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.provider.name", s("openai")),
            kv("gen_ai.request.model", s("gpt-4o-mini")),
            kv("gen_ai.response.model", s("gpt-4o-mini-2024-07-18")),
            kv(
                "gen_ai.usage.input_tokens",
                any_value::Value::IntValue(1200),
            ),
            kv(
                "gen_ai.usage.output_tokens",
                any_value::Value::IntValue(300),
            ),
            kv(
                "gen_ai.input.messages",
                s("[{\"role\":\"user\",\"content\":\"never stored\"}]"),
            ),
        ],
        ..Span::default()
    };
    let body = request(
        "agent_scope",
        vec![kv("service.name", s("py-agent"))],
        vec![parent, chat],
    );
    let answer = post(&receiver.traces(), PROTOBUF, body, &[BEARER]).await;
    assert_eq!(answer.status, 200);
    let response = ExportTraceServiceResponse::decode(answer.body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None, "nothing rejected");
    receiver.flush();
    let counts = receiver.receiver.stats.counts();
    assert_eq!((counts.accepted, counts.ignored), (1, 1), "{counts:?}");
    let (otlp_columns, mut otlp_metadata, otlp_at_us) = row(
        &pool,
        "select * from ai_runtime_events order by id desc limit 1",
    )
    .await;
    assert_eq!(otlp_columns, columns);
    assert_eq!(otlp_at_us, at_us);
    // What OTLP adds: the span's ids and the resource's attributes.
    let object = otlp_metadata.as_object_mut().unwrap();
    assert_eq!(object.remove("trace_id").unwrap(), "07".repeat(16));
    assert_eq!(object.remove("span_id").unwrap(), "02".repeat(8));
    assert_eq!(object.remove("service.name").unwrap(), "py-agent");
    assert_eq!(otlp_metadata, metadata);
    assert!(metadata["cost_usd"].as_f64().unwrap() > 0.0, "{metadata}");
    assert_eq!(columns[3].as_deref(), Some("openai/gpt-4o-mini-2024-07-18"));
    assert!(!metadata.to_string().contains("never stored"));
    receiver.shutdown();
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn failures_tools_ids_and_spans_that_are_no_calls(pool: PgPool) {
    let receiver = TestReceiver::start(&pool);
    let task = Uuid::new_v4();
    let span = |id: u8, attributes: Vec<KeyValue>| Span {
        trace_id: vec![9; 16],
        span_id: vec![id; 8],
        start_time_unix_nano: 1_760_000_000_000_000_000,
        end_time_unix_nano: 1_760_000_000_250_000_000,
        attributes,
        ..Span::default()
    };
    let mut failed = span(
        1,
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.system", s("anthropic")),
            kv("gen_ai.request.model", s("claude-3-5-haiku")),
        ],
    );
    failed.status = Some(Status {
        code: status::StatusCode::Error as i32,
        message: "upstream said no".into(),
    });
    let tool = span(
        2,
        vec![
            kv("gen_ai.operation.name", s("execute_tool")),
            kv("gen_ai.tool.name", s("search_kb")),
            kv(
                "gen_ai.tool.call.arguments",
                s("{\"q\":\"secret question\"}"),
            ),
        ],
    );
    let ordinary = span(3, vec![kv("db.system", s("postgresql"))]);
    let create_agent = span(4, vec![kv("gen_ai.operation.name", s("create_agent"))]);
    let bad_task = span(
        5,
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("ai_runtime.task_id", s("task-42")),
        ],
    );
    let resource = vec![
        kv("service.name", s("js-agent")),
        kv("ai_runtime.task_id", s(&task.to_string())),
        kv("ai_runtime.worker_id", s("js-worker")),
    ];
    let body = request(
        "js",
        resource,
        vec![failed, tool, ordinary, create_agent, bad_task],
    );
    let answer = post(&receiver.traces(), PROTOBUF, body, &[BEARER]).await;
    assert_eq!(answer.status, 200);
    let partial = ExportTraceServiceResponse::decode(answer.body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("task-42"),
        "{}",
        partial.error_message
    );
    receiver.flush();
    let rows = sqlx::query(
        "select reason_code, entity_id, task_id, worker_id, metadata
         from ai_runtime_events order by reason_code",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    let failed = &rows[0];
    assert_eq!(
        failed.get::<String, _>("reason_code"),
        "PROVIDER_CALL_FAILED"
    );
    assert_eq!(
        failed.get::<String, _>("entity_id"),
        "anthropic/claude-3-5-haiku"
    );
    // The ids from the resource (the spans have no parent here).
    assert_eq!(failed.get::<Option<Uuid>, _>("task_id"), Some(task));
    assert_eq!(
        failed.get::<Option<String>, _>("worker_id").as_deref(),
        Some("js-worker")
    );
    let metadata: Value = failed.get("metadata");
    assert_eq!(metadata["otel.status_code"], "ERROR");
    assert_eq!(metadata["error.type"], "ERROR");
    assert_eq!(metadata["gen_ai.provider.name"], "anthropic");
    assert_eq!(metadata["latency_ms"], 250.0);
    assert_eq!(metadata["level"], "ERROR");
    assert_eq!(metadata["service.name"], "js-agent");
    assert!(metadata.get("otel.status_message").is_none(), "content");
    let tool = &rows[1];
    assert_eq!(tool.get::<String, _>("reason_code"), "TOOL_CALL_OK");
    assert_eq!(tool.get::<String, _>("entity_id"), "search_kb");
    let metadata: Value = tool.get("metadata");
    assert!(
        !metadata.to_string().contains("secret question"),
        "{metadata}"
    );
    let counts = receiver.receiver.stats.counts();
    assert_eq!(
        (counts.accepted, counts.ignored, counts.rejected),
        (2, 2, 1),
        "{counts:?}"
    );
    receiver.shutdown();
}
