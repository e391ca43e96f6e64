//! `ai-runtime-verify`: prints the runtime's health and exits 0 (healthy),
//! 1 (degraded) or 2 (database unreachable or wrong usage).

use std::process::ExitCode;
use std::time::Duration;

use admin_server::verify::{self, EXIT_UNREACHABLE};
use admin_server::Thresholds;
use clap::Parser;
use sqlx::{Connection, PgConnection};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(
    version,
    about = "Checks the AI runtime's health (exit 0 healthy, 1 degraded, 2 unreachable)"
)]
struct Args {
    #[arg(long, env = "DATABASE_URL", default_value = ai_runtime_migrations::DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Minutes of recent events to summarize (also the queue trend window).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=10080))]
    minutes: i64,
    /// A PENDING task due for longer than this many seconds is stuck.
    #[arg(long, env = "ADMIN_STUCK_PENDING_SECONDS", default_value_t = 300)]
    stuck_pending_seconds: u64,
}

fn main() -> ExitCode {
    // clap exits with 2 on usage errors.
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    ExitCode::from(runtime.block_on(run(args)) as u8)
}

async fn run(args: Args) -> i32 {
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&args.database_url));
    let mut conn = match connect.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            eprintln!("ai-runtime-verify: cannot reach the database: {e}");
            return EXIT_UNREACHABLE;
        }
        Err(_) => {
            eprintln!("ai-runtime-verify: cannot reach the database: no answer within {CONNECT_TIMEOUT:?}");
            return EXIT_UNREACHABLE;
        }
    };
    let thresholds = Thresholds {
        stuck_pending_after: Duration::from_secs(args.stuck_pending_seconds),
        ..Thresholds::default()
    };
    match verify::build(&mut conn, &thresholds, args.minutes).await {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("the report serializes")
                );
            } else {
                print!("{}", verify::render_text(&report));
            }
            let _ = conn.close().await;
            report.exit_code()
        }
        Err(e) => {
            eprintln!("ai-runtime-verify: cannot read the runtime tables: {e}");
            EXIT_UNREACHABLE
        }
    }
}
