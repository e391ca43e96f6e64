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
    let mut report = WorkerReport::new(status.state);
    report.circuit_open = status.breaker.is_open();
    report.circuit_reason = status.breaker.open_reason.clone();
    report.current_task_id = status.current_task_id;
    report.metadata = status.metadata();
    report
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ai_runtime_vocab::WorkerState;
    use observability_layer::{RuntimeLayer, RuntimeSink};

    use super::*;
    use crate::breaker::{BreakerSnapshot, BreakerState};
    use crate::provider::Route;

    fn status(state: WorkerState, breaker: BreakerState) -> WorkerStatus {
        WorkerStatus {
            worker_id: "w-1".into(),
            state,
            breaker: BreakerSnapshot {
                state: breaker,
                consecutive_failures: 0,
                open_reason: (breaker != BreakerState::Closed).then(|| "outage".into()),
                cooldown_remaining: None,
            },
            current_task_id: None,
            route: Route {
                provider: "sim".into(),
                model: "gpt-sim-1".into(),
            },
            heartbeat_interval: Duration::from_secs(10),
            tasks_settled: 0,
        }
    }

    /// A worker's day as the demo runs it: it flips between RUNNING and
    /// IDLE on every task, its breaker opens and closes, it stops. Only the
    /// changes an admin acts on become events (the recorder sees exactly
    /// what the exporters get).
    #[test]
    fn running_idle_flips_write_no_event() {
        let RuntimeSink {
            layer: _layer,
            guard,
            handle,
            ..
        } = RuntimeLayer::builder()
            .database_url("postgres://postgres@127.0.0.1:1/unreachable")
            .flush_interval(Duration::from_millis(5))
            .shutdown_deadline(Duration::from_millis(50))
            .build()
            .unwrap();
        let publisher = LayerStatus::new(handle.clone());
        use BreakerState::{Closed, Open};
        use WorkerState::{Degraded, Idle, Running, Stopped};
        let mut day = vec![status(Idle, Closed)];
        for _ in 0..10 {
            day.push(status(Running, Closed));
            day.push(status(Idle, Closed));
        }
        day.extend([
            status(Degraded, Open),
            status(Running, Closed),
            status(Idle, Closed),
            status(Stopped, Closed),
        ]);
        for s in &day {
            publisher.publish(s);
        }
        let want = [
            "WORKER_ONLINE",
            "WORKER_CIRCUIT_OPENED",
            "WORKER_CIRCUIT_CLOSED",
            "WORKER_STATUS_CHANGED",
        ];
        let deadline = Instant::now() + Duration::from_secs(5);
        let codes = loop {
            let codes: Vec<String> = handle
                .recent_events()
                .into_iter()
                .map(|e| e.reason_code)
                .collect();
            if codes.len() >= want.len() || Instant::now() > deadline {
                break codes;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(codes, want);
        let stopped = handle.recent_events().pop().unwrap();
        assert_eq!(stopped.metadata["status"], "STOPPED");
        assert_eq!(stopped.metadata["previous_status"], "IDLE");
        drop(guard);
    }
}
