//! The queue panel: counts of the six statuses with their trend over the
//! window, and the stuck tasks, each linked to the tasks panel filtered.
//! Active statuses count the tasks in them now; finished ones count the tasks
//! that finished within the window, and say so.

use ai_runtime_api::{CountScope, QueueSummary, StatusResponse};
use leptos::prelude::*;

use crate::components::view_link::ViewLink;
use crate::view_state::{use_view, TaskFilters, ViewState};

#[component]
pub fn QueuePanel(status: Signal<Option<StatusResponse>>) -> impl IntoView {
    view! {
        <section id="queue" aria-labelledby="queue-title">
            <h2 id="queue-title">"Task queue"</h2>
            {move || status.get().map(|s| view! { <QueueTable queue=s.queue /> })}
        </section>
    }
}

#[component]
fn QueueTable(queue: QueueSummary) -> impl IntoView {
    let rows = queue
        .counts
        .into_iter()
        .map(|c| {
            let status = c.status.as_str();
            let filters = TaskFilters {
                status: Some(c.status),
                stuck_only: false,
            };
            let scope = match c.scope {
                CountScope::Current => "now".to_owned(),
                CountScope::Window => format!("in the last {}", window_text(queue.window_minutes)),
            };
            view! {
                <tr data-status=status>
                    <th scope="row"><TasksLink filters=filters>{status}</TasksLink></th>
                    <td class="count">{c.count}" "<span class="scope">{scope}</span></td>
                    <td class="delta">{delta_text(c.delta)}</td>
                </tr>
            }
        })
        .collect_view();
    let stuck = queue.stuck_running + queue.stuck_pending;
    let any_stuck = stuck > 0;
    view! {
        <table class="queue">
            <caption>{format!("Tasks by status; change over the last {} minutes", queue.window_minutes)}</caption>
            <thead>
                <tr><th scope="col">"Status"</th><th scope="col">"Count"</th><th scope="col">"Change"</th></tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <p id="stuck-summary" class:bad=any_stuck>
            {if any_stuck { "⚠ " } else { "✔ " }}
            <TasksLink filters=TaskFilters { status: None, stuck_only: true }>
                {format!("{stuck} stuck tasks")}
            </TasksLink>
            {format!(
                " ({} running with an expired lease, {} pending past due)",
                queue.stuck_running, queue.stuck_pending
            )}
        </p>
    }
}

/// `15 min`, `24 h`: the trend window in words.
fn window_text(minutes: i64) -> String {
    if minutes % 60 == 0 {
        format!("{} h", minutes / 60)
    } else {
        format!("{minutes} min")
    }
}

/// `▲ +3`, `▼ −2`, `= 0`: the direction in a symbol and a sign, not a colour.
fn delta_text(delta: i64) -> String {
    match delta {
        d if d > 0 => format!("▲ +{d}"),
        d if d < 0 => format!("▼ −{}", -d),
        _ => "= 0".to_owned(),
    }
}

/// A link that shows the tasks panel with `filters`.
#[component]
fn TasksLink(filters: TaskFilters, children: Children) -> impl IntoView {
    let view_state = use_view();
    let to = Signal::derive(move || ViewState {
        tasks: filters.clone(),
        ..view_state.state.get()
    });
    view! { <ViewLink to=to section="tasks">{children()}</ViewLink> }
}
