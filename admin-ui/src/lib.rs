//! The admin dashboard at `/admin/ai/runtime`: Leptos rendered in the browser
//! (WASM), polling the admin API through `gloo-net` and keeping its view
//! (time range, filters) in the URL query.
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
//! - [`components`]: the shell, one component per page and per panel.

mod api;
mod auth;
mod components;
mod pages;
mod poll;
mod session;
mod time;
mod view_state;

use wasm_bindgen::prelude::wasm_bindgen;

/// Runs once the WASM module is instantiated (by `boot.js`).
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(components::app::App);
}
