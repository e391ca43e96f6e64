//! `GET /healthz` and `GET /readyz` for orchestrators: no auth, nothing but
//! ok / not ok.

use axum::extract::State;
use axum::http::StatusCode;
use sqlx::PgPool;

/// The process is up and serving.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers and holds every migration this build knows of.
pub(crate) async fn readyz(State(pool): State<PgPool>) -> (StatusCode, &'static str) {
    match schema_is_current(&pool).await {
        Ok(true) => (StatusCode::OK, "ok\n"),
        // The cause goes to the server's log, not to an unauthenticated caller.
        Ok(false) => {
            tracing::warn!("not ready: the database lacks migrations of this build");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
    }
}

async fn schema_is_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> = sqlx::query_scalar(
        "select version from public._sqlx_migrations where success order by version",
    )
    .fetch_all(pool)
    .await?;
    Ok(ai_runtime_migrations::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .all(|m| applied.binary_search(&m.version).is_ok()))
}
