//! The shell: the router over the dashboard's pages (`pages`), the header
//! (refresh, last updated, sign out) and the page the path names, picked by
//! `leptos_router`'s `<FlatRoutes>`: the overview at the base, a task's page
//! at `/tasks/:id` (the id from `use_params_map`), "no such page" (a 404
//! from the server) for any other path. Every page shows the sign-in form
//! until there is a token.
//!
//! The routes are always in the tree: the admin server serves the paths of
//! the list `leptos_axum` reads from it.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::components::{FlatRoutes, Route, Router};
use leptos_router::hooks::use_params_map;
use leptos_router::{path, SsrMode};
use uuid::Uuid;

use crate::components::boxed::boxed_on_server;
use crate::components::overview::OverviewPage;
use crate::components::page_link::PageLink;
use crate::components::signin::SignIn;
use crate::components::task_page::TaskPage;
use crate::pages::{self, Page};
use crate::poll;
use crate::session::{use_session, Session};
use crate::time;
use crate::view_state::UrlView;

#[component]
pub fn App() -> impl IntoView {
    // Before the router reads the address bar: the session takes a
    // `#token=` fragment out of it.
    let session = Session::new();
    provide_context(session);
    view! {
        <Router base=pages::BASE>
            <Shell />
        </Router>
    }
}

/// Everything that reads the URL through the router.
#[component]
fn Shell() -> impl IntoView {
    let session = use_session();
    let view = UrlView::from_router();
    provide_context(view);
    let every = poll::interval(view.param("poll").as_deref());
    // In the browser, once the page is hydrated: the server sees neither
    // the fragment nor the tab.
    Effect::new(move |_| {
        session.take_fragment_token();
        poll::start(session, every);
        // For whoever waits on the page (the browser tests): from now on
        // it answers clicks.
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "");
        }
    });
    let signed_in = move || session.token.with(Option::is_some);

    view! {
        <header class="top">
            <h1>"AI runtime"</h1>
            <Show when=signed_in>
                <div class="controls">
                    <p id="last-updated" aria-live="polite">
                        "Last updated: "
                        {move || session.last_updated.get().map_or("never".to_owned(), time::format_clock)}
                    </p>
                    <p class="hint">{format!("Refreshes every {} (paused while this tab is hidden).", poll_label(every))}</p>
                    <button id="refresh" type="button" on:click=move |_| session.refresh()>"Refresh now"</button>
                    <button id="sign-out" type="button" on:click=move |_| session.sign_out(None)>"Sign out"</button>
                </div>
            </Show>
        </header>
        // Paths under the router's base, one route per `pages::Page`. The
        // server waits for each page's data before it answers.
        <FlatRoutes fallback=NotFound>
            <Route path=path!("") view=|| boxed_on_server(view! { <SignedIn><OverviewPage /></SignedIn> }) ssr=SsrMode::Async />
            <Route path=path!("/tasks/:id") view=TaskRoute ssr=SsrMode::Async />
        </FlatRoutes>
    }
}

/// The page, or the sign-in form while there is no token.
#[component]
fn SignedIn(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let signed_in = move || session.token.with(Option::is_some);
    view! {
        <Show when=signed_in fallback=|| view! { <SignIn /> }>
            {children()}
        </Show>
    }
}

/// `/tasks/:id`: the task's page, or "no such page" for an id that is no UUID.
#[component]
fn TaskRoute() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params.with(|p| p.get_str("id").and_then(|id| Uuid::try_parse(id).ok()))
    });
    move || match id.get() {
        Some(id) => Either::Left(view! { <SignedIn><TaskPage id=id /></SignedIn> }),
        None => Either::Right(view! { <NotFound /> }),
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main id="not-found">
            <h2>"No such page"</h2>
            <p><PageLink page=Page::Overview>"Go to the overview"</PageLink></p>
        </main>
    }
}

fn poll_label(every: std::time::Duration) -> String {
    if every.subsec_millis() == 0 {
        format!("{} s", every.as_secs())
    } else {
        format!("{} ms", every.as_millis())
    }
}
