//! A task's page (`pages::Page::Task`, at `{BASE}/tasks/{id}`): the task
//! (status, reason, attempts, lease), its transitions with their times and
//! who made them, and its transitions and runtime events on one timeline,
//! oldest first.
//!
//! A `LocalResource` loads it, again on every tick of the session (polling,
//! the refresh button); `<Transition>` keeps the story on screen while the
//! next one loads (the first load says "Loading the task…"), and
//! `<ErrorBoundary>` shows a failure (an unknown task, the server down) in
//! its place until a load succeeds again. Superseded loads are the
//! resource's business: it keeps the newest.

use std::fmt::Write;

use ai_runtime_api::{JsonText, RuntimeEvent, TaskDetail, TaskSummary, TaskTransition};
use leptos::prelude::*;
use uuid::Uuid;

use crate::components::page_link::PageLink;
use crate::components::resource;
use crate::components::view_link::ViewLink;
use crate::markup::esc;
use crate::pages::Page;
use crate::session::use_session;
use crate::time;
use crate::view_state::{use_view, EventFilters, TimeRange, ViewState};

#[component]
pub fn TaskPage(id: Uuid) -> impl IntoView {
    let session = use_session();
    let detail = LocalResource::new(move || {
        session.tick.track();
        resource::get::<TaskDetail>(session, format!("tasks/{id}"))
    });
    let view_state = use_view();
    let events_of_task = Signal::derive(move || ViewState {
        range: TimeRange::Any,
        bucket: None,
        events: EventFilters::for_task(id.to_string()),
        ..view_state.state.get()
    });

    view! {
        <main id="task-page">
            <nav aria-label="Back">
                <PageLink page=Page::Overview attr:id="back-to-overview">"← Overview"</PageLink>
                " · "
                <ViewLink to=events_of_task section="events" attr:id="task-in-stream">
                    "This task's events in the event stream"
                </ViewLink>
            </nav>
            <h2 id="task-title">"Task " <code>{id.to_string()}</code></h2>
            <Transition fallback=|| view! { <p class="loading">"Loading the task…"</p> }>
                <ErrorBoundary fallback=|errors| view! { <resource::ErrorNotice errors=errors what="the task" /> }>
                    {move || detail.get().map(|d| d.map(|d| view! { <div id="task-story" inner_html=story(&d)></div> }))}
                </ErrorBoundary>
            </Transition>
        </main>
    }
}

fn story(detail: &TaskDetail) -> String {
    let mut html = facts(&detail.task);
    html.push_str(
        r#"<section id="transitions" aria-labelledby="transitions-title"><h3 class="sub" id="transitions-title">Transitions</h3><table id="transitions-table"><caption>Status changes in order, with who made them</caption><thead><tr><th scope="col">Time</th><th scope="col">Change</th><th scope="col">Reason code</th><th scope="col">By</th></tr></thead><tbody>"#,
    );
    for t in &detail.transitions {
        let _ = write!(
            html,
            r#"<tr class="transition"><td>{}</td><td class="change">{}</td><td class="reason">{}</td><td class="by">{}</td></tr>"#,
            time::format_utc(&t.occurred_at),
            change(t),
            esc(&t.reason_code),
            esc(&by(t))
        );
    }
    if detail.transitions.is_empty() {
        html.push_str(r#"<tr><td colspan="4" class="empty">No transitions recorded.</td></tr>"#);
    }
    let _ = write!(
        html,
        r#"</tbody></table></section><section id="timeline" aria-labelledby="timeline-title"><h3 class="sub" id="timeline-title">Timeline</h3><p class="hint">{} transitions and {} runtime events, oldest first.</p>"#,
        detail.transitions.len(),
        detail.events.len()
    );
    if detail.events_truncated {
        html.push_str(r#"<p class="notice" id="events-truncated">This task has more runtime events than a page holds: the newest are shown.</p>"#);
    }
    html.push_str(r#"<ol class="timeline">"#);
    timeline(&mut html, &detail.transitions, &detail.events);
    html + "</ol></section>"
}

fn facts(task: &TaskSummary) -> String {
    let reason = match (&task.reason_code, &task.reason) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.clone(),
        (None, Some(text)) => text.clone(),
        (None, None) => "—".to_owned(),
    };
    let lease = match (&task.lease_owner, &task.lease_expires_at) {
        (Some(owner), Some(at)) => format!("{owner}, until {}", time::format_utc(at)),
        (Some(owner), None) => owner.clone(),
        (None, Some(at)) => format!("until {}", time::format_utc(at)),
        (None, None) => "none".to_owned(),
    };
    let latest = task.latest_event.as_ref().map_or("—".to_owned(), |e| {
        format!(
            "{} {} {} at {}",
            e.layer.as_str(),
            e.operation.as_str(),
            e.reason_code,
            time::format_utc(&e.occurred_at)
        )
    });
    let rows = [
        (
            "status",
            format!(
                "{}{}",
                task.status.as_str(),
                if task.stuck { " ⚠ STUCK" } else { "" }
            ),
        ),
        ("reason", reason),
        (
            "attempts",
            format!("{} of {}", task.attempts, task.max_attempts),
        ),
        ("lease", lease),
        ("kind", task.kind.clone()),
        ("persona", task.persona_id.to_string()),
        ("created", time::format_utc(&task.created_at)),
        ("scheduled", time::format_utc(&task.scheduled_at)),
        ("updated", time::format_utc(&task.updated_at)),
        ("latest event", latest),
    ];
    let mut html = format!(
        r#"<dl id="task-facts" class="facts{}">"#,
        if task.stuck { " stuck" } else { "" }
    );
    for (name, value) in rows {
        let mut label = name.to_owned();
        label[..1].make_ascii_uppercase();
        let _ = write!(
            html,
            r#"<dt>{label}</dt><dd class="{}">{}</dd>"#,
            name.replace(' ', "-"),
            esc(&value)
        );
    }
    html + "</dl>"
}

/// `PENDING → RUNNING`, or `created as PENDING`.
fn change(t: &TaskTransition) -> String {
    match t.from_status {
        Some(from) => format!("{} → {}", from.as_str(), t.to_status.as_str()),
        None => format!("created as {}", t.to_status.as_str()),
    }
}

/// Who made a transition: a worker, or the queue itself.
fn by(t: &TaskTransition) -> String {
    t.worker_id
        .clone()
        .unwrap_or_else(|| "the queue (no worker)".to_owned())
}

/// Transitions and events in one list, oldest first (both come oldest
/// first: merged, not sorted).
fn timeline(html: &mut String, transitions: &[TaskTransition], events: &[RuntimeEvent]) {
    let (mut t, mut e) = (transitions.iter().peekable(), events.iter().peekable());
    loop {
        // A transition goes before an event of the same instant.
        let transition_next = match (t.peek(), e.peek()) {
            (Some(a), Some(b)) => a.occurred_at <= b.occurred_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return,
        };
        if transition_next {
            let Some(t) = t.next() else { return };
            let _ = write!(
                html,
                r#"<li class="timeline-item transition"><time>{}</time><span class="kind">Transition</span><span>{}: {} by {}</span></li>"#,
                time::format_utc(&t.occurred_at),
                change(t),
                esc(&t.reason_code),
                esc(&by(t))
            );
        } else {
            let Some(e) = e.next() else { return };
            let _ = write!(
                html,
                r#"<li class="timeline-item event" data-id="{}"><time>{}</time><span class="kind">{} {}</span><span class="reason">{}</span><span>on {} by {}</span><code class="metadata">{}</code></li>"#,
                e.id,
                time::format_utc(&e.occurred_at),
                e.layer.as_str(),
                e.operation.as_str(),
                esc(&e.reason_code),
                esc(&e.entity_id),
                esc(e.worker_id.as_deref().unwrap_or("no worker")),
                esc(&e.metadata.json_text())
            );
        }
    }
}
