//! The dashboard's static files: public, index.html for unknown paths,
//! proper content types, precompressed copies by `Accept-Encoding`, cache
//! headers, and a 503 page while it is not built.

use std::path::PathBuf;

use sqlx::PgPool;

use crate::server;

fn temp_ui_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("admin-ui-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>dashboard</title>",
    )
    .unwrap();
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::write(assets.join("admin-ui-0123.js"), "export default 1;").unwrap();
    std::fs::write(assets.join("admin-ui-0123.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // What build_ui writes beside each file (the bytes only tell them apart).
    std::fs::write(assets.join("admin-ui-0123.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(assets.join("admin-ui-0123.wasm.gz"), b"gzip bytes").unwrap();
    std::fs::write(dir.join("index.html.br"), b"brotli page").unwrap();
    dir
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn serves_the_dashboard_without_a_token(pool: PgPool) {
    let dir = temp_ui_dir();
    let config = admin_server::AppConfig {
        ui_dir: dir.clone(),
        ..server::config()
    };
    let server = server::start_with(config, pool).await;
    let get = |path: &str| server.client.get(format!("{}{path}", server.base)).send();
    for (path, content_type, body_start) in [
        ("/admin/ai/runtime", "text/html", "<!doctype html>"),
        ("/admin/ai/runtime/", "text/html", "<!doctype html>"),
        (
            "/admin/ai/runtime/tasks?status=PENDING",
            "text/html",
            "<!doctype html>",
        ),
        (
            "/admin/ai/runtime/deep/link",
            "text/html",
            "<!doctype html>",
        ),
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
    // The page names the hashed files, so it is asked for again each time;
    // a deep link gets it compressed too.
    let page = server
        .client
        .get(format!("{}/admin/ai/runtime/tasks/abc", server.base))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert_eq!(page.headers()["content-encoding"], "br");
    assert_eq!(&page.bytes().await.unwrap()[..], b"brotli page");
    // A missing asset is a 404, not the page, and not kept.
    let missing = get("/admin/ai/runtime/assets/gone-0000.wasm")
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["cache-control"], "no-cache");

    // No escaping the directory.
    let response = get("/admin/ai/runtime/..%2F..%2Fetc%2Fpasswd")
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
