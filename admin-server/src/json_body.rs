//! A JSON response body written up front into a buffer sized for it, for
//! the list pages, which run to hundreds of kilobytes (axum's `Json`
//! starts from 128 bytes and grows by copying), and the writer that builds
//! it piece by piece.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::timestamp::Timestamp;

/// Serialized JSON, sent with `content-type: application/json`.
pub struct JsonBody(Vec<u8>);

impl JsonBody {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        // The content type axum's `Json` sends.
        let json = HeaderValue::from_static("application/json");
        ([(header::CONTENT_TYPE, json)], self.0).into_response()
    }
}

/// Writes JSON piece by piece into a response body, for the events and
/// tasks pages, whose rows are many and alike: keys and punctuation go in as constant
/// bytes, ids and timestamps are formatted straight into the buffer (they
/// never need escaping), and only free text goes through serde_json's
/// string escaping. Serializing the same rows through serde's derive took
/// twice as long.
pub struct JsonWriter {
    out: Vec<u8>,
}

impl JsonWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        JsonWriter {
            out: Vec::with_capacity(capacity),
        }
    }

    /// Bytes that are already JSON (keys, punctuation, a `RawValue`).
    pub fn raw(&mut self, json: &str) -> &mut Self {
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    /// A string, escaped.
    pub fn string(&mut self, text: &str) -> &mut Self {
        // Writing into a Vec cannot fail, and a &str always serializes.
        let _ = serde_json::to_writer(&mut self.out, text);
        self
    }

    /// A string known to need no escaping (vocabulary values).
    pub fn plain_string(&mut self, text: &str) -> &mut Self {
        self.out.push(b'"');
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'"');
        self
    }

    pub fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.plain_string(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
    }

    pub fn integer(&mut self, value: i32) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.out, &value);
        self
    }

    pub fn timestamp(&mut self, at: Timestamp) -> &mut Self {
        at.write_json(&mut self.out);
        self
    }

    /// `null`, or the value written by `write`.
    pub fn option<T>(
        &mut self,
        value: Option<T>,
        write: impl FnOnce(&mut Self, T) -> &mut Self,
    ) -> &mut Self {
        match value {
            Some(value) => write(self, value),
            None => self.raw("null"),
        }
    }

    pub fn finish(self) -> JsonBody {
        JsonBody(self.out)
    }
}
