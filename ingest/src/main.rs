//! `ai-runtime-ingest`: the OTLP/HTTP receiver on its own port, writing
//! through an observability-layer sink with the writer's database role.
//! Its statistics go to `/metrics` and, every `--status-interval`, to its
//! own `ai_worker_status` row (`metadata.ingest` beside `metadata.sink`).

use std::net::SocketAddr;
use std::time::Duration;

use ai_runtime_ingest::{serve, spawn_status_publisher, IngestToken, Receiver, ReceiverSettings};
use anyhow::Context as _;
use clap::Parser;
use observability_layer::RuntimeLayer;

#[derive(Parser)]
#[command(about = "OTLP/HTTP receiver: GenAI traces and runtime-event logs into ai_runtime_events")]
struct Args {
    /// Address to listen on.
    #[arg(
        long,
        env = "AI_RUNTIME_INGEST_LISTEN",
        default_value = "127.0.0.1:4318"
    )]
    listen: SocketAddr,
    /// The ingest token clients send (at least 16 characters; not the admin token).
    #[arg(long, env = "AI_RUNTIME_INGEST_TOKEN", hide_env_values = true)]
    token: String,
    /// The receiver's row in ai_worker_status.
    #[arg(
        long,
        env = "AI_RUNTIME_INGEST_WORKER_ID",
        default_value = "otlp-ingest"
    )]
    worker_id: String,
    /// Largest request body in bytes, after decompression.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Seconds between status publications.
    #[arg(long, default_value_t = 10)]
    status_interval: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The receiver's own log lines go to stderr only, never into the sink.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let token = IngestToken::new(&args.token)?;
    // AI_RUNTIME_EVENTS_DATABASE_URL (the writer role) or DATABASE_URL.
    let sink = RuntimeLayer::builder()
        .from_env()
        .context("reading the sink's settings from the environment")?
        .agent_type("otlp_ingest")
        .build()
        .context("starting the event sink")?;
    let (guard, handle) = (sink.guard, sink.handle);
    let receiver = Receiver::new(
        handle.clone(),
        token,
        ReceiverSettings {
            max_body_bytes: args.max_body_bytes,
            ..ReceiverSettings::default()
        },
    );
    let publisher = spawn_status_publisher(
        std::sync::Arc::clone(&receiver),
        &args.worker_id,
        Duration::from_secs(args.status_interval.max(1)),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    eprintln!("ai-runtime-ingest listening on http://{}", args.listen);
    serve(listener, receiver, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    publisher.abort();
    let stats = tokio::task::spawn_blocking(move || guard.shutdown()).await?;
    eprintln!(
        "ai-runtime-ingest stopped: {} events written, {} dropped",
        stats.written,
        stats.dropped()
    );
    Ok(())
}
