//! Maintenance pass benchmark: one pass over 60 daily partitions (30 of
//! them past a 30-day retention, 7 days premade) while a writer inserts
//! batches the way the layer's writer does, in the same run as a baseline of
//! that writer without a pass.
//!
//! `cargo bench -p ai-runtime-maintain --bench maintenance [-- --events-per-day N]`
//!
//! Two cases: a quiet table, and one where a report query holds the table
//! for 3 s when the pass starts (its DDL then waits at most the lock
//! timeout, so the writer's inserts queued behind it wait no longer either,
//! and the step is postponed to the next pass).
//!
//! The data lives in the scratch database `ai_runtime_bench_maintenance` on
//! the server of `DATABASE_URL`, rebuilt for each case.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_runtime_maintain::{run_pass, Options, Outcome};
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

/// The layer's batch insert (observability-layer `rows.rs`), 100 rows a batch.
const WRITER_INSERT: &str = "insert into public.ai_runtime_events \
     (id, layer, operation, reason_code, entity_id, task_id, persona_id, worker_id, metadata, occurred_at) \
     select gen_random_uuid(), 'provider_runtime', 'CALL', 'PROVIDER_CALL_OK', 'sim/gpt-sim-1', \
            gen_random_uuid(), null, 'worker-1', jsonb_build_object('latency_ms', n), now() \
     from generate_series(1, 100) n";
const BATCH_EVERY: Duration = Duration::from_millis(10);

struct Case {
    name: &'static str,
    report_query_for: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut events_per_day: u64 = 50_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--events-per-day" => {
                events_per_day = args
                    .next()
                    .context("--events-per-day N")?
                    .parse()
                    .context("--events-per-day takes a whole number")?
            }
            other => anyhow::bail!("unknown argument `{other}` (--events-per-day N)"),
        }
    }
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let options = PgConnectOptions::from_str(&server)?.database("ai_runtime_bench_maintenance");
    let url = options.to_url_lossy().to_string();

    println!("# Maintenance pass: 60 daily partitions of {events_per_day} events, retention 30 days, 7 days premade");
    println!(
        "writer: a batch of 100 rows every {} ms (the layer's insert)\n",
        BATCH_EVERY.as_millis()
    );
    println!("| case | pass | dropped | created | postponed | writer longest insert: before the pass / during it |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for case in [
        Case {
            name: "quiet table",
            report_query_for: None,
        },
        Case {
            name: "a 3 s report query holds the table",
            report_query_for: Some(Duration::from_secs(3)),
        },
    ] {
        ai_runtime_migrations::create_database_if_missing(&url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(6)
            .connect_with(options.clone())
            .await?;
        fill(&pool, events_per_day).await?;
        let before = writer_longest(&pool, Duration::from_secs(2), async {}).await?;
        let (during, pass) = writer_longest_with_pass(&pool, &case).await?;
        let Outcome::Ran(report) = pass.0 else {
            anyhow::bail!("the pass skipped");
        };
        println!(
            "| {} | {:.2} s | {} | {} | {} | {:.1} ms / {:.1} ms |",
            case.name,
            pass.1.as_secs_f64(),
            report.dropped.len(),
            report.created.len(),
            report.postponed.len(),
            before.as_secs_f64() * 1e3,
            during.as_secs_f64() * 1e3,
        );
        pool.close().await;
    }
    Ok(())
}

/// A fresh schema with one partition per day for the last 60 days, each
/// holding `per_day` events spread over the day.
async fn fill(pool: &PgPool, per_day: u64) -> anyhow::Result<()> {
    sqlx::raw_sql("drop schema public cascade; create schema public;")
        .execute(pool)
        .await?;
    ai_runtime_migrations::migrate(pool).await?;
    for days_ago in 0..60 {
        sqlx::query(
            "insert into public.ai_runtime_events (layer, operation, reason_code, entity_id, task_id, worker_id, metadata, occurred_at)
             select 'provider_runtime', 'CALL', 'PROVIDER_CALL_OK', 'sim/gpt-sim-1', gen_random_uuid(), 'worker-' || (n % 8),
                    jsonb_build_object('latency_ms', n % 900),
                    date_trunc('day', now()) - make_interval(days => $1) + n * (interval '1 day' / $2)
             from generate_series(0, $2 - 1) n",
        )
        .bind(days_ago)
        .bind(per_day as i64)
        .execute(pool)
        .await?;
    }
    // Everything went to the default partition: one pass with a long
    // retention gives each day its partition, as 60 days of passes would.
    let long = Options {
        retention_days: 365,
        premake_days: 0,
        ..Options::default()
    };
    run_pass(pool, &long).await?;
    sqlx::raw_sql("vacuum analyze").execute(pool).await?;
    Ok(())
}

async fn writer_longest_with_pass(
    pool: &PgPool,
    case: &Case,
) -> anyhow::Result<(Duration, (Outcome, Duration))> {
    let mut holder = None;
    if let Some(hold) = case.report_query_for {
        let pool = pool.clone();
        holder = Some(tokio::spawn(async move {
            // A report that reads the whole table and then lingers: its
            // lock lasts until it ends.
            sqlx::query("select count(*), pg_sleep($1) from public.ai_runtime_events")
                .bind(hold.as_secs_f64())
                .execute(&pool)
                .await
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let pass = async {
        let started = Instant::now();
        let outcome = run_pass(pool, &Options::default()).await;
        (outcome, started.elapsed())
    };
    let mut result = None;
    let longest = writer_longest(pool, Duration::ZERO, async { result = Some(pass.await) }).await?;
    if let Some(holder) = holder {
        holder.await??;
    }
    let (outcome, took) = result.context("the pass did not finish")?;
    Ok((longest, (outcome?, took)))
}

/// Runs the writer until `during` is done and at least `min` has passed;
/// returns its longest insert.
async fn writer_longest(
    pool: &PgPool,
    min: Duration,
    during: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let pool = pool.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                sqlx::query(WRITER_INSERT).execute(&pool).await?;
                longest = longest.max(started.elapsed());
                tokio::time::sleep(BATCH_EVERY).await;
            }
            Ok::<_, sqlx::Error>(longest)
        })
    };
    let started = Instant::now();
    during.await;
    if let Some(rest) = min.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    stop.store(true, Ordering::Relaxed);
    Ok(writer.await??)
}
