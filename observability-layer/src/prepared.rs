//! Runtime events made outside `tracing` (an OTLP receiver's, for one),
//! handed to a sink with [`SinkHandle::submit`](crate::SinkHandle::submit).
//! From the channel on they travel like the layer's own: the writer
//! batches and scrubs them, every exporter retries and counts them. They
//! are bounded here by the sink's limits, as captured fields are.

use std::time::SystemTime;

use ai_runtime_vocab::{EventLayer, Operation};
use serde_json::Value;
use tracing_core::Level;
use uuid::Uuid;

use crate::capture::{Captured, FieldValue, Foreign, Limits};
use crate::redact::is_secret_name;
use crate::text::Text;

/// Longest reason code kept (as for captured events).
const MAX_REASON_CODE: usize = 128;

/// A runtime event built by hand: the columns, the metadata fields in
/// order, and what the layer would otherwise take from the callsite.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedEvent {
    pub occurred_at: SystemTime,
    pub level: Level,
    /// `metadata.target`.
    pub target: String,
    pub layer: EventLayer,
    pub operation: Operation,
    /// Must not be blank (else the event is counted as invalid).
    pub reason_code: String,
    /// Empty: the task id, else the worker id, else the target (the
    /// layer's fallback for events).
    pub entity_id: String,
    pub task_id: Option<Uuid>,
    pub persona_id: Option<Uuid>,
    pub worker_id: Option<String>,
    /// `metadata.message`.
    pub message: Option<String>,
    /// Metadata fields in order. Arrays, objects and `null` are kept as
    /// their JSON text; credential-like names are redacted.
    pub fields: Vec<(String, Value)>,
    /// A value was already cut before it got here (`metadata.truncated`).
    pub truncated: bool,
    /// A GenAI inference: priced on the writer thread from its model and
    /// token fields (`cost_usd`), as a captured GenAI span is.
    pub price: bool,
}

impl PreparedEvent {
    /// An event with the given columns, no ids, no message and no fields.
    pub fn new(
        occurred_at: SystemTime,
        level: Level,
        layer: EventLayer,
        operation: Operation,
        reason_code: impl Into<String>,
    ) -> Self {
        PreparedEvent {
            occurred_at,
            level,
            target: String::new(),
            layer,
            operation,
            reason_code: reason_code.into(),
            entity_id: String::new(),
            task_id: None,
            persona_id: None,
            worker_id: None,
            message: None,
            fields: Vec::new(),
            truncated: false,
            price: false,
        }
    }

    /// The event as the channel carries it, within `limits` (the same
    /// per-value and per-event budgets as captured fields).
    pub(crate) fn into_captured(self, limits: Limits) -> Box<Captured> {
        let mut event = Box::new(Captured::empty(self.occurred_at, self.level, ""));
        let value_limit = limits.max_value_bytes;
        let mut truncated = self.truncated;
        let mut bounded = |text: &str, limit: usize| {
            let text = Text::bounded(text, limit);
            truncated |= text.exceeds(limit);
            text
        };
        event.layer = self.layer;
        event.operation = self.operation;
        event.reason_code = bounded(&self.reason_code, MAX_REASON_CODE);
        event.task_id = self.task_id;
        event.persona_id = self.persona_id;
        event.worker_id = self.worker_id.as_deref().map(|w| bounded(w, value_limit));
        event.entity_id = if self.entity_id.is_empty() {
            match (self.task_id, &event.worker_id) {
                (Some(task), _) => Text::bounded(&task.to_string(), 64),
                (None, Some(worker)) => worker.clone(),
                (None, None) => bounded(&self.target, value_limit),
            }
        } else {
            bounded(&self.entity_id, value_limit)
        };
        let mut budget = limits.max_metadata_bytes;
        let mut metadata_text = |text: &str| {
            let limit = value_limit.min(budget);
            let text = Text::bounded(text, limit);
            if text.exceeds(limit) {
                truncated = true;
                budget -= limit;
            } else {
                budget -= text.len();
            }
            text
        };
        event.message = self.message.as_deref().map(&mut metadata_text);
        let fields = self
            .fields
            .into_iter()
            .map(|(name, value)| {
                let value = if is_secret_name(&name) {
                    FieldValue::Redacted
                } else {
                    match value {
                        Value::Bool(b) => FieldValue::Bool(b),
                        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                            (Some(i), _, _) => FieldValue::I64(i),
                            (None, Some(u), _) => FieldValue::U64(u),
                            (None, None, Some(f)) => FieldValue::F64(f),
                            _ => FieldValue::Str(metadata_text(&n.to_string())),
                        },
                        Value::String(s) => FieldValue::Str(metadata_text(&s)),
                        other => FieldValue::Str(metadata_text(&other.to_string())),
                    }
                };
                (name, value)
            })
            .collect();
        event.truncated = truncated;
        event.priced = self.price;
        event.foreign = Some(Box::new(Foreign {
            target: self.target,
            fields,
        }));
        event
    }
}

/// Why [`SinkHandle::submit`](crate::SinkHandle::submit) took nothing: the
/// channel to the writer has no room for all of the events (or the sink has
/// stopped). Nothing was counted; the caller may try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the runtime event channel has room for {room} of {wanted} events")]
pub struct Backpressure {
    pub wanted: usize,
    pub room: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata;

    fn limits() -> Limits {
        Limits {
            max_value_bytes: 16,
            max_metadata_bytes: 30,
        }
    }

    #[test]
    fn fields_keep_their_names_types_and_the_limits() {
        let mut event = PreparedEvent::new(
            SystemTime::UNIX_EPOCH,
            Level::WARN,
            EventLayer::ProviderRuntime,
            Operation::Call,
            "PROVIDER_CALL_FAILED",
        );
        event.target = "otlp".into();
        event.worker_id = Some("py-agent".into());
        event.fields = vec![
            ("gen_ai.usage.input_tokens".into(), Value::from(12)),
            ("big".into(), Value::from(u64::MAX)),
            ("ratio".into(), Value::from(0.5)),
            ("stream".into(), Value::from(false)),
            ("list".into(), serde_json::json!([1, "a"])),
            ("api_key".into(), Value::from("sk-live-123")),
            ("long".into(), Value::from("x".repeat(100))),
            ("after".into(), Value::from("y".repeat(30))),
        ];
        let captured = event.into_captured(limits());
        // No entity id given and no task: the worker's.
        assert_eq!(captured.entity_id.as_str(), "py-agent");
        let json = serde_json::to_value(metadata::Metadata(&captured)).unwrap();
        assert_eq!(json["gen_ai.usage.input_tokens"], 12);
        assert_eq!(json["big"], u64::MAX);
        assert_eq!(json["ratio"], 0.5);
        assert_eq!(json["stream"], false);
        assert_eq!(json["list"], r#"[1,"a"]"#);
        assert_eq!(json["api_key"], crate::redact::REDACTED);
        assert_eq!(json["target"], "otlp");
        assert_eq!(json["level"], "WARN");
        assert_eq!(json["truncated"], true);
        // Cut at the value limit, then at what the event's budget has left.
        let long = json["long"].as_str().unwrap();
        assert!(long.starts_with(&"x".repeat(16)) && !long.contains(&"x".repeat(17)));
        // (budget 30: the list's 7 bytes, 16 of `long`, 7 left for `after`)
        let after = json["after"].as_str().unwrap();
        assert!(
            after.starts_with("yyyyyyy") && !after.starts_with("yyyyyyyy"),
            "{after}"
        );
    }
}
