//! Database plumbing. The binaries' connection pool is lazy (the server
//! starts while the database is down and recovers when it returns), with
//! short timeouts so an outage turns into a quick 503 rather than a hung
//! request.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::ApiFailure;

pub fn lazy_pool(database_url: &str) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(database_url)?
        .application_name("admin-server")
        .options([("statement_timeout", "5s")]);
    Ok(pool_options().connect_lazy_with(options))
}

/// The server's pool settings (tests build their pools from these too).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        // No ping before each acquire: it is a round trip per request. A
        // connection a database restart broke fails its one request with a
        // 503 and is replaced; the next requests get fresh connections.
        .test_before_acquire(false)
}

/// A vocabulary value read from the database (its CHECK constraints make a
/// failure here a schema bug, hence 500).
pub fn parse_db<T>(text: &str) -> Result<T, ApiFailure>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse::<T>()
        .map_err(|e| ApiFailure::Internal(format!("database holds an {e}")))
}
