//! The days a task's runtime events are looked for in. The events table is
//! partitioned by day, so bounding a task's lookup by its life keeps
//! Postgres on the one or two partitions of those days.

use ai_runtime_api::TaskStatus;
use chrono::{DateTime, Duration, Utc};

/// The stretch of `occurred_at` a task's events are looked for in: from an
/// hour before it was created (hosts whose clocks run behind) to a day after
/// its last change when it is finished, or to tomorrow while it is not
/// (the task page's events and the tasks page's latest event alike).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EventWindow {
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
}

impl EventWindow {
    pub(crate) fn of(
        status: TaskStatus,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        // A host clock ahead must not widen it past the days made ahead.
        let last = if status.is_terminal() {
            updated_at.min(now)
        } else {
            now
        };
        EventWindow {
            from: created_at - Duration::hours(1),
            to: last.max(created_at) + Duration::days(1),
        }
    }

    /// An external task (one only its events know): the last `days` days,
    /// to tomorrow.
    pub(crate) fn external(now: DateTime<Utc>, days: i64) -> Self {
        EventWindow {
            from: now - Duration::days(days),
            to: now + Duration::days(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_tasks_life() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let now = at + Duration::days(10);
        let done = EventWindow::of(TaskStatus::Failed, at, at + Duration::minutes(5), now);
        assert_eq!(done.from, at - Duration::hours(1));
        assert_eq!(done.to, at + Duration::minutes(5) + Duration::days(1));
        let pending = EventWindow::of(TaskStatus::Pending, at, at, now);
        assert_eq!(pending.to, now + Duration::days(1));
        let from_the_future = EventWindow::of(TaskStatus::Done, at, now + Duration::days(3), now);
        assert_eq!(from_the_future.to, now + Duration::days(1));
    }
}
