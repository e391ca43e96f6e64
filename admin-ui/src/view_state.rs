//! What the page shows, as URL query parameters: the event filters, the
//! time range and the task filters. The URL is the source of truth, so a
//! reload, back/forward and a shared link restore the same view.
//!
//! Keys: `layer operation reasonCode entityId taskId workerId range from to`
//! for the event stream, `taskStatus stuck` for the tasks panel. Other keys
//! (such as `poll`) are kept as they are.

use std::str::FromStr;

use ai_runtime_api::{EventLayer, Operation, TaskStatus};
use leptos::prelude::*;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::UrlSearchParams;

use crate::api::Query;
use crate::time;

/// A rolling window ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Minutes15,
    Hour1,
    Hours24,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Minutes15, Preset::Hour1, Preset::Hours24];

    pub fn key(self) -> &'static str {
        match self {
            Preset::Minutes15 => "15m",
            Preset::Hour1 => "1h",
            Preset::Hours24 => "24h",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Minutes15 => "Last 15 minutes",
            Preset::Hour1 => "Last hour",
            Preset::Hours24 => "Last 24 hours",
        }
    }

    fn millis(self) -> f64 {
        match self {
            Preset::Minutes15 => 15.0 * 60_000.0,
            Preset::Hour1 => 3_600_000.0,
            Preset::Hours24 => 86_400_000.0,
        }
    }

    fn from_key(key: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// The time range of the event stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TimeRange {
    #[default]
    Any,
    Last(Preset),
    /// RFC 3339 bounds; either may be empty.
    Custom {
        from: String,
        to: String,
    },
}

/// The event stream's filters. Empty strings mean "no filter".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilters {
    pub layer: Option<EventLayer>,
    pub operation: Option<Operation>,
    pub reason_code: String,
    pub entity_id: String,
    pub task_id: String,
    pub worker_id: String,
    pub range: TimeRange,
}

impl EventFilters {
    /// The API query for these filters; a preset is resolved against `now_ms`.
    pub fn api_query(&self, now_ms: f64) -> Query {
        let (from, to) = match &self.range {
            TimeRange::Any => (String::new(), String::new()),
            TimeRange::Last(p) => (time::iso_from_ms(now_ms - p.millis()), String::new()),
            TimeRange::Custom { from, to } => (from.clone(), to.clone()),
        };
        vec![
            (
                "layer",
                self.layer
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "operation",
                self.operation
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("reasonCode", self.reason_code.trim().to_owned()),
            ("entityId", self.entity_id.trim().to_owned()),
            ("taskId", self.task_id.trim().to_owned()),
            ("workerId", self.worker_id.trim().to_owned()),
            ("from", from),
            ("to", to),
        ]
    }

    /// Only the events of one task (the tasks panel's links).
    pub fn for_task(task_id: String) -> Self {
        EventFilters {
            task_id,
            ..Default::default()
        }
    }
}

/// The recent tasks panel's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilters {
    pub status: Option<TaskStatus>,
    pub stuck_only: bool,
}

impl TaskFilters {
    pub fn api_query(&self) -> Query {
        vec![
            (
                "status",
                self.status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "stuck",
                if self.stuck_only {
                    "true".to_owned()
                } else {
                    String::new()
                },
            ),
        ]
    }
}

/// Everything the URL query describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewState {
    pub events: EventFilters,
    pub tasks: TaskFilters,
}

const VIEW_KEYS: [&str; 11] = [
    "layer",
    "operation",
    "reasonCode",
    "entityId",
    "taskId",
    "workerId",
    "range",
    "from",
    "to",
    "taskStatus",
    "stuck",
];

impl ViewState {
    pub fn from_params(params: &UrlSearchParams) -> Self {
        let text = |key: &str| params.get(key).unwrap_or_default();
        let (from, to) = (text("from"), text("to"));
        let range = if !from.is_empty() || !to.is_empty() {
            TimeRange::Custom { from, to }
        } else {
            Preset::from_key(&text("range")).map_or(TimeRange::Any, TimeRange::Last)
        };
        ViewState {
            events: EventFilters {
                layer: params.get("layer").and_then(|v| v.parse().ok()),
                operation: params.get("operation").and_then(|v| v.parse().ok()),
                reason_code: text("reasonCode"),
                entity_id: text("entityId"),
                task_id: text("taskId"),
                worker_id: text("workerId"),
                range,
            },
            tasks: TaskFilters {
                status: params
                    .get("taskStatus")
                    .and_then(|v| TaskStatus::from_str(&v).ok()),
                stuck_only: text("stuck") == "true",
            },
        }
    }

    /// `params` with this view's keys replaced (other keys are kept).
    fn write_into(&self, params: &UrlSearchParams) {
        for key in VIEW_KEYS {
            params.delete(key);
        }
        let set = |key: &str, value: &str| {
            if !value.trim().is_empty() {
                params.set(key, value.trim());
            }
        };
        let e = &self.events;
        set("layer", e.layer.map_or("", EventLayer::as_str));
        set("operation", e.operation.map_or("", Operation::as_str));
        set("reasonCode", &e.reason_code);
        set("entityId", &e.entity_id);
        set("taskId", &e.task_id);
        set("workerId", &e.worker_id);
        match &e.range {
            TimeRange::Any => {}
            TimeRange::Last(p) => set("range", p.key()),
            TimeRange::Custom { from, to } => {
                set("from", from);
                set("to", to);
            }
        }
        set(
            "taskStatus",
            self.tasks.status.map_or("", TaskStatus::as_str),
        );
        set("stuck", if self.tasks.stuck_only { "true" } else { "" });
    }

    /// The relative link (`?…`) that shows this view; non-view keys of the
    /// current URL are kept.
    pub fn href(&self) -> String {
        let params = current_params();
        self.write_into(&params);
        let query = String::from(params.to_string());
        if query.is_empty() {
            location_pathname().unwrap_or_default()
        } else {
            format!("?{query}")
        }
    }
}

/// The query of the address bar.
pub fn current_params() -> UrlSearchParams {
    let search = window().location().search().unwrap_or_default();
    UrlSearchParams::new_with_str(&search)
        .unwrap_or_else(|_| UrlSearchParams::new().expect("URLSearchParams"))
}

/// The URL-backed view, shared through the context.
#[derive(Clone, Copy)]
pub struct UrlView {
    pub state: RwSignal<ViewState>,
}

impl UrlView {
    /// Reads the address bar and follows back/forward from then on.
    pub fn install() -> Self {
        let view = UrlView {
            state: RwSignal::new(ViewState::from_params(&current_params())),
        };
        let on_popstate = Closure::<dyn Fn()>::new(move || {
            view.state.set(ViewState::from_params(&current_params()));
        });
        // The listener lives as long as the page.
        let _ = window()
            .add_event_listener_with_callback("popstate", on_popstate.as_ref().unchecked_ref());
        on_popstate.forget();
        view
    }

    /// Shows `next` and records it as a new history entry (a no-op when unchanged).
    pub fn navigate(&self, next: ViewState) {
        if self.state.get_untracked() == next {
            return;
        }
        let href = next.href();
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&JsValue::NULL, "", Some(&href));
        }
        self.state.set(next);
    }
}

pub fn use_view() -> UrlView {
    expect_context::<UrlView>()
}
