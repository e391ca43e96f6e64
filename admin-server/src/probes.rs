//! `GET /healthz` and `GET /readyz` for orchestrators: no auth, nothing but
//! ok / not ok.

use axum::extract::State;
use axum::http::StatusCode;
use sqlx::PgPool;

/// The process is up and serving.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers and its schema is at least this build's: the
/// version the migrations write into the schema itself
/// (`ai_runtime_schema_version()`), so a database migrated by the Supabase
/// CLI or psql is ready as one migrated by sqlx is.
pub(crate) async fn readyz(State(pool): State<PgPool>) -> (StatusCode, &'static str) {
    let wanted = ai_runtime_migrations::latest_version();
    match ai_runtime_migrations::schema_version(&pool).await {
        Ok(Some(version)) if version >= wanted => (StatusCode::OK, "ok\n"),
        // The cause goes to the server's log, not to an unauthenticated caller.
        Ok(found) => {
            tracing::warn!(
                schema_version = found,
                wanted,
                "not ready: the database lacks migrations of this build"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
    }
}
