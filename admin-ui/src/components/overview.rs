//! The overview page (`pages::Page::Overview`): health and queue, the
//! trends, the event stream and the recent tasks.

use leptos::prelude::*;

use crate::components::events::EventsPanel;
use crate::components::status::StatusPanel;
use crate::components::tasks::TasksPanel;
use crate::components::trends::TrendsPanel;

#[component]
pub fn OverviewPage() -> impl IntoView {
    // Each panel as one type: the server's rendering of the page nests its
    // panels' futures, which inline would take more than a thread's 2 MiB
    // of stack in a debug build.
    view! {
        <main id="dashboard">
            {view! { <StatusPanel /> }.into_any()}
            {view! { <TrendsPanel /> }.into_any()}
            {view! { <EventsPanel /> }.into_any()}
            {view! { <TasksPanel /> }.into_any()}
        </main>
    }
}
