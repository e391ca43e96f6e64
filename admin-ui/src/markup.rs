//! Markup written by hand: the read-only panels (health cards, queue counts,
//! task rows, event rows, a task's story, the trends), the error banners
//! and the plain forms (the event filters, the task filters, sign-in) are
//! escaped HTML set as their element's inner HTML, which costs far less
//! WASM than typed views (README, "Size"). Every text from the data or the
//! URL goes through [`esc`].

/// Text from the data, safe inside markup (element content and quoted attributes).
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
