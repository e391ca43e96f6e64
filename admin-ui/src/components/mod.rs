//! The shell and one component per panel. Each panel owns its data and
//! error signals and reloads on the session's tick.

pub mod app;
mod events;
mod health;
mod loader;
mod queue;
mod signin;
mod status;
mod tasks;

/// Brings a panel into view after an in-page link changed the view.
fn scroll_to(id: &str) {
    if let Some(el) = leptos::prelude::document().get_element_by_id(id) {
        el.scroll_into_view();
    }
}
