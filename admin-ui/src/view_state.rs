//! What the page shows, as URL query parameters: the time range, the event
//! filters and the task filters. The URL is the source of truth, so a
//! reload, back/forward and a shared link restore the same view, and every
//! page (`pages`) reads the same state.
//!
//! The URL is `leptos_router`'s: the query is its `use_query_map` signal
//! (the view is a memo of it, so back/forward and followed links update
//! every panel), changes go through its `use_navigate` (history entries),
//! and it follows plain links under the base itself. This module only says
//! which keys mean what.
//!
//! Keys: `range from to` for the time range (the trends' and the event
//! stream's), `bucket bucketSeconds` for the trends' bucket that narrows the
//! event stream, `layer operation reasonCode entityId taskId workerId` for
//! the event stream, `taskStatus stuck` for the tasks panel. Other keys
//! (such as `poll`) are kept as they are. The path picks the page (the
//! shell's `<FlatRoutes>`, `components::app`).

use std::str::FromStr;

use std::sync::Arc;

use ai_runtime_api::{EventLayer, Operation, TaskStatus};
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use leptos_router::NavigateOptions;

use crate::api::Query;
use crate::pages::Page;
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

    pub fn from_key(key: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// The time range of the page: the trends' and the event stream's.
/// The last 24 hours unless the URL says otherwise: a bounded range reads
/// only the days it needs of the partitioned events table; "any time"
/// (`range=any`) is one choice away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeRange {
    Any,
    Last(Preset),
    /// RFC 3339 bounds; either may be empty.
    Custom {
        from: String,
        to: String,
    },
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange::Last(Preset::Hours24)
    }
}

impl TimeRange {
    /// The API's `from`/`to`; a preset is resolved against `now_ms`.
    pub fn api_query(&self, now_ms: f64) -> Query {
        let (from, to) = match self {
            TimeRange::Any => (String::new(), String::new()),
            TimeRange::Last(p) => (time::iso_from_ms(now_ms - p.millis()), String::new()),
            TimeRange::Custom { from, to } => (from.clone(), to.clone()),
        };
        vec![("from", from), ("to", to)]
    }

    /// Bounds in ms since the epoch, an open end being `now_ms` (the start of
    /// "any time" is a day before its end: the trends' widest default).
    pub fn bounds_ms(&self, now_ms: f64) -> (f64, f64) {
        let parse = time::ms_from_iso;
        let day = 86_400_000.0;
        match self {
            TimeRange::Any => (now_ms - day, now_ms),
            TimeRange::Last(p) => (now_ms - p.millis(), now_ms),
            TimeRange::Custom { from, to } => {
                let to = parse(to).unwrap_or(now_ms);
                (parse(from).unwrap_or(to - day), to)
            }
        }
    }
}

/// A trends bucket the event stream is narrowed to: `[start, start + seconds)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// RFC 3339.
    pub start: String,
    pub seconds: i64,
}

impl Bucket {
    /// Its bounds in ms since the epoch (`None` for an unreadable start).
    pub fn bounds_ms(&self) -> Option<(f64, f64)> {
        let start = time::ms_from_iso(&self.start)?;
        Some((start, start + self.seconds as f64 * 1_000.0))
    }

    /// The API's `from`/`to` (`to` is inclusive: the last millisecond).
    pub fn api_query(&self) -> Option<Query> {
        let (start, end) = self.bounds_ms()?;
        Some(vec![
            ("from", time::iso_from_ms(start)),
            ("to", time::iso_from_ms(end - 1.0)),
        ])
    }
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
}

impl EventFilters {
    pub fn api_query(&self) -> Query {
        vec![
            (
                "layer",
                self.layer.map_or("", EventLayer::as_str).to_owned(),
            ),
            (
                "operation",
                self.operation.map_or("", Operation::as_str).to_owned(),
            ),
            ("reasonCode", self.reason_code.trim().to_owned()),
            ("entityId", self.entity_id.trim().to_owned()),
            ("taskId", self.task_id.trim().to_owned()),
            ("workerId", self.worker_id.trim().to_owned()),
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
        let stuck = if self.stuck_only { "true" } else { "" };
        vec![
            (
                "status",
                self.status.map_or("", TaskStatus::as_str).to_owned(),
            ),
            ("stuck", stuck.to_owned()),
        ]
    }
}

/// Everything the URL query describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewState {
    pub range: TimeRange,
    /// The trends' bucket the event stream shows, within the range.
    pub bucket: Option<Bucket>,
    pub events: EventFilters,
    pub tasks: TaskFilters,
}

const VIEW_KEYS: [&str; 13] = [
    "range",
    "from",
    "to",
    "bucket",
    "bucketSeconds",
    "layer",
    "operation",
    "reasonCode",
    "entityId",
    "taskId",
    "workerId",
    "taskStatus",
    "stuck",
];

impl ViewState {
    /// The view a URL query describes; unknown values read as "no filter".
    pub fn from_query(query: &ParamsMap) -> Self {
        let text = |key: &str| query.get(key).unwrap_or_default();
        let (from, to) = (text("from"), text("to"));
        let range = if !from.is_empty() || !to.is_empty() {
            TimeRange::Custom { from, to }
        } else {
            match text("range").as_str() {
                "any" => TimeRange::Any,
                key => Preset::from_key(key).map_or_else(TimeRange::default, TimeRange::Last),
            }
        };
        let bucket = query.get("bucket").and_then(|start| {
            let seconds = text("bucketSeconds").parse().ok().filter(|s| *s > 0)?;
            Some(Bucket { start, seconds })
        });
        ViewState {
            range,
            bucket,
            events: EventFilters {
                layer: query.get_str("layer").and_then(|v| v.parse().ok()),
                operation: query.get_str("operation").and_then(|v| v.parse().ok()),
                reason_code: text("reasonCode"),
                entity_id: text("entityId"),
                task_id: text("taskId"),
                worker_id: text("workerId"),
            },
            tasks: TaskFilters {
                status: query
                    .get_str("taskStatus")
                    .and_then(|v| TaskStatus::from_str(v).ok()),
                stuck_only: text("stuck") == "true",
            },
        }
    }

    /// `query` with this view's keys replaced (other keys are kept).
    fn write_into(&self, query: &mut ParamsMap) {
        for key in VIEW_KEYS {
            query.remove(key);
        }
        let mut set = |key: &'static str, value: &str| {
            if !value.trim().is_empty() {
                query.replace(key, value.trim().to_owned());
            }
        };
        match &self.range {
            TimeRange::Any => set("range", "any"),
            TimeRange::Last(p) => set("range", p.key()),
            TimeRange::Custom { from, to } => {
                set("from", from);
                set("to", to);
            }
        }
        if let Some(b) = &self.bucket {
            set("bucket", &b.start);
            set("bucketSeconds", &b.seconds.to_string());
        }
        let e = &self.events;
        set("layer", e.layer.map_or("", EventLayer::as_str));
        set("operation", e.operation.map_or("", Operation::as_str));
        set("reasonCode", &e.reason_code);
        set("entityId", &e.entity_id);
        set("taskId", &e.task_id);
        set("workerId", &e.worker_id);
        set(
            "taskStatus",
            self.tasks.status.map_or("", TaskStatus::as_str),
        );
        set("stuck", if self.tasks.stuck_only { "true" } else { "" });
    }
}

/// The router's navigation, kept so that event handlers can call it.
type Navigate = Arc<dyn Fn(&str, NavigateOptions) + Send + Sync>;

/// The URL-backed view, shared through the context (inside the `<Router>`).
#[derive(Clone, Copy)]
pub struct UrlView {
    /// The view the address bar describes; follows links and back/forward.
    pub state: Memo<ViewState>,
    /// The address bar's query, the view's keys and the others (`poll`).
    query: Memo<ParamsMap>,
    /// The address bar's path: the page shown.
    path: Memo<String>,
    navigate: StoredValue<Navigate>,
}

impl UrlView {
    /// The router's query and path; call inside the `<Router>`.
    pub fn from_router() -> Self {
        let location = use_location();
        let query = use_query_map();
        let navigate: Navigate = Arc::new(use_navigate());
        UrlView {
            state: Memo::new(move |_| query.with(ViewState::from_query)),
            query,
            path: location.pathname,
            navigate: StoredValue::new(navigate),
        }
    }

    /// One key of the query that is not part of the view (such as `poll`).
    pub fn param(&self, key: &str) -> Option<String> {
        self.query.with_untracked(|q| q.get(key))
    }

    /// The link to `page` showing `next`; the current URL's other keys (such
    /// as `poll`) are kept. Reactive, so links follow the view.
    pub fn href(&self, page: Page, next: &ViewState) -> String {
        url(&page.path(), &self.query.get(), next)
    }

    /// Shows `next` on the current page as a new history entry (a no-op
    /// when unchanged). The page keeps its scroll position.
    pub fn navigate(&self, next: ViewState) {
        if self.state.get_untracked() == next {
            return;
        }
        let href = self
            .query
            .with_untracked(|q| url(&self.path.get_untracked(), q, &next));
        self.push(&href, false);
    }

    /// Shows `page` with `next` as a new history entry (a no-op when
    /// unchanged); another page starts at the top.
    pub fn go(&self, page: Page, next: ViewState) {
        let other_page = self.path.get_untracked() != page.path();
        if !other_page && self.state.get_untracked() == next {
            return;
        }
        let href = self.query.with_untracked(|q| url(&page.path(), q, &next));
        self.push(&href, other_page);
    }

    fn push(&self, href: &str, scroll: bool) {
        let options = NavigateOptions {
            // `href` is absolute: it starts with the router's base.
            resolve: false,
            scroll,
            ..NavigateOptions::default()
        };
        self.navigate.with_value(|navigate| navigate(href, options));
    }
}

/// `path?query` showing `view`, keeping `current`'s other keys.
fn url(path: &str, current: &ParamsMap, view: &ViewState) -> String {
    let mut query = current.clone();
    view.write_into(&mut query);
    format!("{path}{}", query.to_query_string())
}

pub fn use_view() -> UrlView {
    expect_context::<UrlView>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&'static str, &str)]) -> ParamsMap {
        let mut map = ParamsMap::new();
        for (key, value) in pairs {
            map.insert(*key, (*value).to_owned());
        }
        map
    }

    /// The view written into an empty query and read back.
    fn round_trip(view: &ViewState) -> ViewState {
        let mut map = ParamsMap::new();
        view.write_into(&mut map);
        ViewState::from_query(&map)
    }

    #[test]
    fn no_query_is_the_last_24_hours_unfiltered() {
        assert_eq!(
            ViewState::from_query(&ParamsMap::new()),
            ViewState {
                range: TimeRange::Last(Preset::Hours24),
                ..ViewState::default()
            }
        );
    }

    #[test]
    fn every_key_reads_into_the_view_and_writes_back() {
        let view = ViewState {
            range: TimeRange::Custom {
                from: "2026-12-01T10:00:00.000Z".into(),
                to: "2026-12-01T11:00:00.000Z".into(),
            },
            bucket: Some(Bucket {
                start: "2026-12-01T10:10:00.000Z".into(),
                seconds: 60,
            }),
            events: EventFilters {
                layer: Some(EventLayer::ProviderRuntime),
                operation: Some(Operation::Call),
                reason_code: "PROVIDER_CALL_FAILED".into(),
                entity_id: "openai/gpt-4o".into(),
                task_id: "6f1c".into(),
                worker_id: "worker-a".into(),
            },
            tasks: TaskFilters {
                status: Some(TaskStatus::Failed),
                stuck_only: true,
            },
        };
        assert_eq!(round_trip(&view), view);
        for preset in Preset::ALL {
            let view = ViewState {
                range: TimeRange::Last(preset),
                ..ViewState::default()
            };
            assert_eq!(round_trip(&view), view);
        }
        let any = ViewState {
            range: TimeRange::Any,
            ..ViewState::default()
        };
        assert_eq!(round_trip(&any), any);
    }

    #[test]
    fn other_keys_are_kept_and_empty_filters_left_out() {
        let mut map = query(&[("poll", "1000"), ("layer", "worker"), ("workerId", "w")]);
        let view = ViewState {
            events: EventFilters {
                worker_id: "  ".into(),
                ..EventFilters::default()
            },
            ..ViewState::default()
        };
        view.write_into(&mut map);
        assert_eq!(map.get("poll").as_deref(), Some("1000"));
        assert_eq!(map.get("layer"), None);
        assert_eq!(map.get("workerId"), None, "a blank filter is no filter");
        assert_eq!(map.get("range").as_deref(), Some("24h"));
    }

    #[test]
    fn unknown_values_read_as_no_filter() {
        let view = ViewState::from_query(&query(&[
            ("layer", "nonsense"),
            ("taskStatus", "LOST"),
            ("range", "forever"),
            ("bucket", "2026-12-01T10:00:00Z"),
            ("bucketSeconds", "-5"),
            ("stuck", "yes"),
        ]));
        assert_eq!(
            view,
            ViewState {
                range: TimeRange::Last(Preset::Hours24),
                ..ViewState::default()
            }
        );
    }

    #[test]
    fn a_bound_alone_is_a_custom_range() {
        let view =
            ViewState::from_query(&query(&[("from", "2026-12-01T10:00:00Z"), ("range", "1h")]));
        assert_eq!(
            view.range,
            TimeRange::Custom {
                from: "2026-12-01T10:00:00Z".into(),
                to: String::new()
            }
        );
    }

    #[test]
    fn ranges_resolve_against_now() {
        let now = time::ms_from_iso("2026-12-01T12:00:00Z").unwrap();
        let hour = TimeRange::Last(Preset::Hour1);
        assert_eq!(hour.bounds_ms(now), (now - 3_600_000.0, now));
        assert_eq!(
            hour.api_query(now),
            vec![
                ("from", "2026-12-01T11:00:00.000Z".to_owned()),
                ("to", String::new())
            ]
        );
        // A custom range open at its end ends now; without a start it is a day.
        let open = TimeRange::Custom {
            from: String::new(),
            to: String::new(),
        };
        assert_eq!(open.bounds_ms(now), (now - 86_400_000.0, now));
    }

    #[test]
    fn a_bucket_asks_for_its_own_milliseconds() {
        let bucket = Bucket {
            start: "2026-12-01T10:00:00Z".into(),
            seconds: 60,
        };
        assert_eq!(
            bucket.api_query(),
            Some(vec![
                ("from", "2026-12-01T10:00:00.000Z".to_owned()),
                ("to", "2026-12-01T10:00:59.999Z".to_owned()),
            ])
        );
        let unreadable = Bucket {
            start: "soon".into(),
            seconds: 60,
        };
        assert_eq!(unreadable.api_query(), None);
    }
}
