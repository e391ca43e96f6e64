//! The polling timer: a refresh every few seconds while the tab is visible,
//! none while it is hidden, and one at once when it becomes visible again.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;
use web_sys::VisibilityState;

use crate::session::Session;

/// Between the 10 and 15 seconds.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(12);
/// Bounds of the `poll` query parameter (milliseconds), which tests and
/// impatient operators use to poll faster.
const MIN_INTERVAL_MS: u64 = 200;
const MAX_INTERVAL_MS: u64 = 600_000;

/// The `poll` query parameter (ms) when given and sane, else the default.
pub fn interval(poll_param: Option<&str>) -> Duration {
    poll_param
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS)))
        .unwrap_or(DEFAULT_INTERVAL)
}

fn tab_visible() -> bool {
    document().visibility_state() == VisibilityState::Visible
}

/// Starts polling for the life of the page.
pub fn start(session: Session, every: Duration) {
    let refresh_if_visible = move || {
        if tab_visible() && session.token.get_untracked().is_some() {
            session.refresh();
        }
    };
    set_interval(refresh_if_visible, every);
    let on_visibility = Closure::<dyn Fn()>::new(refresh_if_visible);
    let _ = document().add_event_listener_with_callback(
        "visibilitychange",
        on_visibility.as_ref().unchecked_ref(),
    );
    // The listener lives as long as the page.
    on_visibility.forget();
}
