//! `phase1-worker`: runs N phase1 workers in one process over the queue in
//! `--database-url`, writing runtime events and worker status through the
//! observability layer to `--events-database-url`, and to an OpenTelemetry
//! collector too when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`) is set.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use observability_layer::RuntimeLayer;
use phase1_worker::{
    AgentConfig, BreakerConfig, ContinuousWorkload, LayerStatus, OutageWindows, ProviderConfig,
    RunMode, Runner, RunnerConfig, AGENT_TYPE,
};
use sqlx::postgres::PgPoolOptions;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The `agent_type` of this worker's `ai_worker_status` rows.

#[derive(Debug, Parser)]
#[command(
    name = "phase1-worker",
    version,
    about = "The reference phase1 reply runner."
)]
struct Args {
    /// The queue's database.
    #[arg(long, env = "DATABASE_URL", default_value = ai_runtime_migrations::DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Where runtime events and worker status go (default: --database-url).
    /// May be unreachable: the queue keeps working, events are dropped and counted.
    #[arg(long, env = "AI_RUNTIME_EVENTS_DATABASE_URL", hide_env_values = true)]
    events_database_url: Option<String>,
    /// Send runtime events only to the OpenTelemetry collector (needs
    /// OTEL_EXPORTER_OTLP_ENDPOINT); the queue still uses --database-url.
    #[arg(long, conflicts_with = "events_database_url")]
    no_events_database: bool,
    /// Seconds to wait on exit for the layer to write what it holds.
    #[arg(long, default_value_t = 3.0)]
    events_flush_deadline: f64,
    /// Apply the migrations to --database-url first.
    #[arg(long)]
    migrate: bool,
    /// Workers in this process.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Worker ids are PREFIX-1, PREFIX-2, ...
    #[arg(long, default_value = "phase1-worker")]
    worker_id_prefix: String,
    /// Enqueue tasks 0..N of the seed's workload at start (idempotent).
    #[arg(long, default_value_t = 0)]
    enqueue: u64,
    /// Seeds the generated tasks and the simulated provider.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Idempotency-key namespace of generated tasks.
    #[arg(long, default_value = "seed")]
    namespace: String,
    /// Probability that one provider call fails, 0..=1.
    #[arg(long, default_value_t = 0.05, value_parser = parse_rate)]
    failure_rate: f64,
    /// Mean latency of a provider call (each takes 50%..150% of it).
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Provider outage every SECONDS (needs --outage-duration).
    #[arg(long, requires = "outage_duration")]
    outage_every: Option<f64>,
    /// Length of each outage in seconds.
    #[arg(long, requires = "outage_every")]
    outage_duration: Option<f64>,
    /// Backoff before the first retry of a failed provider call (doubles per retry).
    #[arg(long, default_value_t = 100)]
    retry_backoff_ms: u64,
    /// Consecutive failed LLM invocations that open the breaker.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    breaker_threshold: u32,
    /// Seconds the breaker stays open before a trial call.
    #[arg(long, default_value_t = 5.0)]
    breaker_cooldown: f64,
    /// Lease length in seconds (extended while a task runs).
    #[arg(long, default_value_t = 30.0)]
    lease: f64,
    /// Seconds between worker status publications.
    #[arg(long, default_value_t = 10.0)]
    heartbeat_interval: f64,
    /// Seconds a task waits after all provider routes failed.
    #[arg(long, default_value_t = 2.0)]
    requeue_delay: f64,
    /// Seconds a stopping worker may finish its task before putting it back.
    #[arg(long, default_value_t = 5.0)]
    shutdown_grace: f64,
    /// Exit 0 once no task is PENDING or RUNNING.
    #[arg(long, conflicts_with = "continuous")]
    until_drained: bool,
    /// Keep enqueueing tasks (--tasks-per-second) until stopped.
    #[arg(long)]
    continuous: bool,
    #[arg(long, default_value_t = 2.0, requires = "continuous")]
    tasks_per_second: f64,
    /// Continuous mode pauses while this many tasks are PENDING.
    #[arg(long, default_value_t = 200, requires = "continuous")]
    max_pending: i64,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("`{text}` is not a number between 0 and 1")),
    }
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
}

impl Args {
    fn runner_config(&self) -> anyhow::Result<RunnerConfig> {
        let outages = match (self.outage_every, self.outage_duration) {
            (Some(every), Some(duration)) => Some(OutageWindows {
                every: seconds("outage-every", every)?,
                duration: seconds("outage-duration", duration)?,
            }),
            _ => None,
        };
        let mode = if self.until_drained {
            RunMode::UntilDrained
        } else if self.continuous {
            anyhow::ensure!(
                self.tasks_per_second > 0.0,
                "--tasks-per-second must be positive"
            );
            RunMode::Continuous(ContinuousWorkload {
                tasks_per_second: self.tasks_per_second,
                max_pending: self.max_pending,
            })
        } else {
            RunMode::UntilStopped
        };
        let heartbeat_interval = seconds("heartbeat-interval", self.heartbeat_interval)?;
        anyhow::ensure!(
            !heartbeat_interval.is_zero(),
            "--heartbeat-interval must be positive"
        );
        Ok(RunnerConfig {
            workers: usize::from(self.workers),
            worker_id_prefix: self.worker_id_prefix.clone(),
            seed: self.seed,
            enqueue: self.enqueue,
            namespace: self.namespace.clone(),
            provider: ProviderConfig {
                failure_rate: self.failure_rate,
                latency: Duration::from_millis(self.latency_ms),
                outages,
            },
            agent: AgentConfig {
                retry_backoff: Duration::from_millis(self.retry_backoff_ms),
                breaker: BreakerConfig {
                    failure_threshold: self.breaker_threshold,
                    cooldown: seconds("breaker-cooldown", self.breaker_cooldown)?,
                },
                ..AgentConfig::default()
            },
            lease_duration: seconds("lease", self.lease)?,
            heartbeat_interval,
            requeue_delay: seconds("requeue-delay", self.requeue_delay)?,
            shutdown_grace: seconds("shutdown-grace", self.shutdown_grace)?,
            mode,
            ..RunnerConfig::default()
        })
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::warn!("stop signal received: finishing or putting back current tasks");
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("phase1-worker: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = args.runner_config()?;
    let events_url = args
        .events_database_url
        .as_deref()
        .unwrap_or(&args.database_url);
    // OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.
    let mut builder = RuntimeLayer::builder()
        .otlp_from_env()
        .context("reading the OTEL_* variables")?;
    if args.no_events_database {
        anyhow::ensure!(
            builder.otlp_enabled(),
            "--no-events-database needs OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT)"
        );
    } else {
        builder = builder.database_url(events_url);
    }
    let sink = builder
        .agent_type(AGENT_TYPE)
        .shutdown_deadline(seconds(
            "events-flush-deadline",
            args.events_flush_deadline,
        )?)
        .build()
        .context("building the observability layer")?;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error")));
    tracing_subscriber::registry()
        .with(sink.layer)
        .with(logs)
        .init();
    let (guard, handle) = (sink.guard, sink.handle);

    let pool = PgPoolOptions::new()
        .max_connections(u32::from(args.workers) + 3)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&args.database_url)
        .await
        .context("connecting to the queue database (--database-url)")?;
    if args.migrate {
        ai_runtime_migrations::MIGRATOR
            .run(&pool)
            .await
            .context("applying the migrations")?;
    }

    let runner = Runner::new(config, pool).with_status(Arc::new(LayerStatus::new(handle.clone())));
    let summary = runner.run(stop_signal()).await?;
    let stats = guard.shutdown();
    let t = &summary.totals;
    println!(
        "phase1-worker: enqueued={} (+{} continuously) leased={} done={} skipped={} in_review={} \
         failed={} retried={} put_back={} expired_requeued={} lease_lost={} elapsed_ms={}",
        summary.enqueued,
        summary.enqueued_continuously,
        t.leased,
        t.done,
        t.skipped,
        t.in_review,
        t.failed,
        t.retried,
        t.put_back,
        t.expired_requeued,
        t.lease_lost,
        summary.elapsed.as_millis()
    );
    println!(
        "events: emitted={} written={} dropped_channel_full={} dropped_database={} invalid={}",
        stats.emitted,
        stats.written,
        stats.dropped_channel_full,
        stats.dropped_database,
        stats.invalid
    );
    for e in stats.exporters.iter().filter(|e| e.name != "postgres") {
        println!(
            "events {}: exported={} dropped={} invalid={} retries={}",
            e.name,
            e.exported,
            e.dropped(),
            e.invalid,
            e.retries
        );
    }
    Ok(())
}
