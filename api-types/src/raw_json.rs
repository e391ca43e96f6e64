//! The `metadata` of workers, events and transitions in the dashboard's
//! build (wasm32): the JSON text as the server sent it, not a
//! `serde_json::Value`.
//!
//! Why: the dashboard only shows metadata (as text), and building and
//! printing `serde_json::Value`s was code in the WASM that nothing else
//! needs (README, "Size"). The server (native) keeps `serde_json::Value`,
//! so its code and its OpenAPI document do not change; the field is written
//! once, [`Metadata`](crate::Metadata), and `lib.rs` picks the type by
//! target. Compiled and tested on every target.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON value kept as its text (compact, as the server writes it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

/// Equal when the texts are.
impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// The compact JSON text of a [`Metadata`](crate::Metadata), whichever
/// type the target has: what the dashboard shows.
pub trait JsonText {
    fn json_text(&self) -> Cow<'_, str>;
}

impl JsonText for RawJson {
    fn json_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.get())
    }
}

impl JsonText for serde_json::Value {
    fn json_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_servers_text_and_writes_it_back() {
        let value = json!({"latency_ms": 812, "route": {"provider": "a", "model": "b"}, "tags": ["x"], "ok": true, "ratio": 0.25});
        let text = serde_json::to_string(&value).unwrap();
        let raw: RawJson = serde_json::from_str(&text).unwrap();
        assert_eq!(raw.get(), text);
        assert_eq!(serde_json::to_string(&raw).unwrap(), text);
        let again: RawJson = serde_json::from_str(&text).unwrap();
        assert_eq!(raw, again);
        // The same text from either target's type.
        assert_eq!(raw.json_text(), value.json_text());
    }

    #[test]
    fn reads_it_inside_a_struct() {
        #[derive(Deserialize)]
        struct Row {
            metadata: RawJson,
            n: i64,
        }
        let row: Row =
            serde_json::from_str(r#"{"metadata":{"a":[1,2,{"b":null}]},"n":3}"#).unwrap();
        assert_eq!(row.metadata.get(), r#"{"a":[1,2,{"b":null}]}"#);
        assert_eq!(row.n, 3);
    }
}
