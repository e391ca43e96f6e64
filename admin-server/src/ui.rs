//! The dashboard at `/admin/ai/runtime`: its pages rendered here with
//! `leptos_axum` and their data (the browser hydrates them), and the
//! build's static files.
//!
//! - **Pages.** The paths are the dashboard's own route list
//!   (`leptos_axum::generate_route_list`), so every page is a deep link and
//!   a path that is no page is the app's "No such page" with a 404. A page
//!   is rendered with each panel's first answer, fetched from the API
//!   router in this process with the token of the dashboard's cookie,
//!   which is checked first: a refused token gets the sign-in form with
//!   the reason, and the cookie is cleared. The page is public; only the
//!   data needs a token.
//! - **Assets.** `build_ui` writes the WASM, its glue, the loader and the
//!   style sheet under `assets/` with content-hashed names (listed in
//!   `assets.json`), each with a brotli (`.br`) and a gzip (`.gz`) copy;
//!   `ServeDir` picks one by `Accept-Encoding`. A browser keeps them for a
//!   year; a page is checked again on every load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use admin_ui::{Assets, Document, InitialSession, RequestToken, ServerAnswer, ServerApi};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use cookie::{Cookie, SameSite};
use leptos::prelude::*;
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

use crate::auth::{AdminGuard, AuthError};

/// Where the dashboard is served.
pub const UI_BASE: &str = admin_ui::BASE;

/// How to build the dashboard, named on the 503 page.
const BUILD_COMMAND: &str = "bash -c 'source scripts/lib.sh && build_ui'";

/// What a page is rendered with.
#[derive(Clone)]
struct Pages {
    /// `assets.json` of the build.
    manifest: PathBuf,
    /// The admin API, called in-process for a page's data.
    api: Router,
    guard: Arc<AdminGuard>,
}

pub(crate) fn router(ui_dir: &Path, api: Router, guard: Arc<AdminGuard>) -> Router {
    let pages = Pages {
        manifest: ui_dir.join("assets.json"),
        api,
        guard,
    };
    // A missing asset is a 404: a page in its place would be cached as it.
    let assets = ServeDir::new(ui_dir.join("assets"))
        .precompressed_br()
        .precompressed_gzip();
    let mut routes = Router::new();
    for listing in leptos_axum::generate_route_list(admin_ui::App) {
        routes = routes.route(listing.path(), get(page));
    }
    // Any other path under the base: the app's "No such page", a 404.
    let routes = routes
        .route(&format!("{UI_BASE}/{{*rest}}"), get(page))
        .layer(CompressionLayer::new())
        .with_state(pages);
    let dashboard = Router::new()
        .nest_service(&format!("{UI_BASE}/assets"), assets)
        .merge(routes)
        .layer(middleware::from_fn(cache_control));
    Router::new()
        .route("/", get(|| async { Redirect::temporary(UI_BASE) }))
        .merge(dashboard)
}

/// A page of the dashboard, rendered with its data.
async fn page(State(pages): State<Pages>, request: Request) -> Response {
    let assets = match read_assets(&pages.manifest).await {
        Ok(assets) => assets,
        Err(why) => return not_built(&pages.manifest, &why),
    };
    let token = cookie_token(request.headers());
    let refused = match &token {
        Some(token) => pages.guard.check_token(token).await.err(),
        None => None,
    };
    let initial = InitialSession {
        signed_in: token.is_some() && refused.is_none(),
        notice: refused.as_ref().map(|refused| match refused {
            AuthError::NotAdmin => admin_ui::FORBIDDEN_NOTICE.to_owned(),
            _ => admin_ui::UNAUTHORIZED_NOTICE.to_owned(),
        }),
        rendered_at_ms: chrono::Utc::now().timestamp_millis() as f64,
    };
    let token = token.filter(|_| initial.signed_in);
    let api = server_api(pages.api);
    let context = move || {
        provide_context(initial.clone());
        provide_context(api.clone());
        if let Some(token) = &token {
            provide_context(RequestToken(token.clone()));
        }
    };
    let render = leptos_axum::render_app_async_with_context(context, move || {
        view! { <Document assets=assets.clone() /> }
    });
    let mut response = render(request).await;
    if refused.is_some() {
        // The browser would bring it back on every load.
        let expired = Cookie::build((admin_ui::TOKEN_COOKIE, ""))
            .path(UI_BASE)
            .same_site(SameSite::Strict)
            .max_age(cookie::time::Duration::ZERO)
            .build();
        if let Ok(value) = HeaderValue::from_str(&expired.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The dashboard's token cookie, when the request carries a non-empty one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == admin_ui::TOKEN_COOKIE)
        .map(|cookie| cookie.value().trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// The API router as the pages call it: a GET with the bearer token,
/// answered in this process by the same handlers and guard as over HTTP.
fn server_api(api: Router) -> ServerApi {
    ServerApi(Arc::new(
        move |uri: String, token: String| -> ServerAnswer {
            let api = api.clone();
            Box::pin(async move {
                let request = Request::get(uri)
                    .header(header::ACCEPT, "application/json")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .map_err(|e| e.to_string())?;
                let response = api.oneshot(request).await.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((status, String::from_utf8_lossy(&body).into_owned()))
            })
        },
    ))
}

async fn read_assets(manifest: &Path) -> Result<Assets, String> {
    let text = tokio::fs::read(manifest)
        .await
        .map_err(|e| format!("cannot read it ({e})"))?;
    serde_json::from_slice(&text).map_err(|e| format!("it is not the build's list of assets ({e})"))
}

/// How long a browser may keep what it got: hashed assets for a year,
/// everything else (the pages) only after asking again.
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
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// 503 with instructions while the dashboard has not been built.
fn not_built(manifest: &Path, why: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Dashboard not built</title>\
         <h1>The dashboard is not built</h1>\
         <p><code>{}</code>: {}. Build it from the repository root with \
         <code>{BUILD_COMMAND}</code> (or run <code>./scripts/demo</code>), or point the server at \
         the built files with <code>--ui-dir</code> / <code>ADMIN_UI_DIR</code>.</p>\
         <p>The JSON API under <code>/api/admin/ai/runtime/</code> works without it.</p>",
        html_escape(&manifest.display().to_string()),
        html_escape(why)
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
