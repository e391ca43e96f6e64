//! Loads `/status` on every tick and feeds the health cards and the queue panel.

use ai_runtime_api::StatusResponse;
use leptos::prelude::*;

use crate::components::health::HealthCards;
use crate::components::polled::{poll, Polled};
use crate::components::queue::QueueTable;

#[component]
pub fn StatusPanel() -> impl IntoView {
    let status = poll::<StatusResponse>(|| "status".to_owned(), Vec::new);
    view! {
        <section id="health" aria-labelledby="health-title">
            <h2 id="health-title">"Runtime health"</h2>
            <Polled data=status what="the runtime status" loading="Loading…"
                render={|s: Signal<StatusResponse>| move || view! { <HealthCards status=s.get() /> }} />
        </section>
        <section id="queue" aria-labelledby="queue-title">
            <h2 id="queue-title">"Task queue"</h2>
            <Polled data=status what="the task queue" loading="Loading…"
                render={|s: Signal<StatusResponse>| move || view! { <QueueTable queue=s.with(|s| s.queue.clone()) /> }} />
        </section>
    }
}
