//! The admin token: taken from the demo URL's `#token=` fragment or the
//! sign-in form, and kept in a session cookie (gone when the browser
//! closes) that only the dashboard's pages receive: `Path` is the
//! dashboard's, `SameSite=Strict` keeps it off other sites' requests. The
//! server renders a page with it; the API never reads it (its token is the
//! `Authorization` header's), so no other site can use it there. The
//! fragment never stays in the address bar.

/// The cookie's name; the admin server reads the same one.
pub const TOKEN_COOKIE: &str = "ai_runtime_admin_token";

/// The token the page's request carried, given by the server as a context
/// while it renders (never serialized into the page).
#[derive(Clone)]
pub struct RequestToken(pub String);

/// The token the page was loaded with.
#[cfg(not(target_arch = "wasm32"))]
pub fn stored_token() -> Option<String> {
    leptos::prelude::use_context::<RequestToken>().map(|t| t.0)
}

#[cfg(target_arch = "wasm32")]
pub use browser::{forget, store, stored_token, take_fragment_token};

/// On the server nothing is kept: the browser keeps the cookie.
#[cfg(not(target_arch = "wasm32"))]
pub fn store(_token: &str) {}

#[cfg(not(target_arch = "wasm32"))]
pub fn forget() {}

/// The server never sees a fragment.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_fragment_token() -> Option<String> {
    None
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use leptos::prelude::{document, window};
    use wasm_bindgen::JsCast;
    use web_sys::HtmlDocument;

    use super::TOKEN_COOKIE;
    use crate::pages::BASE;

    /// The cookie's token, when the page's request carried one.
    pub fn stored_token() -> Option<String> {
        let cookies = html_document()?.cookie().ok()?;
        cookies
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == TOKEN_COOKIE)
            .and_then(|(_, value)| js_sys::decode_uri_component(value).ok())
            .map(String::from)
            .filter(|token| !token.is_empty())
    }

    pub fn store(token: &str) {
        let value = String::from(js_sys::encode_uri_component(token));
        set_cookie(&format!("{TOKEN_COOKIE}={value}"));
    }

    pub fn forget() {
        set_cookie(&format!("{TOKEN_COOKIE}=; Max-Age=0"));
    }

    fn set_cookie(cookie: &str) {
        let secure = window().location().protocol().is_ok_and(|p| p == "https:");
        let cookie = format!(
            "{cookie}; Path={BASE}; SameSite=Strict{}",
            if secure { "; Secure" } else { "" }
        );
        if let Some(document) = html_document() {
            // A refused cookie only costs the token on reload.
            let _ = document.set_cookie(&cookie);
        }
    }

    fn html_document() -> Option<HtmlDocument> {
        document().dyn_into::<HtmlDocument>().ok()
    }

    /// Reads `#token=…` and removes the fragment, so the token is not kept in
    /// the history or shared with a copied link.
    pub fn take_fragment_token() -> Option<String> {
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
}
