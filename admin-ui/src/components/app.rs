//! The shell: the header (refresh, last updated, sign out) and either the
//! sign-in form or the page.

use leptos::prelude::*;

use crate::components::overview::OverviewPage;
use crate::components::page_link::PageLink;
use crate::components::signin::SignIn;
use crate::components::task_page::TaskPage;
use crate::pages::Page;
use crate::poll;
use crate::session::Session;
use crate::time;
use crate::view_state::{self, UrlView};

#[component]
pub fn App() -> impl IntoView {
    // Takes a `#token=` fragment out of the address bar first.
    let session = Session::new();
    provide_context(session);
    let view = UrlView::install();
    provide_context(view);
    // Changes only when the path names another page (not on every query change).
    let page = Memo::new(move |_| view.page.get());
    let every = poll::interval(view_state::query_param("poll").as_deref());
    poll::start(session, every);
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
        <Show when=signed_in fallback=|| view! { <SignIn /> }>
            {move || match page.get() {
                Page::Overview => view! { <OverviewPage /> }.into_any(),
                Page::Task(id) => view! { <TaskPage id=id /> }.into_any(),
                Page::NotFound => view! {
                    <main id="not-found">
                        <h2>"No such page"</h2>
                        <p><PageLink page=Page::Overview>"Go to the overview"</PageLink></p>
                    </main>
                }.into_any(),
            }}
        </Show>
    }
}

fn poll_label(every: std::time::Duration) -> String {
    if every.subsec_millis() == 0 {
        format!("{} s", every.as_secs())
    } else {
        format!("{} ms", every.as_millis())
    }
}
