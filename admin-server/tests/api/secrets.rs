//! Credentials stay out of the logs, and the server refuses to start without any.

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;

use crate::server::{self, admin_jwt, TOKEN};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn tokens_never_reach_the_logs(pool: PgPool) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // sqlx::test runs on one thread, so the server's tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = server::start(pool).await;
    let jwt = admin_jwt();
    let wrong = format!("{TOKEN}-wrong");
    for header in [
        format!("Bearer {TOKEN}"),
        format!("Bearer {jwt}"),
        format!("Bearer {wrong}"),
    ] {
        server.api_as("status", Some(&header)).await;
        server.api_as("events?limit=1", Some(&header)).await;
    }
    server.stop().await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/api/admin/ai/runtime/status"),
        "nothing was captured: {logs}"
    );
    for secret in [
        TOKEN,
        jwt.as_str(),
        wrong.as_str(),
        jwt.split('.').nth(2).unwrap(),
    ] {
        assert!(!logs.contains(secret), "a token reached the logs");
    }
    assert!(
        !logs.to_ascii_lowercase().contains("authorization"),
        "{logs}"
    );
}

#[test]
fn server_refuses_to_start_without_credentials() {
    let output = Command::new(env!("CARGO_BIN_EXE_admin-server"))
        .env_remove("ADMIN_TOKEN")
        .env_remove("SUPABASE_JWT_SECRET")
        .env("ADMIN_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ADMIN_TOKEN") && stderr.contains("SUPABASE_JWT_SECRET"),
        "{stderr}"
    );
}
