//! The queue panel: counts of the six statuses with their trend over the
//! window, and the stuck tasks, each linked to the tasks panel filtered.
//! Active statuses count the tasks in them now; finished ones count the tasks
//! that finished within the window, and say so.
//!
//! Written as markup and set as the panel's inner HTML (its typed views cost
//! more WASM than the panel is worth, README "Dashboard"); its links are real
//! links (a new tab works), followed in place by a plain click, which the
//! panel's element handles for all of them.

use std::fmt::Write;

use ai_runtime_api::{CountScope, QueueSummary, StatusResponse, TaskStatus};
use leptos::ev::MouseEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::pages::Page;
use crate::view_state::{use_view, TaskFilters, UrlView, ViewState};

#[component]
pub fn QueuePanel(status: Signal<Option<StatusResponse>>) -> impl IntoView {
    let view = use_view();
    let markup = move || status.with(|s| s.as_ref().map(|s| table(&s.queue, &view)));
    let on_click = move |ev: MouseEvent| {
        // A new tab or window is the browser's business.
        if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
            return;
        }
        let Some(link) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("a[data-tasks]").ok().flatten())
        else {
            return;
        };
        ev.prevent_default();
        let filters = filters_of(&link.get_attribute("data-tasks").unwrap_or_default());
        view.go(
            Page::Overview,
            ViewState {
                tasks: filters,
                ..view.state.get_untracked()
            },
        );
        request_animation_frame(|| {
            if let Some(target) = document().get_element_by_id("tasks") {
                target.scroll_into_view();
            }
        });
    };
    view! {
        <section id="queue" aria-labelledby="queue-title">
            <h2 id="queue-title">"Task queue"</h2>
            <div on:click=on_click inner_html=markup></div>
        </section>
    }
}

/// A link's `data-tasks`: a status, or `stuck`.
fn filters_of(key: &str) -> TaskFilters {
    TaskFilters {
        status: key.parse::<TaskStatus>().ok(),
        stuck_only: key == "stuck",
    }
}

/// A link to the tasks panel filtered by `key` (a status, or `stuck`).
fn link(view: &UrlView, key: &str, text: &str) -> String {
    let next = ViewState {
        tasks: filters_of(key),
        ..view.state.get()
    };
    format!(
        r#"<a href="{}#tasks" data-tasks="{key}">{text}</a>"#,
        view.href(Page::Overview, &next).replace('&', "&amp;")
    )
}

fn table(queue: &QueueSummary, view: &UrlView) -> String {
    let mut html = format!(
        r#"<table class="queue"><caption>Tasks by status; change over the last {} minutes</caption><thead><tr><th scope="col">Status</th><th scope="col">Count</th><th scope="col">Change</th></tr></thead><tbody>"#,
        queue.window_minutes
    );
    for c in &queue.counts {
        let status = c.status.as_str();
        let scope = match c.scope {
            CountScope::Current => "now".to_owned(),
            CountScope::Window => format!("in the last {}", window_text(queue.window_minutes)),
        };
        let _ = write!(
            html,
            r#"<tr data-status="{status}"><th scope="row">{}</th><td class="count">{} <span class="scope">{scope}</span></td><td class="delta">{}</td></tr>"#,
            link(view, status, status),
            c.count,
            delta_text(c.delta)
        );
    }
    let stuck = queue.stuck_running + queue.stuck_pending;
    let _ = write!(
        html,
        r#"</tbody></table><p id="stuck-summary"{}>{}{} ({} running with an expired lease, {} pending past due)</p>"#,
        if stuck > 0 { r#" class="bad""# } else { "" },
        if stuck > 0 { "⚠ " } else { "✔ " },
        link(view, "stuck", &format!("{stuck} stuck tasks")),
        queue.stuck_running,
        queue.stuck_pending
    );
    html
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
