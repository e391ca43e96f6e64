//! A link to another view of the overview (the queue's counts, a task's
//! events), from the overview or another page: a real link that opens in a new tab or can be shared, followed
//! in place by a plain click, which records a history entry and brings the
//! target section into view.

use leptos::ev::MouseEvent;
use leptos::prelude::*;

use crate::pages::Page;
use crate::view_state::{use_view, ViewState};

#[component]
pub fn ViewLink(
    /// The view the link shows (reactive: it may derive from the current one).
    #[prop(into)]
    to: Signal<ViewState>,
    /// The id of the section brought into view.
    section: &'static str,
    children: Children,
) -> impl IntoView {
    let view = use_view();
    let href = move || format!("{}#{section}", view.href(Page::Overview, &to.get()));
    let on_click = move |ev: MouseEvent| {
        // A new tab or window is the browser's business.
        if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
            return;
        }
        ev.prevent_default();
        view.go(Page::Overview, to.get_untracked());
        // After the page (another one, maybe) has rendered the section.
        request_animation_frame(move || {
            if let Some(target) = document().get_element_by_id(section) {
                target.scroll_into_view();
            }
        });
    };
    view! { <a href=href on:click=on_click>{children()}</a> }
}
