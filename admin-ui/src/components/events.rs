//! The runtime event stream: filters (kept in the URL), a table newest
//! first, "load older events" by cursor, and a row that opens its metadata.
//!
//! The first page is polled (`polled`); older pages, once loaded, stay
//! below it, and each poll's first page goes on top of them. The rows are
//! keyed by the event's id, so a poll that brings nothing new leaves them
//! (and the focus on a row's button) as they are.

use ai_runtime_api::{EventsResponse, RuntimeEvent};
use leptos::prelude::*;
use uuid::Uuid;

use crate::api::{self, FetchError, Query, Transport};
use crate::components::event_filters::{FilterForm, Selection};
use crate::components::page_link::PageLink;
use crate::components::polled::{poll, Polled};
use crate::pages::Page;
use crate::session::use_session;
use crate::time;
use crate::view_state::{use_view, Bucket};

/// Events per request.
const PAGE_SIZE: u32 = 50;

/// The older pages loaded by "Load older events", for one selection.
#[derive(Clone, Default, PartialEq)]
struct Older {
    /// Every event shown when the last older page came, and that page.
    events: Vec<RuntimeEvent>,
    /// Where the next older page starts (`None`: none left).
    next_cursor: Option<String>,
}

/// What the table shows: a poll's first page on top of the older pages.
fn shown(page: &EventsResponse, older: Option<&Older>) -> (Vec<RuntimeEvent>, Option<String>) {
    let Some(older) = older else {
        return (page.events.clone(), page.next_cursor.clone());
    };
    let oldest_fresh = page.events.last().map(|e| e.occurred_at);
    let below = older.events.iter().filter(|old| {
        !page.events.iter().any(|e| e.id == old.id)
            && oldest_fresh.is_none_or(|t| old.occurred_at <= t)
    });
    let events = page.events.iter().chain(below).cloned().collect();
    (events, older.next_cursor.clone())
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
    let first = poll::<EventsResponse>(|| "events".to_owned(), move || query(&filters.get(), None));
    // Older pages belong to the selection they were loaded for.
    let older = RwSignal::new(None::<(Selection, Older)>);
    let older_here = Memo::new(move |_| {
        older.with(|o| {
            o.as_ref()
                .filter(|(s, _)| filters.with(|f| f == s))
                .map(|(_, o)| o.clone())
        })
    });
    let transport = Transport::from_context();
    let load_older = Action::new_local(
        move |(selection, cursor, shown): &(Selection, String, Vec<RuntimeEvent>)| {
            let (selection, cursor, shown) = (selection.clone(), cursor.clone(), shown.clone());
            let transport = transport.clone();
            async move {
                let token = session
                    .token
                    .get_untracked()
                    .ok_or(FetchError::Unauthorized)?;
                let page: EventsResponse = api::get(
                    &transport,
                    &token,
                    "events",
                    &query(&selection, Some(cursor)),
                )
                .await
                .inspect_err(|e| {
                    session.handle_error(e);
                })?;
                let fresh: Vec<_> = page
                    .events
                    .into_iter()
                    .filter(|e| !events_contain(&shown, e.id))
                    .collect();
                let mut events = shown;
                events.extend(fresh);
                older.set(Some((
                    selection,
                    Older {
                        events,
                        next_cursor: page.next_cursor,
                    },
                )));
                Ok::<_, FetchError>(())
            }
        },
    );
    let older_error = move || match load_older.value().get() {
        Some(Err(e)) => Some(view! {
            <p class="error" role="alert"><strong>"Error: "</strong>{format!("could not load older events: {e}.")}</p>
        }),
        _ => None,
    };
    // The row whose metadata is open.
    let expanded = RwSignal::new(None::<Uuid>);

    let table = move |page: Signal<EventsResponse>| {
        let shown = Memo::new(move |_| older_here.with(|o| page.with(|p| shown(p, o.as_ref()))));
        let more = move |_| {
            let (events, cursor) = shown.get_untracked();
            if let Some(cursor) = cursor {
                load_older.dispatch((filters.get_untracked(), cursor, events));
            }
        };
        view! {
            <table id="events-table">
                <caption>
                    {move || format!("{} events, newest first. Select a row to see its metadata.", shown.with(|s| s.0.len()))}
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
                <tbody>
                    <Show when=move || shown.with(|s| s.0.is_empty())>
                        <tr><td colspan="7" class="empty">"No events match these filters."</td></tr>
                    </Show>
                    <For each=move || shown.get().0 key=|e| e.id let(event)>
                        <EventRow event=event expanded=expanded />
                    </For>
                </tbody>
            </table>
            <Show when=move || shown.with(|s| s.1.is_some())>
                <button id="load-more" type="button" on:click=more disabled=move || load_older.pending().get()>
                    "Load older events"
                </button>
            </Show>
        }
    };

    view! {
        <section id="events" aria-labelledby="events-title">
            <h2 id="events-title">"Runtime events"</h2>
            <FilterForm filters=filters />
            <BucketNotice />
            {older_error}
            <Polled data=first what="the events" loading="Loading events…" render=table />
        </section>
    }
}

fn events_contain(events: &[RuntimeEvent], id: Uuid) -> bool {
    events.iter().any(|e| e.id == id)
}

/// One event, and its metadata below it while it is open. A click on the
/// row (or Enter on its button) opens and closes it.
#[component]
fn EventRow(event: RuntimeEvent, expanded: RwSignal<Option<Uuid>>) -> impl IntoView {
    let id = event.id;
    let open = move || expanded.get() == Some(id);
    let toggle = move |_| expanded.update(|e| *e = if *e == Some(id) { None } else { Some(id) });
    let task = event.task_id.map(|task| {
        view! {
            <PageLink page=Page::Task(task) attr:class="task-link" attr:aria-label=format!("Task {task}")>
                {short_id(task)}
            </PageLink>
        }
    });
    let metadata = serde_json::to_string_pretty(&event.metadata).unwrap_or_default();
    let recorded = format!(
        "Event {id}, recorded {}",
        time::format_utc(&event.created_at)
    );
    view! {
        <tr class="event" data-id=id.to_string() on:click=toggle>
            <td>
                <button type="button" class="row-toggle"
                    aria-expanded=move || open().to_string()
                    aria-controls=format!("meta-{id}")>
                    {move || if open() { "▾ " } else { "▸ " }}
                    {time::format_utc(&event.occurred_at)}
                </button>
            </td>
            <td class="layer">{event.layer.as_str()}</td>
            <td class="operation">{event.operation.as_str()}</td>
            <td class="reason">{event.reason_code.clone()}</td>
            <td class="entity">{event.entity_id.clone()}</td>
            <td class="task" title=event.task_id.map(|t| t.to_string()).unwrap_or_default()>{task}</td>
            <td class="worker">{event.worker_id.clone().unwrap_or_default()}</td>
        </tr>
        <Show when=open>
            <tr class="metadata" id=format!("meta-{id}")>
                <td colspan="7">
                    <p>{recorded.clone()}</p>
                    <pre>{metadata.clone()}</pre>
                </td>
            </tr>
        </Show>
    }
}

/// Says which trends bucket narrows the stream, with a way back to the
/// whole range.
#[component]
fn BucketNotice() -> impl IntoView {
    let view_state = use_view();
    let bounds = Memo::new(move |_| {
        view_state
            .state
            .with(|v| v.bucket.as_ref().and_then(Bucket::bounds_ms))
    });
    let show_all = move |_| {
        let mut next = view_state.state.get_untracked();
        next.bucket = None;
        view_state.navigate(next);
    };
    move || {
        bounds.get().map(|(start, end)| {
            view! {
                <p id="bucket-notice" class="notice">
                    {format!(
                        "Showing the events from {} to {} (a bucket of the trends). ",
                        time::format_clock(start),
                        time::format_clock(end)
                    )}
                    <button id="clear-bucket" type="button" on:click=show_all>"Show the whole range"</button>
                </p>
            }
        })
    }
}

/// The first block of a UUID; the full id is in the cell's title.
pub fn short_id(id: Uuid) -> String {
    id.to_string()
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventLayer, Operation};

    use super::*;

    /// An event `seconds` after the epoch, its id made of that number.
    fn event(seconds: u128) -> RuntimeEvent {
        let at = time::at_ms(seconds as f64 * 1_000.0);
        RuntimeEvent {
            id: Uuid::from_u128(seconds),
            layer: EventLayer::Worker,
            operation: Operation::Heartbeat,
            reason_code: "HEARTBEAT".into(),
            entity_id: "worker-a".into(),
            task_id: None,
            persona_id: None,
            worker_id: None,
            metadata: serde_json::json!({}),
            occurred_at: at,
            created_at: at,
        }
    }

    fn page(seconds: &[u128], next_cursor: Option<&str>) -> EventsResponse {
        EventsResponse {
            events: seconds.iter().copied().map(event).collect(),
            next_cursor: next_cursor.map(str::to_owned),
        }
    }

    fn ids(events: &[RuntimeEvent]) -> Vec<u128> {
        events.iter().map(|e| e.id.as_u128()).collect()
    }

    #[test]
    fn without_older_pages_the_first_page_is_all() {
        let (events, cursor) = shown(&page(&[9, 8], Some("c1")), None);
        assert_eq!(ids(&events), [9, 8]);
        assert_eq!(cursor.as_deref(), Some("c1"));
    }

    #[test]
    fn a_poll_goes_on_top_of_the_older_pages_without_a_gap_or_a_twin() {
        // Shown before: the first page 8, 7 and an older page 6, 5.
        let older = Older {
            events: page(&[8, 7, 6, 5], None).events,
            next_cursor: Some("c2".into()),
        };
        // A poll: two new events pushed 7 off the first page.
        let (events, cursor) = shown(&page(&[10, 9, 8], Some("c1")), Some(&older));
        assert_eq!(ids(&events), [10, 9, 8, 7, 6, 5], "7 stays, 8 once");
        assert_eq!(
            cursor.as_deref(),
            Some("c2"),
            "the next older page is the older pages' one"
        );
    }
}
