//! The dashboard: its pages rendered on the server from the app's route
//! list (with their data for a signed-in cookie, the sign-in form for a
//! refused one, a 404 for a path that is no page), the build's assets
//! precompressed by `Accept-Encoding` with cache headers, and a 503 page
//! while it is not built.

use std::path::PathBuf;

use sqlx::PgPool;

use crate::fixtures::{upsert_worker, Worker};
use crate::server::{self, TOKEN};

/// A build's directory: the assets `build_ui` writes and their list.
fn temp_ui_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admin-ui-test-{}", uuid::Uuid::new_v4()));
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::write(
        dir.join("assets.json"),
        r#"{"css":"style-0123.css","js":"admin-ui-0123.js","wasm":"admin-ui-0123.wasm","boot":"boot-0123.js"}"#,
    )
    .unwrap();
    std::fs::write(assets.join("admin-ui-0123.js"), "export default 1;").unwrap();
    std::fs::write(assets.join("admin-ui-0123.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // What build_ui writes beside each file (the bytes only tell them apart).
    std::fs::write(assets.join("admin-ui-0123.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(assets.join("admin-ui-0123.wasm.gz"), b"gzip bytes").unwrap();
    dir
}

async fn start(pool: PgPool) -> (server::TestServer, PathBuf) {
    let dir = temp_ui_dir();
    let config = admin_server::AppConfig {
        ui_dir: dir.clone(),
        ..server::config()
    };
    (server::start_with(config, pool).await, dir)
}

/// GET a dashboard path with `cookie`: the status, the headers and the page.
async fn page(
    server: &server::TestServer,
    path: &str,
    cookie: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = server.client.get(format!("{}{path}", server.base));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn signed_in() -> String {
    format!("other=1; ai_runtime_admin_token={TOKEN}")
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn pages_are_the_apps_routes_rendered_with_their_data(pool: PgPool) {
    upsert_worker(
        &pool,
        Worker {
            worker_id: "worker-ssr",
            circuit_open: true,
            circuit_reason: Some("provider 5xx"),
            ..Worker::default()
        },
    )
    .await;
    let (server, dir) = start(pool).await;

    // Signed in by the cookie: the overview comes with its data, rendered
    // here, and names the build's hashed assets.
    let (status, headers, html) = page(&server, "/admin/ai/runtime", Some(&signed_in())).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(
        html.to_ascii_lowercase().starts_with("<!doctype html>"),
        "{html}"
    );
    assert!(
        html.contains("/admin/ai/runtime/assets/boot-0123.js"),
        "{html}"
    );
    assert!(
        html.contains("/admin/ai/runtime/assets/style-0123.css"),
        "{html}"
    );
    assert!(
        html.contains(r#"data-worker="worker-ssr""#),
        "the worker's card: {html}"
    );
    assert!(
        html.contains("provider 5xx"),
        "the open breaker's reason: {html}"
    );
    assert!(
        html.contains(r#"id="tasks""#),
        "every panel is there: {html}"
    );
    assert!(!html.contains(r#"id="sign-in""#), "{html}");
    // The token is the cookie's business: it is not written into the page.
    assert!(!html.contains(TOKEN), "the token stays out of the page");

    // A deep link to a task nothing knows: its page, rendered with the
    // API's 404 said in place.
    let task = uuid::Uuid::new_v4();
    let (status, _, html) = page(
        &server,
        &format!("/admin/ai/runtime/tasks/{task}?range=1h"),
        Some(&signed_in()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="task-page""#), "{html}");
    assert!(html.contains(&task.to_string()), "{html}");
    assert!(html.contains("could not load the task"), "{html}");

    // No cookie: the sign-in form, and no data.
    let (status, _, html) = page(&server, "/admin/ai/runtime", None).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="sign-in""#), "{html}");
    assert!(!html.contains("worker-ssr"), "{html}");

    // A refused token: the form says why, and the cookie is cleared.
    let (status, headers, html) = page(
        &server,
        "/admin/ai/runtime",
        Some("ai_runtime_admin_token=revoked-token"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="sign-in""#), "{html}");
    assert!(html.contains("(401)"), "{html}");
    assert!(!html.contains("worker-ssr"), "{html}");
    let cleared = headers["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("ai_runtime_admin_token=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/admin/ai/runtime"), "{cleared}");

    // A path that is no page: the app's "No such page", as a 404.
    for path in [
        "/admin/ai/runtime/deep/link",
        "/admin/ai/runtime/tasks/not-a-uuid",
        "/admin/ai/runtime/assets.json",
    ] {
        let (status, _, html) = page(&server, path, Some(&signed_in())).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("No such page"), "{path}: {html}");
    }

    // The page is gzipped for a browser that accepts it.
    let response = server
        .client
        .get(format!("{}/admin/ai/runtime", server.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    std::fs::remove_dir_all(dir).unwrap();
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn assets_are_sent_precompressed_and_kept(pool: PgPool) {
    let (server, dir) = start(pool).await;
    let get = |path: &str| server.client.get(format!("{}{path}", server.base)).send();
    for (path, content_type, body_start) in [
        (
            "/admin/ai/runtime/assets/admin-ui-0123.js",
            "text/javascript",
            "export",
        ),
        (
            "/admin/ai/runtime/assets/admin-ui-0123.wasm",
            "application/wasm",
            "\0asm",
        ),
    ] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let ct = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        let body = response.bytes().await.unwrap();
        assert!(body.starts_with(body_start.as_bytes()), "{path}");
    }
    // Compressed as the browser accepts, with the file's own type.
    for (accept, encoding, body) in [
        ("br, gzip", Some("br"), &b"brotli bytes"[..]),
        ("gzip, deflate", Some("gzip"), b"gzip bytes"),
        ("identity", None, b"\0asm\x01\0\0\0"),
    ] {
        let response = server
            .client
            .get(format!(
                "{}/admin/ai/runtime/assets/admin-ui-0123.wasm",
                server.base
            ))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        let headers = response.headers().clone();
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(headers["content-type"], "application/wasm", "{accept}");
        assert_eq!(
            headers["cache-control"], "public, max-age=31536000, immutable",
            "a hashed asset is kept"
        );
        assert_eq!(&response.bytes().await.unwrap()[..], body, "{accept}");
    }
    // A missing asset is a 404, not a page, and not kept.
    let missing = get("/admin/ai/runtime/assets/gone-0000.wasm")
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["cache-control"], "no-cache");

    // No escaping the directory.
    let response = get("/admin/ai/runtime/assets/..%2F..%2F..%2Fetc%2Fpasswd")
        .await
        .unwrap();
    assert!(!response.text().await.unwrap().contains("root:"));
    std::fs::remove_dir_all(dir).unwrap();
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn missing_build_is_a_503_naming_the_command(pool: PgPool) {
    let server = server::start(pool).await;
    let response = server
        .client
        .get(format!("{}/admin/ai/runtime", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let page = response.text().await.unwrap();
    assert!(page.contains("build_ui"), "{page}");
    // The API is unaffected.
    server.ok("status").await;
    server.stop().await;
}
