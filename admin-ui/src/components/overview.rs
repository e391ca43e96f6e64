//! The overview page (`pages::Page::Overview`): health and queue, the
//! trends, the event stream and the recent tasks.

use leptos::prelude::*;

use crate::components::events::EventsPanel;
use crate::components::status::StatusPanel;
use crate::components::tasks::TasksPanel;

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <main id="dashboard">
            <StatusPanel />
            {trends()}
            <EventsPanel />
            <TasksPanel />
        </main>
    }
}

/// The trends panel, when built with the `trends` feature.
fn trends() -> impl IntoView {
    #[cfg(feature = "trends")]
    return crate::components::trends::TrendsPanel();
    #[cfg(not(feature = "trends"))]
    ()
}
