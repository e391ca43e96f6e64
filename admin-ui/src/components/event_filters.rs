//! The event stream's filter form: the event filters and the page's time
//! range, written to the URL on "Apply", reset by "Clear".
//!
//! A plain HTML form written as markup (`markup`): the browser keeps what is
//! being typed, "Apply" reads the form's fields (`FormData`), and the form
//! is written again from the URL whenever the URL's filters change (a link,
//! back/forward, "Clear"). As typed views with a draft signal it was 12 KB
//! of the gzipped WASM (README, "Size").

use std::fmt::Write;

use ai_runtime_api::{EventLayer, Operation};
use leptos::ev::{Event, MouseEvent, SubmitEvent};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, FormData, HtmlFormElement};

use crate::markup::esc;
use crate::time;
use crate::view_state::{use_view, Bucket, EventFilters, Preset, TimeRange, ViewState};

/// What the event stream is filtered by: the event filters, the page's
/// range and the trends' bucket that narrows it. The form shows the first
/// two (a new bucket writes it again, unchanged).
pub type Selection = (EventFilters, TimeRange, Option<Bucket>);

#[component]
pub fn FilterForm(filters: Memo<Selection>) -> impl IntoView {
    let view_state = use_view();

    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
        else {
            return;
        };
        let Ok(fields) = FormData::new_with_form(&form) else {
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

    let clear = move |ev: MouseEvent| {
        if target(&ev).is_some_and(|t| t.id() == "clear-filters") {
            view_state.navigate(ViewState {
                range: TimeRange::default(),
                bucket: None,
                events: EventFilters::default(),
                ..view_state.state.get_untracked()
            });
        }
    };

    // The custom bounds are shown only for a custom range.
    let range_changed = move |ev: Event| {
        if target(&ev).is_some_and(|t| t.id() == "f-range") {
            if let Some(bounds) = document().get_element_by_id("f-custom") {
                let _ = bounds
                    .toggle_attribute_with_force("hidden", event_target_value(&ev) != "custom");
            }
        }
    };

    view! {
        <form
            id="event-filters"
            class="filters"
            aria-label="Event filters"
            on:submit=apply
            on:click=clear
            on:change=range_changed
            inner_html=move || filters.with(|(events, range, _)| markup(events, range))
        ></form>
    }
}

fn target(ev: &Event) -> Option<Element> {
    ev.target().and_then(|t| t.dyn_into::<Element>().ok())
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

/// The form's fields showing `events` and `range` (every value escaped).
fn markup(events: &EventFilters, range: &TimeRange) -> String {
    let mut html = String::new();
    let layers: Vec<_> = EventLayer::ALL
        .iter()
        .map(|l| (l.as_str(), l.as_str()))
        .collect();
    let chosen = events.layer.map_or("", EventLayer::as_str);
    select(
        &mut html,
        "f-layer",
        "layer",
        "Layer",
        &layers,
        ("", "Any layer"),
        chosen,
    );
    let operations: Vec<_> = Operation::ALL
        .iter()
        .map(|o| (o.as_str(), o.as_str()))
        .collect();
    let chosen = events.operation.map_or("", Operation::as_str);
    select(
        &mut html,
        "f-operation",
        "operation",
        "Operation",
        &operations,
        ("", "Any operation"),
        chosen,
    );
    for (id, name, label, value) in [
        ("f-reason", "reasonCode", "Reason code", &events.reason_code),
        ("f-entity", "entityId", "Entity", &events.entity_id),
        ("f-task", "taskId", "Task id", &events.task_id),
        ("f-worker", "workerId", "Worker", &events.worker_id),
    ] {
        let _ = write!(
            html,
            r#"<div class="field"><label for="{id}">{label}</label><input id="{id}" name="{name}" type="text" value="{}"></div>"#,
            esc(value)
        );
    }
    let mut ranges = vec![("any", "Any time")];
    ranges.extend(Preset::ALL.map(|p| (p.key(), p.label())));
    ranges.push(("custom", "Custom…"));
    let (key, from, to) = match range {
        TimeRange::Any => ("any", "", ""),
        TimeRange::Last(p) => (p.key(), "", ""),
        TimeRange::Custom { from, to } => ("custom", from.as_str(), to.as_str()),
    };
    select(
        &mut html,
        "f-range",
        "range",
        "Time",
        &ranges[1..],
        ranges[0],
        key,
    );
    let _ = write!(
        html,
        r#"<div id="f-custom" class="field-group"{}><div class="field"><label for="f-from">From</label><input id="f-from" name="from" type="datetime-local" value="{}"></div><div class="field"><label for="f-to">To</label><input id="f-to" name="to" type="datetime-local" value="{}"></div></div>"#,
        if key == "custom" { "" } else { " hidden" },
        esc(&time::iso_to_local_input(from)),
        esc(&time::iso_to_local_input(to))
    );
    html.push_str(r#"<div class="actions"><button id="apply-filters" type="submit">Apply filters</button><button id="clear-filters" type="button">Clear</button></div>"#);
    html
}

/// A labelled select of `(value, text)` options after `first`, `chosen` selected.
fn select(
    html: &mut String,
    id: &str,
    name: &str,
    label: &str,
    options: &[(&str, &str)],
    first: (&str, &str),
    chosen: &str,
) {
    let _ = write!(
        html,
        r#"<div class="field"><label for="{id}">{label}</label><select id="{id}" name="{name}">"#
    );
    for (value, text) in std::iter::once(&first).chain(options) {
        let selected = if *value == chosen { " selected" } else { "" };
        let _ = write!(html, r#"<option value="{value}"{selected}>{text}</option>"#);
    }
    html.push_str("</select></div>");
}
