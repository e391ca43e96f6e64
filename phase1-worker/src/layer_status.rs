//! Publishes worker statuses through the observability layer's
//! `WorkerReporter` (upserts `ai_worker_status`, never blocks).

use std::collections::HashMap;
use std::sync::Mutex;

use observability_layer::{SinkHandle, WorkerReport, WorkerReporter};

use crate::status::{StatusPublisher, WorkerStatus};

/// A [`StatusPublisher`] over a layer's [`SinkHandle`].
pub struct LayerStatus {
    handle: SinkHandle,
    reporters: Mutex<HashMap<String, WorkerReporter>>,
}

impl LayerStatus {
    pub fn new(handle: SinkHandle) -> LayerStatus {
        LayerStatus {
            handle,
            reporters: Mutex::new(HashMap::new()),
        }
    }
}

/// The layer's report for a status: DEGRADED with the breaker's reason
/// while it is not closed; route and heartbeat interval in metadata.
pub fn worker_report(status: &WorkerStatus) -> WorkerReport {
    WorkerReport {
        status: status.state,
        circuit_open: status.breaker.is_open(),
        circuit_reason: status.breaker.open_reason.clone(),
        current_task_id: status.current_task_id,
        metadata: status.metadata(),
    }
}

impl StatusPublisher for LayerStatus {
    fn publish(&self, status: &WorkerStatus) {
        let mut reporters = self.reporters.lock().unwrap_or_else(|e| e.into_inner());
        let reporter = reporters
            .entry(status.worker_id.clone())
            .or_insert_with(|| self.handle.worker(&status.worker_id));
        reporter.publish(worker_report(status));
    }
}
