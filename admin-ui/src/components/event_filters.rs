//! The event stream's filter form: the event filters and the page's time
//! range, written to the URL on "Apply" (or Enter), reset by "Clear".
//!
//! The fields show the URL's view and follow it (a link, back/forward,
//! "Clear"); what is typed stays in the fields until it is applied, when
//! the form's fields are read (`FormData`) into the next view.

use ai_runtime_api::{EventLayer, Operation};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{FormData, HtmlFormElement};

use crate::time;
use crate::view_state::{use_view, Bucket, EventFilters, Preset, TimeRange, ViewState};

/// What the event stream is filtered by: the event filters, the page's
/// range and the trends' bucket that narrows it. The form shows the first two.
pub type Selection = (EventFilters, TimeRange, Option<Bucket>);

#[component]
pub fn FilterForm(filters: Memo<Selection>) -> impl IntoView {
    let view_state = use_view();
    let events = Memo::new(move |_| filters.with(|f| f.0.clone()));
    let range = Memo::new(move |_| filters.with(|f| f.1.clone()));
    // The range chosen in the form, applied or not: the custom bounds are
    // shown only for a custom range.
    let range_key = RwSignal::new(String::new());
    Effect::new(move |_| range_key.set(range_key_of(&range.get()).to_owned()));

    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(fields) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
            .and_then(|form| FormData::new_with_form(&form).ok())
        else {
            return;
        };
        let (range, events) = read(&fields);
        let current = view_state.state.get_untracked();
        // A new range drops a bucket of the old one.
        let bucket = current.bucket.clone().filter(|_| range == current.range);
        view_state.navigate(ViewState {
            range,
            bucket,
            events,
            ..current
        });
    };
    let clear = move |_| {
        view_state.navigate(ViewState {
            range: TimeRange::default(),
            bucket: None,
            events: EventFilters::default(),
            ..view_state.state.get_untracked()
        });
    };

    let layers = EventLayer::ALL
        .iter()
        .map(|l| (l.as_str(), l.as_str()))
        .collect();
    let operations = Operation::ALL
        .iter()
        .map(|o| (o.as_str(), o.as_str()))
        .collect();
    let mut ranges = vec![("any", "Any time")];
    ranges.extend(Preset::ALL.map(|p| (p.key(), p.label())));
    ranges.push(("custom", "Custom…"));
    let bound = move |pick: fn(&TimeRange) -> Option<&String>| {
        move || {
            range.with(|r| {
                pick(r)
                    .map(|iso| time::iso_to_local_input(iso))
                    .unwrap_or_default()
            })
        }
    };

    view! {
        <form id="event-filters" class="filters" aria-label="Event filters" on:submit=apply>
            <Choice id="f-layer" name="layer" label="Layer" options=layers first=("", "Any layer")
                chosen=Signal::derive(move || events.with(|e| e.layer.map_or("", EventLayer::as_str).to_owned())) />
            <Choice id="f-operation" name="operation" label="Operation" options=operations first=("", "Any operation")
                chosen=Signal::derive(move || events.with(|e| e.operation.map_or("", Operation::as_str).to_owned())) />
            <TextField id="f-reason" name="reasonCode" label="Reason code" value=Signal::derive(move || events.with(|e| e.reason_code.clone())) />
            <TextField id="f-entity" name="entityId" label="Entity" value=Signal::derive(move || events.with(|e| e.entity_id.clone())) />
            <TextField id="f-task" name="taskId" label="Task id" value=Signal::derive(move || events.with(|e| e.task_id.clone())) />
            <TextField id="f-worker" name="workerId" label="Worker" value=Signal::derive(move || events.with(|e| e.worker_id.clone())) />
            <div class="field">
                <label for="f-range">"Time"</label>
                <select id="f-range" name="range"
                    prop:value=move || range_key.get()
                    on:change=move |ev| range_key.set(event_target_value(&ev))>
                    {ranges.into_iter().map(|(value, text)| view! {
                        <option value=value selected=move || range_key.get() == value>{text}</option>
                    }).collect_view()}
                </select>
            </div>
            <div id="f-custom" class="field-group" hidden=move || range_key.get() != "custom">
                <div class="field">
                    <label for="f-from">"From"</label>
                    <input id="f-from" name="from" type="datetime-local" prop:value=bound(custom_from) />
                </div>
                <div class="field">
                    <label for="f-to">"To"</label>
                    <input id="f-to" name="to" type="datetime-local" prop:value=bound(custom_to) />
                </div>
            </div>
            <div class="actions">
                <button id="apply-filters" type="submit">"Apply filters"</button>
                <button id="clear-filters" type="button" on:click=clear>"Clear"</button>
            </div>
        </form>
    }
}

/// A labelled select of `(value, text)` options after `first`, `chosen` selected.
#[component]
fn Choice(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
    first: (&'static str, &'static str),
    chosen: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select id=id name=name prop:value=move || chosen.get()>
                {std::iter::once(first).chain(options).map(|(value, text)| view! {
                    <option value=value selected=move || chosen.with(|c| c == value)>{text}</option>
                }).collect_view()}
            </select>
        </div>
    }
}

/// A labelled text field showing `value`.
#[component]
fn TextField(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    value: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id name=name type="text" prop:value=move || value.get() />
        </div>
    }
}

fn custom_from(range: &TimeRange) -> Option<&String> {
    match range {
        TimeRange::Custom { from, .. } => Some(from),
        _ => None,
    }
}

fn custom_to(range: &TimeRange) -> Option<&String> {
    match range {
        TimeRange::Custom { to, .. } => Some(to),
        _ => None,
    }
}

/// The range select's value for `range`.
fn range_key_of(range: &TimeRange) -> &'static str {
    match range {
        TimeRange::Any => "any",
        TimeRange::Last(p) => p.key(),
        TimeRange::Custom { .. } => "custom",
    }
}

/// The range and the filters the form's fields say.
fn read(fields: &FormData) -> (TimeRange, EventFilters) {
    let text = |name: &str| fields.get(name).as_string().unwrap_or_default();
    let bound = |name: &str| time::local_input_to_iso(&text(name)).unwrap_or_default();
    let range = match text("range").as_str() {
        "custom" => TimeRange::Custom {
            from: bound("from"),
            to: bound("to"),
        },
        key => Preset::from_key(key).map_or(TimeRange::Any, TimeRange::Last),
    };
    let events = EventFilters {
        layer: text("layer").parse().ok(),
        operation: text("operation").parse().ok(),
        reason_code: text("reasonCode"),
        entity_id: text("entityId"),
        task_id: text("taskId"),
        worker_id: text("workerId"),
    };
    (range, events)
}
