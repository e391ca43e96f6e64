//! The runtime health cards: overall status with its reasons, one card per
//! worker (state, breaker, heartbeat age, route, dropped events), the active
//! route and the sink's dropped events. Every state is spelled out in words
//! and symbols, never told by colour alone.

use ai_runtime_api::{OverallHealth, StatusResponse, WorkerStatus};
use leptos::prelude::*;

use crate::time;

#[component]
pub fn HealthCards(status: Signal<Option<StatusResponse>>) -> impl IntoView {
    view! {
        <section id="health" aria-labelledby="health-title">
            <h2 id="health-title">"Runtime health"</h2>
            {move || match status.get() {
                None => view! { <p class="loading">"Loading…"</p> }.into_any(),
                Some(s) => view! { <Cards status=s /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Cards(status: StatusResponse) -> impl IntoView {
    let healthy = status.overall == OverallHealth::Healthy;
    let reasons = status
        .degraded
        .iter()
        .map(|d| view! { <li>{d.message.clone()}</li> })
        .collect_view();
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
    let dropped = status.dropped_events;
    // The admin server's built-in alerts firing now (what was sent to the
    // webhook, or logged).
    let firing = !status.alerts.is_empty();
    let alerts = status
        .alerts
        .iter()
        .map(|a| {
            let text = format!(
                "{}: {} (since {})",
                a.alert.as_str(),
                a.message,
                time::format_utc(&a.since)
            );
            view! { <li data-alert=a.alert.as_str()>{text}</li> }
        })
        .collect_view();
    let no_workers = status.workers.is_empty();
    let workers = status
        .workers
        .into_iter()
        .map(|w| view! { <WorkerCard worker=w /> })
        .collect_view();
    view! {
        <div class="cards">
            <article id="overall" class="card" class:bad=!healthy class:good=healthy>
                <h3>"Overall"</h3>
                <p class="state">{if healthy { "✔ HEALTHY" } else { "⚠ DEGRADED" }}</p>
                {(!healthy).then(|| view! { <ul class="reasons">{reasons}</ul> })}
            </article>
            <article id="active-route" class="card">
                <h3>"Active route"</h3>
                <p class="state">{route}</p>
            </article>
            <article id="last-event" class="card">
                <h3>"Last event"</h3>
                <p>{last_event}</p>
            </article>
            {firing.then(|| view! {
                <article id="alerts" class="card bad">
                    <h3>"Alerts firing"</h3>
                    <ul class="reasons">{alerts}</ul>
                </article>
            })}
            {(dropped > 0).then(|| view! {
                <article id="dropped-events" class="card bad">
                    <h3>"Dropped events"</h3>
                    <p class="state">{format!("⚠ {dropped} dropped by the sinks")}</p>
                </article>
            })}
        </div>
        <h3 class="sub">"Workers"</h3>
        {no_workers.then(|| view! { <p class="hint">"No worker has reported yet."</p> })}
        <div class="cards workers">
            {workers}
        </div>
    }
}

#[component]
fn WorkerCard(worker: WorkerStatus) -> impl IntoView {
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
    view! {
        <article class="card worker" class:bad=troubled data-worker=worker.worker_id.clone()>
            <h3>{worker.worker_id.clone()}</h3>
            <dl>
                <dt>"State"</dt>
                <dd class="worker-state">{worker.status.as_str()}</dd>
                <dt>"Breaker"</dt>
                <dd class="breaker">{breaker}</dd>
                <dt>"Last heartbeat"</dt>
                <dd class="heartbeat">
                    {heartbeat}
                    {worker.stale.then(|| view! { " " <strong class="stale">"⚠ STALE"</strong> })}
                </dd>
                <dt>"Route"</dt>
                <dd>{route}</dd>
                <dt>"Agent"</dt>
                <dd>{worker.agent_type.clone()}</dd>
                {worker.current_task_id.map(|t| view! { <dt>"Current task"</dt><dd>{t.to_string()}</dd> })}
                {(worker.dropped_events > 0).then(|| view! {
                    <dt>"Dropped events"</dt>
                    <dd class="dropped">{format!("⚠ {}", worker.dropped_events)}</dd>
                })}
            </dl>
        </article>
    }
}
