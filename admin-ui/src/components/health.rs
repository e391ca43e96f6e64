//! The runtime health cards: overall status with its reasons, one card per
//! worker (state, breaker, heartbeat age, route, dropped events), the active
//! route and the sink's dropped events. Every state is spelled out in words
//! and symbols, never told by colour alone.
//!
//! Read-only, so written as markup (escaped) and set as the section's inner
//! HTML: as typed views these cards were 13 KB of the gzipped WASM (README,
//! "Dashboard").

use std::fmt::Write;

use ai_runtime_api::{OverallHealth, StatusResponse, WorkerStatus};
use leptos::prelude::*;

use crate::markup::esc;
use crate::time;

#[component]
pub fn HealthCards(status: Signal<Option<StatusResponse>>) -> impl IntoView {
    view! {
        <section id="health" aria-labelledby="health-title">
            <h2 id="health-title">"Runtime health"</h2>
            <div inner_html=move || status.with(|s| match s {
                None => r#"<p class="loading">Loading…</p>"#.to_owned(),
                Some(s) => cards(s),
            })></div>
        </section>
    }
}

fn cards(status: &StatusResponse) -> String {
    let healthy = status.overall == OverallHealth::Healthy;
    let route = status
        .active_route
        .as_ref()
        .map_or("none reported".to_owned(), |r| {
            format!("{} / {}", r.provider, r.model)
        });
    let last_event = status
        .last_event_at
        .as_ref()
        .map_or("none yet".to_owned(), |at| {
            format!(
                "{} ({} ago)",
                time::format_utc(at),
                time::format_age(time::seconds_since(at))
            )
        });
    let mut html = format!(
        r#"<div class="cards"><article id="overall" class="card {}"><h3>Overall</h3><p class="state">{}</p>"#,
        if healthy { "good" } else { "bad" },
        if healthy {
            "✔ HEALTHY"
        } else {
            "⚠ DEGRADED"
        }
    );
    if !healthy {
        html.push_str(r#"<ul class="reasons">"#);
        for d in &status.degraded {
            let _ = write!(html, "<li>{}</li>", esc(&d.message));
        }
        html.push_str("</ul>");
    }
    let _ = write!(
        html,
        r#"</article><article id="active-route" class="card"><h3>Active route</h3><p class="state">{}</p></article><article id="last-event" class="card"><h3>Last event</h3><p>{last_event}</p></article>"#,
        esc(&route)
    );
    // The admin server's built-in alerts firing now (what was sent to the
    // webhook, or logged).
    if !status.alerts.is_empty() {
        html.push_str(
            r#"<article id="alerts" class="card bad"><h3>Alerts firing</h3><ul class="reasons">"#,
        );
        for a in &status.alerts {
            let _ = write!(
                html,
                r#"<li data-alert="{}">{}</li>"#,
                a.alert.as_str(),
                esc(&format!(
                    "{}: {} (since {})",
                    a.alert.as_str(),
                    a.message,
                    time::format_utc(&a.since)
                ))
            );
        }
        html.push_str("</ul></article>");
    }
    if status.dropped_events > 0 {
        let _ = write!(
            html,
            r#"<article id="dropped-events" class="card bad"><h3>Dropped events</h3><p class="state">⚠ {} dropped by the sinks</p></article>"#,
            status.dropped_events
        );
    }
    html.push_str(r#"</div><h3 class="sub">Workers</h3>"#);
    if status.workers.is_empty() {
        html.push_str(r#"<p class="hint">No worker has reported yet.</p>"#);
    }
    html.push_str(r#"<div class="cards workers">"#);
    for w in &status.workers {
        worker_card(&mut html, w);
    }
    html + "</div>"
}

fn worker_card(html: &mut String, worker: &WorkerStatus) {
    let breaker = if worker.circuit_open {
        format!(
            "✖ OPEN: {}",
            worker
                .circuit_reason
                .as_deref()
                .unwrap_or("no reason given")
        )
    } else {
        "✔ closed".to_owned()
    };
    let heartbeat = format!(
        "{} ago ({})",
        time::format_age(worker.heartbeat_age_seconds),
        time::format_utc(&worker.last_heartbeat)
    );
    let route = worker
        .route
        .as_ref()
        .map_or("none reported".to_owned(), |r| {
            format!("{} / {}", r.provider, r.model)
        });
    let troubled = worker.circuit_open || worker.stale;
    let id = esc(&worker.worker_id);
    let _ = write!(
        html,
        r#"<article class="card worker{}" data-worker="{id}"><h3>{id}</h3><dl><dt>State</dt><dd class="worker-state">{}</dd><dt>Breaker</dt><dd class="breaker">{}</dd><dt>Last heartbeat</dt><dd class="heartbeat">{heartbeat}{}</dd><dt>Route</dt><dd>{}</dd><dt>Agent</dt><dd>{}</dd>"#,
        if troubled { " bad" } else { "" },
        worker.status.as_str(),
        esc(&breaker),
        if worker.stale {
            r#" <strong class="stale">⚠ STALE</strong>"#
        } else {
            ""
        },
        esc(&route),
        esc(&worker.agent_type)
    );
    if let Some(task) = worker.current_task_id {
        let _ = write!(html, "<dt>Current task</dt><dd>{task}</dd>");
    }
    if worker.dropped_events > 0 {
        let _ = write!(
            html,
            r#"<dt>Dropped events</dt><dd class="dropped">⚠ {}</dd>"#,
            worker.dropped_events
        );
    }
    html.push_str("</dl></article>");
}
