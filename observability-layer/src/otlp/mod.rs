//! The OTLP exporter (feature `otlp`): each batch as one
//! `ExportLogsServiceRequest` (the OpenTelemetry crates' prost types),
//! posted as protobuf over HTTP/1.1 (over TLS for `https://`) to a
//! collector's `/v1/logs`.
//!
//! Hand-made on hyper rather than `opentelemetry-otlp`'s exporter, for the
//! delivery's semantics and for its weight: that one folds every failure
//! into one `InternalFailure(String)` (no rejected/unavailable split to
//! decide between splitting a batch and retrying it), bounds a request by
//! a timeout fixed at build (no deadline a shutdown moves forward), and
//! brings reqwest and, for https, aws-lc. Measured (`cargo bench -p
//! observability-layer --features otlp --bench otlp_exporters`, same
//! receiver, same run, load 5.6–6.9): 1.37–1.66x its events/s at
//! 0.59–0.64x its CPU per event; a cold build of its https stack takes
//! 2.8x the CPU of ours. Details: docs/benchmarks.md, "OTLP exporter:
//! hand-made or opentelemetry-otlp".
//!
//! Like the Postgres exporter it runs on its delivery thread with a
//! current-thread tokio runtime of its own, keeps one connection alive
//! between batches and reconnects after a failure; every request is
//! bounded by the delivery's deadline, which a shutdown moves forward, so a
//! hanging collector is abandoned on time. The answer decides what the
//! delivery does: 2xx exported; 400 and 413 (the data itself) rejected, so
//! the batch is split; anything else (refused, 429, 5xx, a timeout)
//! unavailable, retried after a backoff. Worker statuses have no OTLP
//! counterpart beyond the events the layer already writes for their
//! changes, so there is nothing to upsert.
//!
//! Header values (credentials) are sent and nowhere else: never in an
//! error, a log line or the statistics.

mod config;
mod error;
mod mapping;
mod tls;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use config::{OtlpSettings, OtlpTarget};
pub(crate) use error::OtlpSettingError;

use crate::capture::Captured;
use crate::exporter::{Deadline, ExportError, Exporter, WorkerStatus};

pub(crate) struct OtlpExporter {
    target: OtlpTarget,
    /// The request, kept between batches: its records are refilled in
    /// place (`mapping::fill_record`), so strings and lists are reused.
    request: ExportLogsServiceRequest,
    /// The encoded request, its buffer reused.
    encoded: Vec<u8>,
    runtime: tokio::runtime::Runtime,
    /// The open connection, if any (reused between batches).
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl OtlpExporter {
    pub(crate) fn new(target: OtlpTarget) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let resource = mapping::resource_attributes(&target.resource);
        let request = ExportLogsServiceRequest {
            resource_logs: vec![mapping::resource_logs(&resource, Vec::new())],
        };
        Ok(OtlpExporter {
            target,
            request,
            encoded: Vec::new(),
            runtime,
            sender: None,
        })
    }

    /// The request's records (one resource, one scope).
    fn records(&mut self) -> &mut Vec<LogRecord> {
        &mut self.request.resource_logs[0].scope_logs[0].log_records
    }

    fn http_request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.target.uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(
                header::HOST,
                self.target.uri.authority().map_or("", |a| a.as_str()),
            )
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(
                header::USER_AGENT,
                concat!("observability-layer/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            // Method, path, host and the fixed headers were checked at build.
            .unwrap_or_default();
        let headers = request.headers_mut();
        for (name, value) in &self.target.headers {
            headers.insert(name.clone(), value.clone());
        }
        request
    }
}

/// Opens a connection to the target (TLS for `https://`; the connection's
/// task runs on the exporter's runtime whenever it blocks on a request).
async fn connect(target: &OtlpTarget) -> Result<SendRequest<Full<Bytes>>, ExportError> {
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .map_err(|e| ExportError::Unavailable(format!("cannot connect to the collector: {e}")))?;
    let _ = stream.set_nodelay(true);
    match &target.tls {
        None => handshake(stream).await,
        Some((config, name)) => {
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name.clone(), stream)
                .await
                .map_err(|e| {
                    ExportError::Unavailable(format!("TLS with the collector failed: {e}"))
                })?;
            handshake(stream).await
        }
    }
}

/// The HTTP/1.1 handshake on an open stream, plain or TLS.
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, ExportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ExportError::Unavailable(format!("collector handshake failed: {e}")))?;
    tokio::spawn(async move {
        // Ends when the collector or the exporter closes it.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Posts one request on `slot`'s connection (opening one if needed). A
/// kept connection the collector closed meanwhile is replaced once.
async fn post(
    slot: &mut Option<SendRequest<Full<Bytes>>>,
    target: &OtlpTarget,
    make: impl Fn() -> Request<Full<Bytes>>,
) -> Result<(), ExportError> {
    let mut reused = slot.is_some();
    loop {
        let sender = match slot {
            Some(sender) => sender,
            None => slot.insert(connect(target).await?),
        };
        let sent = match sender.ready().await {
            Ok(()) => sender.send_request(make()).await,
            Err(e) => Err(e),
        };
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                *slot = None;
                if reused && (e.is_closed() || e.is_canceled() || e.is_incomplete_message()) {
                    reused = false;
                    continue;
                }
                return Err(ExportError::Unavailable(format!(
                    "collector request failed: {e}"
                )));
            }
        };
        let status = response.status();
        // Read the answer whole, so the connection can carry the next one.
        if response.into_body().collect().await.is_err() {
            *slot = None;
        }
        return match status {
            s if s.is_success() => Ok(()),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => Err(ExportError::Rejected(
                format!("collector refused the batch: {status}"),
            )),
            _ => Err(ExportError::Unavailable(format!(
                "collector answered {status}"
            ))),
        };
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn export(&mut self, events: &[&Captured], deadline: &Deadline) -> Result<(), ExportError> {
        let records = self.records();
        records.resize_with(events.len(), LogRecord::default);
        for (event, record) in events.iter().zip(records.iter_mut()) {
            mapping::fill_record(event, record);
        }
        self.encoded.clear();
        // Encoding into a growable Vec cannot run out of room.
        let _ = self.request.encode(&mut self.encoded);
        let body = Bytes::copy_from_slice(&self.encoded);
        let mut slot = self.sender.take();
        let this = &*self;
        let result = self.runtime.block_on(deadline.bound(async {
            let outcome = post(&mut slot, &this.target, || this.http_request(body.clone())).await;
            (outcome, slot)
        }));
        match result {
            Some((outcome, slot)) => {
                self.sender = slot;
                outcome
            }
            // The connection is mid-request: dropped, the next attempt reconnects.
            None => Err(ExportError::Unavailable(
                "collector request abandoned at its deadline".into(),
            )),
        }
    }

    fn upsert_workers(
        &mut self,
        _statuses: &[WorkerStatus<'_>],
        _stats: &Value,
        _deadline: &Deadline,
    ) -> Result<(), ExportError> {
        Ok(())
    }

    fn shutdown(&mut self) {
        self.sender = None;
    }
}
