//! Opaque keyset cursors. A cursor names the last row of a page by its sort
//! key `(timestamp, id)`; the next page starts strictly after it in the
//! descending order. Rows inserted meanwhile sort before it (newer), so
//! paging never repeats or skips a row.
//!
//! Encoding: base64url of `<kind>1:<microseconds since epoch>:<uuid>`. The
//! kind keeps an events cursor out of the tasks endpoint and vice versa.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The earliest `timestamptz` (4714-11-24 00:00 BC, UTC) in microseconds
/// since the Unix epoch.
const POSTGRES_MIN_MICROS: i64 = -210_866_803_200_000_000;

/// Which listing a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CursorKind {
    Events,
    Tasks,
}

impl CursorKind {
    fn tag(self) -> &'static str {
        match self {
            CursorKind::Events => "e1",
            CursorKind::Tasks => "t1",
        }
    }
}

/// The sort key of the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) at: DateTime<Utc>,
    pub(crate) id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor this endpoint issued; pass back `nextCursor` unchanged")]
pub(crate) struct BadCursor;

impl Cursor {
    pub(crate) fn encode(&self, kind: CursorKind) -> String {
        let raw = format!("{}:{}:{}", kind.tag(), self.at.timestamp_micros(), self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn decode(kind: CursorKind, text: &str) -> Result<Cursor, BadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        let raw = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let mut parts = raw.split(':');
        let (Some(tag), Some(micros), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadCursor);
        };
        if tag != kind.tag() {
            return Err(BadCursor);
        }
        let micros: i64 = micros.parse().map_err(|_| BadCursor)?;
        // Only instants Postgres can compare with: chrono's range reaches
        // further back than `timestamptz`'s.
        if micros < POSTGRES_MIN_MICROS {
            return Err(BadCursor);
        }
        let at = DateTime::from_timestamp_micros(micros).ok_or(BadCursor)?;
        let id = Uuid::parse_str(id).map_err(|_| BadCursor)?;
        // Only hyphenated lowercase, as encode writes it.
        if id.to_string() != id_text(&raw) {
            return Err(BadCursor);
        }
        Ok(Cursor { at, id })
    }
}

fn id_text(raw: &str) -> &str {
    raw.rsplit(':').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_forgeries() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        let text = cursor.encode(CursorKind::Events);
        assert_eq!(Cursor::decode(CursorKind::Events, &text), Ok(cursor));
        assert_eq!(Cursor::decode(CursorKind::Tasks, &text), Err(BadCursor));
        for forged in [
            "",
            "abc",
            "!!!!",
            &URL_SAFE_NO_PAD.encode("e1:x:y"),
            &URL_SAFE_NO_PAD.encode("e1:1:2:3"),
        ] {
            assert_eq!(
                Cursor::decode(CursorKind::Events, forged),
                Err(BadCursor),
                "{forged}"
            );
        }
        let huge = URL_SAFE_NO_PAD.encode(format!("e1:{}:{}", i64::MAX, Uuid::nil()));
        assert_eq!(Cursor::decode(CursorKind::Events, &huge), Err(BadCursor));
        // Within chrono's range, before Postgres's.
        let ancient =
            URL_SAFE_NO_PAD.encode(format!("e1:{}:{}", POSTGRES_MIN_MICROS - 1, Uuid::nil()));
        assert_eq!(Cursor::decode(CursorKind::Events, &ancient), Err(BadCursor));
        let earliest = URL_SAFE_NO_PAD.encode(format!("e1:{POSTGRES_MIN_MICROS}:{}", Uuid::nil()));
        assert!(Cursor::decode(CursorKind::Events, &earliest).is_ok());
    }
}
