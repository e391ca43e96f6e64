//! What a worker publishes about itself, and where it goes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_runtime_vocab::WorkerState;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::breaker::BreakerSnapshot;
use crate::provider::Route;

/// One worker's status at a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    pub worker_id: String,
    pub state: WorkerState,
    pub breaker: BreakerSnapshot,
    pub current_task_id: Option<Uuid>,
    pub route: Route,
    pub heartbeat_interval: Duration,
    /// Tasks this worker settled (any outcome) since it started.
    pub tasks_settled: u64,
}

impl WorkerStatus {
    /// DEGRADED whenever the breaker is not closed, else `busy` or idle.
    pub fn state_for(breaker: &BreakerSnapshot, busy: bool) -> WorkerState {
        if breaker.is_open() {
            WorkerState::Degraded
        } else if busy {
            WorkerState::Running
        } else {
            WorkerState::Idle
        }
    }

    /// `ai_worker_status.metadata` keys (see COMMON contract): `route`,
    /// `heartbeatIntervalSeconds`, plus the breaker's details.
    pub fn metadata(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "route".into(),
            json!({ "provider": self.route.provider, "model": self.route.model }),
        );
        map.insert(
            "heartbeatIntervalSeconds".into(),
            json!(self.heartbeat_interval.as_secs_f64()),
        );
        map.insert(
            "breaker".into(),
            json!({
                "state": self.breaker.state.as_str(),
                "consecutiveFailures": self.breaker.consecutive_failures,
                "cooldownRemainingMs": self.breaker.cooldown_remaining.map(|d| d.as_millis() as u64),
            }),
        );
        map.insert("tasksSettled".into(), json!(self.tasks_settled));
        map
    }
}

/// Where worker statuses go. Must never block (called on the worker's path).
pub trait StatusPublisher: Send + Sync {
    fn publish(&self, status: &WorkerStatus);
}

/// Publishes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStatus;

impl StatusPublisher for NoStatus {
    fn publish(&self, _status: &WorkerStatus) {}
}

/// Keeps every published status in memory (tests, diagnostics).
#[derive(Debug, Clone, Default)]
pub struct StatusLog {
    published: Arc<Mutex<Vec<WorkerStatus>>>,
}

impl StatusLog {
    pub fn new() -> StatusLog {
        StatusLog::default()
    }

    pub fn published(&self) -> Vec<WorkerStatus> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl StatusPublisher for StatusLog {
    fn publish(&self, status: &WorkerStatus) {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(status.clone());
    }
}

/// A worker's latest status, shared between the worker and the heartbeat
/// ticker. Updates and publishes happen under one lock, so a heartbeat
/// never publishes an older status after a newer one.
#[derive(Clone)]
pub(crate) struct StatusCell {
    inner: Arc<Mutex<WorkerStatus>>,
    publisher: Arc<dyn StatusPublisher>,
}

impl StatusCell {
    pub(crate) fn new(status: WorkerStatus, publisher: Arc<dyn StatusPublisher>) -> StatusCell {
        StatusCell {
            inner: Arc::new(Mutex::new(status)),
            publisher,
        }
    }

    /// Changes the status and publishes it (a lifecycle boundary).
    pub(crate) fn update(&self, change: impl FnOnce(&mut WorkerStatus)) {
        let mut status = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut status);
        self.publisher.publish(&status);
    }

    /// Publishes the current status again (the fixed-interval heartbeat).
    pub(crate) fn beat(&self) {
        let status = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if status.state != WorkerState::Stopped {
            self.publisher.publish(&status);
        }
    }

    pub(crate) fn get(&self) -> WorkerStatus {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
