//! `ai-runtime-demo`: simulated phase1 workers with a continuous workload
//! (provider outages included, so the breaker opens and closes every few
//! minutes), their runtime events written through the observability layer,
//! and the admin server with the dashboard, in one process. Prints the URL
//! to open with a fresh admin token in its fragment. Ctrl-C stops it all;
//! the workers are written STOPPED.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use admin_server::alerts::{AlertOptions, AlertThresholds, ALERTS_LOG_TARGET};
use admin_server::{app, AppConfig};
use ai_runtime_ingest::{spawn_status_publisher, IngestToken, Receiver};
use ai_runtime_migrations::roles::ComponentRole;
use anyhow::Context;
use clap::Parser;
use observability_layer::RuntimeLayer;
use phase1_worker::{LayerStatus, Runner, RunnerConfig};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::watch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

mod rig_worker;

#[derive(Parser)]
#[command(
    version,
    about = "The AI runtime demo: simulated workers, the admin server and the dashboard"
)]
struct Args {
    /// The demo's database (created and migrated if needed).
    #[arg(
        long,
        env = "DEMO_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/ai_runtime_demo",
        hide_env_values = true
    )]
    database_url: String,
    #[arg(long, env = "ADMIN_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    #[arg(long, env = "ADMIN_UI_DIR", default_value = admin_server::DEFAULT_UI_DIR)]
    ui_dir: PathBuf,
    /// Simulated workers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    workers: u16,
    /// Seconds between alert evaluations (shorter than the server's 30 s, so
    /// the demo's outages show).
    #[arg(long, env = "ALERT_EVALUATE_EVERY_SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    alert_evaluate_every_seconds: u64,
    /// A breaker open this long fires BREAKER_OPEN (the server's default is
    /// 120 s; the demo's outages last 30 s).
    #[arg(long, env = "ALERT_BREAKER_OPEN_FOR_SECONDS", default_value_t = 10)]
    alert_breaker_open_for_seconds: u64,
    /// Where alerts are POSTed (Slack-compatible JSON); unset: printed here.
    #[arg(
        long = "alert-webhook-url",
        env = "ALERT_WEBHOOK_URL",
        hide_env_values = true,
        hide = true
    )]
    alert_webhook_url: Option<String>,
    /// With a token (16+ characters), an OTLP/HTTP receiver runs on
    /// `--ingest-bind` too: other languages' GenAI spans join the demo.
    #[arg(long, env = "AI_RUNTIME_INGEST_TOKEN", hide_env_values = true)]
    ingest_token: Option<String>,
    #[arg(long, env = "AI_RUNTIME_INGEST_BIND", default_value = "127.0.0.1:4318")]
    ingest_bind: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ai_runtime_migrations::create_database_if_missing(&args.database_url)
        .await
        .context("creating the demo database")?;
    let pool = PgPoolOptions::new()
        .max_connections(u32::from(args.workers) + 8)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&args.database_url)
        .await
        .context("connecting to the demo database")?;
    ai_runtime_migrations::migrate(&pool)
        .await
        .context("applying migrations")?;
    // Each component as its own role (docs/deployment.md), taken at
    // connection start by the demo's login; the workers' queue is the host
    // application's and stays on that login's pool.
    let as_role = |role: ComponentRole| {
        admin_server::pool_options()
            .connect_lazy_with(role.connect_options(&pool.connect_options()))
    };
    let (writer, reader, maintainer) = (
        as_role(ComponentRole::Writer),
        as_role(ComponentRole::Reader),
        as_role(ComponentRole::Maintainer),
    );

    // With OTEL_EXPORTER_OTLP_ENDPOINT set, events go to that collector too.
    let sink = RuntimeLayer::builder()
        .otlp_from_env()
        .context("reading the OTEL_* variables")?
        .pool(writer)
        .agent_type(phase1_worker::AGENT_TYPE)
        .build()
        .context("building the observability layer")?;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Errors only, and the built-in alerts: without ALERT_WEBHOOK_URL
        // they are logged here, so a breaker episode shows on the console.
        .with_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(format!("error,{ALERTS_LOG_TARGET}=info"))),
        );
    tracing_subscriber::registry()
        .with(sink.layer)
        .with(logs)
        .init();
    let (guard, handle) = (sink.guard, sink.handle);

    // A fresh token per run unless one is given; it only ever leaves this
    // process in the printed URL's fragment, which browsers never send.
    let token = std::env::var("ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        });
    let config = AppConfig {
        admin_token: Some(token.clone()),
        jwt_secret: std::env::var("SUPABASE_JWT_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        ui_dir: args.ui_dir.clone(),
        ..AppConfig::default()
    };
    // The events table's partitions and retention, as the admin server keeps them.
    ai_runtime_maintain::spawn_periodic(
        maintainer,
        ai_runtime_maintain::Options::default(),
        Duration::from_secs(3600),
    );
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (set ADMIN_BIND to another address)",
                args.bind
            )
        })?;
    let address = listener.local_addr()?;
    // The built-in alerts, as the admin server binary runs them.
    admin_server::alerts::spawn_evaluator(
        reader.clone(),
        config.thresholds,
        AlertOptions {
            thresholds: AlertThresholds {
                breaker_open_for: Duration::from_secs(args.alert_breaker_open_for_seconds),
                ..AlertThresholds::default()
            },
            every: Duration::from_secs(args.alert_evaluate_every_seconds),
            webhook_url: args.alert_webhook_url.clone().filter(|u| !u.is_empty()),
            dashboard_url: Some(format!("http://{address}{}", admin_server::UI_BASE)),
            ..AlertOptions::default()
        },
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("\nstopping: workers finish or put back their tasks ...");
        let _ = stop_tx.send(true);
    });
    let router = app(config, reader);
    let server_stop = stopped(stop_rx.clone());
    let server = tokio::spawn(admin_server::serve(listener, router, server_stop));
    if let Some(token) = args.ingest_token.as_deref().filter(|t| !t.is_empty()) {
        let receiver = Receiver::new(handle.clone(), IngestToken::new(token)?, Default::default());
        spawn_status_publisher(
            Arc::clone(&receiver),
            "otlp-ingest",
            Duration::from_secs(10),
        );
        let ingest = tokio::net::TcpListener::bind(args.ingest_bind)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (AI_RUNTIME_INGEST_BIND)",
                    args.ingest_bind
                )
            })?;
        tokio::spawn(ai_runtime_ingest::serve(
            ingest,
            receiver,
            stopped(stop_rx.clone()),
        ));
        println!(
            "OTLP/HTTP receiver (docs/otlp-ingest.md): http://{}/v1/traces",
            args.ingest_bind
        );
    }

    let runner_config = RunnerConfig {
        workers: usize::from(args.workers),
        ..RunnerConfig::continuous_demo()
    };
    if !args.ui_dir.join("assets.json").exists() {
        eprintln!(
            "warning: the dashboard is not built in {} (the page answers 503; the API works)",
            args.ui_dir.display()
        );
    }
    println!(
        "\nAI runtime demo: {} simulated phase1 workers, provider outages every few minutes.",
        args.workers
    );
    println!(
        "Open the dashboard:\n\n    http://{address}{}#token={token}\n",
        admin_server::UI_BASE
    );
    println!("Health from the command line: cargo run -p admin-server --bin ai-runtime-verify -- --database-url {}", args.database_url);
    if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT"))
    {
        println!(
            "Runtime events also go to the OpenTelemetry collector at {endpoint} (OTLP logs)."
        );
    }
    println!("Press Ctrl-C to stop.\n");

    // The rig worker: captured GenAI spans beside the hand-written events.
    let rig = tokio::spawn(rig_worker::run(stopped(stop_rx.clone())));
    println!(
        "Worker {} answers through a rig agent (one tool) against a provider simulated on loopback.\n",
        rig_worker::WORKER_ID
    );
    let runner = Runner::new(runner_config, pool.clone())
        .with_status(Arc::new(LayerStatus::new(handle.clone())));
    let summary = runner.run(stopped(stop_rx)).await;
    if let Ok(Err(e)) = rig.await {
        eprintln!("the rig worker stopped: {e:#}");
    }
    // Flush the last events and the STOPPED statuses.
    let stats = tokio::task::spawn_blocking(move || guard.shutdown()).await?;
    let _ = server.await;
    let summary = summary.context("running the workers")?;
    let t = &summary.totals;
    // stdout may be a closed pipe by now; the summary is not worth a panic.
    let _ = writeln!(
        std::io::stdout(),
        "stopped after {:.0} s: {} tasks done, {} skipped, {} in review, {} failed; \
         events written {}, dropped {}",
        summary.elapsed.as_secs_f64(),
        t.done,
        t.skipped,
        t.in_review,
        t.failed,
        stats.written,
        stats.dropped_channel_full + stats.dropped_database
    );
    for e in stats.exporters.iter().filter(|e| e.name != "postgres") {
        let _ = writeln!(
            std::io::stdout(),
            "events sent to {}: {}, dropped {}",
            e.name,
            e.exported,
            e.dropped()
        );
    }
    Ok(())
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
