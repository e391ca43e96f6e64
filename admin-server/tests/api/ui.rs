//! The dashboard's static files: public, index.html for unknown paths,
//! proper content types, and a 503 page while it is not built.

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
    std::fs::write(dir.join("admin-ui.js"), "export default 1;").unwrap();
    std::fs::write(dir.join("admin-ui_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
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
        ("/admin/ai/runtime/admin-ui.js", "text/javascript", "export"),
        (
            "/admin/ai/runtime/admin-ui_bg.wasm",
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
