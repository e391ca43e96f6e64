//! `admin-server`: the admin APIs and the dashboard over one database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use admin_server::alerts::{AlertOptions, AlertThresholds};
use admin_server::{app, lazy_pool, AppConfig, Thresholds};
use anyhow::{bail, Context};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    version,
    about = "The AI runtime admin server: JSON APIs and the dashboard"
)]
struct Args {
    /// Postgres URL: a login granted `ai_runtime_reader` (docs/deployment.md).
    #[arg(long, env = "DATABASE_URL", default_value = ai_runtime_migrations::DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Address to listen on.
    #[arg(long, env = "ADMIN_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Apply pending migrations before serving (otherwise the schema is never changed).
    #[arg(long)]
    migrate: bool,
    /// The dashboard's built files.
    #[arg(long, env = "ADMIN_UI_DIR", default_value = admin_server::DEFAULT_UI_DIR)]
    ui_dir: PathBuf,
    /// The static admin token.
    #[arg(
        long = "admin-token",
        env = "ADMIN_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    admin_token: Option<String>,
    /// The HS256 secret of admin JWTs.
    #[arg(
        long = "jwt-secret",
        env = "SUPABASE_JWT_SECRET",
        hide_env_values = true,
        hide = true
    )]
    jwt_secret: Option<String>,
    /// The keys of ES256/RS256 admin JWTs: a JWKS URL (Supabase:
    /// `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`) or file.
    #[arg(long = "jwks-url", env = "SUPABASE_JWKS_URL", value_parser = jwks_source)]
    jwks: Option<admin_server::JwksSource>,
    /// The shortest time between two fetches of the JWKS, in seconds (a
    /// token naming an unknown key fetches it again, at most this often).
    #[arg(long, env = "ADMIN_JWKS_MIN_REFRESH_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    jwks_min_refresh_seconds: u64,
    /// How long fetched JWKS keys are trusted before the set is fetched
    /// again, in seconds (a withdrawn key is refused after this at the latest).
    #[arg(long, env = "ADMIN_JWKS_MAX_AGE_SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    jwks_max_age_seconds: u64,
    /// When set, an admin JWT's `aud` must be this (e.g. `authenticated`).
    #[arg(long, env = "ADMIN_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// When set, an admin JWT's `iss` must be this (e.g. `https://<project>.supabase.co/auth/v1`).
    #[arg(long, env = "ADMIN_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// A PENDING task due for longer than this many seconds is stuck.
    #[arg(long, env = "ADMIN_STUCK_PENDING_SECONDS", default_value_t = 300)]
    stuck_pending_seconds: u64,
    /// Retention of runtime events, for the periodic maintenance pass.
    #[command(flatten)]
    retention: ai_runtime_maintain::RetentionFlags,
    /// The periodic maintenance pass's own login, granted
    /// `ai_runtime_maintainer` (the server's role may not maintain); unset:
    /// the pass runs as --database-url.
    #[arg(long, env = "MAINTENANCE_DATABASE_URL", hide_env_values = true)]
    maintenance_database_url: Option<String>,
    /// Seconds between maintenance passes (at start, then at this interval);
    /// 0 turns them off (run `ai-runtime-maintain` from a scheduler instead).
    #[arg(
        long,
        env = "AI_RUNTIME_MAINTENANCE_INTERVAL_SECONDS",
        default_value_t = 3600
    )]
    maintenance_interval_seconds: u64,
    /// A bearer token that reads /metrics only (admins' credentials read it too).
    #[arg(
        long = "metrics-token",
        env = "METRICS_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    metrics_token: Option<String>,
    #[command(flatten)]
    alerts: AlertArgs,
}

/// The built-in alerts (the conditions of deploy/prometheus/alerts.yml).
#[derive(clap::Args)]
struct AlertArgs {
    /// Seconds between alert evaluations; 0 turns the built-in alerts off.
    #[arg(long, env = "ALERT_EVALUATE_EVERY_SECONDS", default_value_t = 30)]
    alert_evaluate_every_seconds: u64,
    /// A breaker open this many seconds fires BREAKER_OPEN.
    #[arg(long, env = "ALERT_BREAKER_OPEN_FOR_SECONDS", default_value_t = 120)]
    alert_breaker_open_for_seconds: u64,
    /// FAILURE_RATE fires when at least this share (0..1) of the tasks finished in the window FAILED ...
    #[arg(long, env = "ALERT_FAILURE_RATE", default_value_t = 0.5, value_parser = share)]
    alert_failure_rate: f64,
    /// ... and at least this many finished.
    #[arg(long, env = "ALERT_FAILURE_RATE_MIN_TASKS", default_value_t = 10)]
    alert_failure_rate_min_tasks: u32,
    /// The window of that share, in minutes.
    #[arg(long, env = "ALERT_FAILURE_RATE_WINDOW_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(i64).range(1..=10080))]
    alert_failure_rate_window_minutes: i64,
    /// Where alerts are POSTed (Slack-compatible JSON); unset: they are logged.
    #[arg(
        long = "alert-webhook-url",
        env = "ALERT_WEBHOOK_URL",
        hide_env_values = true,
        hide = true
    )]
    alert_webhook_url: Option<String>,
    /// The dashboard's address, linked from each alert (default: this server's).
    #[arg(long, env = "ALERT_DASHBOARD_URL")]
    alert_dashboard_url: Option<String>,
    /// Seconds one webhook attempt may take.
    #[arg(long, env = "ALERT_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    alert_webhook_timeout_seconds: u64,
    /// Attempts per alert notice (backoff from 1 s, doubling, at most 60 s).
    #[arg(long, env = "ALERT_WEBHOOK_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    alert_webhook_attempts: u32,
}

fn jwks_source(text: &str) -> Result<admin_server::JwksSource, String> {
    text.parse()
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a share between 0 and 1 (e.g. 0.5), got {text:?}"
        )),
    }
}

impl AlertArgs {
    fn options(self, dashboard: String) -> AlertOptions {
        AlertOptions {
            thresholds: AlertThresholds {
                breaker_open_for: Duration::from_secs(self.alert_breaker_open_for_seconds),
                failure_rate: self.alert_failure_rate,
                failure_rate_min_tasks: i64::from(self.alert_failure_rate_min_tasks),
                failure_rate_window_minutes: self.alert_failure_rate_window_minutes,
            },
            every: Duration::from_secs(self.alert_evaluate_every_seconds),
            webhook_url: self.alert_webhook_url.filter(|u| !u.is_empty()),
            dashboard_url: Some(
                self.alert_dashboard_url
                    .filter(|u| !u.is_empty())
                    .unwrap_or(dashboard),
            ),
            webhook_timeout: Duration::from_secs(self.alert_webhook_timeout_seconds),
            webhook_attempts: self.alert_webhook_attempts,
            ..AlertOptions::default()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn")),
        )
        .init();
    let args = Args::parse();
    let admin_token = args.admin_token.filter(|t| !t.is_empty());
    let jwt_secret = args.jwt_secret.filter(|s| !s.is_empty());
    if admin_token.is_none() && jwt_secret.is_none() && args.jwks.is_none() {
        bail!(
            "refusing to start without credentials: set ADMIN_TOKEN (a static admin token), \
             SUPABASE_JWT_SECRET (the HS256 secret of admin JWTs) and/or SUPABASE_JWKS_URL \
             (the keys of ES256/RS256 admin JWTs)"
        );
    }
    let pool = lazy_pool(&args.database_url).context("invalid --database-url")?;
    if args.migrate {
        ai_runtime_migrations::migrate(&pool)
            .await
            .context("applying migrations")?;
        tracing::info!("migrations applied");
    }
    let config = AppConfig {
        admin_token,
        jwt_secret,
        jwks: args.jwks,
        jwks_min_refresh: Duration::from_secs(args.jwks_min_refresh_seconds),
        jwks_max_age: Duration::from_secs(args.jwks_max_age_seconds),
        jwt_audience: args.jwt_audience.filter(|a| !a.is_empty()),
        jwt_issuer: args.jwt_issuer.filter(|i| !i.is_empty()),
        metrics_token: args.metrics_token.filter(|t| !t.is_empty()),
        ui_dir: args.ui_dir,
        thresholds: Thresholds {
            stuck_pending_after: Duration::from_secs(args.stuck_pending_seconds),
            ..Thresholds::default()
        },
        ..AppConfig::default()
    };
    if args.maintenance_interval_seconds > 0 {
        // With several servers on one database, the pass's advisory lock
        // lets one of them work at a time; the others skip.
        let maintenance_pool = match args.maintenance_database_url.filter(|u| !u.is_empty()) {
            Some(url) => lazy_pool(&url).context("invalid --maintenance-database-url")?,
            None => pool.clone(),
        };
        ai_runtime_maintain::spawn_periodic(
            maintenance_pool,
            args.retention.options(),
            Duration::from_secs(args.maintenance_interval_seconds),
        );
    }
    if !config.ui_dir.join("assets.json").exists() {
        tracing::warn!(ui_dir = %config.ui_dir.display(), "dashboard not built; /admin/ai/runtime answers 503");
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::info!(
        "listening on http://{}{}",
        listener.local_addr()?,
        admin_server::UI_BASE
    );
    if args.alerts.alert_evaluate_every_seconds > 0 {
        let dashboard = format!("http://{}{}", listener.local_addr()?, admin_server::UI_BASE);
        // With several servers on one database, an advisory lock lets one
        // of them evaluate; the others stand by.
        admin_server::alerts::spawn_evaluator(
            pool.clone(),
            config.thresholds,
            args.alerts.options(dashboard),
        );
    }
    admin_server::serve(listener, app(config, pool), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
