//! The overview page (`pages::Page::Overview`): health and queue, the event
//! stream and the recent tasks.

use leptos::prelude::*;

use crate::components::events::EventsPanel;
use crate::components::status::StatusPanel;
use crate::components::tasks::TasksPanel;

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <main id="dashboard">
            <StatusPanel />
            <EventsPanel />
            <TasksPanel />
        </main>
    }
}
