//! Worker status reports. A publication never blocks: it replaces the
//! worker's pending report on the board (so the exporters upsert only the
//! latest one per worker) and, for a change an admin acts on, gives the
//! `worker` HEARTBEAT runtime event to emit (see [`change_event`]). Plain
//! heartbeats, and flips between RUNNING and IDLE, only upsert
//! `ai_worker_status`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ai_runtime_vocab::{EventLayer, Operation, WorkerState};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tracing_core::Level;
use uuid::Uuid;

use crate::capture::{Captured, FieldValue};
use crate::reason_codes;
use crate::text::Text;

/// One publication of a worker's state (a row of `ai_worker_status`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkerReport {
    pub status: WorkerState,
    pub circuit_open: bool,
    pub circuit_reason: Option<String>,
    pub current_task_id: Option<Uuid>,
    /// Merged (top-level keys) into `ai_worker_status.metadata`, e.g.
    /// `"route": {"provider", "model"}` and `"heartbeatIntervalSeconds"`.
    /// Credential-like keys are redacted.
    pub metadata: Map<String, Value>,
}

impl WorkerReport {
    /// A report with a closed circuit, no task and no metadata.
    pub fn new(status: WorkerState) -> Self {
        WorkerReport {
            status,
            circuit_open: false,
            circuit_reason: None,
            current_task_id: None,
            metadata: Map::new(),
        }
    }
}

/// A report waiting for the writer.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct PendingReport {
    pub report: WorkerReport,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
struct BoardState {
    pending: HashMap<Arc<str>, PendingReport>,
    last: HashMap<Arc<str>, WorkerReport>,
}

/// The latest report per worker, shared by reporters and the writer.
#[derive(Default)]
pub(crate) struct Board {
    state: Mutex<BoardState>,
}

impl Board {
    /// Stores the report; returns the change event to emit, if any.
    pub(crate) fn publish(
        &self,
        worker_id: &Arc<str>,
        report: WorkerReport,
    ) -> Option<Box<Captured>> {
        let now = SystemTime::now();
        let mut state = self.state.lock().ok()?;
        let previous = state.last.insert(Arc::clone(worker_id), report.clone());
        state.pending.insert(
            Arc::clone(worker_id),
            PendingReport {
                report: report.clone(),
                at: now.into(),
            },
        );
        drop(state);
        change_event(worker_id, previous.as_ref(), &report, now)
    }

    pub(crate) fn last(&self, worker_id: &str) -> Option<WorkerReport> {
        self.state.lock().ok()?.last.get(worker_id).cloned()
    }

    /// Takes the pending reports.
    pub(crate) fn take(&self) -> Vec<(Arc<str>, PendingReport)> {
        match self.state.lock() {
            Ok(mut state) if !state.pending.is_empty() => state.pending.drain().collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether a move between these statuses is one an admin acts on: into or
/// out of DEGRADED, into or out of STOPPED. RUNNING <-> IDLE is a worker's
/// ordinary rhythm (it flips on every task) and writes no event.
fn noteworthy(from: WorkerState, to: WorkerState) -> bool {
    let quiet = |s| matches!(s, WorkerState::Running | WorkerState::Idle);
    from != to && !(quiet(from) && quiet(to))
}

/// The `worker` HEARTBEAT event for a change an admin acts on: the first
/// report (online), the circuit opened or closed, a status into or out of
/// DEGRADED or STOPPED. The row follows every change regardless.
fn change_event(
    worker_id: &str,
    previous: Option<&WorkerReport>,
    report: &WorkerReport,
    at: SystemTime,
) -> Option<Box<Captured>> {
    let text = |s: &str| Text::bounded(s, 512);
    let (reason_code, message) = match previous {
        None => (reason_codes::WORKER_ONLINE, "worker online"),
        Some(p) if p.circuit_open != report.circuit_open => {
            if report.circuit_open {
                (reason_codes::WORKER_CIRCUIT_OPENED, "worker circuit opened")
            } else {
                (reason_codes::WORKER_CIRCUIT_CLOSED, "worker circuit closed")
            }
        }
        Some(p) if noteworthy(p.status, report.status) => {
            (reason_codes::WORKER_STATUS_CHANGED, "worker status changed")
        }
        Some(_) => return None,
    };
    let mut event = Box::new(Captured::empty(at, Level::INFO, module_path!()));
    event.layer = EventLayer::Worker;
    event.operation = Operation::Heartbeat;
    event.reason_code = text(reason_code);
    event.entity_id = text(worker_id);
    event.task_id = report.current_task_id;
    event.worker_id = Some(text(worker_id));
    event.message = Some(text(message));
    let fields = &mut event.fields;
    fields.push("status", FieldValue::Str(text(report.status.as_str())));
    fields.push("circuit_open", FieldValue::Bool(report.circuit_open));
    if let Some(p) = previous {
        fields.push("previous_status", FieldValue::Str(text(p.status.as_str())));
    }
    if let Some(reason) = &report.circuit_reason {
        fields.push("circuit_reason", FieldValue::Str(text(reason)));
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(reports: &[WorkerReport]) -> Vec<Option<String>> {
        let board = Board::default();
        let id: Arc<str> = "w-1".into();
        reports
            .iter()
            .map(|r| {
                board
                    .publish(&id, r.clone())
                    .map(|e| e.reason_code.as_str().to_owned())
            })
            .collect()
    }

    #[test]
    fn only_changes_become_events() {
        let running = WorkerReport::new(WorkerState::Running);
        let mut open = WorkerReport::new(WorkerState::Degraded);
        open.circuit_open = true;
        open.circuit_reason = Some("5 provider failures".into());
        let idle = WorkerReport::new(WorkerState::Idle);
        let degraded = WorkerReport::new(WorkerState::Degraded);
        let got = codes(&[
            running.clone(),
            running.clone(),
            idle.clone(),
            running.clone(),
            idle.clone(),
            open,
            running.clone(),
            degraded.clone(),
            idle,
            degraded,
            WorkerReport::new(WorkerState::Stopped),
            running,
        ]);
        let want = [
            Some(reason_codes::WORKER_ONLINE),
            None,
            // RUNNING <-> IDLE: the row changes, no event.
            None,
            None,
            None,
            Some(reason_codes::WORKER_CIRCUIT_OPENED),
            Some(reason_codes::WORKER_CIRCUIT_CLOSED),
            Some(reason_codes::WORKER_STATUS_CHANGED),
            Some(reason_codes::WORKER_STATUS_CHANGED),
            Some(reason_codes::WORKER_STATUS_CHANGED),
            Some(reason_codes::WORKER_STATUS_CHANGED),
            Some(reason_codes::WORKER_STATUS_CHANGED),
        ];
        assert_eq!(got, want.map(|c| c.map(str::to_owned)));
    }

    #[test]
    fn pending_keeps_the_latest_per_worker() {
        let board = Board::default();
        let a: Arc<str> = "a".into();
        let b: Arc<str> = "b".into();
        board.publish(&a, WorkerReport::new(WorkerState::Running));
        board.publish(&a, WorkerReport::new(WorkerState::Stopped));
        board.publish(&b, WorkerReport::new(WorkerState::Idle));
        let mut taken = board.take();
        taken.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].1.report.status, WorkerState::Stopped);
        assert!(board.take().is_empty());
    }
}
