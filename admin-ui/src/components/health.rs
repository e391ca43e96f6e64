//! The runtime health cards: overall status with its reasons, one card per
//! worker (state, breaker, heartbeat age, route, dropped events), the active
//! route, the sinks' dropped events and the OTLP receivers' counts. Every state is spelled out in words
//! and symbols, never told by colour alone.

use ai_runtime_api::{OverallHealth, ProviderRoute, ReceiverCounts, StatusResponse, WorkerStatus};
use leptos::prelude::*;

use crate::time;

#[component]
pub fn HealthCards(status: StatusResponse) -> impl IntoView {
    let healthy = status.overall == OverallHealth::Healthy;
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
    let reasons = (!healthy).then(|| {
        view! {
            <ul class="reasons">
                {status.degraded.iter().map(|d| view! { <li>{d.message.clone()}</li> }).collect_view()}
            </ul>
        }
    });
    // The admin server's built-in alerts firing now (what was sent to the
    // webhook, or logged).
    let alerts = (!status.alerts.is_empty()).then(|| {
        view! {
            <article id="alerts" class="card bad">
                <h3>"Alerts firing"</h3>
                <ul class="reasons">
                    {status.alerts.iter().map(|a| view! {
                        <li data-alert=a.alert.as_str()>
                            {format!("{}: {} (since {})", a.alert.as_str(), a.message, time::format_utc(&a.since))}
                        </li>
                    }).collect_view()}
                </ul>
            </article>
        }
    });
    let dropped = (status.dropped_events > 0).then(|| {
        view! {
            <article id="dropped-events" class="card bad">
                <h3>"Dropped events"</h3>
                <p class="state">{format!("⚠ {} dropped by the sinks", status.dropped_events)}</p>
            </article>
        }
    });
    let receivers = (!status.receivers.is_empty())
        .then(|| view! { <Receivers receivers=status.receivers.clone() /> });
    let no_workers = status
        .workers
        .is_empty()
        .then(|| view! { <p class="hint">"No worker has reported yet."</p> });
    view! {
        <div class="cards">
            <article id="overall" class="card" class:good=healthy class:bad=!healthy>
                <h3>"Overall"</h3>
                <p class="state">{if healthy { "✔ HEALTHY" } else { "⚠ DEGRADED" }}</p>
                {reasons}
            </article>
            <article id="active-route" class="card">
                <h3>"Active route"</h3>
                <p class="state">{route_text(status.active_route.as_ref())}</p>
            </article>
            <article id="last-event" class="card">
                <h3>"Last event"</h3>
                <p>{last_event}</p>
            </article>
            {alerts}
            {dropped}
            {receivers}
        </div>
        <h3 class="sub">"Workers"</h3>
        {no_workers}
        <div class="cards workers">
            {status.workers.into_iter().map(|w| view! { <WorkerCard worker=w /> }).collect_view()}
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
    let troubled = worker.circuit_open || worker.stale;
    let current_task = worker.current_task_id.map(|task| {
        view! {
            <dt>"Current task"</dt>
            <dd>{task.to_string()}</dd>
        }
    });
    let dropped = (worker.dropped_events > 0).then(|| {
        view! {
            <dt>"Dropped events"</dt>
            <dd class="dropped">{format!("⚠ {}", worker.dropped_events)}</dd>
        }
    });
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
                <dd>{route_text(worker.route.as_ref())}</dd>
                <dt>"Agent"</dt>
                <dd>{worker.agent_type.clone()}</dd>
                {current_task}
                {dropped}
            </dl>
        </article>
    }
}

/// What each OTLP receiver took in and what became of it (totals since it
/// started, as of its last status row).
#[component]
fn Receivers(receivers: Vec<ReceiverCounts>) -> impl IntoView {
    let troubled = receivers.iter().any(|r| r.dropped > 0 || r.rejected > 0);
    view! {
        <article id="receivers" class="card wide" class:bad=troubled>
            <h3>"OTLP receivers"</h3>
            <table class="receivers">
                <caption>"Spans and log records each receiver took in, and what its sink wrote"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Receiver"</th>
                        <th scope="col">"Accepted"</th>
                        <th scope="col">"Written"</th>
                        <th scope="col">"Dropped"</th>
                        <th scope="col">"Rejected"</th>
                        <th scope="col">"Ignored"</th>
                        <th scope="col">"Throttled (429)"</th>
                    </tr>
                </thead>
                <tbody>
                    {receivers.into_iter().map(|r| view! {
                        <tr data-receiver=r.worker_id.clone()>
                            <th scope="row">{r.worker_id.clone()}</th>
                            <td class="accepted">{r.accepted}</td>
                            <td class="written">{r.written}</td>
                            <td class="dropped">{warn_if_any(r.dropped)}</td>
                            <td class="rejected">{warn_if_any(r.rejected)}</td>
                            <td class="ignored">{r.ignored}</td>
                            <td class="throttled">{r.throttled}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </article>
    }
}

/// A count, marked when it is not zero (lost or refused data).
fn warn_if_any(n: i64) -> String {
    if n > 0 {
        format!("⚠ {n}")
    } else {
        n.to_string()
    }
}

/// `provider / model`, or that none was reported.
fn route_text(route: Option<&ProviderRoute>) -> String {
    route.map_or("none reported".to_owned(), |r| {
        format!("{} / {}", r.provider, r.model)
    })
}
