//! The HTTP side: `POST /v1/traces` and `POST /v1/logs` as OTLP/HTTP
//! describes them, and `GET /metrics`.
//!
//! A request is checked in this order: content type (415), token (401),
//! body size after gzip (413), then decoded item by item. Its runtime
//! events go to the sink all at once or not at all: a full channel answers
//! 429 with `Retry-After` and takes nothing, so the client's retry lands
//! every item exactly once. The answer is in the request's encoding, as
//! OTLP/HTTP's "Failures" rules say: 200 with `partial_success` counting
//! the items that were decoded but unusable (a task id that is no UUID),
//! or, when part of the request could not be decoded at all, 400 with a
//! `google.rpc.Status` saying what and how many (every other 4xx and 5xx
//! carries a `Status` too). The good items of a 400 request are kept: the
//! client must not retry a 400, so nothing of it is asked for twice.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use observability_layer::{PreparedEvent, SinkHandle, WorkerReport, WorkerState};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Serialize;
use tower_http::decompression::RequestDecompressionLayer;

use crate::auth::IngestToken;
use crate::decode::{decode, Decoded, Encoding, Signal};
use crate::outcome::Outcome;
use crate::stats::{self, IngestStats};
use crate::status::{code, Status};
use crate::{logs, spans};

/// Limits and answers of the receiver.
#[derive(Debug, Clone)]
pub struct ReceiverSettings {
    /// Largest request body, after gzip decompression.
    pub max_body_bytes: usize,
    /// `Retry-After` of a 429, in seconds.
    pub retry_after_seconds: u32,
    /// Events the sink may hold for Postgres (its channel and queue) before
    /// requests are answered 429: while Postgres is slow or down, clients
    /// hold their data and retry, instead of the sink dropping it. Keep it
    /// well under the sink's channel capacity (its queue's size).
    pub max_queued_events: usize,
    /// Keep GenAI content (prompts, replies, tool arguments and results);
    /// off by default, as in the layer.
    pub capture_content: bool,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        ReceiverSettings {
            max_body_bytes: 8 * 1024 * 1024,
            retry_after_seconds: 1,
            // Half the sink's default channel capacity.
            max_queued_events: 16_384,
            capture_content: false,
        }
    }
}

/// What the handlers share.
pub struct Receiver {
    pub sink: SinkHandle,
    pub token: IngestToken,
    pub stats: IngestStats,
    pub settings: ReceiverSettings,
}

impl Receiver {
    pub fn new(sink: SinkHandle, token: IngestToken, settings: ReceiverSettings) -> Arc<Self> {
        Arc::new(Receiver {
            sink,
            token,
            stats: IngestStats::default(),
            settings,
        })
    }
}

/// The receiver's routes (serve them on a port of their own).
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/metrics", get(metrics))
        // Outermost: the body the handlers read (and bound) is the
        // decompressed one, so a small gzip bomb stops at the limit.
        .layer(RequestDecompressionLayer::new())
        .with_state(receiver)
}

/// Serves the receiver's routes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(receiver))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Publishes the receiver's worker status every `interval` (its counts
/// under `metadata.ingest`; the sink adds its own under `metadata.sink`),
/// on the current tokio runtime, until the returned task is aborted.
pub fn spawn_status_publisher(
    receiver: Arc<Receiver>,
    worker_id: &str,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let reporter = receiver.sink.worker(worker_id);
    tokio::spawn(async move {
        loop {
            let mut report = WorkerReport::new(WorkerState::Running);
            report
                .metadata
                .insert("ingest".into(), receiver.stats.counts().to_metadata());
            reporter.publish(report);
            tokio::time::sleep(interval).await;
        }
    })
}

async fn traces(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    let settings = spans::SpanSettings {
        capture_content: receiver.settings.capture_content,
    };
    receive::<Span>(&receiver, request, |decoded| {
        spans::outcomes(decoded, settings)
    })
    .await
}

async fn logs(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    receive::<LogRecord>(&receiver, request, |decoded| {
        decoded
            .batches
            .iter()
            .flat_map(|b| b.items.iter().map(logs::event))
            .collect()
    })
    .await
}

async fn metrics(State(receiver): State<Arc<Receiver>>) -> Response {
    let text = stats::prometheus_text(receiver.stats.counts(), &receiver.sink.stats());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The encoding `headers` announce, if it is one OTLP allows.
fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case("application/x-protobuf") {
        Some(Encoding::Protobuf)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

async fn receive<T>(
    receiver: &Receiver,
    request: Request,
    map: impl FnOnce(&Decoded<T>) -> Vec<Outcome>,
) -> Response
where
    T: Signal + Answer,
{
    let (parts, body) = request.into_parts();
    let Some(encoding) = encoding(&parts.headers) else {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Protobuf,
            "Content-Type must be application/x-protobuf or application/json",
        );
    };
    if !receiver.token.admits(&parts.headers) {
        IngestStats::add(&receiver.stats.unauthorized, 1);
        return status(
            StatusCode::UNAUTHORIZED,
            encoding,
            "an ingest token is required: Authorization: Bearer <token>",
        );
    }
    let limit = receiver.settings.max_body_bytes;
    let body: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(e) if is_length_limit(&e) => {
            return status(
                StatusCode::PAYLOAD_TOO_LARGE,
                encoding,
                &format!("the request body is over {limit} bytes (after decompression)"),
            )
        }
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                encoding,
                &format!("the request body cannot be read: {e}"),
            )
        }
    };
    let decoded = decode::<T>(&body, encoding);
    let stats = &receiver.stats;
    let outcomes = map(&decoded);
    let mut events: Vec<PreparedEvent> = Vec::new();
    let (mut ignored, mut rejected) = (0u64, decoded.undecodable);
    let mut first_problem: Option<String> = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Event(event) => events.push(*event),
            Outcome::Ignored => ignored += 1,
            Outcome::Rejected(why) => {
                rejected += 1;
                first_problem.get_or_insert(why);
            }
        }
    }
    let received = decoded.items() as u64 + decoded.undecodable;
    let accepted = events.len() as u64;
    if !events.is_empty() {
        let queued = receiver.sink.queued();
        let admitted = if queued + events.len() > receiver.settings.max_queued_events {
            Err(format!(
                "{queued} events wait for the database, the limit is {}",
                receiver.settings.max_queued_events
            ))
        } else {
            receiver
                .sink
                .submit(events)
                .map_err(|full| full.to_string())
        };
        if let Err(full) = admitted {
            IngestStats::add(&stats.throttled, received);
            let mut response = status(
                StatusCode::TOO_MANY_REQUESTS,
                encoding,
                &format!("the write queue is full: {full}; retry later"),
            );
            let retry = HeaderValue::from(receiver.settings.retry_after_seconds);
            response.headers_mut().insert(header::RETRY_AFTER, retry);
            return response;
        }
    }
    IngestStats::add(&stats.received, received);
    IngestStats::add(&stats.accepted, accepted);
    IngestStats::add(&stats.ignored, ignored);
    IngestStats::add(&stats.rejected, rejected);
    if let Some(damage) = &decoded.damage {
        // Bad data: a Status, whose message counts what was kept too (the
        // client sees no partial_success on a 400).
        let items = format!("{}s", T::ITEM);
        let mut message =
            format!("{damage} ({rejected} of {received} {items} rejected, {accepted} accepted)");
        if let Some(also) = &first_problem {
            message.push_str(&format!("; also {also}"));
        }
        let body = Status::new(code::INVALID_ARGUMENT, message)
            .with_bad_request(T::JSON_RESOURCES, damage);
        return answer(StatusCode::BAD_REQUEST, encoding, body);
    }
    let partial = first_problem.map(|message| (rejected, message));
    answer(StatusCode::OK, encoding, T::response(partial))
}

/// Whether reading the body stopped at the size limit.
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The two export responses, built the same way.
pub trait Answer {
    type Response: prost::Message + Serialize;
    fn response(partial: Option<(u64, String)>) -> Self::Response;
}

impl Answer for Span {
    type Response = ExportTraceServiceResponse;
    fn response(partial: Option<(u64, String)>) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected, error_message)| ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message,
            }),
        }
    }
}

impl Answer for LogRecord {
    type Response = ExportLogsServiceResponse;
    fn response(partial: Option<(u64, String)>) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected, error_message)| ExportLogsPartialSuccess {
                rejected_log_records: rejected as i64,
                error_message,
            }),
        }
    }
}

/// An error answer: a `google.rpc.Status` in the request's encoding.
fn status(http: StatusCode, encoding: Encoding, message: &str) -> Response {
    let grpc = match http {
        StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
        StatusCode::TOO_MANY_REQUESTS => code::UNAVAILABLE,
        StatusCode::PAYLOAD_TOO_LARGE => code::RESOURCE_EXHAUSTED,
        _ => code::INVALID_ARGUMENT,
    };
    answer(http, encoding, Status::new(grpc, message))
}

fn answer<M: prost::Message + Serialize>(
    code: StatusCode,
    encoding: Encoding,
    body: M,
) -> Response {
    let (content_type, bytes) = match encoding {
        Encoding::Protobuf => ("application/x-protobuf", body.encode_to_vec()),
        // Serialising these messages cannot fail.
        Encoding::Json => (
            "application/json",
            serde_json::to_vec(&body).unwrap_or_default(),
        ),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
