//! The dashboard: static files from the UI directory at `/admin/ai/runtime`.
//! Paths that are not files get `index.html` (the dashboard routes in the
//! browser). The page is public; only `/api/...` needs a token.

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
    let files = ServeDir::new(ui_dir).fallback(ServeFile::new(&index));
    let dashboard = Router::new()
        .nest_service(UI_BASE, files)
        .layer(middleware::from_fn_with_state(index, require_built));
    Router::new()
        .route("/", get(|| async { Redirect::temporary(UI_BASE) }))
        .merge(dashboard)
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
