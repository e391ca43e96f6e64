//! A keyset page's JSON body, `{"<items>":[…],"nextCursor":…}`, written row
//! by row as the rows arrive from Postgres, so that encoding one row
//! overlaps with Postgres finding and sending the next (on another core),
//! instead of starting once the whole page is in.
//!
//! The page's query asks for one row more than the page holds: that
//! look-ahead row is not written, it only says that another page follows,
//! whose cursor is the sort key of the last row written.

use futures_util::{Stream, TryStreamExt};
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::cursor::{Cursor, CursorKind};
use crate::error::ApiFailure;
use crate::json_body::{JsonBody, JsonWriter};
use crate::timestamp::Timestamp;

/// The keyset sort key of a row: its timestamp and id.
pub type SortKey = (Timestamp, Uuid);

/// One page's JSON body, row by row (see the module documentation).
pub struct PageWriter {
    json: JsonWriter,
    kind: CursorKind,
    limit: usize,
    written: usize,
    /// The sort key of the last row written.
    last: Option<SortKey>,
    /// The look-ahead row arrived.
    more: bool,
}

impl PageWriter {
    /// A page of at most `limit` rows listed under `items`; the buffer is
    /// sized for rows of about `bytes_per_row` bytes of JSON.
    pub fn new(items: &str, kind: CursorKind, limit: i64, bytes_per_row: usize) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let mut json = JsonWriter::with_capacity(64 + limit * bytes_per_row);
        json.raw("{").string(items).raw(":[");
        PageWriter {
            json,
            kind,
            limit,
            written: 0,
            last: None,
            more: false,
        }
    }

    /// Writes each row of `rows` with `write_row` (which returns the row's
    /// sort key), up to the limit, and returns the finished page.
    pub async fn write_all<E>(
        mut self,
        rows: impl Stream<Item = Result<PgRow, E>>,
        write_row: impl Fn(&mut JsonWriter, &PgRow) -> Result<SortKey, ApiFailure>,
    ) -> Result<JsonBody, ApiFailure>
    where
        ApiFailure: From<E>,
    {
        futures_util::pin_mut!(rows);
        while let Some(row) = rows.try_next().await? {
            self.push(|json| write_row(json, &row))?;
        }
        self.finish()
    }

    /// Writes one row with `write` (which returns its sort key), or, past
    /// the limit, notes that another page follows.
    pub fn push(
        &mut self,
        write: impl FnOnce(&mut JsonWriter) -> Result<SortKey, ApiFailure>,
    ) -> Result<(), ApiFailure> {
        if self.written == self.limit {
            self.more = true;
            return Ok(());
        }
        if self.written > 0 {
            self.json.raw(",");
        }
        self.last = Some(write(&mut self.json)?);
        self.written += 1;
        Ok(())
    }

    /// Closes the list and adds `nextCursor`.
    pub fn finish(mut self) -> Result<JsonBody, ApiFailure> {
        let next_cursor = match self.last.filter(|_| self.more) {
            Some((at, id)) => {
                let at = at
                    .to_chrono()
                    .ok_or_else(|| ApiFailure::Internal("row time out of range".into()))?;
                Some(Cursor { at, id }.encode(self.kind))
            }
            None => None,
        };
        self.json
            .raw(r#"],"nextCursor":"#)
            .option(next_cursor.as_deref(), JsonWriter::string)
            .raw("}");
        Ok(self.json.finish())
    }
}

/// The page `rows` make when the query found one more (a copy of the
/// first, as the look-ahead row) if `more`; for tests of the endpoints.
#[cfg(test)]
pub(crate) fn page_of<T>(
    items: &str,
    kind: CursorKind,
    rows: &[T],
    more: bool,
    write: impl Fn(&mut JsonWriter, &T) -> SortKey,
) -> String {
    let mut page = PageWriter::new(items, kind, rows.len() as i64, 8);
    let look_ahead = rows.first().filter(|_| more);
    for row in rows.iter().chain(look_ahead) {
        page.push(|json| Ok(write(json, row))).unwrap();
    }
    String::from_utf8(page.finish().unwrap().as_bytes().to_vec()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(micros: i64) -> SortKey {
        (Timestamp(micros), Uuid::from_u128(micros as u128))
    }

    fn page(rows: &[i64], more: bool) -> String {
        page_of("items", CursorKind::Events, rows, more, |json, &row| {
            json.integer(row as i32);
            key(row)
        })
    }

    #[test]
    fn the_look_ahead_row_is_not_written_and_gives_the_cursor() {
        let cursor = Cursor {
            at: Timestamp(2).to_chrono().unwrap(),
            id: key(2).1,
        }
        .encode(CursorKind::Events);
        assert_eq!(
            page(&[3, 2], true),
            format!(r#"{{"items":[3,2],"nextCursor":"{cursor}"}}"#)
        );
    }

    #[test]
    fn a_page_without_its_look_ahead_row_is_the_last() {
        assert_eq!(page(&[3, 2], false), r#"{"items":[3,2],"nextCursor":null}"#);
        assert_eq!(page(&[], false), r#"{"items":[],"nextCursor":null}"#);
    }
}
