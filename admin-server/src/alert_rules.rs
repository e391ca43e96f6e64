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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(workers: serde_json::Value, finished: [i64; 3], dropped: i64) -> StatusResponse {
        let [done, skipped, failed] = finished;
        let count = |status: &str, count: i64, scope: &str| serde_json::json!({"status": status, "count": count, "scope": scope, "delta": 0});
        serde_json::from_value(serde_json::json!({
            "generatedAt": "2026-11-30T00:00:00Z",
            "overall": "DEGRADED",
            "degraded": [],
            "workers": workers,
            "queue": {"windowMinutes": 15, "stuckRunning": 0, "stuckPending": 0, "counts": [
                count("PENDING", 0, "CURRENT"), count("RUNNING", 0, "CURRENT"),
                count("IN_REVIEW", 0, "CURRENT"), count("DONE", done, "WINDOW"),
                count("SKIPPED", skipped, "WINDOW"), count("FAILED", failed, "WINDOW"),
            ]},
            "lastEventAt": null,
            "activeRoute": null,
            "droppedEvents": dropped
        }))
        .unwrap()
    }

    fn worker(id: &str, state: &str, open: bool, stale: bool) -> serde_json::Value {
        serde_json::json!({
            "workerId": id, "agentType": "t", "status": state, "circuitOpen": open,
            "circuitReason": "cooling down", "lastHeartbeat": "2026-11-30T00:00:00Z",
            "heartbeatAgeSeconds": 1.0, "stale": stale, "currentTaskId": null, "route": null,
            "droppedEvents": 0, "metadata": {}, "updatedAt": "2026-11-30T00:00:00Z"
        })
    }

    fn kinds(holds: &[Observation]) -> Vec<(AlertKind, &str)> {
        holds.iter().map(|o| (o.kind, o.subject.as_str())).collect()
    }

    #[test]
    fn breakers_and_stale_workers_of_running_workers_only() {
        let s = status(
            serde_json::json!([
                worker("a", "DEGRADED", true, false),
                worker("b", "RUNNING", false, true),
                worker("c", "STOPPED", true, false),
            ]),
            [0, 0, 0],
            0,
        );
        let (holds, judged) = observe(&s, &AlertThresholds::default(), None);
        assert_eq!(
            kinds(&holds),
            [(AlertKind::BreakerOpen, "a"), (AlertKind::WorkerStale, "b")]
        );
        assert_eq!(holds[0].hold_for, Duration::from_secs(120));
        assert_eq!(holds[0].message, "cooling down");
        assert!(
            !judged.contains(&AlertKind::EventsDropped),
            "no baseline yet"
        );
    }

    #[test]
    fn failure_rate_needs_enough_tasks_and_the_share() {
        let t = AlertThresholds::default();
        let fires = |finished| {
            let (holds, _) = observe(&status(serde_json::json!([]), finished, 0), &t, Some(0));
            holds.iter().any(|o| o.kind == AlertKind::FailureRate)
        };
        assert!(fires([4, 1, 5]), "5 of 10");
        assert!(!fires([5, 1, 4]), "4 of 10");
        assert!(!fires([1, 0, 8]), "8 of 9: too few");
    }

    #[test]
    fn dropped_events_fire_on_growth_only() {
        let t = AlertThresholds::default();
        let dropped = |before, now| {
            let (holds, judged) = observe(&status(serde_json::json!([]), [0; 3], now), &t, before);
            assert!(judged.contains(&AlertKind::EventsDropped));
            holds
                .iter()
                .find(|o| o.kind == AlertKind::EventsDropped)
                .map(|o| o.value)
        };
        assert_eq!(dropped(Some(5), 9), Some(4.0));
        assert_eq!(dropped(Some(9), 9), None, "a high but flat total");
        assert_eq!(dropped(Some(9), 2), None, "a restarted sink");
    }
}
