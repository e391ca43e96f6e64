//! A response body that already is JSON, written by hand into a buffer
//! sized for it (axum's `Json` serializes a value into a buffer that starts
//! at 128 bytes and grows by copying).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Serialized JSON, sent with `content-type: application/json`.
pub struct JsonBody(Vec<u8>);

impl JsonBody {
    /// Bytes that already are JSON.
    pub fn from_json(bytes: Vec<u8>) -> Self {
        JsonBody(bytes)
    }

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
