//! The admin dashboard at `/admin/ai/runtime` in Leptos: rendered by the
//! admin server (feature `ssr`, through `leptos_axum`) with each panel's
//! first data, then hydrated in the browser (feature `hydrate`, WASM), which
//! polls the admin API through `gloo-net` and keeps its view (time range,
//! filters) in the URL query.
//!
//! Modules, one concept each (no module imports another in a circle, and
//! none imports its parent):
//! - [`api`]: GET an admin API path with the bearer token, decode the shared types;
//! - [`auth`]: where the token comes from (`#token=` or the form) and where it is kept;
//! - [`session`]: the signed-in state and the refresh tick every panel follows;
//! - [`pages`]: the dashboard's pages and their paths;
//! - [`view_state`]: the filters and the time range in the URL query, through `leptos_router`;
//! - [`poll`]: the polling timer, paused while the tab is hidden;
//! - [`time`]: timestamps and ages as people read them;
//! - [`components`]: the shell, one component per page and per panel;
//! - [`document`] (`ssr`): the HTML document the server renders a page into.

// The server-side rendering of nested `<Transition>`/`<ErrorBoundary>`
// views is a deeply nested future type.
#![recursion_limit = "256"]

mod api;
mod auth;
mod components;
#[cfg(feature = "ssr")]
mod document;
mod pages;
mod poll;
mod session;
mod time;
mod view_state;

#[cfg(not(target_arch = "wasm32"))]
pub use api::{ServerAnswer, ServerApi};
pub use auth::{RequestToken, TOKEN_COOKIE};
pub use components::app::App;
#[cfg(feature = "ssr")]
pub use document::{Assets, Document};
pub use pages::BASE;
pub use session::{InitialSession, FORBIDDEN_NOTICE, UNAUTHORIZED_NOTICE};

/// Runs once the WASM module is instantiated (by `boot.js`): hydrates the
/// page the server rendered.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::hydrate_body(App);
}
