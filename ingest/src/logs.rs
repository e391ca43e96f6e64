//! Log records this project's OTLP exporter wrote (they carry
//! `ai_runtime.layer`) back into the runtime events they were exported
//! from: the inverse of `observability-layer/src/otlp/mapping.rs`, so an
//! event exported by one service and received by another is stored as the
//! same row. Other log records are ignored (and counted).
//!
//! | record | event |
//! | --- | --- |
//! | `ai_runtime.layer`, `.operation`, `.reason_code`, `.entity_id`, `.task_id`, `.persona_id`, `.worker_id` | the columns |
//! | `ai_runtime.target`, `ai_runtime.truncated` | `metadata.target`, `metadata.truncated` |
//! | severity number | `metadata.level` |
//! | body | `metadata.message` |
//! | every other attribute, except those `ai_runtime.derived` names | a metadata field under its name |
//! | trace id, span id | `trace_id`, `span_id` fields (hex) |

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use ai_runtime_vocab::{EventLayer, Operation};
use observability_layer::PreparedEvent;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use tracing::Level;
use uuid::Uuid;

use crate::attributes::{self, MAX_KEY_BYTES};
use crate::outcome::Outcome;

/// The attributes the exporter writes for the columns (and its marker).
const PREFIX: &str = "ai_runtime.";
const DERIVED: &str = "ai_runtime.derived";

/// The event `record` was exported from, if it is one of ours.
pub fn event(record: &LogRecord) -> Outcome {
    let attrs = &record.attributes;
    let Some(layer) = attributes::string(attrs, "ai_runtime.layer") else {
        return Outcome::Ignored;
    };
    let column = |name: &'static str| attributes::string(attrs, name);
    let Ok(layer) = EventLayer::from_str(layer) else {
        return Outcome::Rejected(format!("ai_runtime.layer {layer:?} is not a layer"));
    };
    let operation = match column("ai_runtime.operation").map(Operation::from_str) {
        Some(Ok(operation)) => operation,
        _ => return Outcome::Rejected("ai_runtime.operation is missing or unknown".into()),
    };
    let reason_code = match column("ai_runtime.reason_code") {
        Some(code) if !code.trim().is_empty() => code,
        _ => return Outcome::Rejected("ai_runtime.reason_code is missing".into()),
    };
    let uuid = |name: &'static str| match column(name) {
        None => Ok(None),
        Some(text) => Uuid::try_parse(text.trim())
            .map(Some)
            .map_err(|_| Outcome::Rejected(format!("{name} is not a UUID"))),
    };
    let task_id = match uuid("ai_runtime.task_id") {
        Ok(id) => id,
        Err(rejected) => return rejected,
    };
    let persona_id = match uuid("ai_runtime.persona_id") {
        Ok(id) => id,
        Err(rejected) => return rejected,
    };
    let mut event = PreparedEvent::new(
        occurred_at(record),
        level(record.severity_number),
        layer,
        operation,
        reason_code,
    );
    event.entity_id = column("ai_runtime.entity_id").unwrap_or_default().into();
    event.task_id = task_id;
    event.persona_id = persona_id;
    event.worker_id = column("ai_runtime.worker_id").map(Into::into);
    event.target = column("ai_runtime.target").unwrap_or_default().into();
    event.truncated = attrs.iter().any(|kv| {
        kv.key == "ai_runtime.truncated"
            && matches!(
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
                Some(any_value::Value::BoolValue(true))
            )
    });
    event.message = record.body.as_ref().map(|body| match &body.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        _ => attributes::to_json(Some(body)).to_string(),
    });
    let derived: Vec<&str> = column(DERIVED)
        .map(|list| list.split(',').collect())
        .unwrap_or_default();
    event.fields = attrs
        .iter()
        .filter(|kv| {
            !kv.key.starts_with(PREFIX)
                && kv.key.len() <= MAX_KEY_BYTES
                && !derived.contains(&kv.key.as_str())
        })
        .map(|kv| (kv.key.clone(), attributes::to_json(kv.value.as_ref())))
        .collect();
    for (name, id) in [("trace_id", &record.trace_id), ("span_id", &record.span_id)] {
        if !id.is_empty() {
            event.fields.push((name.into(), attributes::hex(id).into()));
        }
    }
    Outcome::Event(Box::new(event))
}

/// The record's time, else when it was observed, else now.
fn occurred_at(record: &LogRecord) -> SystemTime {
    match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => SystemTime::now(),
        (0, at) | (at, _) => SystemTime::UNIX_EPOCH + Duration::from_nanos(at),
    }
}

/// OTLP severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN,
/// 17-24 ERROR (FATAL included); unset is INFO.
pub fn level(severity_number: i32) -> Level {
    match severity_number {
        1..=4 => Level::TRACE,
        5..=8 => Level::DEBUG,
        13..=16 => Level::WARN,
        17.. => Level::ERROR,
        _ => Level::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

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

    fn record(attributes: Vec<KeyValue>) -> LogRecord {
        LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000,
            severity_number: 13,
            attributes,
            ..LogRecord::default()
        }
    }

    #[test]
    fn records_of_ours_become_their_events_and_others_are_ignored() {
        let task = Uuid::new_v4();
        let r = record(vec![
            kv("ai_runtime.layer", s("provider_runtime")),
            kv("ai_runtime.operation", s("CALL")),
            kv("ai_runtime.reason_code", s("PROVIDER_CALL_FAILED")),
            kv("ai_runtime.entity_id", s("sim/m")),
            kv("ai_runtime.task_id", s(&task.to_string())),
            kv("ai_runtime.target", s("phase1_worker::agent")),
            kv("model", s("m")),
            kv("gen_ai.request.model", s("m")),
            kv("error.type", s("timeout")),
            kv(DERIVED, s("gen_ai.request.model,error.type")),
        ]);
        let Outcome::Event(event) = event(&r) else {
            panic!("not an event");
        };
        assert_eq!(event.layer, EventLayer::ProviderRuntime);
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.task_id, Some(task));
        assert_eq!(event.target, "phase1_worker::agent");
        assert_eq!(event.fields, vec![("model".into(), "m".into())]);
        assert!(matches!(
            super::event(&record(vec![kv("k", s("v"))])),
            Outcome::Ignored
        ));
        let bad = record(vec![
            kv("ai_runtime.layer", s("worker")),
            kv("ai_runtime.operation", s("TASK")),
            kv("ai_runtime.reason_code", s("X")),
            kv("ai_runtime.task_id", s("not-a-uuid")),
        ]);
        match super::event(&bad) {
            Outcome::Rejected(why) => assert!(why.contains("ai_runtime.task_id"), "{why}"),
            _ => panic!("accepted a bad task id"),
        }
    }
}
