//! An export request decoded one item (span, log record) at a time, from
//! protobuf or JSON, so a damaged item costs only itself: the good items
//! before it, and in protobuf the ones after it in well-framed messages,
//! are kept. The messages themselves are the OpenTelemetry crate's (prost
//! and serde); only the framing of the envelope is walked here.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The two encodings OTLP/HTTP allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// Items that share a resource and an instrumentation scope.
#[derive(Debug, Default)]
pub struct Batch<T> {
    pub resource: Resource,
    pub scope: InstrumentationScope,
    pub items: Vec<T>,
}

/// What a request held: its items, and what could not be read.
#[derive(Debug)]
pub struct Decoded<T> {
    pub batches: Vec<Batch<T>>,
    /// Items whose own bytes could not be decoded.
    pub undecodable: u64,
    /// The first thing that could not be read, when something could not
    /// (the request is answered 400; the items above are still kept).
    pub damage: Option<String>,
}

impl<T> Decoded<T> {
    fn new() -> Self {
        Decoded {
            batches: Vec::new(),
            undecodable: 0,
            damage: None,
        }
    }

    fn damaged(&mut self, what: String) {
        self.damage.get_or_insert(what);
    }

    pub fn items(&self) -> usize {
        self.batches.iter().map(|b| b.items.len()).sum()
    }
}

/// The kinds of request: where their items sit in the envelope.
pub trait Signal: Message + Default + DeserializeOwned {
    /// "span", "log record": for error messages.
    const ITEM: &'static str;
    /// The JSON name of the scope level's item list.
    const JSON_ITEMS: &'static str;
    /// The JSON name of the request's list (`resourceSpans`, ...).
    const JSON_RESOURCES: &'static str;
    /// Spans (`resourceSpans`, `scopeSpans`) or log records (`resourceLogs`, ...).
    const SPANS: bool;
}

impl Signal for Span {
    const ITEM: &'static str = "span";
    const JSON_ITEMS: &'static str = "spans";
    const JSON_RESOURCES: &'static str = "resourceSpans";
    const SPANS: bool = true;
}

impl Signal for LogRecord {
    const ITEM: &'static str = "log record";
    const JSON_ITEMS: &'static str = "logRecords";
    const JSON_RESOURCES: &'static str = "resourceLogs";
    const SPANS: bool = false;
}

/// Decodes an `Export{Trace,Logs}ServiceRequest` body.
pub fn decode<T: Signal>(body: &[u8], encoding: Encoding) -> Decoded<T> {
    match encoding {
        Encoding::Protobuf => decode_protobuf(body),
        Encoding::Json => decode_json(body),
    }
}

// ---------------------------------------------------------------- protobuf

/// One field of a message: its number and, when length-delimited, its bytes.
struct Field<'a> {
    number: u32,
    bytes: Option<&'a [u8]>,
}

/// The fields of the protobuf message in `buf`, in order, until the end or
/// the first one that cannot be read (then `Err` with its offset and why).
/// A length that runs past the end gives what is there, then the error:
/// the complete items at the start of a truncated message are still read.
fn fields(buf: &[u8]) -> impl Iterator<Item = Result<Field<'_>, String>> {
    let total = buf.len();
    let mut rest = buf;
    let mut failed = false;
    let mut pending_error: Option<String> = None;
    std::iter::from_fn(move || {
        if let Some(error) = pending_error.take() {
            failed = true;
            return Some(Err(error));
        }
        if failed || rest.is_empty() {
            return None;
        }
        let at = total - rest.len();
        let fail = |why: String| Some(Err(format!("at byte {at}: {why}")));
        let (number, wire_type) = match decode_key(&mut rest) {
            Ok(key) => key,
            Err(e) => {
                failed = true;
                return fail(e.to_string());
            }
        };
        let skip = |rest: &mut &[u8], n: usize| -> bool {
            if rest.len() < n {
                return false;
            }
            *rest = &rest[n..];
            true
        };
        let ok = match wire_type {
            WireType::LengthDelimited => {
                let len = match decode_varint(&mut rest) {
                    Ok(len) => len,
                    Err(e) => {
                        failed = true;
                        return fail(e.to_string());
                    }
                };
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > rest.len() {
                    // Truncated: hand over what is there, then report.
                    let bytes = rest;
                    rest = &[];
                    pending_error = Some(format!(
                        "at byte {at}: field {number} holds {len} bytes, {} remain (truncated)",
                        bytes.len()
                    ));
                    return Some(Ok(Field {
                        number,
                        bytes: Some(bytes),
                    }));
                }
                let (bytes, after) = rest.split_at(len);
                rest = after;
                return Some(Ok(Field {
                    number,
                    bytes: Some(bytes),
                }));
            }
            WireType::Varint => decode_varint(&mut rest).is_ok(),
            WireType::SixtyFourBit => skip(&mut rest, 8),
            WireType::ThirtyTwoBit => skip(&mut rest, 4),
            WireType::StartGroup | WireType::EndGroup => false,
        };
        if !ok {
            failed = true;
            return fail(format!("field {number} cannot be read"));
        }
        Some(Ok(Field {
            number,
            bytes: None,
        }))
    })
}

fn decode_protobuf<T: Signal>(body: &[u8]) -> Decoded<T> {
    let mut decoded = Decoded::new();
    // Export*ServiceRequest { 1: repeated Resource{Spans,Logs} }
    for field in fields(body) {
        match field {
            Ok(Field {
                number: 1,
                bytes: Some(bytes),
            }) => resource_level(bytes, &mut decoded),
            Ok(_) => {}
            Err(e) => decoded.damaged(format!("request {e}")),
        }
    }
    decoded
}

/// Resource{Spans,Logs} { 1: resource, 2: repeated Scope{Spans,Logs} }
fn resource_level<T: Signal>(buf: &[u8], decoded: &mut Decoded<T>) {
    let mut resource = Resource::default();
    let mut scopes = Vec::new();
    for field in fields(buf) {
        match field {
            Ok(Field {
                number: 1,
                bytes: Some(bytes),
            }) => match Resource::decode(bytes) {
                Ok(r) => resource = r,
                Err(e) => decoded.damaged(format!("resource: {e}")),
            },
            Ok(Field {
                number: 2,
                bytes: Some(bytes),
            }) => scopes.push(bytes),
            Ok(_) => {}
            Err(e) => decoded.damaged(format!("resource {e}")),
        }
    }
    for scope in scopes {
        let batch = scope_level(scope, resource.clone(), decoded);
        decoded.batches.push(batch);
    }
}

/// Scope{Spans,Logs} { 1: scope, 2: repeated Span / LogRecord }
fn scope_level<T: Signal>(buf: &[u8], resource: Resource, decoded: &mut Decoded<T>) -> Batch<T> {
    let mut batch = Batch {
        resource,
        scope: InstrumentationScope::default(),
        items: Vec::new(),
    };
    for field in fields(buf) {
        match field {
            Ok(Field {
                number: 1,
                bytes: Some(bytes),
            }) => match InstrumentationScope::decode(bytes) {
                Ok(scope) => batch.scope = scope,
                Err(e) => decoded.damaged(format!("scope: {e}")),
            },
            Ok(Field {
                number: 2,
                bytes: Some(bytes),
            }) => match T::decode(bytes) {
                Ok(item) => batch.items.push(item),
                Err(e) => {
                    decoded.undecodable += 1;
                    decoded.damaged(format!("{}: {e}", T::ITEM));
                }
            },
            Ok(_) => {}
            Err(e) => decoded.damaged(format!("scope {e}")),
        }
    }
    batch
}

// -------------------------------------------------------------------- JSON

/// The JSON envelope down to the items, each kept as its raw text and
/// parsed on its own. Reading a raw value does not recurse (serde_json
/// skips it with a heap stack), so an item nested past the parser's depth
/// limit fails alone when it is parsed, not the whole request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest<'a> {
    #[serde(default, borrow)]
    resource_spans: Vec<JsonResource<'a>>,
    #[serde(default, borrow)]
    resource_logs: Vec<JsonResource<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonResource<'a> {
    #[serde(default, borrow)]
    resource: Option<&'a RawValue>,
    #[serde(default, borrow)]
    scope_spans: Vec<JsonScope<'a>>,
    #[serde(default, borrow)]
    scope_logs: Vec<JsonScope<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonScope<'a> {
    #[serde(default, borrow)]
    scope: Option<&'a RawValue>,
    #[serde(default, borrow)]
    spans: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    log_records: Vec<&'a RawValue>,
}

fn decode_json<T: Signal>(body: &[u8]) -> Decoded<T> {
    let mut decoded = Decoded::new();
    let request: JsonRequest<'_> = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            decoded.damaged(format!("request body: {e}"));
            return decoded;
        }
    };
    let resources = if T::SPANS {
        request.resource_spans
    } else {
        request.resource_logs
    };
    for resource in resources {
        let resource_value = match resource.resource.map(parse::<Resource>).transpose() {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => {
                // Its items are not counted one by one: the request says why.
                decoded.damaged(format!("resource: {e}"));
                continue;
            }
        };
        let scopes = if T::SPANS {
            resource.scope_spans
        } else {
            resource.scope_logs
        };
        for scope in scopes {
            let items = if T::SPANS {
                scope.spans
            } else {
                scope.log_records
            };
            let scope_value = match scope.scope.map(parse::<InstrumentationScope>).transpose() {
                Ok(s) => s.unwrap_or_default(),
                Err(e) => {
                    decoded.damaged(format!("scope: {e}"));
                    decoded.undecodable += items.len() as u64;
                    continue;
                }
            };
            let mut batch = Batch {
                resource: resource_value.clone(),
                scope: scope_value,
                items: Vec::with_capacity(items.len()),
            };
            for (i, item) in items.into_iter().enumerate() {
                match parse::<T>(item) {
                    Ok(item) => batch.items.push(item),
                    Err(e) => {
                        decoded.undecodable += 1;
                        decoded.damaged(format!("{} {i} ({}): {e}", T::ITEM, T::JSON_ITEMS));
                    }
                }
            }
            decoded.batches.push(batch);
        }
    }
    decoded
}

fn parse<T: DeserializeOwned>(raw: &RawValue) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw.get())
}
