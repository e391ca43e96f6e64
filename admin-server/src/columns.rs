//! Reading the columns of a fetched row straight from their binary wire
//! form. sqlx's `try_get` checks each value's column type against the Rust
//! type before decoding it (and decodes timestamps through calendar
//! arithmetic), which was most of the cost of decoding a 500-event page.
//! A page query's column types are fixed by its select list, so each column
//! is read here as the one type it is; a value of another type still fails
//! (a wrong length, bad UTF-8 or bad JSON), with a 500.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::{Row, ValueRef};
use uuid::Uuid;

use crate::error::ApiFailure;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The bytes of a non-null column; `None` for NULL.
fn bytes(row: &PgRow, index: usize) -> Result<Option<&[u8]>, ApiFailure> {
    let value = row.try_get_raw(index)?;
    if value.is_null() {
        return Ok(None);
    }
    if value.format() != PgValueFormat::Binary {
        return Err(bad(index, "not in binary format"));
    }
    value.as_bytes().map(Some).map_err(|e| bad(index, e))
}

fn required(row: &PgRow, index: usize) -> Result<&[u8], ApiFailure> {
    bytes(row, index)?.ok_or_else(|| bad(index, "unexpected NULL"))
}

fn bad(index: usize, what: impl std::fmt::Display) -> ApiFailure {
    ApiFailure::Internal(format!("column {index}: {what}"))
}

/// `text`, `varchar`.
pub fn text(row: &PgRow, index: usize) -> Result<&str, ApiFailure> {
    std::str::from_utf8(required(row, index)?).map_err(|e| bad(index, e))
}

pub fn optional_text(row: &PgRow, index: usize) -> Result<Option<&str>, ApiFailure> {
    bytes(row, index)?
        .map(|b| std::str::from_utf8(b).map_err(|e| bad(index, e)))
        .transpose()
}

/// `uuid`: 16 bytes.
pub fn uuid(row: &PgRow, index: usize) -> Result<Uuid, ApiFailure> {
    Uuid::from_slice(required(row, index)?).map_err(|e| bad(index, e))
}

pub fn optional_uuid(row: &PgRow, index: usize) -> Result<Option<Uuid>, ApiFailure> {
    bytes(row, index)?
        .map(|b| Uuid::from_slice(b).map_err(|e| bad(index, e)))
        .transpose()
}

/// `timestamptz`: microseconds since 2000-01-01 UTC, big-endian.
pub fn timestamp(row: &PgRow, index: usize) -> Result<DateTime<Utc>, ApiFailure> {
    let raw: [u8; 8] = required(row, index)?
        .try_into()
        .map_err(|_| bad(index, "not a timestamptz"))?;
    i64::from_be_bytes(raw)
        .checked_add(PG_EPOCH_MICROS)
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| bad(index, "timestamp out of range"))
}

/// `jsonb`: a version byte (1), then the JSON text, returned as is
/// (jsonb's text form is valid JSON by construction).
pub fn jsonb(row: &PgRow, index: usize) -> Result<&[u8], ApiFailure> {
    match required(row, index)? {
        [1, text @ ..] => Ok(text),
        _ => Err(bad(index, "not jsonb (version 1)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::PgPool;

    /// Each reader agrees with sqlx's own decoding, NULLs included.
    #[sqlx::test(migrations = false)]
    async fn readers_agree_with_sqlx(pool: PgPool) {
        // Prepared (extended protocol), as the pages are: binary results.
        let row = sqlx::query(
                "select 'tool-3 é'::text, null::text, gen_random_uuid(), null::uuid, \
                 '2026-11-25 09:14:19.123456+00'::timestamptz, '1999-12-31 23:59:59+00'::timestamptz, \
                 '{\"b\": [1, 2.5, null], \"a\": \"x\\\"y\"}'::jsonb, 'x'::text",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(text(&row, 0).unwrap(), row.get::<&str, _>(0));
        assert_eq!(optional_text(&row, 1).unwrap(), None);
        assert_eq!(uuid(&row, 2).unwrap(), row.get::<Uuid, _>(2));
        assert_eq!(optional_uuid(&row, 2).unwrap(), Some(row.get::<Uuid, _>(2)));
        assert_eq!(optional_uuid(&row, 3).unwrap(), None);
        for i in [4, 5] {
            assert_eq!(timestamp(&row, i).unwrap(), row.get::<DateTime<Utc>, _>(i));
        }
        let json: serde_json::Value = serde_json::from_slice(jsonb(&row, 6).unwrap()).unwrap();
        assert_eq!(json, row.get::<serde_json::Value, _>(6));
        // Wrong types and NULLs are errors, not panics.
        assert!(uuid(&row, 7).is_err());
        assert!(timestamp(&row, 0).is_err());
        assert!(jsonb(&row, 1).is_err());
        assert!(text(&row, 1).is_err());
    }
}
