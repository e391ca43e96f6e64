//! A view boxed into one type on the server, left as it is in the browser.
//!
//! The server's rendering of a page nests the futures of its views; inline,
//! the trends' charts alone take more than a thread's 2 MiB of stack in a
//! debug build. Boxing them there keeps each future small. In the browser
//! the same boxing would cost 11 KB of brotli-compressed WASM (measured with
//! `build_ui`) for nothing: the DOM is the same either way, so the page
//! hydrates.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub fn boxed_on_server(view: impl IntoView + 'static) -> AnyView {
    view.into_any()
}

#[cfg(not(feature = "ssr"))]
pub fn boxed_on_server<V: IntoView>(view: V) -> V {
    view
}
