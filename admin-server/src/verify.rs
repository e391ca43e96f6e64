//! `ai-runtime-verify`: the status of `GET /status` plus a digest of recent
//! events, as text for people or JSON for machines, and a verdict; and the
//! database role it runs as, with a warning for any role that holds more
//! than its component needs (the verdict does not depend on those).

use std::fmt::Write as _;

use ai_runtime_api::{OverallHealth, StatusResponse};
use ai_runtime_migrations::roles::{check_role, ComponentRole, RoleCheck};
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
    pub roles: Roles,
}

/// The role verify runs as and the component roles, each checked against
/// what it needs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// The role of this connection (`current_user`), checked against the
    /// component roles it is a member of, or the reader's needs (what
    /// verify itself reads) when it is a member of none.
    pub current: RoleCheck,
    /// `ai_runtime_writer`, `ai_runtime_reader`, `ai_runtime_maintainer`,
    /// those that exist.
    pub components: Vec<RoleCheck>,
    /// What the checks found, one line each.
    pub warnings: Vec<String>,
}

/// Checks the connection's role and the component roles.
pub async fn roles(conn: &mut PgConnection) -> Result<Roles, sqlx::Error> {
    let name: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    let mut components = Vec::new();
    for role in ComponentRole::ALL {
        if let Some(check) = check_role(conn, role.name(), &[role]).await? {
            components.push(check);
        }
    }
    // Checked against the component roles it is a member of.
    let membership = check_role(conn, &name, &[]).await?.unwrap_or_default();
    let mut compared: Vec<ComponentRole> = membership
        .member_of
        .iter()
        .filter_map(|m| ComponentRole::from_name(m))
        .collect();
    if compared.is_empty() {
        compared.push(ComponentRole::Reader);
    }
    let current = check_role(conn, &name, &compared)
        .await?
        .unwrap_or_default();
    let mut warnings = Vec::new();
    if current.member_of.is_empty() {
        warnings.push(format!(
            "{} is a member of no ai_runtime_* role: checked against {}'s needs (docs/deployment.md)",
            current.role,
            ComponentRole::Reader.name()
        ));
    }
    warnings.extend(role_warnings(&current, &compared));
    for check in components.iter().filter(|c| c.role != current.role) {
        let own: Vec<ComponentRole> = ComponentRole::from_name(&check.role).into_iter().collect();
        warnings.extend(role_warnings(check, &own));
    }
    Ok(Roles {
        current,
        components,
        warnings,
    })
}

/// The warnings for one role checked against `compared`'s needs.
fn role_warnings(check: &RoleCheck, compared: &[ComponentRole]) -> Vec<String> {
    let who = &check.role;
    let needs = compared
        .iter()
        .map(|r| format!("{} ({})", r.components(), r.name()))
        .collect::<Vec<_>>()
        .join(" and ");
    let mut warnings = Vec::new();
    if check.superuser {
        warnings.push(format!(
            "{who} is a superuser: no grant and no row-level security restricts it"
        ));
    }
    if check.bypass_rls {
        warnings.push(format!("{who} bypasses row-level security (BYPASSRLS)"));
    }
    if !check.owns.is_empty() {
        warnings.push(format!(
            "{who} owns {}: it may alter or drop them, and row-level security does not restrict it",
            check.owns.join(", ")
        ));
    }
    if !check.beyond_need.is_empty() {
        warnings.push(format!(
            "{who} holds more than {needs} need: {}",
            check.beyond_need.join(", ")
        ));
    }
    if !check.missing.is_empty() {
        warnings.push(format!(
            "{who} lacks what {needs} need: {}",
            check.missing.join(", ")
        ));
    }
    warnings
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
    let roles = roles(conn).await?;
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
        roles,
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
    let roles = &report.roles;
    let member_of = if roles.current.member_of.is_empty() {
        "member of no ai_runtime_* role".to_owned()
    } else {
        format!("member of {}", roles.current.member_of.join(", "))
    };
    let _ = writeln!(out, "\nDatabase role: {} ({member_of})", roles.current.role);
    if roles.warnings.is_empty() {
        let _ = writeln!(out, "  each role holds what its component needs, no more");
    }
    for warning in &roles.warnings {
        let _ = writeln!(out, "  warning: {warning}");
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
