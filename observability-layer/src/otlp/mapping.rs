//! One runtime event as one OTLP log record, with the OpenTelemetry GenAI
//! semantic conventions where they apply (the crate README has the table).
//!
//! - time = `occurred_at`, severity from the level, body = the message;
//! - the columns as `ai_runtime.*` attributes (`layer`, `operation`,
//!   `reason_code`, `entity_id`, `task_id`, `persona_id`, `worker_id`,
//!   `target`, and `truncated` when a value was cut);
//! - every metadata field as an attribute under its own name (a field
//!   named `gen_ai.usage.input_tokens` is one already);
//! - the GenAI attributes the event does not carry under their own names,
//!   from the operation and from the usual short names (`provider`,
//!   `model`, `input_tokens`, ...);
//! - `trace_id` / `span_id` fields (W3C hex) as the record's trace context.

use std::time::SystemTime;

use ai_runtime_vocab::{EventLayer, Operation};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tracing_core::Level;

use crate::capture::{Captured, FieldValue};
use crate::redact::REDACTED;

/// A GenAI attribute and the short field names it is also taken from, in
/// order of preference (the convention's own name always wins).
const GEN_AI_ALIASES: &[(&str, &[&str])] = &[
    ("gen_ai.provider.name", &["provider", "provider_name"]),
    ("gen_ai.request.model", &["model", "request_model"]),
    ("gen_ai.response.model", &["response_model"]),
    (
        "gen_ai.usage.input_tokens",
        &["input_tokens", "prompt_tokens"],
    ),
    (
        "gen_ai.usage.output_tokens",
        &["output_tokens", "completion_tokens"],
    ),
    ("gen_ai.tool.name", &["tool", "tool_name"]),
];

/// The record's body and attributes for `event`.
pub(crate) fn log_record(event: &Captured) -> LogRecord {
    let time = event
        .occurred_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let (severity_number, severity_text) = severity(event.level);
    let mut attributes = Vec::with_capacity(12 + event.fields.iter().count());
    let text = |key: &str, value: &str| kv(key, string(value));
    attributes.push(text("ai_runtime.layer", event.layer.as_str()));
    attributes.push(text("ai_runtime.operation", event.operation.as_str()));
    attributes.push(text("ai_runtime.reason_code", event.reason_code.as_str()));
    attributes.push(text("ai_runtime.entity_id", event.entity_id.as_str()));
    if let Some(task) = event.task_id {
        attributes.push(text("ai_runtime.task_id", &task.to_string()));
    }
    if let Some(persona) = event.persona_id {
        attributes.push(text("ai_runtime.persona_id", &persona.to_string()));
    }
    if let Some(worker) = &event.worker_id {
        attributes.push(text("ai_runtime.worker_id", worker.as_str()));
    }
    attributes.push(text("ai_runtime.target", event.target));
    if event.truncated {
        attributes.push(kv(
            "ai_runtime.truncated",
            any_value::Value::BoolValue(true),
        ));
    }

    let mut trace_id = Vec::new();
    let mut span_id = Vec::new();
    for (name, value) in event.fields.iter() {
        // The trace context goes to the record's own fields when well formed.
        if let FieldValue::Str(hex) = value {
            if *name == "trace_id" {
                if let Some(bytes) = hex_id::<16>(hex.as_str()) {
                    trace_id = bytes;
                    continue;
                }
            } else if *name == "span_id" {
                if let Some(bytes) = hex_id::<8>(hex.as_str()) {
                    span_id = bytes;
                    continue;
                }
            }
        }
        attributes.push(kv(name, field_value(value)));
    }
    gen_ai(event, &mut attributes);

    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number,
        severity_text: severity_text.to_owned(),
        body: event.message.as_ref().map(|m| AnyValue {
            value: Some(string(m.as_str())),
        }),
        attributes,
        trace_id,
        span_id,
        ..LogRecord::default()
    }
}

/// Adds the GenAI attributes the event's own fields did not give.
fn gen_ai(event: &Captured, attributes: &mut Vec<KeyValue>) {
    let has = |attributes: &[KeyValue], key: &str| attributes.iter().any(|a| a.key == key);
    let operation = match (event.operation, event.layer) {
        (Operation::Call, EventLayer::ProviderRuntime | EventLayer::ModelAdapter) => Some("chat"),
        (Operation::ToolCall, _) => Some("execute_tool"),
        _ => None,
    };
    if let Some(name) = operation {
        if !has(attributes, "gen_ai.operation.name") {
            attributes.push(kv("gen_ai.operation.name", string(name)));
        }
    }
    for (convention, aliases) in GEN_AI_ALIASES {
        if has(attributes, convention) {
            continue;
        }
        let found = aliases
            .iter()
            .find_map(|alias| event.fields.iter().find(|(name, _)| name == alias));
        if let Some((_, value)) = found {
            attributes.push(kv(convention, field_value(value)));
        } else if *convention == "gen_ai.tool.name" && event.operation == Operation::ToolCall {
            // A tool call names its tool in `entity_id` (the convention of
            // this crate's events).
            attributes.push(kv(convention, string(event.entity_id.as_str())));
        }
    }
    let failed = event.level <= Level::WARN; // WARN and ERROR
    if failed && !has(attributes, "error.type") {
        attributes.push(kv("error.type", string(&error_type(event))));
    }
}

/// A failure's class: an `error_type` field, else a short `error` token
/// (`timeout`), else the reason code: low-cardinality, as the convention asks.
fn error_type(event: &Captured) -> String {
    let field = |wanted: &str| {
        event.fields.iter().find_map(|(name, value)| match value {
            FieldValue::Str(t) if *name == wanted => Some(t.as_str()),
            _ => None,
        })
    };
    if let Some(kind) = field("error_type") {
        return kind.to_owned();
    }
    match field("error") {
        Some(token)
            if !token.is_empty() && token.len() <= 64 && !token.contains(char::is_whitespace) =>
        {
            token.to_owned()
        }
        _ => event.reason_code.as_str().to_owned(),
    }
}

fn severity(level: Level) -> (i32, &'static str) {
    // SeverityNumber: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17.
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

fn field_value(value: &FieldValue) -> any_value::Value {
    match value {
        FieldValue::Bool(b) => any_value::Value::BoolValue(*b),
        FieldValue::I64(n) => any_value::Value::IntValue(*n),
        FieldValue::U64(n) => match i64::try_from(*n) {
            Ok(n) => any_value::Value::IntValue(n),
            // OTLP integers are signed 64-bit: larger ones as text.
            Err(_) => string(&n.to_string()),
        },
        FieldValue::F64(f) => any_value::Value::DoubleValue(*f),
        FieldValue::Str(t) => string(t.as_str()),
        FieldValue::Redacted => string(REDACTED),
    }
}

fn string(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

/// `N` bytes from `2N` hex digits, not all zero (an all-zero id is invalid).
fn hex_id<const N: usize>(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut bytes = Vec::with_capacity(N);
    for pair in hex.chunks_exact(2) {
        bytes.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    bytes.iter().any(|b| *b != 0).then_some(bytes)
}

/// The request's envelope: one resource, one scope, the batch's records.
pub(crate) fn resource_logs(resource: &[KeyValue], records: Vec<LogRecord>) -> ResourceLogs {
    ResourceLogs {
        resource: Some(Resource {
            attributes: resource.to_vec(),
            ..Resource::default()
        }),
        scope_logs: vec![ScopeLogs {
            scope: Some(InstrumentationScope {
                name: env!("CARGO_PKG_NAME").into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..InstrumentationScope::default()
            }),
            log_records: records,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The resource attributes as key-values, with the SDK's own.
pub(crate) fn resource_attributes(resource: &[(String, String)]) -> Vec<KeyValue> {
    let mut attributes: Vec<KeyValue> = resource.iter().map(|(k, v)| kv(k, string(v))).collect();
    for (key, value) in [
        ("telemetry.sdk.name", env!("CARGO_PKG_NAME")),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ] {
        if !resource.iter().any(|(k, _)| k == key) {
            attributes.push(kv(key, string(value)));
        }
    }
    attributes
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::text::Text;

    fn attributes(record: &LogRecord) -> BTreeMap<String, any_value::Value> {
        record
            .attributes
            .iter()
            .map(|a| (a.key.clone(), a.value.clone().unwrap().value.unwrap()))
            .collect()
    }

    fn s(v: &str) -> any_value::Value {
        string(v)
    }

    fn text(v: &str) -> FieldValue {
        FieldValue::Str(Text::bounded(v, 200))
    }

    #[test]
    fn a_provider_call_gets_the_gen_ai_attributes() {
        let at =
            SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        let mut event = Captured::empty(at, Level::INFO, "phase1_worker::agent");
        event.layer = EventLayer::ProviderRuntime;
        event.operation = Operation::Call;
        event.reason_code = Text::bounded("PROVIDER_CALL_OK", 64);
        event.entity_id = Text::bounded("simulated/sim-large-1", 64);
        event.worker_id = Some(Text::bounded("w-1", 64));
        event.task_id = Some(uuid::Uuid::nil());
        event.message = Some(Text::bounded("provider call ok", 64));
        event.fields.push("provider", text("simulated"));
        event.fields.push("model", text("sim-large-1"));
        event.fields.push("input_tokens", FieldValue::U64(512));
        event
            .fields
            .push("gen_ai.usage.output_tokens", FieldValue::I64(88));
        event.fields.push("latency_ms", FieldValue::U64(41));
        event.fields.push("api_key", FieldValue::Redacted);
        event
            .fields
            .push("trace_id", text("4bf92f3577b34da6a3ce929d0e0e4736"));
        event.fields.push("span_id", text("00f067aa0ba902b7"));
        let record = log_record(&event);
        assert_eq!(record.time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (9, "INFO")
        );
        assert_eq!(
            record.body.clone().unwrap().value.unwrap(),
            s("provider call ok")
        );
        assert_eq!(record.trace_id.len(), 16);
        assert_eq!(record.trace_id[0], 0x4b);
        assert_eq!(
            record.span_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        let a = attributes(&record);
        assert_eq!(a["ai_runtime.layer"], s("provider_runtime"));
        assert_eq!(a["ai_runtime.operation"], s("CALL"));
        assert_eq!(a["ai_runtime.reason_code"], s("PROVIDER_CALL_OK"));
        assert_eq!(a["ai_runtime.entity_id"], s("simulated/sim-large-1"));
        assert_eq!(a["ai_runtime.worker_id"], s("w-1"));
        assert_eq!(a["ai_runtime.task_id"], s(&uuid::Uuid::nil().to_string()));
        assert_eq!(a["gen_ai.operation.name"], s("chat"));
        assert_eq!(a["gen_ai.provider.name"], s("simulated"));
        assert_eq!(a["gen_ai.request.model"], s("sim-large-1"));
        assert_eq!(
            a["gen_ai.usage.input_tokens"],
            any_value::Value::IntValue(512)
        );
        assert_eq!(
            a["gen_ai.usage.output_tokens"],
            any_value::Value::IntValue(88)
        );
        assert_eq!(a["latency_ms"], any_value::Value::IntValue(41));
        assert_eq!(a["api_key"], s(REDACTED));
        assert!(!a.contains_key("error.type") && !a.contains_key("trace_id"));
        // Each convention attribute once, even when given under its own name.
        let output = record
            .attributes
            .iter()
            .filter(|a| a.key == "gen_ai.usage.output_tokens");
        assert_eq!(output.count(), 1);
    }

    #[test]
    fn failures_get_an_error_type_and_tool_calls_their_tool() {
        let mut failed = Captured::empty(SystemTime::now(), Level::WARN, "t");
        failed.layer = EventLayer::ProviderRuntime;
        failed.operation = Operation::Call;
        failed.reason_code = Text::bounded("PROVIDER_CALL_FAILED", 64);
        failed.fields.push("error", text("timeout"));
        let a = attributes(&log_record(&failed));
        assert_eq!(a["error.type"], s("timeout"));
        assert_eq!(a["gen_ai.operation.name"], s("chat"));
        // A sentence is no error class: the reason code is.
        let mut sentence = failed.clone();
        sentence.fields = Default::default();
        sentence
            .fields
            .push("error", text("connection reset by peer"));
        assert_eq!(
            attributes(&log_record(&sentence))["error.type"],
            s("PROVIDER_CALL_FAILED")
        );

        let mut tool = Captured::empty(SystemTime::now(), Level::INFO, "t");
        tool.layer = EventLayer::ToolRuntime;
        tool.operation = Operation::ToolCall;
        tool.entity_id = Text::bounded("search_kb", 64);
        let a = attributes(&log_record(&tool));
        assert_eq!(a["gen_ai.operation.name"], s("execute_tool"));
        assert_eq!(a["gen_ai.tool.name"], s("search_kb"));
        // A task event is no GenAI operation; ids that are not hex stay attributes.
        let mut task = Captured::empty(SystemTime::now(), Level::ERROR, "t");
        task.operation = Operation::Task;
        task.reason_code = Text::bounded("TASK_FAILED", 64);
        task.fields.push("trace_id", text("not-a-trace"));
        let record = log_record(&task);
        let a = attributes(&record);
        assert!(!a.contains_key("gen_ai.operation.name"));
        assert_eq!(a["error.type"], s("TASK_FAILED"));
        assert_eq!(a["trace_id"], s("not-a-trace"));
        assert!(record.trace_id.is_empty() && record.body.is_none());
        assert_eq!(record.severity_number, 17);
    }
}
