//! Admin API benchmark: p50/p95 latency of each endpoint over filter
//! combinations, against the README's p95 targets.
//!
//! `cargo bench -p admin-server --bench admin_api [-- --samples 200 --datasets uniform,skewed --endpoints events,tasks,status,trends --scale base|month --regenerate --client lean|reqwest]`
//!
//! Data sets live in scratch databases `ai_runtime_bench_<name>` on the
//! server of `DATABASE_URL`; they are generated (COPY) on first use and
//! reused afterwards unless `--regenerate`.

mod generate;
mod http;
mod measure;

use std::str::FromStr;

use anyhow::Context;
use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

const USAGE: &str = "\
cargo bench -p admin-server --bench admin_api -- [OPTIONS]

  --samples N            timed requests per shape after a warm-up (default 200)
  --datasets a,b         uniform, skewed (default both)
  --endpoints a,b        events, tasks, status, trends (default all)
  --client lean|reqwest  the HTTP client that times the server (default lean)
  --regenerate           generate the data sets again";

struct Args {
    datasets: Vec<String>,
    regenerate: bool,
    measure: measure::Options,
}

fn list(arg: Option<String>, what: &str) -> anyhow::Result<Vec<String>> {
    let arg = arg.with_context(|| format!("{what} needs a comma-separated list"))?;
    Ok(arg.split(',').map(str::to_owned).collect())
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        datasets: vec!["uniform".into(), "skewed".into()],
        regenerate: false,
        measure: measure::Options {
            samples: 200,
            client: http::ClientKind::Lean,
            endpoints: measure::ENDPOINTS.map(str::to_owned).to_vec(),
            scale: generate::Scale::BASE,
        },
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => {} // passed by `cargo bench`
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--samples" => args.measure.samples = it.next().context("--samples N")?.parse()?,
            "--datasets" => args.datasets = list(it.next(), "--datasets")?,
            "--endpoints" => {
                args.measure.endpoints = list(it.next(), "--endpoints")?;
                if let Some(bad) = args
                    .measure
                    .endpoints
                    .iter()
                    .find(|e| !measure::ENDPOINTS.contains(&e.as_str()))
                {
                    anyhow::bail!("unknown endpoint `{bad}` (events, tasks, status, trends)");
                }
            }
            "--regenerate" => args.regenerate = true,
            "--scale" => args.measure.scale = it.next().context("--scale base|month")?.parse()?,
            "--client" => {
                args.measure.client = it.next().context("--client lean|reqwest")?.parse()?
            }
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let server_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| ai_runtime_migrations::DEFAULT_DATABASE_URL.to_owned());
    for name in &args.datasets {
        let skewed = match name.as_str() {
            "uniform" => false,
            "skewed" => true,
            other => anyhow::bail!("unknown data set `{other}` (uniform, skewed)"),
        };
        let database = match args.measure.scale.name {
            "base" => format!("ai_runtime_bench_{name}"),
            scale => format!("ai_runtime_bench_{name}_{scale}"),
        };
        let options = PgConnectOptions::from_str(&server_url)?.database(&database);
        let url = options.to_url_lossy().to_string();
        ai_runtime_migrations::create_database_if_missing(&url).await?;
        let pool = pool(&options).await?;
        ai_runtime_migrations::migrate(&pool).await?;
        let data = prepare(&pool, &options, args.measure.scale, skewed, args.regenerate).await?;
        println!(
            "\n## Data set `{name}`: {} events, {} tasks{}",
            args.measure.scale.events,
            args.measure.scale.tasks,
            if skewed {
                format!(
                    ", one task owns {:.0}% of the events",
                    generate::HOT_SHARE * 100.0
                )
            } else {
                String::new()
            }
        );
        // The server's pool has the production settings.
        let server_pool = admin_server::lazy_pool(&url)?;
        measure::run(server_pool, &data, &args.measure).await?;
    }
    Ok(())
}

async fn pool(options: &PgConnectOptions) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.clone())
        .await?)
}

/// The roll-ups the admin server keeps (every minute). The generator writes
/// history behind the mark of the pass that made the partitions (as an
/// import would): after it (`generated`), or when the roll-ups do not reach
/// back to the oldest event (within the retention), all of it is rolled up
/// (the backfill, timed: what the first pass over a populated database
/// costs); otherwise the topped-up hours (at most six) are rolled up again.
async fn roll_up(pool: &PgPool, generated: bool) -> anyhow::Result<()> {
    let (oldest_event, oldest_minute): (
        Option<chrono::DateTime<Utc>>,
        Option<chrono::DateTime<Utc>>,
    ) = sqlx::query_as(
        "select (select min(occurred_at) from public.ai_runtime_events \
                     where occurred_at > now() - interval '30 days'), \
                    (select min(start) from public.ai_runtime_event_rollups where grain_seconds = 60)",
    )
    .fetch_one(pool)
    .await?;
    let backfill_from = match (oldest_event, oldest_minute) {
        (Some(event), Some(minute))
            if !generated && minute <= event + chrono::Duration::hours(1) =>
        {
            None
        }
        (Some(event), _) => Some(event.date_naive()),
        (None, _) => None,
    };
    // The default retention (30 days), as the admin server keeps it.
    let options = ai_runtime_maintain::Options {
        rollup_late: std::time::Duration::from_secs(7 * 3600),
        backfill_from,
        ..Default::default()
    };
    if let Some(from) = backfill_from {
        println!("rolling up the history since {from} (the backfill) ...");
    }
    let started = std::time::Instant::now();
    let report = ai_runtime_maintain::run_rollup(pool, &options)
        .await?
        .context("another roll-up holds the lock")?;
    println!(
        "roll-ups in {:.1} s:\n{report}",
        started.elapsed().as_secs_f64()
    );
    sqlx::raw_sql(
        "analyze public.ai_runtime_event_rollups, public.ai_runtime_call_rollups, \
         public.task_transition_minutes",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Generates the data set unless it is already there.
async fn prepare(
    pool: &PgPool,
    options: &PgConnectOptions,
    scale: generate::Scale,
    skewed: bool,
    regenerate: bool,
) -> anyhow::Result<generate::DataSet> {
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("select count(*) from public.{table}"))
                .fetch_one(&pool)
                .await
        }
    };
    let (tasks, events) = (
        count("persona_tasks").await?,
        count("ai_runtime_events").await?,
    );
    let mut conn = PgConnection::connect_with(options).await?;
    let started = std::time::Instant::now();
    // Every day of the events' period gets its partition before they are
    // written, as the admin server's passes would have made them.
    let partitions = ai_runtime_maintain::Options {
        retention_days: 365,
        backfill_from: Some(Utc::now().date_naive() - chrono::Duration::days(scale.event_days)),
        ..Default::default()
    };
    // A reused set only grows (`top_up`); fewer rows than the scale's means
    // it was never generated, or was cut short (its tasks are kept when
    // they are all there, and only the events are made again).
    if regenerate || tasks < scale.tasks as i64 {
        println!("generating data set (skewed: {skewed}) ...");
        sqlx::raw_sql(
            "truncate public.ai_runtime_events, public.task_transition_events, \
             public.persona_tasks, public.ai_worker_status",
        )
        .execute(&mut conn)
        .await?;
        ai_runtime_maintain::run_pass(pool, &partitions).await?;
        let data = generate::generate(&mut conn, scale, skewed).await?;
        sqlx::raw_sql("vacuum analyze").execute(&mut conn).await?;
        println!("generated in {:.1} s", started.elapsed().as_secs_f64());
        roll_up(pool, true).await?;
        return Ok(data);
    }
    // The generator writes the same whole number of events each day.
    let generated_events = scale.events as i64 / scale.event_days * scale.event_days;
    if events < generated_events {
        println!("the tasks are there; generating the events (skewed: {skewed}) ...");
        ai_runtime_maintain::run_pass(pool, &partitions).await?;
        generate::generate_events(&mut conn, scale, skewed).await?;
        sqlx::raw_sql("vacuum analyze").execute(&mut conn).await?;
        println!("generated in {:.1} s", started.elapsed().as_secs_f64());
        roll_up(pool, true).await?;
    }
    // Reuse: bring it up to now, so that recent windows hold what a live
    // runtime would have in them.
    let added = generate::top_up(&mut conn, scale).await?;
    println!("reusing the data set; topped up with {added} tasks of the time since it was made");
    roll_up(pool, false).await?;
    // Find the hot task again (the most frequent one) and a normal one.
    let top: Vec<(Uuid, i64)> = sqlx::query_as(
        "select task_id, count(*) from public.ai_runtime_events where task_id is not null \
         group by task_id order by count(*) desc limit 2",
    )
    .fetch_all(&mut conn)
    .await?;
    let hot = top.first().filter(|(_, n)| *n > 1000).map(|(t, _)| *t);
    let some_task: Uuid = sqlx::query_scalar(
        "select id from public.persona_tasks order by created_at desc limit 1 offset 50000",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok(generate::DataSet {
        hot_task: hot,
        some_task,
    })
}
