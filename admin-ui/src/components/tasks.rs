//! Recent tasks: status, reason, lease, attempts, the stuck flag and the
//! latest event; each task links to its page and to the event stream
//! filtered by its id.

use std::fmt::Write;

use ai_runtime_api::{TaskStatus, TaskSummary, TasksResponse};
use leptos::ev::{Event, MouseEvent, SubmitEvent};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::components::loader::{ErrorBanner, Loader};
use crate::markup::esc;
use crate::pages::Page;
use crate::session::use_session;
use crate::time;
use crate::view_state::{use_view, EventFilters, TaskFilters, TimeRange, UrlView, ViewState};

/// Tasks per request.
const PAGE_SIZE: u32 = 50;

#[component]
pub fn TasksPanel() -> impl IntoView {
    let session = use_session();
    let view_state = use_view();
    let filters = Memo::new(move |_| view_state.state.with(|v| v.tasks.clone()));
    let tasks = RwSignal::new(None::<Vec<TaskSummary>>);
    let loader = Loader::new(session, RwSignal::new(None));
    let shown_filters = StoredValue::new(None::<TaskFilters>);

    Effect::new(move |_| {
        session.tick.track();
        let f = filters.get();
        if shown_filters.get_value().as_ref() != Some(&f) {
            shown_filters.set_value(Some(f.clone()));
            tasks.set(None);
        }
        let mut query = f.api_query();
        query.push(("limit", PAGE_SIZE.to_string()));
        loader.load("tasks", query, move |r: TasksResponse| {
            tasks.set(Some(r.tasks))
        });
    });

    // A plain click on a row's link: the task's page, or its events.
    let on_link = move |ev: MouseEvent| {
        if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
            return;
        }
        let Some(link) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("a").ok().flatten())
        else {
            return;
        };
        let current = view_state.state.get_untracked();
        if let Some(id) = link
            .get_attribute("data-page")
            .and_then(|id| id.parse().ok())
        {
            ev.prevent_default();
            view_state.go(Page::Task(id), current);
        } else if let Some(id) = link.get_attribute("data-events") {
            ev.prevent_default();
            view_state.go(Page::Overview, events_of(&id, current));
            request_animation_frame(|| {
                if let Some(target) = document().get_element_by_id("events") {
                    target.scroll_into_view();
                }
            });
        }
    };

    // The filters' form is markup written from the URL; a change is
    // written to the URL at once.
    let filter_changed = move |ev: Event| {
        let Some(field) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let mut next = view_state.state.get_untracked();
        match field.id().as_str() {
            "t-status" => next.tasks.status = event_target_value(&ev).parse().ok(),
            "t-stuck" => next.tasks.stuck_only = event_target_checked(&ev),
            _ => return,
        }
        view_state.navigate(next);
    };

    view! {
        <section id="tasks" aria-labelledby="tasks-title">
            <h2 id="tasks-title">"Recent tasks"</h2>
            <form
                class="filters"
                aria-label="Task filters"
                on:submit=|ev: SubmitEvent| ev.prevent_default()
                on:change=filter_changed
                inner_html=move || filters.with(filter_fields)
            ></form>
            <ErrorBanner error=loader.error what="the tasks" />
            <table id="tasks-table">
                <caption>
                    {move || match tasks.with(|t| t.as_ref().map(Vec::len)) {
                        None => "Loading tasks…".to_owned(),
                        Some(n) => format!("{n} most recently created tasks"),
                    }}
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Task"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Stuck"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Lease owner"</th>
                        <th scope="col">"Lease expires"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Latest event"</th>
                    </tr>
                </thead>
                <tbody on:click=on_link inner_html=move || tasks.with(|t| rows(t.as_deref(), &view_state))></tbody>
            </table>
        </section>
    }
}

/// The filters' fields showing `f`.
fn filter_fields(f: &TaskFilters) -> String {
    let mut html = r#"<div class="field"><label for="t-status">Status</label><select id="t-status"><option value="">Any status</option>"#.to_owned();
    for s in TaskStatus::ALL {
        let selected = if f.status == Some(*s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            html,
            r#"<option value="{0}"{selected}>{0}</option>"#,
            s.as_str()
        );
    }
    let checked = if f.stuck_only { " checked" } else { "" };
    let _ = write!(
        html,
        r#"</select></div><div class="field checkbox"><input id="t-stuck" type="checkbox"{checked}><label for="t-stuck">Stuck only</label></div>"#
    );
    html
}

/// The rows as markup (escaped); their links are real links, followed in
/// place by the table's one click handler (`on_link`).
fn rows(tasks: Option<&[TaskSummary]>, view: &UrlView) -> String {
    let Some(tasks) = tasks else {
        return String::new();
    };
    if tasks.is_empty() {
        return r#"<tr><td colspan="9" class="empty">No tasks match.</td></tr>"#.to_owned();
    }
    let mut html = String::new();
    for task in tasks {
        let id = task.id.to_string();
        let reason = match (&task.reason_code, &task.reason) {
            (Some(code), Some(text)) => format!("{code}: {text}"),
            (Some(code), None) => code.clone(),
            (None, Some(text)) => text.clone(),
            (None, None) => "—".to_owned(),
        };
        let lease_expires = task.lease_expires_at.as_ref().map_or("—".to_owned(), |at| {
            let left = -time::seconds_since(at);
            if left >= 0.0 {
                format!("in {}", time::format_age(left))
            } else {
                format!("{} ago", time::format_age(-left))
            }
        });
        let latest = task.latest_event.as_ref().map_or("—".to_owned(), |e| {
            format!(
                "{} {} {} ({} ago)",
                e.layer.as_str(),
                e.operation.as_str(),
                e.reason_code,
                time::format_age(time::seconds_since(&e.occurred_at))
            )
        });
        let page = view.href(Page::Task(task.id), &view.state.get());
        let events = view.href(Page::Overview, &events_of(&id, view.state.get()));
        let _ = write!(
            html,
            r##"<tr class="task{}" data-id="{id}" data-status="{}"><th scope="row"><a href="{}" class="task-page" data-page="{id}" title="Task {id}">{}</a> <a href="{}#events" class="task-events" data-events="{id}" title="Events of task {id}">events</a></th><td>{}</td><td class="status">{}</td><td class="stuck-flag">{}</td><td>{}</td><td>{}</td><td>{lease_expires}</td><td>{}/{}</td><td class="latest">{}</td></tr>"##,
            if task.stuck { " stuck" } else { "" },
            task.status.as_str(),
            page.replace('&', "&amp;"),
            id.split('-').next().unwrap_or_default(),
            events.replace('&', "&amp;"),
            esc(&task.kind),
            task.status.as_str(),
            if task.stuck { "⚠ STUCK" } else { "no" },
            esc(&reason),
            esc(task.lease_owner.as_deref().unwrap_or("—")),
            task.attempts,
            task.max_attempts,
            esc(&latest)
        );
    }
    html
}

/// The event stream of one task, over any time.
fn events_of(id: &str, current: ViewState) -> ViewState {
    ViewState {
        range: TimeRange::Any,
        bucket: None,
        events: EventFilters::for_task(id.to_owned()),
        ..current
    }
}
