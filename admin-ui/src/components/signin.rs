//! The sign-in form: paste an admin token (or open the demo URL with `#token=`).

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::session::use_session;

#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_session();
    let token = RwSignal::new(String::new());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let typed = token.get_untracked();
        let typed = typed.trim();
        if !typed.is_empty() {
            session.sign_in(typed.to_owned());
        }
    };
    let notice = move || {
        session
            .notice
            .get()
            .map(|n| view! { <p class="error" role="alert">{n}</p> })
    };
    view! {
        <main id="sign-in" class="sign-in">
            <h2>"Sign in"</h2>
            {notice}
            <p>
                "The runtime dashboard is for admins. Paste an admin token (a JWT whose claims mark an admin, or the static admin token)."
            </p>
            <form on:submit=on_submit>
                <label for="token-input">"Admin token"</label>
                <input id="token-input" name="token" type="password" autocomplete="off" required
                    bind:value=token />
                <button type="submit">"Sign in"</button>
            </form>
            <p class="hint">"The token is kept until the browser closes, in a cookie only the dashboard's pages receive, and sent to the API as a bearer token."</p>
        </main>
    }
}
