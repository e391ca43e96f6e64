//! The admin server: admin-only JSON APIs over the runtime tables and the
//! task queue, the dashboard's static files, and the status computation that
//! `ai-runtime-verify` shares.
//!
//! Run it in-process (tests do): `admin_server::app(config, pool)` is the
//! whole server as an axum [`Router`].

pub mod api;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod db;
pub mod error;
pub mod events;
pub mod json_body;
pub mod jwt;
pub mod page;
pub mod params;
pub mod status;
pub mod tasks;
pub mod timestamp;
pub mod ui;
pub mod verify;

use std::sync::Arc;

use axum::Router;
use sqlx::PgPool;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use config::{AppConfig, Thresholds};
pub use error::ApiFailure;

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
/// every route) and the dashboard under `/admin/ai/runtime`.
pub fn app(config: AppConfig, pool: PgPool) -> Router {
    let ui = ui::router(&config.ui_dir);
    let config = Arc::new(config);
    // The trace layer records method, URI, status and latency, never
    // headers, so `Authorization` stays out of the logs.
    let trace = TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    api::router(config, pool).merge(ui).layer(trace)
}
