//! Recent tasks: status, reason, lease, attempts, the stuck flag and the
//! latest event; each task links to its page and to the event stream
//! filtered by its id.

use ai_runtime_api::{TaskStatus, TaskSummary, TasksResponse};
use leptos::prelude::*;

use crate::components::loader::{ErrorBanner, Loader};
use crate::components::page_link::PageLink;
use crate::components::view_link::ViewLink;
use crate::pages::Page;
use crate::session::use_session;
use crate::time;
use crate::view_state::{use_view, EventFilters, TaskFilters, TimeRange, ViewState};

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

    let set_filters = move |change: &dyn Fn(&mut TaskFilters)| {
        let mut next = view_state.state.get_untracked();
        change(&mut next.tasks);
        view_state.navigate(next);
    };

    view! {
        <section id="tasks" aria-labelledby="tasks-title">
            <h2 id="tasks-title">"Recent tasks"</h2>
            <form class="filters" aria-label="Task filters" on:submit=|ev: leptos::ev::SubmitEvent| ev.prevent_default()>
                <div class="field">
                    <label for="t-status">"Status"</label>
                    <select
                        id="t-status"
                        on:change=move |ev| {
                            let status = event_target_value(&ev).parse::<TaskStatus>().ok();
                            set_filters(&|f| f.status = status)
                        }
                    >
                        <option value="" prop:selected=move || filters.with(|f| f.status.is_none())>"Any status"</option>
                        {TaskStatus::ALL.iter().map(|&s| view! {
                            <option value=s.as_str() prop:selected=move || filters.with(|f| f.status == Some(s))>{s.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field checkbox">
                    <input
                        id="t-stuck"
                        type="checkbox"
                        prop:checked=move || filters.with(|f| f.stuck_only)
                        on:change=move |ev| {
                            let checked = event_target_checked(&ev);
                            set_filters(&|f| f.stuck_only = checked)
                        }
                    />
                    <label for="t-stuck">"Stuck only"</label>
                </div>
            </form>
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
                <tbody>
                    <For each=move || tasks.get().unwrap_or_default() key=|t| (t.id, t.updated_at, t.latest_event.as_ref().map(|e| e.id)) let:task>
                        <TaskRow task=task />
                    </For>
                    {move || tasks.with(|t| t.as_ref().is_some_and(Vec::is_empty)).then(|| view! {
                        <tr><td colspan="9" class="empty">"No tasks match."</td></tr>
                    })}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn TaskRow(task: TaskSummary) -> impl IntoView {
    let view_state = use_view();
    let id = task.id.to_string();
    // The event stream of this task, over any time.
    let events_of_task = {
        let id = id.clone();
        Signal::derive(move || ViewState {
            range: TimeRange::Any,
            bucket: None,
            events: EventFilters::for_task(id.clone()),
            ..view_state.state.get()
        })
    };
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
    let title = format!("Events of task {id}");
    let page_title = format!("Task {id}");
    let short_id = id.split('-').next().unwrap_or_default().to_owned();
    view! {
        <tr class="task" data-id=id data-status=task.status.as_str() class:stuck=task.stuck>
            <th scope="row">
                <PageLink page=Page::Task(task.id) attr:class="task-page" attr:title=page_title>
                    {short_id}
                </PageLink>
                " "
                <ViewLink to=events_of_task section="events" attr:class="task-events" attr:title=title>
                    "events"
                </ViewLink>
            </th>
            <td>{task.kind.clone()}</td>
            <td class="status">{task.status.as_str()}</td>
            <td class="stuck-flag">{if task.stuck { "⚠ STUCK" } else { "no" }}</td>
            <td>{reason}</td>
            <td>{task.lease_owner.clone().unwrap_or_else(|| "—".to_owned())}</td>
            <td>{lease_expires}</td>
            <td>{format!("{}/{}", task.attempts, task.max_attempts)}</td>
            <td class="latest">{latest}</td>
        </tr>
    }
}
