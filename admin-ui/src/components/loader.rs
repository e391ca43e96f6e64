//! One panel's requests: the token from the session, 401/403 handed to the
//! session, other errors shown beside the data (which stays on screen), and
//! answers to superseded requests dropped.
//!
//! The overview's panels load through it; the task page through Leptos's
//! `LocalResource` (`resource`). The panels stay here because the build
//! with `<FlatRoutes>` and the task page's resource is 1,520 bytes under
//! the 200 KB cap, and moving the `/status` panel alone onto a
//! `LocalResource` measured 1,952 bytes over it (README, "Size").

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::de::DeserializeOwned;

use crate::api::{self, Query};
use crate::markup::esc;
use crate::session::Session;

#[derive(Clone, Copy)]
pub struct Loader {
    session: Session,
    /// The last failure, cleared by the next success.
    pub error: RwSignal<Option<String>>,
    latest: StoredValue<u64>,
}

impl Loader {
    pub fn new(session: Session, error: RwSignal<Option<String>>) -> Self {
        Loader {
            session,
            error,
            latest: StoredValue::new(0),
        }
    }

    /// GETs `path`; `on_ok` runs only if no newer request of this loader was started.
    pub fn load<T: DeserializeOwned + 'static>(
        &self,
        path: &str,
        query: Query,
        on_ok: impl FnOnce(T) + 'static,
    ) {
        let loader = *self;
        self.load_text(
            path.to_owned(),
            query,
            Box::new(move |body| match api::decode::<T>(&body) {
                Ok(data) => on_ok(data),
                Err(e) => loader.error.set(loader.session.handle_error(&e)),
            }),
        );
    }

    /// The request itself, not generic: its async code exists once in the
    /// WASM rather than once per response type (about 4 KB each).
    fn load_text(&self, path: String, query: Query, on_ok: Box<dyn FnOnce(String)>) {
        let Some(token) = self.session.token.get_untracked() else {
            return;
        };
        self.latest.update_value(|n| *n += 1);
        let this_request = self.latest.get_value();
        let loader = *self;
        spawn_local(async move {
            let answer = api::get_text(&token, &path, &query).await;
            if loader.latest.try_get_value() != Some(this_request) {
                return;
            }
            match answer {
                Ok(body) => {
                    loader.error.set(None);
                    loader.session.mark_updated();
                    on_ok(body);
                }
                Err(e) => loader.error.set(loader.session.handle_error(&e)),
            }
        });
    }
}

/// The error banner of a panel: says what failed and that the data shown
/// is older (markup, `markup`; empty while there is no error).
#[component]
pub fn ErrorBanner(error: RwSignal<Option<String>>, what: &'static str) -> impl IntoView {
    let banner = move || {
        error.with(|e| {
            e.as_deref().map_or(String::new(), |message| {
                format!(
                    r#"<p class="error" role="alert"><strong>Error: </strong>could not refresh {what}: {}. The data below may be out of date.</p>"#,
                    esc(message)
                )
            })
        })
    };
    view! { <div inner_html=banner></div> }
}
