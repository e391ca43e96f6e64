//! Loading through Leptos's resources: the fetcher of a `LocalResource`
//! (the token from the session, 401/403 handed to the session, "last
//! updated" on success) and what an `<ErrorBoundary>` shows for a failure.

use leptos::error::Errors;
use leptos::prelude::*;
use serde::de::DeserializeOwned;

use crate::api::{self, FetchError};
use crate::session::Session;

/// GETs `path` for a `LocalResource`: the answer as `T`, or why not.
/// Superseded requests are the resource's business (it keeps the newest).
pub async fn get<T: DeserializeOwned>(session: Session, path: String) -> Result<T, FetchError> {
    let body = text(session, path).await?;
    api::decode(&body)
}

/// The request itself, not generic: its async code exists once in the WASM.
async fn text(session: Session, path: String) -> Result<String, FetchError> {
    // Pages are shown only while signed in; signing out drops them.
    let token = session
        .token
        .get_untracked()
        .ok_or(FetchError::Unauthorized)?;
    let answer = api::get_text(&token, &path, &Vec::new()).await;
    match &answer {
        Ok(_) => session.mark_updated(),
        Err(e) => {
            // 401/403 go back to sign-in; the boundary says the rest.
            session.handle_error(e);
        }
    }
    answer
}

/// An `<ErrorBoundary>`'s fallback: what failed and why.
#[component]
pub fn ErrorNotice(errors: ArcRwSignal<Errors>, what: &'static str) -> impl IntoView {
    view! {
        <p class="error" role="alert">
            <strong>"Error: "</strong>
            {move || {
                errors.with(|errors| {
                    errors
                        .iter()
                        .map(|(_, e)| format!("could not load {what}: {e}."))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            }}
        </p>
    }
}
