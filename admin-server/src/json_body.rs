//! A JSON response body serialized up front into a buffer sized for it, for
//! the list endpoints whose pages run to hundreds of kilobytes (axum's `Json`
//! starts from 128 bytes and grows by copying).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiFailure;

/// Serialized JSON, sent with `content-type: application/json`.
pub struct JsonBody(Vec<u8>);

impl JsonBody {
    /// Serializes `value` into a buffer of `capacity` bytes (a good guess
    /// saves the regrowth copies; a bad one only costs them).
    pub fn new(value: &impl Serialize, capacity: usize) -> Result<Self, ApiFailure> {
        let mut buffer = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut buffer, value)
            .map_err(|e| ApiFailure::Internal(format!("cannot encode the response: {e}")))?;
        Ok(JsonBody(buffer))
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
