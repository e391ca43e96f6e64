//! The built-in alert conditions: what holds in one status, before any
//! history. The same conditions as `deploy/prometheus/alerts.yml`.

use std::time::Duration;

use ai_runtime_api::{AlertKind, StatusResponse, TaskStatus, WorkerState};

/// When a condition counts, and how long it must hold before it fires.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertThresholds {
    /// A breaker open this long fires (`ALERT_BREAKER_OPEN_FOR_SECONDS`, 120).
    pub breaker_open_for: Duration,
    /// The share of FAILED among the tasks finished in the window at or
    /// above which FAILURE_RATE fires (`ALERT_FAILURE_RATE`, 0.5) ...
    pub failure_rate: f64,
    /// ... once at least this many finished (`ALERT_FAILURE_RATE_MIN_TASKS`, 10).
    pub failure_rate_min_tasks: i64,
    /// The window of that share, minutes (`ALERT_FAILURE_RATE_WINDOW_MINUTES`, 15).
    pub failure_rate_window_minutes: i64,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            breaker_open_for: Duration::from_secs(120),
            failure_rate: 0.5,
            failure_rate_min_tasks: 10,
            failure_rate_window_minutes: 15,
        }
    }
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Observation {
    pub(crate) kind: AlertKind,
    /// The worker, or '' for runtime-wide alerts.
    pub(crate) subject: String,
    pub(crate) value: f64,
    pub(crate) message: String,
    /// How long it must hold before it fires.
    pub(crate) hold_for: Duration,
}

/// The conditions that hold in `status`. `dropped_before` is the dropped
/// total of the previous evaluation: `None` when there is none (this
/// evaluator just started), and then EVENTS_DROPPED is not judged (its
/// alert, if any, stays as it is), since a total alone says nothing about now.
pub(crate) fn observe(
    status: &StatusResponse,
    thresholds: &AlertThresholds,
    dropped_before: Option<i64>,
) -> (Vec<Observation>, Vec<AlertKind>) {
    let mut judged = vec![
        AlertKind::BreakerOpen,
        AlertKind::WorkerStale,
        AlertKind::StuckTasks,
        AlertKind::FailureRate,
    ];
    let mut holds = Vec::new();
    for w in status
        .workers
        .iter()
        .filter(|w| w.status != WorkerState::Stopped)
    {
        if w.circuit_open {
            let reason = w.circuit_reason.as_deref().unwrap_or("no reason given");
            holds.push(Observation {
                kind: AlertKind::BreakerOpen,
                subject: w.worker_id.clone(),
                // Seconds open and the message's duration come from `since`,
                // which the state knows: here only the breaker's reason.
                value: 0.0,
                message: reason.to_owned(),
                hold_for: thresholds.breaker_open_for,
            });
        }
        if w.stale {
            holds.push(Observation {
                kind: AlertKind::WorkerStale,
                subject: w.worker_id.clone(),
                value: w.heartbeat_age_seconds,
                message: format!(
                    "{} has not sent a heartbeat for {:.0} s",
                    w.worker_id, w.heartbeat_age_seconds
                ),
                hold_for: Duration::ZERO,
            });
        }
    }
    let stuck = status.queue.stuck_running + status.queue.stuck_pending;
    if stuck > 0 {
        holds.push(Observation {
            kind: AlertKind::StuckTasks,
            subject: String::new(),
            value: stuck as f64,
            message: format!(
                "{} RUNNING task(s) with an expired lease, {} PENDING task(s) overdue",
                status.queue.stuck_running, status.queue.stuck_pending
            ),
            hold_for: Duration::ZERO,
        });
    }
    if let Some(before) = dropped_before {
        judged.push(AlertKind::EventsDropped);
        // A restarted sink starts from 0 again: a fall is no drop.
        let new = status.dropped_events - before;
        if new > 0 {
            holds.push(Observation {
                kind: AlertKind::EventsDropped,
                subject: String::new(),
                value: new as f64,
                message: format!(
                    "the event sinks dropped {new} event(s) since the previous evaluation \
                     ({} in all)",
                    status.dropped_events
                ),
                hold_for: Duration::ZERO,
            });
        }
    }
    let finished = |s: TaskStatus| {
        status
            .queue
            .counts
            .iter()
            .find(|c| c.status == s)
            .map_or(0, |c| c.count)
    };
    let failed = finished(TaskStatus::Failed);
    let total = failed + finished(TaskStatus::Done) + finished(TaskStatus::Skipped);
    if total >= thresholds.failure_rate_min_tasks.max(1) {
        let rate = failed as f64 / total as f64;
        if rate >= thresholds.failure_rate {
            holds.push(Observation {
                kind: AlertKind::FailureRate,
                subject: String::new(),
                value: rate,
                message: format!(
                    "{failed} of the {total} tasks finished in the last {} min FAILED ({:.0}%)",
                    status.queue.window_minutes,
                    rate * 100.0
                ),
                hold_for: Duration::ZERO,
            });
        }
    }
    (holds, judged)
}
