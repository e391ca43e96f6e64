//! `ai-runtime-maintain`: one maintenance pass over `ai_runtime_events`
//! (premade daily partitions, stray events moved to their day, days past the
//! retention dropped) and the per-minute roll-ups of the events and task
//! transitions (the first pass rolls up the history there is), printing
//! what it did. Exits 0 when the pass ran or
//! when another pass was already running (it then does nothing).

use std::process::ExitCode;
use std::time::Duration;

use ai_runtime_maintain::{run_pass, Options, Outcome, RetentionFlags};
use anyhow::Context;
use clap::Parser;
use sqlx::postgres::PgPoolOptions;

#[derive(Parser)]
#[command(
    version,
    about = "One maintenance pass over ai_runtime_events: premade partitions, retention, per-minute roll-ups"
)]
struct Args {
    /// A login granted `ai_runtime_maintainer` (or the tables' owner).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[command(flatten)]
    retention: RetentionFlags,
    /// Also make the partitions of every day from this date (YYYY-MM-DD) to
    /// today, before importing history (days past the retention are
    /// skipped), and roll the minutes from this date on up again.
    #[arg(long, value_name = "DATE")]
    backfill_from: Option<chrono::NaiveDate>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&args.database_url)
        .await
        .context("connecting to the database (check --database-url / DATABASE_URL)")?;
    let options = Options {
        backfill_from: args.backfill_from,
        ..args.retention.options()
    };
    let outcome = match run_pass(&pool, &options).await {
        Ok(outcome) => outcome,
        Err(e) => {
            let hint = e.role_hint();
            return Err(anyhow::Error::new(e).context(format!("maintenance pass{hint}")));
        }
    };
    let said = match outcome {
        Outcome::Ran(report) => report.to_string(),
        Outcome::Skipped => {
            "another maintenance pass is running on this database; skipped\n".to_owned()
        }
    };
    // A closed stdout (`| head`) is not the pass's failure: it is done.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), said.as_bytes());
    pool.close().await;
    Ok(ExitCode::SUCCESS)
}
