//! The sign-in form: paste an admin token (or open the demo URL with `#token=`).
//! Markup (`markup`): a plain form whose field is read on submit.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{FormData, HtmlFormElement};

use crate::markup::esc;
use crate::session::use_session;

#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_session();
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let token = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
            .and_then(|form| FormData::new_with_form(&form).ok())
            .and_then(|fields| fields.get("token").as_string())
            .unwrap_or_default();
        let token = token.trim();
        if !token.is_empty() {
            session.sign_in(token.to_owned());
        }
    };
    let notice = move || {
        session.notice.with(|n| {
            n.as_deref().map_or(String::new(), |n| {
                format!(r#"<p class="error" role="alert">{}</p>"#, esc(n))
            })
        })
    };
    view! {
        <main id="sign-in" class="sign-in" on:submit=on_submit>
            <h2>"Sign in"</h2>
            <div inner_html=notice></div>
            <div inner_html=FORM></div>
        </main>
    }
}

const FORM: &str = r#"<p>The runtime dashboard is for admins. Paste an admin token (a JWT whose claims mark an admin, or the static admin token).</p><form><label for="token-input">Admin token</label><input id="token-input" name="token" type="password" autocomplete="off" required><button type="submit">Sign in</button></form><p class="hint">The token is kept in this tab only (sessionStorage) and sent as a bearer token.</p>"#;
