//! A bounded ring of the most recent valid runtime events, readable in
//! process whatever the database does. The writer fills it as it takes
//! events off the channel, so the emitting thread pays nothing for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ai_runtime_api::{Layer, Operation};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A runtime event as it is (or would be) written to `ai_runtime_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub layer: Layer,
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
    ring: Mutex<VecDeque<Arc<RecordedEvent>>>,
}

impl Recorder {
    pub(crate) fn new(capacity: usize) -> Self {
        Recorder {
            capacity,
            ring: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    pub(crate) fn record(&self, event: &Arc<RecordedEvent>) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back(Arc::clone(event));
        }
    }

    /// Oldest first.
    pub(crate) fn recent(&self) -> Vec<RecordedEvent> {
        match self.ring.lock() {
            Ok(ring) => ring.iter().map(|e| RecordedEvent::clone(e)).collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(code: &str) -> Arc<RecordedEvent> {
        Arc::new(RecordedEvent {
            layer: Layer::Worker,
            operation: Operation::Heartbeat,
            reason_code: code.into(),
            entity_id: "w".into(),
            task_id: None,
            persona_id: None,
            worker_id: None,
            metadata: Map::new(),
            occurred_at: Utc::now(),
        })
    }

    #[test]
    fn keeps_only_the_most_recent() {
        let r = Recorder::new(2);
        for code in ["A", "B", "C"] {
            r.record(&event(code));
        }
        let codes: Vec<_> = r.recent().into_iter().map(|e| e.reason_code).collect();
        assert_eq!(codes, ["B", "C"]);
        let off = Recorder::new(0);
        off.record(&event("A"));
        assert!(off.recent().is_empty());
    }
}
