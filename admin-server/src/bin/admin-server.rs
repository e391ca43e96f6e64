//! `admin-server`: the admin APIs and the dashboard over one database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Postgres URL (a role that bypasses RLS, e.g. the owner).
    #[arg(long, env = "DATABASE_URL", default_value = ai_runtime_migrations::DEFAULT_DATABASE_URL)]
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
    /// When set, an admin JWT's `aud` must be this (e.g. `authenticated`).
    #[arg(long, env = "ADMIN_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// When set, an admin JWT's `iss` must be this (e.g. `https://<project>.supabase.co/auth/v1`).
    #[arg(long, env = "ADMIN_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// A PENDING task due for longer than this many seconds is stuck.
    #[arg(long, env = "ADMIN_STUCK_PENDING_SECONDS", default_value_t = 300)]
    stuck_pending_seconds: u64,
    /// Days of runtime events kept; the periodic maintenance pass drops older days.
    #[arg(long, env = "AI_RUNTIME_EVENTS_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    retention_days: u32,
    /// Days after today whose event partitions are made ahead of time.
    #[arg(long, env = "AI_RUNTIME_EVENTS_PREMAKE_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(0..=366))]
    premake_days: u32,
    /// Seconds between maintenance passes (at start, then at this interval);
    /// 0 turns them off (run `ai-runtime-maintain` from a scheduler instead).
    #[arg(
        long,
        env = "AI_RUNTIME_MAINTENANCE_INTERVAL_SECONDS",
        default_value_t = 3600
    )]
    maintenance_interval_seconds: u64,
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
    if admin_token.is_none() && jwt_secret.is_none() {
        bail!(
            "refusing to start without credentials: set ADMIN_TOKEN (a static admin token) \
             and/or SUPABASE_JWT_SECRET (the HS256 secret of admin JWTs)"
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
        jwt_audience: args.jwt_audience.filter(|a| !a.is_empty()),
        jwt_issuer: args.jwt_issuer.filter(|i| !i.is_empty()),
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
        let options = ai_runtime_maintain::Options {
            retention_days: args.retention_days,
            premake_days: args.premake_days,
            ..Default::default()
        };
        ai_runtime_maintain::spawn_periodic(
            pool.clone(),
            options,
            Duration::from_secs(args.maintenance_interval_seconds),
        );
    }
    if !config.ui_dir.join("index.html").exists() {
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
    admin_server::serve(listener, app(config, pool), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
