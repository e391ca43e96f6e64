//! Recent tasks: status, reason, lease, attempts, the stuck flag and the
//! latest event; each task links to its page and to the event stream
//! filtered by its id. The filters (status, stuck only) live in the URL and
//! apply as soon as they change.

use ai_runtime_api::{TaskStatus, TaskSummary, TasksResponse};
use leptos::prelude::*;
use uuid::Uuid;

use crate::components::events::short_id;
use crate::components::page_link::PageLink;
use crate::components::polled::{poll, Polled};
use crate::components::view_link::ViewLink;
use crate::pages::Page;
use crate::session::use_session;
use crate::time;
use crate::view_state::{use_view, EventFilters, TimeRange, ViewState};

/// Tasks per request.
const PAGE_SIZE: u32 = 50;

#[component]
pub fn TasksPanel() -> impl IntoView {
    let view_state = use_view();
    let filters = Memo::new(move |_| view_state.state.with(|v| v.tasks.clone()));
    let tasks = poll::<TasksResponse>(
        || "tasks".to_owned(),
        move || {
            let mut query = filters.get().api_query();
            query.push(("limit", PAGE_SIZE.to_string()));
            query
        },
    );
    let set_status = move |ev| {
        let mut next = view_state.state.get_untracked();
        next.tasks.status = event_target_value(&ev).parse().ok();
        view_state.navigate(next);
    };
    let set_stuck = move |ev| {
        let mut next = view_state.state.get_untracked();
        next.tasks.stuck_only = event_target_checked(&ev);
        view_state.navigate(next);
    };
    let chosen = move || filters.with(|f| f.status.map_or("", TaskStatus::as_str).to_owned());

    view! {
        <section id="tasks" aria-labelledby="tasks-title">
            <h2 id="tasks-title">"Recent tasks"</h2>
            <form class="filters" aria-label="Task filters" on:submit=|ev| ev.prevent_default()>
                <div class="field">
                    <label for="t-status">"Status"</label>
                    <select id="t-status" prop:value=chosen on:change=set_status>
                        <option value="" selected=move || chosen().is_empty()>"Any status"</option>
                        {TaskStatus::ALL.iter().map(|s| {
                            let value = s.as_str();
                            view! { <option value=value selected=move || chosen() == value>{value}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field checkbox">
                    <input id="t-stuck" type="checkbox"
                        prop:checked=move || filters.with(|f| f.stuck_only)
                        on:change=set_stuck />
                    <label for="t-stuck">"Stuck only"</label>
                </div>
            </form>
            <Polled data=tasks what="the tasks" loading="Loading tasks…"
                render={|r: Signal<TasksResponse>| view! { <TasksTable tasks=Signal::derive(move || r.with(|r| r.tasks.clone())) /> }} />
        </section>
    }
}

#[component]
fn TasksTable(tasks: Signal<Vec<TaskSummary>>) -> impl IntoView {
    let empty = move || {
        tasks
            .with(Vec::is_empty)
            .then(|| view! { <tr><td colspan="9" class="empty">"No tasks match."</td></tr> })
    };
    view! {
        <table id="tasks-table">
            <caption>{move || format!("{} most recently created tasks", tasks.with(Vec::len))}</caption>
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
            <tbody>
                {empty}
                <For each=move || tasks.get() key=|t| (t.id, t.updated_at, t.latest_event.as_ref().map(|e| e.id)) let(task)>
                    <TaskRow task=task />
                </For>
            </tbody>
        </table>
    }
}

/// A row stays while its task and latest event do; its ages follow each
/// refresh of the session.
#[component]
fn TaskRow(task: TaskSummary) -> impl IntoView {
    let session = use_session();
    let id = task.id;
    let lease_at = task.lease_expires_at;
    let lease_expires = move || {
        session.tick.track();
        lease_at.as_ref().map_or("—".to_owned(), |at| {
            let left = -time::seconds_since(at);
            if left >= 0.0 {
                format!("in {}", time::format_age(left))
            } else {
                format!("{} ago", time::format_age(-left))
            }
        })
    };
    let event = task.latest_event.clone();
    let latest = move || {
        session.tick.track();
        event.as_ref().map_or("—".to_owned(), |e| {
            format!(
                "{} {} {} ({} ago)",
                e.layer.as_str(),
                e.operation.as_str(),
                e.reason_code,
                time::format_age(time::seconds_since(&e.occurred_at))
            )
        })
    };
    view! {
        <tr class="task" class:stuck=task.stuck data-id=id.to_string() data-status=task.status.as_str()>
            <th scope="row">
                <PageLink page=Page::Task(id) attr:class="task-page" attr:title=format!("Task {id}")>
                    {short_id(id)}
                </PageLink>
                " "
                <TaskEventsLink id=id />
            </th>
            <td>{task.kind.clone()}</td>
            <td class="status">{task.status.as_str()}</td>
            <td class="stuck-flag">{if task.stuck { "⚠ STUCK" } else { "no" }}</td>
            <td>{reason_text(&task)}</td>
            <td>{task.lease_owner.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td>{lease_expires}</td>
            <td>{format!("{}/{}", task.attempts, task.max_attempts)}</td>
            <td class="latest">{latest}</td>
        </tr>
    }
}

/// "events": the event stream of the task, over any time.
#[component]
fn TaskEventsLink(id: Uuid) -> impl IntoView {
    let view_state = use_view();
    let to = Signal::derive(move || events_of(id, view_state.state.get()));
    view! {
        <ViewLink to=to section="events" attr:class="task-events" attr:title=format!("Events of task {id}")>
            "events"
        </ViewLink>
    }
}

/// `CODE: text`, either alone, or a dash.
pub fn reason_text(task: &TaskSummary) -> String {
    match (&task.reason_code, &task.reason) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.clone(),
        (None, Some(text)) => text.clone(),
        (None, None) => "—".to_owned(),
    }
}

/// The event stream of one task, over any time.
pub fn events_of(id: Uuid, current: ViewState) -> ViewState {
    ViewState {
        range: TimeRange::Any,
        bucket: None,
        events: EventFilters::for_task(id.to_string()),
        ..current
    }
}
