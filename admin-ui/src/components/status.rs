//! Loads `/status` on every tick and feeds the health cards and the queue panel.

use ai_runtime_api::StatusResponse;
use leptos::prelude::*;

use crate::components::health::HealthCards;
use crate::components::loader::{ErrorBanner, Loader};
use crate::components::queue::QueuePanel;
use crate::session::use_session;

#[component]
pub fn StatusPanel() -> impl IntoView {
    let session = use_session();
    let status = RwSignal::new(None::<StatusResponse>);
    let loader = Loader::new(session, RwSignal::new(None));
    Effect::new(move |_| {
        session.tick.track();
        loader.load("status", Vec::new(), move |s: StatusResponse| {
            status.set(Some(s))
        });
    });
    view! {
        <ErrorBanner error=loader.error what="the runtime status" />
        <HealthCards status=status.into() />
        <QueuePanel status=status.into() />
    }
}
