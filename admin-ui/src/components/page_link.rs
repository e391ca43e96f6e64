//! A link to another page of the dashboard (a task's page, back to the
//! overview) keeping the view state: a real link that opens in a new tab
//! or can be shared, followed in place by a plain click.

use leptos::ev::MouseEvent;
use leptos::prelude::*;

use crate::pages::Page;
use crate::view_state::use_view;

#[component]
pub fn PageLink(page: Page, children: Children) -> impl IntoView {
    let view = use_view();
    let href = move || view.href(page, &view.state.get());
    let on_click = move |ev: MouseEvent| {
        // A new tab or window is the browser's business.
        if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
            return;
        }
        ev.prevent_default();
        // Not also a click on the row around the link.
        ev.stop_propagation();
        view.go(page, view.state.get_untracked());
    };
    view! { <a href=href on:click=on_click>{children()}</a> }
}
