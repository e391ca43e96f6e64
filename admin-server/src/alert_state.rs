//! The alerts' state between evaluations, in `ai_runtime_alerts`: when each
//! condition was first seen, whether it fired. Applying one evaluation's
//! observations yields exactly the transitions to send: an alert fires once
//! (when its condition has held for its `hold_for`), and resolves once.

use ai_runtime_api::AlertKind;
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};

use crate::alert_rules::Observation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Fired,
    Resolved,
}

/// One alert that fired or resolved in this evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    pub(crate) transition: Transition,
    pub(crate) kind: AlertKind,
    /// The worker, or '' for runtime-wide alerts.
    pub(crate) subject: String,
    pub(crate) since: DateTime<Utc>,
    pub(crate) value: f64,
    pub(crate) message: String,
    pub(crate) at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    alert: String,
    subject: String,
    since: DateTime<Utc>,
    firing_at: Option<DateTime<Utc>>,
    value: f64,
    message: String,
}

/// Records the conditions that hold at `now` (`holds`) among the kinds
/// judged in this evaluation (`judged`; the others' rows are left as they
/// are) and returns what fired or resolved, in one transaction.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    holds: &[Observation],
    judged: &[AlertKind],
) -> Result<Vec<Notice>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let rows: Vec<Row> = sqlx::query_as(
        "select alert, subject, since, firing_at, value, message \
         from public.ai_runtime_alerts for update",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut notices = Vec::new();
    for obs in holds {
        let known = rows
            .iter()
            .find(|r| r.alert == obs.kind.as_str() && r.subject == obs.subject);
        let since = known.map_or(now, |r| r.since);
        let held = (now - since).to_std().unwrap_or_default();
        let value = if obs.kind == AlertKind::BreakerOpen {
            held.as_secs_f64()
        } else {
            obs.value
        };
        let message = if obs.kind == AlertKind::BreakerOpen {
            format!(
                "circuit breaker of {} open for {:.0} s: {}",
                obs.subject,
                held.as_secs_f64(),
                obs.message
            )
        } else {
            obs.message.clone()
        };
        let was_firing = known.and_then(|r| r.firing_at);
        let firing_at = was_firing.or((held >= obs.hold_for).then_some(now));
        sqlx::query(
            "insert into public.ai_runtime_alerts \
                 (alert, subject, since, firing_at, value, message, evaluated_at) \
             values ($1, $2, $3, $4, $5, $6, $7) \
             on conflict (alert, subject) do update set firing_at = excluded.firing_at, \
                 value = excluded.value, message = excluded.message, \
                 evaluated_at = excluded.evaluated_at",
        )
        .bind(obs.kind.as_str())
        .bind(&obs.subject)
        .bind(since)
        .bind(firing_at)
        .bind(value)
        .bind(&message)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if was_firing.is_none() && firing_at.is_some() {
            notices.push(Notice {
                transition: Transition::Fired,
                kind: obs.kind,
                subject: obs.subject.clone(),
                since,
                value,
                message,
                at: now,
            });
        }
    }
    for row in &rows {
        let Some(kind) = AlertKind::parse(&row.alert) else {
            continue;
        };
        let still = holds
            .iter()
            .any(|o| o.kind == kind && o.subject == row.subject);
        if still || !judged.contains(&kind) {
            continue;
        }
        sqlx::query("delete from public.ai_runtime_alerts where alert = $1 and subject = $2")
            .bind(&row.alert)
            .bind(&row.subject)
            .execute(&mut *tx)
            .await?;
        if row.firing_at.is_some() {
            notices.push(Notice {
                transition: Transition::Resolved,
                kind,
                subject: row.subject.clone(),
                since: row.since,
                value: row.value,
                message: row.message.clone(),
                at: now,
            });
        }
    }
    tx.commit().await?;
    Ok(notices)
}
