//! A real OTLP/HTTP logs receiver on 127.0.0.1 for tests: it decodes each
//! `ExportLogsServiceRequest` with the OpenTelemetry proto crate and keeps
//! what arrived, headers included. It can answer with an error status or
//! hang, to play a failing collector.
//!
//! The one copy: other crates' tests include this file with
//! `#[path = ".../observability-layer/tests/common/otlp_receiver.rs"]`
//! (they need `axum`, `opentelemetry-proto` and `prost` as dev-dependencies).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;

/// What the receiver answers: 0 accepts (200); 1 hangs (never answers);
/// any other value is the status it answers with.
pub const ACCEPT: u16 = 0;
pub const HANG: u16 = 1;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub resource: HashMap<String, String>,
    pub scope: String,
    pub records: Vec<LogRecord>,
    /// What the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct Shared {
    /// Only count records (a benchmark's receiver), keep nothing.
    count_only: AtomicBool,
    records_seen: AtomicUsize,
    answer: AtomicU16,
    /// Answer 400 to a request holding a record with this reason code.
    reject_code: Mutex<Option<String>>,
    received: Mutex<Vec<Received>>,
}

pub struct Receiver {
    pub address: std::net::SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// Starts listening on a free port of 127.0.0.1 (its own runtime and thread).
    pub fn start() -> Receiver {
        Receiver::start_with(|listener| listener)
    }

    /// Starts with the TCP listener wrapped by `wrap` (e.g. in TLS: see
    /// `tls_receiver.rs`), inside the receiver's runtime.
    pub fn start_with<L>(wrap: impl FnOnce(tokio::net::TcpListener) -> L) -> Receiver
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let address = std_listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/logs", post(receive))
            .with_state(Arc::clone(&shared))
            .layer(DefaultBodyLimit::disable());
        let _entered = runtime.enter();
        let listener = wrap(tokio::net::TcpListener::from_std(std_listener).unwrap());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        drop(_entered);
        Receiver {
            address,
            shared,
            runtime: Some(runtime),
        }
    }

    /// A receiver that decodes every request but keeps only the count of
    /// records (for benchmarks: memory stays flat).
    pub fn start_counting() -> Receiver {
        let receiver = Receiver::start();
        receiver.shared.count_only.store(true, Ordering::SeqCst);
        receiver
    }

    /// Records decoded and accepted so far (also when only counting).
    pub fn records_seen(&self) -> usize {
        self.shared.records_seen.load(Ordering::SeqCst)
    }

    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// [`ACCEPT`], [`HANG`] or a status to answer from now on.
    pub fn answer(&self, answer: u16) {
        self.shared.answer.store(answer, Ordering::SeqCst);
    }

    /// Answers 400 to requests holding an event with this reason code.
    pub fn reject_code(&self, code: &str) {
        *self.shared.reject_code.lock().unwrap() = Some(code.to_owned());
    }

    /// Every request received, in order (answered or not).
    pub fn requests(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The records of the requests answered 200, in order.
    pub fn accepted_records(&self) -> Vec<LogRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.answered == 200)
            .flat_map(|r| r.records)
            .collect()
    }

    /// Waits until `n` records were accepted, at most `timeout`.
    pub fn wait_for_records(&self, n: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.accepted_records().len() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Hanging handlers are not waited for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let Ok(request) = ExportLogsServiceRequest::decode(body) else {
        return (
            StatusCode::BAD_REQUEST,
            b"not an ExportLogsServiceRequest".to_vec(),
        );
    };
    let mut received = Received {
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        resource: HashMap::new(),
        scope: String::new(),
        records: Vec::new(),
        answered: 200,
    };
    for resource_logs in request.resource_logs {
        if let Some(resource) = resource_logs.resource {
            for kv in &resource.attributes {
                received
                    .resource
                    .insert(kv.key.clone(), text(kv).unwrap_or_default());
            }
        }
        for scope_logs in resource_logs.scope_logs {
            if let Some(scope) = scope_logs.scope {
                received.scope = scope.name;
            }
            received.records.extend(scope_logs.log_records);
        }
    }
    let answer = shared.answer.load(Ordering::SeqCst);
    let reject = shared.reject_code.lock().unwrap().clone();
    let rejected = reject.is_some_and(|code| {
        received
            .records
            .iter()
            .any(|r| attr_str(r, "ai_runtime.reason_code").as_deref() == Some(code.as_str()))
    });
    received.answered = match answer {
        ACCEPT if rejected => 400,
        ACCEPT => 200,
        HANG => 0,
        status => status,
    };
    if received.answered == 200 {
        shared
            .records_seen
            .fetch_add(received.records.len(), Ordering::SeqCst);
    }
    shared.received.lock().unwrap().push(received);
    match answer {
        ACCEPT if rejected => (StatusCode::BAD_REQUEST, Vec::new()),
        ACCEPT => (
            StatusCode::OK,
            ExportLogsServiceResponse::default().encode_to_vec(),
        ),
        HANG => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        status => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            Vec::new(),
        ),
    }
}

fn text(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(n) => Some(n.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(f) => Some(f.to_string()),
        _ => None,
    }
}

/// An attribute's value, as text (strings as they are, numbers printed).
pub fn attr_str(record: &LogRecord, key: &str) -> Option<String> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(text)
}

/// An integer attribute.
pub fn attr_int(record: &LogRecord, key: &str) -> Option<i64> {
    match record
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?
    {
        any_value::Value::IntValue(n) => Some(*n),
        _ => None,
    }
}

/// The record's body, when it is a string.
pub fn body(record: &LogRecord) -> Option<String> {
    match record.body.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A free port on 127.0.0.1 that nothing listens on (a collector that is down).
pub fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}
