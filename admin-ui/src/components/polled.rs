//! A panel's data: a `Resource` fetched again on every tick of the session
//! (polling, the refresh button) and whenever what its request reads (the
//! URL's view) changes, and the component that shows it.
//!
//! The first answer is fetched while the server renders the page (through
//! the API router in the same process) and handed to the browser inside
//! it, so the page comes with its data and hydrates without asking again;
//! every answer after that is the browser's.
//!
//! `<Transition>` keeps the data on screen while the next answer loads
//! ("Loading…" only before the first); `<ErrorBoundary>` says what failed
//! in place, with the last data the panel had below it, marked out of date,
//! until an answer comes again. Superseded requests are the resource's
//! business: it keeps the newest. A 401 or 403 signs out (`session`).

use leptos::error::Errors;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{self, FetchError, Query, Transport};
use crate::components::boxed::boxed_on_server;
use crate::session::{use_session, Session};

/// What a panel asks the admin API for and the answers it got.
pub struct PolledData<T: Send + Sync + 'static> {
    pub answer: Resource<Result<T, FetchError>>,
    /// The newest data an answer gave, kept under a later error.
    pub latest: Memo<Option<T>>,
}

impl<T: Send + Sync + 'static> Clone for PolledData<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for PolledData<T> {}

/// GETs `path()` with `query()` on every tick and whenever they change.
pub fn poll<T>(
    path: impl Fn() -> String + Send + Sync + 'static,
    query: impl Fn() -> Query + Send + Sync + 'static,
) -> PolledData<T>
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync + 'static,
{
    let session = use_session();
    let transport = Transport::from_context();
    let answer = Resource::new(
        move || (session.tick.get(), path(), query()),
        move |(_, path, query)| fetch::<T>(transport.clone(), session, path, query),
    );
    let latest = Memo::new(move |previous: Option<&Option<T>>| match answer.get() {
        Some(Ok(data)) => Some(data),
        _ => previous.cloned().flatten(),
    });
    PolledData { answer, latest }
}

/// One request with the session's token; "last updated" on success. In the
/// browser its future is not `Send`, which a resource's must be: it only
/// ever runs on the browser's one thread.
#[cfg(target_arch = "wasm32")]
fn fetch<T: DeserializeOwned + 'static>(
    transport: Transport,
    session: Session,
    path: String,
    query: Query,
) -> impl std::future::Future<Output = Result<T, FetchError>> + Send {
    send_wrapper::SendWrapper::new(async move {
        let answer = fetch_now(&transport, session, &path, &query).await;
        match &answer {
            Ok(_) => session.mark_updated(),
            // 401/403 go back to sign-in; the boundary says the rest.
            Err(e) => {
                session.handle_error(e);
            }
        }
        answer
    })
}

/// On the server: the page's request, answered as it is. The session it
/// renders does not change while it does (the browser's does from then on).
#[cfg(not(target_arch = "wasm32"))]
async fn fetch<T: DeserializeOwned + 'static>(
    transport: Transport,
    session: Session,
    path: String,
    query: Query,
) -> Result<T, FetchError> {
    fetch_now(&transport, session, &path, &query).await
}

async fn fetch_now<T: DeserializeOwned>(
    transport: &Transport,
    session: Session,
    path: &str,
    query: &Query,
) -> Result<T, FetchError> {
    // Panels are shown only while signed in; signing out drops them.
    let token = session
        .token
        .get_untracked()
        .ok_or(FetchError::Unauthorized)?;
    api::get(transport, &token, path, query).await
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
    T: Clone + PartialEq + Send + Sync + 'static,
    V: IntoView + 'static,
    F: Fn(Signal<T>) -> V + Clone + Send + Sync + 'static,
{
    let has_data = Memo::new(move |_| data.latest.with(Option::is_some));
    // The newest data as a signal, once there is some.
    let shown = move |render: F| {
        move || {
            let first = has_data
                .get()
                .then(|| data.latest.get_untracked())
                .flatten()?;
            let latest = Signal::derive(move || data.latest.get().unwrap_or_else(|| first.clone()));
            Some(render(latest))
        }
    };
    let under_error = shown(render.clone());
    boxed_on_server(view! {
        <Transition fallback=move || view! { <p class="loading">{loading}</p> }>
            <ErrorBoundary fallback=move |errors| {
                let stale = data.latest.with_untracked(Option::is_some);
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
    })
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
