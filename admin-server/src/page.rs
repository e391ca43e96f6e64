//! A keyset page, `{"<items>":[…],"nextCursor":…}`.
//!
//! The page's query asks for one row more than the page holds: that
//! look-ahead row is not sent, it only says that another page follows,
//! whose cursor is the sort key of the last row sent.

use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use uuid::Uuid;

use crate::cursor::{Cursor, CursorKind};

/// A row of a keyset-paginated listing.
pub(crate) trait PageItem {
    /// The key the rows are listed under (`events`, `tasks`).
    const ITEMS: &'static str;
    /// Which listing the page's cursor belongs to.
    const CURSOR: CursorKind;
    /// The row's sort key: its timestamp and id.
    fn sort_key(&self) -> (DateTime<Utc>, Uuid);
}

/// One page of rows and the cursor of the next page, if any.
#[derive(Debug)]
pub(crate) struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T: PageItem> Page<T> {
    /// The page of `rows`, the query's answer of up to `limit + 1` rows (see
    /// the module documentation).
    pub(crate) fn from_look_ahead(mut rows: Vec<T>, limit: i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = rows.last().filter(|_| more).map(|last| {
            let (at, id) = last.sort_key();
            Cursor { at, id }.encode(T::CURSOR)
        });
        Page {
            items: rows,
            next_cursor,
        }
    }
}

// By hand only because the items' key depends on `T`.
impl<T: PageItem + Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut page = serializer.serialize_struct("Page", 2)?;
        page.serialize_field(T::ITEMS, &self.items)?;
        page.serialize_field("nextCursor", &self.next_cursor)?;
        page.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row(i64);

    impl PageItem for Row {
        const ITEMS: &'static str = "items";
        const CURSOR: CursorKind = CursorKind::Events;
        fn sort_key(&self) -> (DateTime<Utc>, Uuid) {
            (
                DateTime::from_timestamp_micros(self.0).unwrap(),
                Uuid::from_u128(self.0 as u128),
            )
        }
    }

    fn page(rows: &[i64], limit: i64) -> String {
        let rows = rows.iter().map(|&r| Row(r)).collect();
        serde_json::to_string(&Page::from_look_ahead(rows, limit)).unwrap()
    }

    #[test]
    fn the_look_ahead_row_is_not_sent_and_gives_the_cursor() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(2).unwrap(),
            id: Uuid::from_u128(2),
        }
        .encode(CursorKind::Events);
        assert_eq!(
            page(&[3, 2, 1], 2),
            format!(r#"{{"items":[3,2],"nextCursor":"{cursor}"}}"#)
        );
    }

    #[test]
    fn a_page_without_its_look_ahead_row_is_the_last() {
        assert_eq!(page(&[3, 2], 2), r#"{"items":[3,2],"nextCursor":null}"#);
        assert_eq!(page(&[], 50), r#"{"items":[],"nextCursor":null}"#);
    }
}
