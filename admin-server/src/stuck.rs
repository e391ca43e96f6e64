//! When a task is stuck, defined once for the tasks page (its `stuck` flag
//! and filter) and the status (its stuck counts): RUNNING with an expired
//! lease, or PENDING and due for longer than
//! [`Thresholds::stuck_pending_after`]. Each condition is SQL over
//! `public.persona_tasks` aliased `t`.

use sqlx::{Postgres, QueryBuilder};

use crate::config::Thresholds;

/// A RUNNING task whose lease has expired.
const RUNNING: &str = "t.status = 'RUNNING' and t.lease_expires_at < now()";

/// Which stuck tasks a condition selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stuck {
    /// RUNNING with an expired lease.
    Running,
    /// PENDING and overdue.
    Pending,
    /// Either.
    Any,
}

impl Stuck {
    /// Appends the condition (parenthesized; the threshold bound as seconds).
    pub(crate) fn push_condition(
        self,
        q: &mut QueryBuilder<'static, Postgres>,
        thresholds: &Thresholds,
    ) {
        self.push(q, thresholds, RUNNING);
    }

    /// The same condition for a listing newest first (the tasks page): the
    /// lease is compared through `coalesce` (same truth: a task without a
    /// lease is not stuck), which the `(status, lease_expires_at)` index
    /// cannot serve, so Postgres walks the `(status, created_at)` index in
    /// the listing's order and stops after a page. Left to choose, it took
    /// the lease index whenever its sample held few RUNNING tasks, fetched
    /// every expired one and sorted them (5.5 ms p95 with 2,277, README).
    pub(crate) fn push_listing_condition(
        self,
        q: &mut QueryBuilder<'static, Postgres>,
        thresholds: &Thresholds,
    ) {
        self.push(
            q,
            thresholds,
            "t.status = 'RUNNING' and coalesce(t.lease_expires_at, 'infinity') < now()",
        );
    }

    fn push(self, q: &mut QueryBuilder<'static, Postgres>, thresholds: &Thresholds, running: &str) {
        let pending = "t.status = 'PENDING' and t.scheduled_at < now() - make_interval(secs => ";
        let seconds = thresholds.stuck_pending_after.as_secs_f64();
        match self {
            Stuck::Running => {
                q.push("(").push(running).push(")");
            }
            Stuck::Pending => {
                q.push("(").push(pending).push_bind(seconds).push("))");
            }
            Stuck::Any => {
                q.push("((").push(running).push(") or (").push(pending);
                q.push_bind(seconds).push(")))");
            }
        }
    }
}
