//! A panel's data: a `LocalResource` fetched again on every tick of the
//! session (polling, the refresh button) and whenever what its request
//! reads (the URL's view) changes, and the component that shows it.
//!
//! `<Transition>` keeps the data on screen while the next answer loads
//! ("Loading…" only before the first); `<ErrorBoundary>` says what failed
//! in place, with the last data the panel had below it, marked out of date,
//! until an answer comes again. Superseded requests are the resource's
//! business: it keeps the newest. A 401 or 403 signs out (`session`).

use leptos::error::Errors;
use leptos::prelude::*;
use serde::de::DeserializeOwned;

use crate::api::{self, FetchError, Query};
use crate::session::{use_session, Session};

/// What a panel asks the admin API for and the answers it got.
pub struct PolledData<T: Send + Sync + 'static> {
    pub answer: LocalResource<Result<T, FetchError>>,
    /// The newest data an answer gave, shown under an error.
    pub last_good: RwSignal<Option<T>>,
}

impl<T: Send + Sync + 'static> Clone for PolledData<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for PolledData<T> {}

/// GETs `path()` with `query()` on every tick and whenever they change.
pub fn poll<T>(
    path: impl Fn() -> String + 'static,
    query: impl Fn() -> Query + 'static,
) -> PolledData<T>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let session = use_session();
    let last_good = RwSignal::new(None::<T>);
    let answer = LocalResource::new(move || {
        session.tick.track();
        let (path, query) = (path(), query());
        async move {
            let answer = fetch::<T>(session, &path, &query).await;
            if let Ok(data) = &answer {
                last_good.try_set(Some(data.clone()));
            }
            answer
        }
    });
    PolledData { answer, last_good }
}

/// One request with the session's token; "last updated" on success.
async fn fetch<T: DeserializeOwned>(
    session: Session,
    path: &str,
    query: &Query,
) -> Result<T, FetchError> {
    // Panels are shown only while signed in; signing out drops them.
    let token = session
        .token
        .get_untracked()
        .ok_or(FetchError::Unauthorized)?;
    let answer = api::get(&token, path, query).await;
    match &answer {
        Ok(_) => session.mark_updated(),
        // 401/403 go back to sign-in; the boundary says the rest.
        Err(e) => {
            session.handle_error(e);
        }
    }
    answer
}

/// Shows a panel's data through `render`: `loading` until the first
/// answer, then the view `render` builds once from a signal of the newest
/// answer (so a poll updates what changed and leaves the rest, the focus
/// too), a failure said above the last data.
#[component]
pub fn Polled<T, V, F>(
    data: PolledData<T>,
    /// What the panel shows, as the error says it ("the events").
    what: &'static str,
    /// What is shown before the first answer.
    loading: &'static str,
    render: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(Signal<T>) -> V + Clone + Send + Sync + 'static,
{
    let has_data = Memo::new(move |_| data.last_good.with(Option::is_some));
    // The newest data as a signal, once there is some.
    let shown = move |render: F| {
        move || {
            let first = has_data
                .get()
                .then(|| data.last_good.get_untracked())
                .flatten()?;
            let latest =
                Signal::derive(move || data.last_good.get().unwrap_or_else(|| first.clone()));
            Some(render(latest))
        }
    };
    let under_error = shown(render.clone());
    view! {
        <Transition fallback=move || view! { <p class="loading">{loading}</p> }>
            <ErrorBoundary fallback=move |errors| {
                let stale = data.last_good.with_untracked(Option::is_some);
                view! {
                    <ErrorNotice errors=errors what=what stale=stale />
                    {under_error.clone()}
                }
            }>
                // The resource read here is what the transition waits for
                // and the boundary catches; it shows nothing itself.
                {move || {
                    data.answer.with(|answer| {
                        answer.as_ref().map(|a| a.as_ref().map(|_| ()).map_err(FetchError::clone))
                    })
                }}
                {shown(render.clone())}
            </ErrorBoundary>
        </Transition>
    }
}

/// What failed, and whether the data below is an older answer.
#[component]
pub fn ErrorNotice(errors: ArcRwSignal<Errors>, what: &'static str, stale: bool) -> impl IntoView {
    let said = move || {
        errors.with(|errors| {
            errors
                .iter()
                .map(|(_, e)| {
                    if stale {
                        format!("could not refresh {what}: {e}. The data below may be out of date.")
                    } else {
                        format!("could not load {what}: {e}.")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    view! {
        <p class="error" role="alert">
            <strong>"Error: "</strong>
            {said}
        </p>
    }
}
