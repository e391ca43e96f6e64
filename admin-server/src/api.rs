//! The JSON API under `/api/admin/ai/runtime`, its handlers and its OpenAPI
//! document (generated from the handlers' types).

use std::sync::Arc;

use ai_runtime_api::{
    ApiError, EventsResponse, StatusResponse, TaskDetail, TasksResponse, TrendsResponse, API_BASE,
};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Json, Router};
use sqlx::PgPool;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::{require_admin, AdminGuard};
use crate::config::AppConfig;
use crate::error::ApiFailure;
use crate::params::{
    window_minutes, EventFilter, EventsQuery, NulRule, Params, StatusQuery, TaskFilter, TasksQuery,
    TrendRange, TrendsQuery,
};
use crate::status_cache::StatusCache;
use crate::{events, status, task_detail, tasks, trends};

#[derive(Clone)]
struct ApiState {
    pool: PgPool,
    config: Arc<AppConfig>,
    status: Arc<StatusCache>,
}

pub(crate) fn router(
    config: Arc<AppConfig>,
    pool: PgPool,
    status: Arc<StatusCache>,
    guard: Arc<AdminGuard>,
) -> Router {
    let routes = Router::new()
        .route("/status", get(get_status))
        .route("/events", get(get_events))
        .route("/tasks", get(get_tasks))
        .route("/tasks/{id}", get(get_task))
        .route("/trends", get(get_trends))
        .route("/openapi.json", get(get_openapi))
        .fallback(not_found)
        .with_state(ApiState {
            pool,
            status,
            config,
        });
    Router::new().nest(
        API_BASE,
        routes
            .layer(middleware::from_fn_with_state(guard, require_admin))
            .layer(middleware::map_response(no_store)),
    )
}

/// Admin data must not linger in shared or browser caches.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The runtime's health: workers, queue with trend deltas, degraded flags.
/// Computed once per trend window and refresh interval (2 s) for all
/// callers: `generatedAt` says when.
#[utoipa::path(
    get,
    path = "/api/admin/ai/runtime/status",
    tag = "runtime",
    params(StatusQuery),
    responses(
        (status = 200, description = "The runtime's status", body = StatusResponse),
        (status = 400, description = "A bad parameter", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 403, description = "A valid token of a non-admin", body = ApiError),
        (status = 503, description = "The database cannot be reached", body = ApiError),
    ),
    security(("bearer" = []))
)]
async fn get_status(
    State(state): State<ApiState>,
    Params(q): Params<StatusQuery>,
) -> Result<Json<Arc<StatusResponse>>, ApiFailure> {
    let window = window_minutes(q)?;
    // Serialized straight from the cached answer every caller shares.
    let status =
        status::cached(&state.status, &state.pool, &state.config.thresholds, window).await?;
    Ok(Json(status))
}

/// Runtime events, newest first, keyset-paginated.
#[utoipa::path(
    get,
    path = "/api/admin/ai/runtime/events",
    tag = "runtime",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventsResponse),
        (status = 400, description = "A bad parameter", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 403, description = "A valid token of a non-admin", body = ApiError),
        (status = 503, description = "The database cannot be reached", body = ApiError),
    ),
    security(("bearer" = []))
)]
async fn get_events(
    State(state): State<ApiState>,
    Params(q): Params<EventsQuery>,
) -> Result<Response, ApiFailure> {
    let filter = EventFilter::try_from(q)?;
    events::page(&state.pool, &filter).await
}

/// Recent tasks, most recently created first, with stuck flag and latest event.
#[utoipa::path(
    get,
    path = "/api/admin/ai/runtime/tasks",
    tag = "runtime",
    params(TasksQuery),
    responses(
        (status = 200, description = "A page of tasks", body = TasksResponse),
        (status = 400, description = "A bad parameter", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 403, description = "A valid token of a non-admin", body = ApiError),
        (status = 503, description = "The database cannot be reached", body = ApiError),
    ),
    security(("bearer" = []))
)]
async fn get_tasks(
    State(state): State<ApiState>,
    Params(q): Params<TasksQuery>,
) -> Result<Response, ApiFailure> {
    let filter = TaskFilter::try_from(q)?;
    tasks::page(&state.pool, &filter, &state.config.thresholds).await
}

/// A task's whole story: the task (status, reason, attempts, lease, stuck
/// flag, latest event), its queue transitions and its runtime events, both
/// oldest first (at most 1000 events: the newest, `eventsTruncated` set).
#[utoipa::path(
    get,
    path = "/api/admin/ai/runtime/tasks/{id}",
    tag = "runtime",
    params(("id" = uuid::Uuid, Path, description = "The task's id.")),
    responses(
        (status = 200, description = "The task, its transitions and its events", body = TaskDetail),
        (status = 400, description = "A malformed id", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 403, description = "A valid token of a non-admin", body = ApiError),
        (status = 404, description = "No such task", body = ApiError),
        (status = 503, description = "The database cannot be reached", body = ApiError),
    ),
    security(("bearer" = []))
)]
async fn get_task(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiFailure> {
    // A path that does not decode (invalid UTF-8) is a malformed id too.
    let Path(raw) = id.map_err(|_| ApiFailure::bad("id", "expected a task id (a UUID)"))?;
    let id = task_detail::parse_id(&raw)?;
    task_detail::get(&state.pool, id, &state.config.thresholds).await
}

/// The trends panel over a time range: events per bucket and layer with
/// the failure-class events set apart, provider call latency p50/p95
/// (from `metadata.latency_ms`; within 4.9% of the true value, from a
/// histogram with bins 1.1 times wider each) and token usage per route,
/// and each worker's circuit-breaker open intervals. Served from per-minute
/// roll-ups plus the last minutes' raw events: its cost does not follow the
/// events of the range.
#[utoipa::path(
    get,
    path = "/api/admin/ai/runtime/trends",
    tag = "runtime",
    params(TrendsQuery),
    responses(
        (status = 200, description = "The trends of the range", body = TrendsResponse),
        (status = 400, description = "A bad parameter", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 403, description = "A valid token of a non-admin", body = ApiError),
        (status = 503, description = "The database cannot be reached", body = ApiError),
    ),
    security(("bearer" = []))
)]
async fn get_trends(
    State(state): State<ApiState>,
    Params(q): Params<TrendsQuery>,
) -> Result<Json<TrendsResponse>, ApiFailure> {
    let range = TrendRange::parse(q, chrono::Utc::now())?;
    Ok(Json(trends::trends(&state.pool, &range).await?))
}

async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiFailure {
    ApiFailure::NotFound("no such endpoint; see /api/admin/ai/runtime/openapi.json".into())
}

/// The OpenAPI 3 document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AI runtime admin API",
        description = "Admin-only. Send `Authorization: Bearer <token>`: the static admin token, \
                       or an HS256 JWT whose `app_metadata.role` is `admin` (or whose \
                       `app_metadata.roles` contains `admin`)."
    ),
    paths(get_status, get_events, get_tasks, get_task, get_trends),
    components(schemas(ApiError)),
    modifiers(&BearerAuth, &NulRule),
    tags((name = "runtime", description = "Runtime status, events, tasks and trends"))
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("admin token or JWT")
                    .build(),
            ),
        );
    }
}
