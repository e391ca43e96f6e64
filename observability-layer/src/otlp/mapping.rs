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
//! - `trace_id` / `span_id` fields (W3C hex) as the record's trace context;
//! - `ai_runtime.derived`: the keys of the attributes added above rather
//!   than carried by the event (comma-separated, only when there are any),
//!   so a receiver rebuilds exactly the event's own fields.

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

/// The record for `event`, new (the tests' way; the exporter refills).
#[cfg(test)]
pub(crate) fn log_record(event: &Captured) -> LogRecord {
    let mut record = LogRecord::default();
    fill_record(event, &mut record);
    record
}

/// Fills `record` for `event`, reusing the strings and lists of the event
/// it held before: the exporter keeps one batch's records and refills them
/// batch after batch, so the steady state allocates next to nothing (a
/// fresh record per event cost about 30 allocations and as many frees, the
/// exporter's largest cost).
pub(crate) fn fill_record(event: &Captured, record: &mut LogRecord) {
    let time = event
        .occurred_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let (severity_number, severity_text) = severity(event.level);
    record.time_unix_nano = time;
    record.observed_time_unix_nano = time;
    record.severity_number = severity_number;
    set_string(&mut record.severity_text, severity_text);
    match (&event.message, &mut record.body) {
        (None, body) => *body = None,
        (Some(message), Some(body)) => set_value(body, Val::Str(message.as_str())),
        (Some(message), body) => *body = Some(any(Val::Str(message.as_str()))),
    }
    record.trace_id.clear();
    record.span_id.clear();

    let mut attributes = Attributes {
        list: &mut record.attributes,
        len: 0,
    };
    attributes.push("ai_runtime.layer", Val::Str(event.layer.as_str()));
    attributes.push("ai_runtime.operation", Val::Str(event.operation.as_str()));
    attributes.push(
        "ai_runtime.reason_code",
        Val::Str(event.reason_code.as_str()),
    );
    attributes.push("ai_runtime.entity_id", Val::Str(event.entity_id.as_str()));
    let mut uuid = uuid::Uuid::encode_buffer();
    if let Some(task) = event.task_id {
        let text = task.hyphenated().encode_lower(&mut uuid);
        attributes.push("ai_runtime.task_id", Val::Str(text));
    }
    if let Some(persona) = event.persona_id {
        let text = persona.hyphenated().encode_lower(&mut uuid);
        attributes.push("ai_runtime.persona_id", Val::Str(text));
    }
    if let Some(worker) = &event.worker_id {
        attributes.push("ai_runtime.worker_id", Val::Str(worker.as_str()));
    }
    attributes.push("ai_runtime.target", Val::Str(event.target()));
    if event.truncated {
        attributes.push("ai_runtime.truncated", Val::Bool(true));
    }

    for (name, value) in event.all_fields() {
        // The trace context goes to the record's own fields when well formed.
        if let FieldValue::Str(hex) = value {
            if name == "trace_id" && hex_id::<16>(hex.as_str(), &mut record.trace_id) {
                continue;
            }
            if name == "span_id" && hex_id::<8>(hex.as_str(), &mut record.span_id) {
                continue;
            }
        }
        attributes.push(name, field_value(value));
    }
    gen_ai(event, &mut attributes);
    attributes.finish();
}

/// A value to write (borrowed: copied into the record's own string).
enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Double(f64),
    /// A `u64` above `i64::MAX` (OTLP integers are signed): as text.
    BigInt(u64),
}

/// A record's attribute list being rewritten in place: slot `len` onwards
/// still hold the previous event's attributes, reused, then cut.
struct Attributes<'a> {
    list: &'a mut Vec<KeyValue>,
    len: usize,
}

impl Attributes<'_> {
    fn push(&mut self, key: &str, value: Val<'_>) {
        match self.list.get_mut(self.len) {
            Some(slot) => {
                set_string(&mut slot.key, key);
                match &mut slot.value {
                    Some(old) => set_value(old, value),
                    None => slot.value = Some(any(value)),
                }
            }
            None => self.list.push(KeyValue {
                key: key.to_owned(),
                value: Some(any(value)),
                ..KeyValue::default()
            }),
        }
        self.len += 1;
    }

    fn has(&self, key: &str) -> bool {
        self.list[..self.len].iter().any(|a| a.key == key)
    }

    /// Names the attributes from slot `from` on in one `ai_runtime.derived`
    /// attribute (nothing when there are none), reusing the next slot's strings.
    fn mark_derived(&mut self, from: usize) {
        if from == self.len {
            return;
        }
        let (written, rest) = self.list.split_at_mut(self.len);
        let mut joined = match rest.first_mut() {
            Some(slot) => match slot.value.take() {
                Some(AnyValue {
                    value: Some(any_value::Value::StringValue(text)),
                }) => text,
                _ => String::new(),
            },
            None => String::new(),
        };
        joined.clear();
        for (i, attribute) in written[from..].iter().enumerate() {
            if i > 0 {
                joined.push(',');
            }
            joined.push_str(&attribute.key);
        }
        let value = Some(AnyValue {
            value: Some(any_value::Value::StringValue(joined)),
        });
        match rest.first_mut() {
            Some(slot) => {
                set_string(&mut slot.key, DERIVED);
                slot.value = value;
            }
            None => self.list.push(KeyValue {
                key: DERIVED.to_owned(),
                value,
                ..KeyValue::default()
            }),
        }
        self.len += 1;
    }

    fn finish(self) {
        self.list.truncate(self.len);
    }
}

/// The attribute naming what the mapping added (see the module doc).
pub(crate) const DERIVED: &str = "ai_runtime.derived";

fn set_string(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

/// Overwrites `slot`, reusing its string when both are strings.
fn set_value(slot: &mut AnyValue, value: Val<'_>) {
    match (&mut slot.value, value) {
        (Some(any_value::Value::StringValue(old)), Val::Str(new)) => set_string(old, new),
        (_, value) => *slot = any(value),
    }
}

fn any(value: Val<'_>) -> AnyValue {
    let value = match value {
        Val::Str(s) => any_value::Value::StringValue(s.to_owned()),
        Val::Int(n) => any_value::Value::IntValue(n),
        Val::Bool(b) => any_value::Value::BoolValue(b),
        Val::Double(f) => any_value::Value::DoubleValue(f),
        Val::BigInt(n) => any_value::Value::StringValue(n.to_string()),
    };
    AnyValue { value: Some(value) }
}

/// Adds the GenAI attributes the event's own fields did not give.
fn gen_ai(event: &Captured, attributes: &mut Attributes<'_>) {
    let first_derived = attributes.len;
    let operation = match (event.operation, event.layer) {
        (Operation::Call, EventLayer::ProviderRuntime | EventLayer::ModelAdapter) => Some("chat"),
        (Operation::ToolCall, _) => Some("execute_tool"),
        _ => None,
    };
    if let Some(name) = operation {
        if !attributes.has("gen_ai.operation.name") {
            attributes.push("gen_ai.operation.name", Val::Str(name));
        }
    }
    for (convention, aliases) in GEN_AI_ALIASES {
        if attributes.has(convention) {
            continue;
        }
        let found = aliases
            .iter()
            .find_map(|alias| event.all_fields().find(|(name, _)| name == alias));
        if let Some((_, value)) = found {
            attributes.push(convention, field_value(value));
        } else if *convention == "gen_ai.tool.name" && event.operation == Operation::ToolCall {
            // A tool call names its tool in `entity_id` (the convention of
            // this crate's events).
            attributes.push(convention, Val::Str(event.entity_id.as_str()));
        }
    }
    let failed = event.level <= Level::WARN; // WARN and ERROR
    if failed && !attributes.has("error.type") {
        attributes.push("error.type", Val::Str(error_type(event)));
    }
    attributes.mark_derived(first_derived);
}

/// A failure's class: an `error_type` field, else a short `error` token
/// (`timeout`), else the reason code: low-cardinality, as the convention asks.
fn error_type(event: &Captured) -> &str {
    let field = |wanted: &str| {
        event.all_fields().find_map(|(name, value)| match value {
            FieldValue::Str(t) if name == wanted => Some(t.as_str()),
            _ => None,
        })
    };
    if let Some(kind) = field("error_type") {
        return kind;
    }
    match field("error") {
        Some(token)
            if !token.is_empty() && token.len() <= 64 && !token.contains(char::is_whitespace) =>
        {
            token
        }
        _ => event.reason_code.as_str(),
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

fn field_value(value: &FieldValue) -> Val<'_> {
    match value {
        FieldValue::Bool(b) => Val::Bool(*b),
        FieldValue::I64(n) => Val::Int(*n),
        FieldValue::U64(n) => match i64::try_from(*n) {
            Ok(n) => Val::Int(n),
            Err(_) => Val::BigInt(*n),
        },
        FieldValue::F64(f) => Val::Double(*f),
        FieldValue::Str(t) => Val::Str(t.as_str()),
        FieldValue::Redacted => Val::Str(REDACTED),
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(any(Val::Str(value))),
        ..KeyValue::default()
    }
}

/// Writes `N` bytes from `2N` hex digits into `out` (left empty when the
/// text is no id, or all zeros: an invalid id); whether it did.
fn hex_id<const N: usize>(hex: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    let hex = hex.as_bytes();
    if hex.len() != 2 * N {
        return false;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    for pair in hex.chunks_exact(2) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => out.push(high << 4 | low),
            _ => {
                out.clear();
                return false;
            }
        }
    }
    if out.iter().all(|b| *b == 0) {
        out.clear();
        return false;
    }
    true
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
    let mut attributes: Vec<KeyValue> = resource.iter().map(|(k, v)| kv(k, v)).collect();
    for (key, value) in [
        ("telemetry.sdk.name", env!("CARGO_PKG_NAME")),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ] {
        if !resource.iter().any(|(k, _)| k == key) {
            attributes.push(kv(key, value));
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
        any_value::Value::StringValue(v.to_owned())
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
        // The GenAI attributes the event did not carry are named as added.
        assert_eq!(
            a[DERIVED],
            s("gen_ai.operation.name,gen_ai.provider.name,gen_ai.request.model,gen_ai.usage.input_tokens")
        );
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
        assert_eq!(a[DERIVED], s("error.type"));
        assert_eq!(a["trace_id"], s("not-a-trace"));
        assert!(record.trace_id.is_empty() && record.body.is_none());
        assert_eq!(record.severity_number, 17);
    }

    #[test]
    fn a_refilled_record_equals_a_fresh_one() {
        let mut call = Captured::empty(SystemTime::now(), Level::WARN, "t");
        call.layer = EventLayer::ProviderRuntime;
        call.operation = Operation::Call;
        call.reason_code = Text::bounded("PROVIDER_CALL_FAILED", 64);
        call.task_id = Some(uuid::Uuid::new_v4());
        call.message = Some(Text::bounded("provider call failed", 64));
        call.fields.push("model", text("sim-large-1"));
        call.fields.push("input_tokens", FieldValue::U64(u64::MAX));
        call.fields.push("ratio", FieldValue::F64(0.5));
        call.fields
            .push("trace_id", text("4bf92f3577b34da6a3ce929d0e0e4736"));
        call.fields.push("error", text("timeout"));
        let mut bare = Captured::empty(SystemTime::now(), Level::INFO, "u");
        bare.reason_code = Text::bounded("X", 64);
        bare.fields.push("model", FieldValue::I64(3));
        bare.fields.push("trace_id", text("zz"));
        // Each refilled over the other, both ways: the same as fresh.
        for (first, second) in [(&call, &bare), (&bare, &call)] {
            let mut record = log_record(first);
            fill_record(second, &mut record);
            assert_eq!(record, log_record(second));
        }
    }
}
