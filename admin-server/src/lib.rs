//! The admin server: admin-only JSON APIs over the runtime tables and the
//! task queue, the dashboard's static files, and the status computation that
//! `ai-runtime-verify` shares.
//!
//! Run it in-process (tests do): `admin_server::app(config, pool)` is the
//! whole server as an axum [`Router`]. The public API is what the binaries,
//! the demo, the tests and the benchmark use: [`app`], [`serve`],
//! [`AppConfig`], [`lazy_pool`] and the [`verify`] report; the rest is
//! private to the crate.

mod alert_rules;
mod alert_state;
pub mod alerts;
mod api;
mod auth;
mod config;
mod cursor;
mod db;
mod error;
mod event_window;
mod events;
mod jwks;
mod jwt;
mod metrics;
mod operations;
mod page;
mod params;
#[cfg(test)]
mod partition_fixtures;
mod probes;
mod provider_calls;
mod status;
mod status_cache;
mod stuck;
mod task_detail;
mod tasks;
mod trends;
mod ui;
pub mod verify;
mod webhook;

use std::sync::Arc;

use axum::Router;
use sqlx::PgPool;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use config::{
    AppConfig, Thresholds, DEFAULT_JWKS_MAX_AGE, DEFAULT_JWKS_MIN_REFRESH, DEFAULT_UI_DIR,
};
pub use db::{lazy_pool, pool_options};
pub use error::ApiFailure;
pub use events::planned_partitions;
pub use jwks::JwksSource;
pub use trends::planned_trend_tables;
pub use ui::UI_BASE;

/// Serves `router` on `listener` until `shutdown` resolves, with
/// TCP_NODELAY on every connection (small JSON responses go out at once).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The whole server: the API under `/api/admin/ai/runtime` (admin guard on
/// every route), the dashboard under `/admin/ai/runtime`, `/metrics` and the
/// probes `/healthz` and `/readyz`.
pub fn app(config: AppConfig, pool: PgPool) -> Router {
    let ui_dir = config.ui_dir.clone();
    let config = Arc::new(config);
    // One status cache for the API and /metrics: a scrape shares the
    // dashboards' computation.
    let status = Arc::new(status_cache::StatusCache::new(config.status_ttl));
    // The trace layer records method, URI, status and latency, never
    // headers, so `Authorization` stays out of the logs.
    let trace = TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    let guard = auth::AdminGuard::new(&config);
    let operations = operations::router(
        Arc::clone(&config),
        pool.clone(),
        Arc::clone(&status),
        &guard,
    );
    let guard = Arc::new(guard);
    let api = api::router(config, pool, status, Arc::clone(&guard));
    // The dashboard's pages are rendered with the API's answers.
    let ui = ui::router(&ui_dir, api.clone(), guard);
    api.merge(operations).merge(ui).layer(trace)
}
