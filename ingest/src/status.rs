//! `google.rpc.Status`, the body OTLP/HTTP gives every 4xx and 5xx answer
//! (a 2xx carries an `Export*ServiceResponse` instead). No crate in the
//! lockfile has it (`tonic-types` would bring tonic), so the three
//! messages it takes are derived here, field numbers as in
//! `google/rpc/status.proto` and `google/rpc/error_details.proto`.
//!
//! Their JSON form follows the proto3 JSON mapping: `code`, `message`,
//! `details`, each detail an `Any` written as its message's fields beside
//! `"@type"`.

use prost::Message;
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};

/// `type_url` of a [`BadRequest`] packed in an [`Any`].
pub const BAD_REQUEST_TYPE: &str = "type.googleapis.com/google.rpc.BadRequest";

/// gRPC codes the receiver uses (OTLP/HTTP clients go by the HTTP status;
/// the code is for people reading the answer).
pub mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message, Serialize)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What was wrong, for the developer reading it.
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`: a message and its type.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.BadRequest`: which part of the request was bad, and why
/// (what OTLP asks a 400 to carry).
#[derive(Clone, PartialEq, Message, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<FieldViolation>,
}

/// `google.rpc.BadRequest.FieldViolation`.
#[derive(Clone, PartialEq, Message, Serialize)]
pub struct FieldViolation {
    /// Where in the request, e.g. `resourceSpans`.
    #[prost(string, tag = "1")]
    pub field: String,
    #[prost(string, tag = "2")]
    pub description: String,
}

impl Status {
    /// A status with no details.
    pub fn new(code: i32, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a [`BadRequest`] detail with one violation.
    pub fn with_bad_request(mut self, field: &str, description: &str) -> Status {
        let bad = BadRequest {
            field_violations: vec![FieldViolation {
                field: field.to_owned(),
                description: description.to_owned(),
            }],
        };
        self.details.push(Any {
            type_url: BAD_REQUEST_TYPE.to_owned(),
            value: bad.encode_to_vec(),
        });
        self
    }

    /// The [`BadRequest`] among the details, if there is one.
    pub fn bad_request(&self) -> Option<BadRequest> {
        self.details
            .iter()
            .find(|any| any.type_url == BAD_REQUEST_TYPE)
            .and_then(|any| BadRequest::decode(any.value.as_slice()).ok())
    }
}

impl Serialize for Any {
    /// The JSON form of an `Any`: `"@type"` beside the packed message's
    /// fields. The receiver packs only a [`BadRequest`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.type_url != BAD_REQUEST_TYPE {
            return Err(S::Error::custom(format!(
                "no JSON form known for {}",
                self.type_url
            )));
        }
        let bad = BadRequest::decode(self.value.as_slice()).map_err(S::Error::custom)?;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("@type", &self.type_url)?;
        map.serialize_entry("fieldViolations", &bad.field_violations)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_request_round_trips_and_has_the_proto3_json_form() {
        let status = Status::new(code::INVALID_ARGUMENT, "span 1: invalid wire type")
            .with_bad_request("resourceSpans", "span 1: invalid wire type");
        let decoded = Status::decode(status.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, status);
        let bad = decoded.bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "resourceSpans");
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "code": 3,
                "message": "span 1: invalid wire type",
                "details": [{
                    "@type": BAD_REQUEST_TYPE,
                    "fieldViolations": [{
                        "field": "resourceSpans",
                        "description": "span 1: invalid wire type",
                    }],
                }],
            })
        );
        let plain = serde_json::to_value(Status::new(code::UNAUTHENTICATED, "no token")).unwrap();
        assert_eq!(
            plain,
            serde_json::json!({"code": 16, "message": "no token"})
        );
    }
}
