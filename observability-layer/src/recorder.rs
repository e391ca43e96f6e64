//! A bounded ring of the most recent valid runtime events, readable in
//! process whatever the exporters do. The writer fills it from each batch
//! it fans out (the same stream the exporters read), so the emitting thread
//! pays nothing for it; reading converts them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ai_runtime_vocab::{EventLayer, Operation};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::capture::Captured;
use crate::metadata;

/// A runtime event as it is (or would be) written to `ai_runtime_events`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedEvent {
    pub layer: EventLayer,
    pub operation: Operation,
    pub reason_code: String,
    pub entity_id: String,
    pub task_id: Option<Uuid>,
    pub persona_id: Option<Uuid>,
    pub worker_id: Option<String>,
    /// Every other field, plus `message`, `level` and `target`.
    pub metadata: Map<String, Value>,
    pub occurred_at: DateTime<Utc>,
}

pub(crate) struct Recorder {
    capacity: usize,
    ring: Mutex<VecDeque<Arc<Captured>>>,
}

impl Recorder {
    pub(crate) fn new(capacity: usize) -> Self {
        Recorder {
            capacity,
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn record(&self, event: &Captured) {
        if self.capacity == 0 {
            return;
        }
        let event = Arc::new(event.clone());
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back(event);
        }
    }

    /// Oldest first.
    pub(crate) fn recent(&self) -> Vec<RecordedEvent> {
        match self.ring.lock() {
            Ok(ring) => ring.iter().map(|e| RecordedEvent::from(&**e)).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl From<&Captured> for RecordedEvent {
    fn from(event: &Captured) -> Self {
        RecordedEvent {
            layer: event.layer,
            operation: event.operation,
            reason_code: event.reason_code.as_str().to_owned(),
            entity_id: event.entity_id.as_str().to_owned(),
            task_id: event.task_id,
            persona_id: event.persona_id,
            worker_id: event.worker_id.as_ref().map(|w| w.as_str().to_owned()),
            // The same object the Postgres exporter stores in `metadata`.
            metadata: metadata::to_map(event),
            occurred_at: event.occurred_at.max(SystemTime::UNIX_EPOCH).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(code: &str) -> Captured {
        let text = |s: &str| crate::text::Text::bounded(s, 100);
        let mut event = Captured::empty(SystemTime::now(), tracing_core::Level::INFO, "t");
        event.reason_code = text(code);
        event.entity_id = text("w");
        event.fields.push("n", crate::capture::FieldValue::I64(1));
        event
    }

    #[test]
    fn keeps_only_the_most_recent() {
        let r = Recorder::new(2);
        for code in ["A", "B", "C"] {
            r.record(&event(code));
        }
        let recent = r.recent();
        let codes: Vec<_> = recent.iter().map(|e| e.reason_code.as_str()).collect();
        assert_eq!(codes, ["B", "C"]);
        assert_eq!(
            Value::Object(recent[0].metadata.clone()),
            serde_json::json!({"n": 1, "level": "INFO", "target": "t"})
        );
        let off = Recorder::new(0);
        off.record(&event("A"));
        assert!(off.recent().is_empty());
    }
}
