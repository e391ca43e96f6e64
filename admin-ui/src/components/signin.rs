//! The sign-in form: paste an admin token (or open the demo URL with `#token=`).

use leptos::prelude::*;

use crate::session::use_session;

#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_session();
    let draft = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let token = draft.get_untracked().trim().to_owned();
        if !token.is_empty() {
            session.sign_in(token);
        }
    };
    view! {
        <main id="sign-in" class="sign-in">
            <h2>"Sign in"</h2>
            {move || session.notice.get().map(|n| view! { <p class="error" role="alert">{n}</p> })}
            <p>"The runtime dashboard is for admins. Paste an admin token (a JWT whose claims mark an admin, or the static admin token)."</p>
            <form on:submit=on_submit>
                <label for="token-input">"Admin token"</label>
                <input
                    id="token-input"
                    name="token"
                    type="password"
                    autocomplete="off"
                    required
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                />
                <button type="submit">"Sign in"</button>
            </form>
            <p class="hint">"The token is kept in this tab only (sessionStorage) and sent as a bearer token."</p>
        </main>
    }
}
