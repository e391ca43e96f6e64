//! The admin API's types, shared by `admin-server` (which serializes them and
//! documents them in its OpenAPI document) and `admin-ui` (which deserializes
//! them in the browser). JSON is camelCase. Compiles for native and wasm32.

// The timestamps of the fields, on every target (the dashboard too).
pub use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `metadata` of workers, events and transitions (a JSON object).
pub type Metadata = serde_json::Value;

pub use ai_runtime_vocab::{EventLayer, Operation, TaskStatus, UnknownValue, WorkerState};

/// The API's base path.
pub const API_BASE: &str = "/api/admin/ai/runtime";

/// Page size of `/events` and `/tasks` when `limit` is absent, and its maximum.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// The `/status` trend window (`window`, minutes) when absent, and its maximum (a week).
pub const DEFAULT_WINDOW_MINUTES: i64 = 15;
pub const MAX_WINDOW_MINUTES: i64 = 7 * 24 * 60;

/// Every error body: a machine-readable `error` code, the offending
/// `parameter` when there is one, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// `bad_parameter`, `unauthorized`, `forbidden`, `unavailable`, `not_found`, `internal`.
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub message: String,
}

// ------------------------------------------------------------- status ---

/// `GET /status`: everything the health cards and the queue panel show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    pub generated_at: DateTime<Utc>,
    /// HEALTHY when no degraded flag is raised.
    pub overall: OverallHealth,
    pub degraded: Vec<DegradedFlag>,
    pub workers: Vec<WorkerStatus>,
    pub queue: QueueSummary,
    pub last_event_at: Option<DateTime<Utc>>,
    /// The route of the most recently beating running worker.
    pub active_route: Option<ProviderRoute>,
    /// Events the sinks of all live workers dropped (channel full or database failed).
    pub dropped_events: i64,
    /// The built-in alerts firing now (the admin server's evaluator), oldest first.
    #[serde(default)]
    pub alerts: Vec<FiringAlert>,
    /// The OTLP receivers' counts (`ai-runtime-ingest`), one per receiver
    /// row of `ai_worker_status`, by worker id; empty without receivers.
    #[serde(default)]
    pub receivers: Vec<ReceiverCounts>,
}

/// What an OTLP receiver took in and what became of it, as of its last
/// status row (published every `--status-interval`; totals since it started).
/// Its items (spans, log records) are `accepted`, `rejected`, `ignored` or
/// `throttled`; its sink then `written` or `dropped` the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReceiverCounts {
    /// The receiver's row in `workers`.
    pub worker_id: String,
    /// Handed to the sink as runtime events.
    pub accepted: i64,
    /// Events the receiver's sink wrote to Postgres (the accepted ones, and
    /// the receiver's own worker events: one per change of its state).
    pub written: i64,
    /// Events its sink dropped (channel full or the database failed).
    pub dropped: i64,
    /// Undecodable or unusable items, reported back to their sender.
    pub rejected: i64,
    /// Items that are no runtime events (ordinary spans, foreign logs).
    #[serde(default)]
    pub ignored: i64,
    /// Items of requests answered 429 (the sender retries them).
    #[serde(default)]
    pub throttled: i64,
}

/// A built-in alert: the conditions of `deploy/prometheus/alerts.yml`,
/// evaluated by the admin server for teams without Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertKind {
    /// A worker's circuit breaker open longer than the threshold.
    BreakerOpen,
    /// A worker that is not STOPPED missed its heartbeats.
    WorkerStale,
    /// RUNNING tasks with an expired lease or PENDING tasks overdue.
    StuckTasks,
    /// Event sinks dropped events since the previous evaluation.
    EventsDropped,
    /// The share of FAILED among tasks finished in the window is above the threshold.
    FailureRate,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        AlertKind::BreakerOpen,
        AlertKind::WorkerStale,
        AlertKind::StuckTasks,
        AlertKind::EventsDropped,
        AlertKind::FailureRate,
    ];

    /// The name in JSON and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::BreakerOpen => "BREAKER_OPEN",
            AlertKind::WorkerStale => "WORKER_STALE",
            AlertKind::StuckTasks => "STUCK_TASKS",
            AlertKind::EventsDropped => "EVENTS_DROPPED",
            AlertKind::FailureRate => "FAILURE_RATE",
        }
    }

    /// The inverse of [`AlertKind::as_str`].
    pub fn parse(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// An alert firing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FiringAlert {
    pub alert: AlertKind,
    /// The worker it concerns; absent for runtime-wide alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// When the condition was first seen.
    pub since: DateTime<Utc>,
    /// When it had held long enough to fire.
    pub firing_at: DateTime<Utc>,
    /// The measured value (seconds open, stuck tasks, dropped events, failure share...).
    pub value: f64,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OverallHealth {
    Healthy,
    Degraded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DegradedKind {
    BreakerOpen,
    StaleHeartbeat,
    StuckTasks,
    EventsDropped,
    NoWorkers,
}

/// One reason the runtime is degraded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DegradedFlag {
    pub kind: DegradedKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

/// The provider and model a worker calls first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProviderRoute {
    pub provider: String,
    pub model: String,
}

/// A row of `ai_worker_status`, with what the server derives from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    pub worker_id: String,
    pub agent_type: String,
    pub status: WorkerState,
    pub circuit_open: bool,
    pub circuit_reason: Option<String>,
    pub last_heartbeat: DateTime<Utc>,
    pub heartbeat_age_seconds: f64,
    /// No heartbeat for three intervals while not STOPPED.
    pub stale: bool,
    pub current_task_id: Option<Uuid>,
    pub route: Option<ProviderRoute>,
    /// Events this worker's sink dropped, when it reports them.
    pub dropped_events: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QueueSummary {
    /// The trend window, in minutes.
    pub window_minutes: i64,
    /// One entry per status, in the order PENDING, RUNNING, IN_REVIEW, DONE, SKIPPED, FAILED.
    pub counts: Vec<QueueCount>,
    /// RUNNING with an expired lease.
    pub stuck_running: i64,
    /// PENDING and due for longer than the threshold.
    pub stuck_pending: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QueueCount {
    pub status: TaskStatus,
    /// What `count` counts: see `scope`.
    pub count: i64,
    pub scope: CountScope,
    /// Tasks that entered this status minus tasks that left it within the window.
    pub delta: i64,
}

/// What a queue count counts. Active statuses are counted exactly; finished
/// ones over the trend window, so that a count's cost does not grow with the
/// months of finished tasks behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CountScope {
    /// Every task in this status now (PENDING, RUNNING, IN_REVIEW).
    Current,
    /// The tasks that reached this status within the trend window (DONE,
    /// SKIPPED, FAILED).
    Window,
}

impl CountScope {
    /// Active statuses are counted as they are now; finished ones over the window.
    pub const fn of(status: TaskStatus) -> CountScope {
        if status.is_terminal() {
            CountScope::Window
        } else {
            CountScope::Current
        }
    }
}

// ------------------------------------------------------------- events ---

/// A row of `ai_runtime_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RuntimeEvent {
    pub id: Uuid,
    pub layer: EventLayer,
    pub operation: Operation,
    pub reason_code: String,
    pub entity_id: String,
    pub task_id: Option<Uuid>,
    pub persona_id: Option<Uuid>,
    pub worker_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// `GET /events`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventsResponse {
    pub events: Vec<RuntimeEvent>,
    /// Pass back as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

// -------------------------------------------------------------- tasks ---

/// The latest runtime event of a task, in short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: Uuid,
    pub layer: EventLayer,
    pub operation: Operation,
    pub reason_code: String,
    pub occurred_at: DateTime<Utc>,
}

/// A row of `persona_tasks`, with its stuck flag and latest event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskSummary {
    pub id: Uuid,
    pub persona_id: Uuid,
    pub kind: String,
    pub status: TaskStatus,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub scheduled_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stuck: bool,
    pub latest_event: Option<EventSummary>,
}

/// `GET /tasks`: most recently created first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TasksResponse {
    pub tasks: Vec<TaskSummary>,
    pub next_cursor: Option<String>,
}

// ------------------------------------------------------------- trends ---

/// The most buckets `/trends` answers with; a `bucket` that would give more is a 400.
pub const MAX_TREND_BUCKETS: i64 = 400;

/// `GET /trends`: the trends panel over `[from, to)`, cut into equal buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TrendsResponse {
    /// The start of the first bucket (`from`, aligned down to the bucket).
    pub from: DateTime<Utc>,
    /// The end of the last bucket.
    pub to: DateTime<Utc>,
    /// The width of every bucket, in seconds.
    pub bucket_seconds: i64,
    /// Every bucket of the range, oldest first, empty ones included.
    pub buckets: Vec<TrendBucket>,
    /// Provider calls per route (`provider/model`), by bucket.
    pub routes: Vec<RouteTrend>,
    /// When a worker's circuit breaker was open, for the intervals that overlap the range.
    pub breaker_open: Vec<BreakerInterval>,
}

/// Events in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TrendBucket {
    pub start: DateTime<Utc>,
    /// Events per layer; layers without events are left out.
    pub layers: Vec<LayerCount>,
    /// Of those, the events whose reason code is of the failure class
    /// (`REASON_CODES.md`).
    pub failures: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LayerCount {
    pub layer: EventLayer,
    pub count: i64,
}

/// One provider route's calls over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RouteTrend {
    /// `provider/model`.
    pub route: String,
    /// Only the buckets with calls, oldest first.
    pub points: Vec<RoutePoint>,
}

/// A route's provider calls (`provider_runtime` CALL events) in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RoutePoint {
    pub start: DateTime<Utc>,
    pub calls: i64,
    /// Latency percentiles of the calls that reported `latency_ms`.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Token usage of the calls that reported it.
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// What the calls that were priced cost, in USD (`cost_usd`).
    #[serde(default)]
    pub cost_usd: f64,
}

/// A stretch of time a worker's circuit breaker was open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BreakerInterval {
    pub worker_id: String,
    pub opened_at: DateTime<Utc>,
    /// Absent while it is still open.
    pub closed_at: Option<DateTime<Utc>>,
    /// The circuit reason reported when it opened.
    pub reason: Option<String>,
}

// -------------------------------------------------------- task detail ---

/// `GET /tasks/{id}`: a task's whole story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskDetail {
    /// The task in this queue; absent (null) for an external task: one only
    /// its runtime events know, such as a worker outside this queue sending
    /// through OTLP (its events are looked for over the last
    /// [`EXTERNAL_TASK_DAYS`] days).
    pub task: Option<TaskSummary>,
    /// Its queue transitions, oldest first.
    pub transitions: Vec<TaskTransition>,
    /// Its runtime events, oldest first.
    pub events: Vec<RuntimeEvent>,
    /// The task had more events than the page holds ([`MAX_TASK_EVENTS`]); the newest are shown.
    pub events_truncated: bool,
    /// Its provider calls (of `events`), oldest first, with what each cost.
    #[serde(default)]
    pub calls: Vec<ProviderCall>,
}

/// One provider call of a task (a `provider_runtime` CALL event): captured
/// from a GenAI span or written by hand. Absent values were not reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProviderCall {
    /// The event's id.
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `provider/model` (the event's `entity_id`).
    pub route: String,
    /// The model that answered, else the one asked for.
    pub model: Option<String>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// Its price in USD, when the model's price is known.
    pub cost_usd: Option<f64>,
    /// How long it took.
    pub duration_ms: Option<f64>,
    pub reason_code: String,
    /// Its reason code is of the failure class.
    pub failed: bool,
}

/// How far back `/tasks/{id}` looks for the events of an external task (days).
pub const EXTERNAL_TASK_DAYS: i64 = 7;

/// The most runtime events `/tasks/{id}` returns.
pub const MAX_TASK_EVENTS: i64 = 1000;

/// A row of `task_transition_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskTransition {
    pub id: Uuid,
    /// Absent for the transition that created the task.
    pub from_status: Option<TaskStatus>,
    pub to_status: TaskStatus,
    pub reason_code: String,
    /// The worker that made it, when a worker did.
    pub worker_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
    pub occurred_at: DateTime<Utc>,
}
