//! `ai-runtime-verify`: the status of `GET /status` plus a digest of recent
//! events, as text for people or JSON for machines, and a verdict.

use std::fmt::Write as _;

use ai_runtime_api::{OverallHealth, StatusResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::config::Thresholds;
use crate::error::ApiFailure;
use crate::status;

/// Exit codes of `ai-runtime-verify`.
pub const EXIT_HEALTHY: i32 = 0;
pub const EXIT_DEGRADED: i32 = 1;
pub const EXIT_UNREACHABLE: i32 = 2;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub status: StatusResponse,
    pub recent: RecentEvents,
}

/// Events of the last `minutes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentEvents {
    pub minutes: i64,
    pub total: i64,
    /// Sorted by count, largest first.
    pub by_layer_and_reason: Vec<ReasonCount>,
    /// The newest event logged at WARN or ERROR level.
    pub latest_error: Option<LatestError>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ReasonCount {
    pub layer: String,
    pub reason_code: String,
    pub count: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct LatestError {
    pub layer: String,
    pub reason_code: String,
    pub entity_id: String,
    pub worker_id: Option<String>,
    pub message: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        match self.status.overall {
            OverallHealth::Healthy => EXIT_HEALTHY,
            OverallHealth::Degraded => EXIT_DEGRADED,
        }
    }
}

pub async fn build(
    conn: &mut PgConnection,
    thresholds: &Thresholds,
    minutes: i64,
) -> Result<Report, ApiFailure> {
    let status = status::compute(conn, thresholds, minutes).await?;
    let seconds = minutes as f64 * 60.0;
    let by_layer_and_reason: Vec<ReasonCount> = sqlx::query_as(
        "select layer, reason_code, count(*) as count from public.ai_runtime_events \
         where occurred_at > now() - make_interval(secs => $1) \
         group by layer, reason_code order by count desc, layer, reason_code",
    )
    .bind(seconds)
    .fetch_all(&mut *conn)
    .await?;
    let latest_error: Option<LatestError> = sqlx::query_as(
        "select layer, reason_code, entity_id, worker_id, metadata->>'message' as message, \
         occurred_at from public.ai_runtime_events \
         where occurred_at > now() - make_interval(secs => $1) \
           and upper(metadata->>'level') in ('ERROR', 'WARN') \
         order by occurred_at desc, id desc limit 1",
    )
    .bind(seconds)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(Report {
        status,
        recent: RecentEvents {
            minutes,
            total: by_layer_and_reason.iter().map(|r| r.count).sum(),
            by_layer_and_reason,
            latest_error,
        },
    })
}

/// The report for people.
pub fn render_text(report: &Report) -> String {
    let s = &report.status;
    let mut out = String::new();
    let _ = writeln!(out, "AI runtime at {}", s.generated_at.to_rfc3339());
    let _ = writeln!(out, "\nWorkers:");
    if s.workers.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for w in &s.workers {
        let circuit = if w.circuit_open {
            format!(
                "OPEN ({})",
                w.circuit_reason.as_deref().unwrap_or("no reason")
            )
        } else {
            "closed".to_owned()
        };
        let route = w
            .route
            .as_ref()
            .map_or("-".to_owned(), |r| format!("{}/{}", r.provider, r.model));
        let _ = writeln!(
            out,
            "  {:<24} {:<8} circuit {:<28} heartbeat {:>6.1}s ago{} route {}",
            w.worker_id,
            w.status.as_str(),
            circuit,
            w.heartbeat_age_seconds,
            if w.stale { " (STALE)" } else { "" },
            route
        );
    }
    let route = s
        .active_route
        .as_ref()
        .map_or("none".to_owned(), |r| format!("{}/{}", r.provider, r.model));
    let _ = writeln!(out, "\nActive route: {route}");
    let window = s.queue.window_minutes;
    let _ = writeln!(out, "\nQueue (trend over {window} min):");
    for c in &s.queue.counts {
        let scope = match c.scope {
            ai_runtime_api::CountScope::Current => "now".to_owned(),
            ai_runtime_api::CountScope::Window => format!("finished in the last {window} min"),
        };
        let _ = writeln!(
            out,
            "  {:<10} {:>8} ({:+})  {scope}",
            c.status.as_str(),
            c.count,
            c.delta
        );
    }
    let _ = writeln!(
        out,
        "  stuck: {} running with expired lease, {} pending overdue",
        s.queue.stuck_running, s.queue.stuck_pending
    );
    let r = &report.recent;
    let _ = writeln!(out, "\nEvents in the last {} min: {}", r.minutes, r.total);
    for c in r.by_layer_and_reason.iter().take(15) {
        let _ = writeln!(out, "  {:>8}  {:<18} {}", c.count, c.layer, c.reason_code);
    }
    match &r.latest_error {
        Some(e) => {
            let _ = writeln!(
                out,
                "Latest error: {} {} {} ({}){}",
                e.occurred_at.to_rfc3339(),
                e.layer,
                e.reason_code,
                e.entity_id,
                e.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "Latest error: none");
        }
    }
    let last = s
        .last_event_at
        .map_or("never".to_owned(), |t| t.to_rfc3339());
    let _ = writeln!(out, "Last event: {last}");
    // The admin server's built-in alerts (its evaluator's table).
    if s.alerts.is_empty() {
        let _ = writeln!(out, "Alerts firing: none");
    } else {
        let _ = writeln!(out, "Alerts firing:");
        for a in &s.alerts {
            let _ = writeln!(
                out,
                "  {:<15} since {}  {}",
                a.alert.as_str(),
                a.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                a.message
            );
        }
    }
    let _ = writeln!(out);
    match s.overall {
        OverallHealth::Healthy => {
            let _ = writeln!(out, "Verdict: HEALTHY");
        }
        OverallHealth::Degraded => {
            let _ = writeln!(out, "Verdict: DEGRADED");
            for f in &s.degraded {
                let _ = writeln!(out, "  - {}", f.message);
            }
        }
    }
    out
}
