//! A database outage is a 503 with a clear message, and the server recovers
//! by itself when the database returns.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use crate::server;

async fn set_connections_allowed(admin: &mut PgConnection, database: &str, allowed: bool) {
    sqlx::query(&format!(
        "alter database \"{database}\" allow_connections {allowed}"
    ))
    .execute(&mut *admin)
    .await
    .unwrap();
    if !allowed {
        sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()")
            .bind(database)
            .execute(&mut *admin)
            .await
            .unwrap();
    }
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn outage_gives_503_then_recovers(_: PgPoolOptions, options: PgConnectOptions) {
    let database = options.get_database().unwrap().to_owned();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(1))
        .connect_with(options.clone())
        .await
        .unwrap();
    let server = server::start(pool.clone()).await;
    server.ok("status").await;

    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .unwrap();
    set_connections_allowed(&mut admin, &database, false).await;
    for endpoint in ["status", "events", "tasks"] {
        let (status, body) = server.api(endpoint).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{endpoint}: {body}"
        );
        assert_eq!(body["error"], "unavailable");
        assert!(body["message"].as_str().unwrap().contains("database"));
    }
    set_connections_allowed(&mut admin, &database, true).await;
    let mut recovered = false;
    for _ in 0..50 {
        if server.api("events").await.0 == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the server did not recover");
    server.ok("status").await;
    server.ok("tasks").await;
    server.stop().await;
    pool.close().await;
}
