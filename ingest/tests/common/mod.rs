//! The receiver under test: the real router on a free port of 127.0.0.1
//! (its own runtime and thread, so a test may block on a sink meanwhile),
//! writing through a real sink into the test's database.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ai_runtime_ingest::{router, IngestToken, Receiver, ReceiverSettings};
use ai_runtime_migrations::roles::ComponentRole;
use observability_layer::{RuntimeLayer, RuntimeLayerBuilder, SinkGuard, SinkHandle, SinkStats};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use uuid::Uuid;

pub const TOKEN: &str = "test-ingest-token-0123456789";

/// The receiver's sink writes as `ai_runtime_writer` (taken at connection
/// start), as in production: its grants and policies alone must do.
pub fn sink_builder(pool: &PgPool) -> RuntimeLayerBuilder {
    let writer = ComponentRole::Writer.connect_options(&pool.connect_options());
    RuntimeLayer::builder()
        .pool(PgPoolOptions::new().connect_lazy_with(writer))
        .agent_type("otlp_ingest")
        .flush_interval(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_secs(2))
}

pub struct TestReceiver {
    pub base: String,
    pub receiver: Arc<Receiver>,
    pub handle: SinkHandle,
    guard: Option<SinkGuard>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestReceiver {
    pub fn start(pool: &PgPool) -> TestReceiver {
        TestReceiver::start_with(sink_builder(pool), ReceiverSettings::default())
    }

    pub fn start_with(builder: RuntimeLayerBuilder, settings: ReceiverSettings) -> TestReceiver {
        let sink = builder.build().expect("sink");
        let receiver = Receiver::new(
            sink.handle.clone(),
            IngestToken::new(TOKEN).unwrap(),
            settings,
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let app = router(Arc::clone(&receiver));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        TestReceiver {
            base: format!("http://{address}"),
            receiver,
            handle: sink.handle,
            guard: Some(sink.guard),
            runtime: Some(runtime),
        }
    }

    pub fn traces(&self) -> String {
        format!("{}/v1/traces", self.base)
    }

    pub fn logs(&self) -> String {
        format!("{}/v1/logs", self.base)
    }

    /// Everything accepted so far is settled by the sink.
    pub fn flush(&self) {
        assert!(self.handle.flush(Duration::from_secs(60)), "sink flushed");
    }

    /// Stops serving, then the sink; its final statistics.
    pub fn shutdown(mut self) -> SinkStats {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        self.guard.take().unwrap().shutdown()
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A receiver whose queue takes 8 events (its sink writing batches of 4),
/// over a Postgres that stalls: the events table stays locked by the
/// returned transaction until the test commits or drops it.
pub async fn stalled_receiver(
    pool: &PgPool,
) -> (TestReceiver, sqlx::Transaction<'static, sqlx::Postgres>) {
    let settings = ReceiverSettings {
        max_queued_events: 8,
        ..ReceiverSettings::default()
    };
    let receiver = TestReceiver::start_with(sink_builder(pool).batch_size(4), settings);
    let mut locker = pool.begin().await.unwrap();
    sqlx::query("lock table ai_runtime_events in access exclusive mode")
        .execute(&mut *locker)
        .await
        .unwrap();
    (receiver, locker)
}

/// An answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// POSTs `body` with `content_type` and extra headers.
pub async fn post(
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client
        .post(url)
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request sent");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

pub const BEARER: (&str, &str) = ("authorization", "Bearer test-ingest-token-0123456789");

/// The workspace's root (every crate sits one level below it).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A client the tests run, installed under `target/` by `scripts/lib.sh`
/// (`var` names it when it is elsewhere).
pub fn installed(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(default));
    assert!(
        path.exists(),
        "{} is missing: run `source scripts/lib.sh; ensure_python_otel; ensure_node_otel` (scripts/test does)",
        path.display()
    );
    path
}

/// Python's OpenTelemetry SDK sending `genai_spans.py`'s spans of `task`
/// to `receiver`: protobuf, gzip, the token in `OTEL_EXPORTER_OTLP_HEADERS`.
pub fn python_client(receiver: &TestReceiver, task: Uuid) -> Command {
    let mut command = Command::new(installed(
        "AI_RUNTIME_OTEL_PYTHON",
        "target/otel-python/bin/python",
    ));
    command
        .arg(workspace().join("ingest/tests/clients/genai_spans.py"))
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces())
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("authorization=Bearer%20{TOKEN}"),
        )
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
        .env("OTEL_SERVICE_NAME", "py-agent")
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "ai_runtime.worker_id=py-worker-1",
        )
        .env("TASK_ID", task.to_string());
    command
}
