//! `ai-runtime-migrate [DATABASE_URL]`: creates the database if it is missing
//! and applies every pending migration.

use std::process::ExitCode;

use ai_runtime_migrations::{create_database_if_missing, migrate, DEFAULT_DATABASE_URL};
use sqlx::postgres::PgPoolOptions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ai-runtime-migrate: {err}");
            ExitCode::from(2)
        }
    }
}

async fn run(url: &str) -> Result<(), ai_runtime_migrations::Error> {
    let created = create_database_if_missing(url).await?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(ai_runtime_migrations::Error::Connect)?;
    migrate(&pool).await?;
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&pool)
        .await?;
    let name = url.rsplit('/').next().unwrap_or(url);
    let verb = if created { "created" } else { "found" };
    println!("{verb} database {name}; {applied} migration(s) applied");
    Ok(())
}
