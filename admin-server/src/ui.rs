//! The dashboard: static files from the UI directory at `/admin/ai/runtime`.
//! Paths that are not files get `index.html` (the dashboard routes in the
//! browser). The page is public; only `/api/...` needs a token.
//!
//! Every file is sent as the browser accepts it: `build_ui` writes a
//! brotli (`.br`) and a gzip (`.gz`) copy beside each, and `ServeDir` picks
//! one by `Accept-Encoding`. The files under `assets/` have content-hashed
//! names, so a browser keeps them for a year; `index.html`, which names
//! them, is checked again on every load.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

/// Where the dashboard is served.
pub const UI_BASE: &str = "/admin/ai/runtime";

/// How to build the dashboard, named on the 503 page.
const BUILD_COMMAND: &str = "bash -c 'source scripts/lib.sh && build_ui'";

pub(crate) fn router(ui_dir: &Path) -> Router {
    let index = ui_dir.join("index.html");
    // A missing asset is a 404: a page in its place would be cached as it.
    let assets = ServeDir::new(ui_dir.join("assets"))
        .precompressed_br()
        .precompressed_gzip();
    let pages = ServeDir::new(ui_dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(
            ServeFile::new(&index)
                .precompressed_br()
                .precompressed_gzip(),
        );
    let dashboard = Router::new()
        .nest_service(&format!("{UI_BASE}/assets"), assets)
        .nest_service(UI_BASE, pages)
        .layer(middleware::from_fn(cache_control))
        .layer(middleware::from_fn_with_state(index, require_built));
    Router::new()
        .route("/", get(|| async { Redirect::temporary(UI_BASE) }))
        .merge(dashboard)
}

/// How long a browser may keep what it got: hashed assets for a year,
/// everything else (the page) only after asking again.
async fn cache_control(request: Request, next: Next) -> Response {
    let hashed = request
        .uri()
        .path()
        .strip_prefix(UI_BASE)
        .is_some_and(|rest| rest.starts_with("/assets/"));
    let mut response = next.run(request).await;
    let policy = if hashed && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(policy),
    );
    response
}

/// 503 with instructions while the dashboard has not been built.
async fn require_built(State(index): State<PathBuf>, request: Request, next: Next) -> Response {
    if tokio::fs::metadata(&index).await.is_ok() {
        return next.run(request).await;
    }
    let dir = index
        .parent()
        .unwrap_or(Path::new(""))
        .display()
        .to_string();
    let body = format!(
        "<!doctype html><title>Dashboard not built</title>\
         <h1>The dashboard is not built</h1>\
         <p>No <code>index.html</code> in <code>{}</code>. Build it from the repository root with \
         <code>{BUILD_COMMAND}</code> (or run <code>./scripts/demo</code>), or point the server at \
         the built files with <code>--ui-dir</code> / <code>ADMIN_UI_DIR</code>.</p>\
         <p>The JSON API under <code>/api/admin/ai/runtime/</code> works without it.</p>",
        html_escape(&dir)
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
