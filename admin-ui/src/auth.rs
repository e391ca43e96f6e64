//! The admin token: taken from the demo URL's `#token=` fragment or the
//! sign-in form, kept in sessionStorage (gone when the tab closes), and never
//! left in the address bar.

use leptos::prelude::window;
use web_sys::Storage;

const STORAGE_KEY: &str = "aiRuntimeAdminToken";

/// The token to start with: a fresh `#token=` wins over a stored one.
pub fn initial_token() -> Option<String> {
    match take_fragment_token() {
        Some(token) => {
            store(&token);
            Some(token)
        }
        None => storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()),
    }
}

pub fn store(token: &str) {
    if let Some(s) = storage() {
        // A full or disabled storage only costs the token on reload.
        let _ = s.set_item(STORAGE_KEY, token);
    }
}

pub fn forget() {
    if let Some(s) = storage() {
        let _ = s.remove_item(STORAGE_KEY);
    }
}

fn storage() -> Option<Storage> {
    window().session_storage().ok().flatten()
}

/// Reads `#token=…` and removes the fragment, so the token is not kept in
/// the history or shared with a copied link.
fn take_fragment_token() -> Option<String> {
    let location = window().location();
    let hash = location.hash().ok()?;
    let raw = hash.strip_prefix("#token=")?;
    let token = js_sys::decode_uri_component(raw).ok().map(String::from)?;
    let without_fragment = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&without_fragment),
        );
    }
    let token = token.trim().to_owned();
    (!token.is_empty()).then_some(token)
}
