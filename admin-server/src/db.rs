//! Database plumbing. The binaries' connection pool is lazy (the server
//! starts while the database is down and recovers when it returns), with
//! short timeouts so an outage turns into a quick 503 rather than a hung
//! request.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgTypeInfo, PgValueRef};
use sqlx::{Decode, PgPool, Postgres, Type};

use crate::error::ApiFailure;

/// The server's pool over `database_url`: connects on first use.
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
pub(crate) fn parse_db<T>(text: &str) -> Result<T, ApiFailure>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse::<T>()
        .map_err(|e| ApiFailure::Internal(format!("database holds an {e}")))
}

/// A vocabulary value (`EventLayer`, `TaskStatus`, ...) decoded from a text
/// column, for rows read with `sqlx::FromRow`; serialized as the value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct Vocab<T>(pub T);

impl<T> Type<Postgres> for Vocab<T> {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl<'r, T> Decode<'r, Postgres> for Vocab<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Postgres>>::decode(value)?;
        Ok(Vocab(text.parse()?))
    }
}
