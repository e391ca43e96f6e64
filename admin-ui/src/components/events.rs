//! The runtime event stream: filters (kept in the URL), a table newest
//! first, "load older events" by cursor, and a row that opens its metadata.
//! The rows are markup (`markup`), one click handler on the table body:
//! keyed typed rows (`<For>`) were 10 KB of the gzipped WASM.

use std::fmt::Write;

use ai_runtime_api::{EventsResponse, JsonText, RuntimeEvent};
use leptos::ev::MouseEvent;
use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::{JsCast, JsValue};

use crate::api::Query;
use crate::components::event_filters::{FilterForm, Selection};
use crate::components::loader::{ErrorBanner, Loader};
use crate::markup::esc;
use crate::pages::Page;
use crate::session::use_session;
use crate::time;
use crate::view_state::{use_view, Bucket, UrlView};

/// Events per request.
const PAGE_SIZE: u32 = 50;

/// What the table shows.
#[derive(Clone, Default)]
struct Shown {
    events: Vec<RuntimeEvent>,
    next_cursor: Option<String>,
    /// Older pages were loaded: a poll then adds new events on top instead
    /// of replacing the list.
    extended: bool,
}

impl Shown {
    fn first_page(page: EventsResponse) -> Self {
        Shown {
            events: page.events,
            next_cursor: page.next_cursor,
            extended: false,
        }
    }

    /// A poll's first page on top of what is shown, keeping the older pages.
    fn refreshed(self, page: EventsResponse) -> Self {
        if !self.extended {
            return Shown::first_page(page);
        }
        let oldest_fresh = page.events.last().map(|e| e.occurred_at);
        let older = self.events.into_iter().filter(|old| {
            !page.events.iter().any(|e| e.id == old.id)
                && oldest_fresh.is_none_or(|t| old.occurred_at <= t)
        });
        let events = page.events.iter().cloned().chain(older).collect();
        Shown {
            events,
            next_cursor: self.next_cursor,
            extended: true,
        }
    }

    fn with_older(mut self, page: EventsResponse) -> Self {
        let known: Vec<Uuid> = self.events.iter().map(|e| e.id).collect();
        self.events
            .extend(page.events.into_iter().filter(|e| !known.contains(&e.id)));
        self.next_cursor = page.next_cursor;
        self.extended = true;
        self
    }
}

fn query((filters, range, bucket): &Selection, cursor: Option<String>) -> Query {
    let mut q = filters.api_query();
    match bucket.as_ref().and_then(Bucket::api_query) {
        Some(bounds) => q.extend(bounds),
        None => q.extend(range.api_query(time::now_ms())),
    }
    q.push(("limit", PAGE_SIZE.to_string()));
    q.push(("cursor", cursor.unwrap_or_default()));
    q
}

#[component]
pub fn EventsPanel() -> impl IntoView {
    let session = use_session();
    let view_state = use_view();
    let filters = Memo::new(move |_| {
        view_state
            .state
            .with(|v| (v.events.clone(), v.range.clone(), v.bucket.clone()))
    });
    let shown = RwSignal::new(None::<Shown>);
    let error = RwSignal::new(None);
    let loader = Loader::new(session, error);
    let more_loader = Loader::new(session, error);
    // The filters the table shows, to tell a poll from a change of filters.
    let shown_filters = StoredValue::new(None::<Selection>);

    Effect::new(move |_| {
        session.tick.track();
        let f = filters.get();
        let same_filters = shown_filters.get_value().as_ref() == Some(&f);
        if !same_filters {
            shown_filters.set_value(Some(f.clone()));
            shown.set(None);
        }
        loader.load("events", query(&f, None), move |page: EventsResponse| {
            shown.update(|s| {
                *s = Some(match s.take() {
                    Some(old) if same_filters => old.refreshed(page),
                    _ => Shown::first_page(page),
                })
            })
        });
    });

    let load_more = move |_| {
        let f = filters.get_untracked();
        let Some(cursor) = shown.with_untracked(|s| s.as_ref().and_then(|s| s.next_cursor.clone()))
        else {
            return;
        };
        more_loader.load(
            "events",
            query(&f, Some(cursor)),
            move |page: EventsResponse| {
                // Drop a page of filters that are no longer shown.
                if shown_filters.try_get_value().flatten().as_ref() == Some(&f) {
                    shown.update(|s| *s = s.take().map(|s| s.with_older(page)));
                }
            },
        );
    };

    // The row whose metadata is open; a click on a row (or Enter on its
    // button) toggles it, a click on its task link opens the task's page.
    let expanded = RwSignal::new(None::<Uuid>);
    let on_click = move |ev: MouseEvent| {
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        if let Some(link) = target.closest("a").ok().flatten() {
            // A plain click on a task link opens its page in place; a new
            // tab or window is the browser's business.
            let plain = ev.button() == 0
                && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key());
            if let Some(id) = link
                .get_attribute("data-page")
                .and_then(|id| Uuid::try_parse(&id).ok())
                .filter(|_| plain)
            {
                ev.prevent_default();
                view_state.go(Page::Task(id), view_state.state.get_untracked());
            }
            return;
        }
        let Some(id) = target
            .closest("tr.event")
            .ok()
            .flatten()
            .and_then(|row| row.get_attribute("data-id"))
            .and_then(|id| Uuid::try_parse(&id).ok())
        else {
            return;
        };
        expanded.update(|e| *e = if *e == Some(id) { None } else { Some(id) });
        // The rows are written anew: the row's button keeps the focus.
        request_animation_frame(move || {
            let button = document()
                .query_selector(&format!("#events-table tr[data-id='{id}'] .row-toggle"))
                .ok()
                .flatten()
                .and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok());
            if let Some(button) = button {
                let _ = button.focus();
            }
        });
    };
    let rows = move || {
        let open = expanded.get();
        shown.with(|s| {
            s.as_ref()
                .map(|s| rows(&s.events, open, &view_state))
                .unwrap_or_default()
        })
    };

    view! {
        <section id="events" aria-labelledby="events-title">
            <h2 id="events-title">"Runtime events"</h2>
            <FilterForm filters=filters />
            <BucketNotice />
            <ErrorBanner error=error what="the events" />
            <table id="events-table">
                <caption>
                    {move || match shown.get() {
                        None => "Loading events…".to_owned(),
                        Some(s) => format!("{} events, newest first. Select a row to see its metadata.", s.events.len()),
                    }}
                </caption>
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Layer"</th>
                        <th scope="col">"Operation"</th>
                        <th scope="col">"Reason code"</th>
                        <th scope="col">"Entity"</th>
                        <th scope="col">"Task"</th>
                        <th scope="col">"Worker"</th>
                    </tr>
                </thead>
                <tbody on:click=on_click inner_html=rows></tbody>
            </table>
            <Show when=move || shown.with(|s| s.as_ref().is_some_and(|s| s.next_cursor.is_some()))>
                <button id="load-more" type="button" on:click=load_more>"Load older events"</button>
            </Show>
        </section>
    }
}

/// The rows as markup (escaped), the open one followed by its metadata.
/// Task links are real links, followed in place by the body's click handler.
fn rows(events: &[RuntimeEvent], open: Option<Uuid>, view: &UrlView) -> String {
    if events.is_empty() {
        return r#"<tr><td colspan="7" class="empty">No events match these filters.</td></tr>"#
            .to_owned();
    }
    let mut html = String::new();
    for e in events {
        let is_open = open == Some(e.id);
        let task = e.task_id.map_or(String::new(), |id| {
            let href = view.href(Page::Task(id), &view.state.get());
            format!(
                r#"<a href="{}" class="task-link" data-page="{id}" aria-label="Task {id}">{}</a>"#,
                href.replace('&', "&amp;"),
                short_id(&id.to_string())
            )
        });
        let _ = write!(
            html,
            r#"<tr class="event" data-id="{id}"><td><button type="button" class="row-toggle" aria-expanded="{is_open}" aria-controls="meta-{id}">{} {}</button></td><td class="layer">{}</td><td class="operation">{}</td><td class="reason">{}</td><td class="entity">{}</td><td class="task" title="{}">{task}</td><td class="worker">{}</td></tr>"#,
            if is_open { "▾" } else { "▸" },
            time::format_utc(&e.occurred_at),
            e.layer.as_str(),
            e.operation.as_str(),
            esc(&e.reason_code),
            esc(&e.entity_id),
            e.task_id.map(|t| t.to_string()).unwrap_or_default(),
            esc(e.worker_id.as_deref().unwrap_or_default()),
            id = e.id,
        );
        if is_open {
            let _ = write!(
                html,
                r#"<tr class="metadata" id="meta-{}"><td colspan="7"><p>Event {}, recorded {}</p><pre>{}</pre></td></tr>"#,
                e.id,
                e.id,
                time::format_utc(&e.created_at),
                esc(&pretty_json(&e.metadata.json_text()))
            );
        }
    }
    html
}

/// JSON text indented by two spaces, by the browser's `JSON`: the metadata
/// comes as text (`ai_runtime_api::Metadata`), so the WASM holds no JSON
/// printer of its own. The text as it came if the browser cannot read it.
fn pretty_json(text: &str) -> String {
    js_sys::JSON::parse(text)
        .and_then(|value| {
            js_sys::JSON::stringify_with_replacer_and_space(
                &value,
                &JsValue::NULL,
                &JsValue::from(2),
            )
        })
        .ok()
        .and_then(|pretty| pretty.as_string())
        .unwrap_or_else(|| text.to_owned())
}

/// Says which trends bucket narrows the stream, with a way back to the
/// whole range (markup; its button handled by the one click handler).
#[component]
fn BucketNotice() -> impl IntoView {
    let view_state = use_view();
    let bucket = Memo::new(move |_| view_state.state.with(|v| v.bucket.clone()));
    let show_all = move |ev: MouseEvent| {
        let on_button = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|t| t.id() == "clear-bucket");
        if on_button {
            let mut next = view_state.state.get_untracked();
            next.bucket = None;
            view_state.navigate(next);
        }
    };
    let notice = move || {
        bucket.with(|b| {
            b.as_ref().and_then(Bucket::bounds_ms).map_or(String::new(), |(start, end)| {
                format!(
                    r#"<p id="bucket-notice" class="notice">Showing the events from {} to {} (a bucket of the trends). <button id="clear-bucket" type="button">Show the whole range</button></p>"#,
                    time::format_clock(start),
                    time::format_clock(end)
                )
            })
        })
    };
    view! { <div on:click=show_all inner_html=notice></div> }
}

/// The first block of a UUID; the full id is in the cell's title.
fn short_id(id: &str) -> String {
    id.split('-').next().unwrap_or_default().to_owned()
}
