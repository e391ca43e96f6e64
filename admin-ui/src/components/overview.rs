//! The overview page (`pages::Page::Overview`): health and queue, the
//! trends, the event stream and the recent tasks.

use leptos::prelude::*;

use crate::components::boxed::boxed_on_server;
use crate::components::events::EventsPanel;
use crate::components::status::StatusPanel;
use crate::components::tasks::TasksPanel;
use crate::components::trends::TrendsPanel;

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <main id="dashboard">
            {boxed_on_server(view! { <StatusPanel /> })}
            {boxed_on_server(view! { <TrendsPanel /> })}
            {boxed_on_server(view! { <EventsPanel /> })}
            {boxed_on_server(view! { <TasksPanel /> })}
        </main>
    }
}
