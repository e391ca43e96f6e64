//! The queue panel: counts of the six statuses with their trend over the
//! window, and the stuck tasks, each linked to the tasks panel filtered.
//! Active statuses count the tasks in them now; finished ones count the tasks
//! that finished within the window, and say so.

use ai_runtime_api::{CountScope, QueueSummary, TaskStatus};
use leptos::prelude::*;

use crate::components::view_link::ViewLink;
use crate::view_state::{use_view, TaskFilters, ViewState};

#[component]
pub fn QueueTable(queue: QueueSummary) -> impl IntoView {
    let window = queue.window_minutes;
    let rows = queue
        .counts
        .into_iter()
        .map(|c| {
            let status = c.status.as_str();
            let scope = match c.scope {
                CountScope::Current => "now".to_owned(),
                CountScope::Window => format!("in the last {}", window_text(window)),
            };
            view! {
                <tr data-status=status>
                    <th scope="row"><TasksLink filters=filters_of(Some(c.status), false)>{status}</TasksLink></th>
                    <td class="count">{c.count} " " <span class="scope">{scope}</span></td>
                    <td class="delta">{delta_text(c.delta)}</td>
                </tr>
            }
        })
        .collect_view();
    let stuck = queue.stuck_running + queue.stuck_pending;
    view! {
        <table class="queue">
            <caption>{format!("Tasks by status; change over the last {window} minutes")}</caption>
            <thead>
                <tr>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Count"</th>
                    <th scope="col">"Change"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <p id="stuck-summary" class:bad={stuck > 0}>
            {if stuck > 0 { "⚠ " } else { "✔ " }}
            <TasksLink filters=filters_of(None, true)>{format!("{stuck} stuck tasks")}</TasksLink>
            {format!(
                " ({} running with an expired lease, {} pending past due)",
                queue.stuck_running, queue.stuck_pending
            )}
        </p>
    }
}

/// A link to the tasks panel showing `filters`, the rest of the view kept.
#[component]
fn TasksLink(filters: TaskFilters, children: Children) -> impl IntoView {
    let view = use_view();
    let to = Signal::derive(move || ViewState {
        tasks: filters.clone(),
        ..view.state.get()
    });
    view! { <ViewLink to=to section="tasks">{children()}</ViewLink> }
}

fn filters_of(status: Option<TaskStatus>, stuck_only: bool) -> TaskFilters {
    TaskFilters { status, stuck_only }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_reads_in_hours_when_whole() {
        assert_eq!(window_text(15), "15 min");
        assert_eq!(window_text(120), "2 h");
    }

    #[test]
    fn a_change_says_its_direction_in_a_symbol() {
        assert_eq!(delta_text(3), "▲ +3");
        assert_eq!(delta_text(-2), "▼ −2");
        assert_eq!(delta_text(0), "= 0");
    }
}
