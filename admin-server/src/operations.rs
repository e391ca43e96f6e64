//! The routes for operators' tools rather than people: `/metrics` (scrape
//! token or admin guard) and the probes (no auth).

use std::sync::Arc;

use ai_runtime_api::DEFAULT_WINDOW_MINUTES;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Router};
use sqlx::PgPool;

use crate::auth::{require_admin, AdminGuard};
use crate::config::AppConfig;
use crate::error::ApiFailure;
use crate::status_cache::StatusCache;
use crate::{metrics, probes, status};

#[derive(Clone)]
struct MetricsState {
    pool: PgPool,
    config: Arc<AppConfig>,
    status: Arc<StatusCache>,
}

pub(crate) fn router(
    config: Arc<AppConfig>,
    pool: PgPool,
    status: Arc<StatusCache>,
    guard: &AdminGuard,
) -> Router {
    let guard = Arc::new(guard.for_metrics(&config));
    let metrics = Router::new()
        .route("/metrics", get(get_metrics))
        .with_state(MetricsState {
            pool: pool.clone(),
            config,
            status,
        })
        .layer(middleware::from_fn_with_state(guard, require_admin));
    let probes = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .with_state(pool);
    metrics.merge(probes)
}

/// The runtime's state from the status the API serves (default window).
/// OpenMetrics when asked for it (Prometheus does), the classic text format
/// otherwise.
async fn get_metrics(
    State(state): State<MetricsState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiFailure> {
    let status = status::cached(
        &state.status,
        &state.pool,
        &state.config.thresholds,
        DEFAULT_WINDOW_MINUTES,
    )
    .await?;
    let body = metrics::render(&status);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    Ok(if metrics::wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, metrics::OPENMETRICS)], body)
    } else {
        (
            [(header::CONTENT_TYPE, metrics::CLASSIC_TEXT)],
            metrics::to_classic_text(&body),
        )
    })
}
