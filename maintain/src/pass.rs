//! One maintenance pass, under the advisory lock.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::postgres::PgConnection;
use sqlx::PgPool;

use crate::day::{day_of, partition_name, start_literal, DEFAULT_PARTITION, PARENT};

/// The advisory lock a pass holds for its whole length ("AI-RTMNT" in ASCII).
/// Another pass on the same database, from any process, sees it taken and skips.
pub const ADVISORY_LOCK_KEY: i64 = 0x4149_2d52_544d_4e54;

/// Postgres's `lock_not_available`: a statement gave up waiting for its lock.
const LOCK_NOT_AVAILABLE: &str = "55P03";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Days of events kept: a day's partition goes once all of it is older.
    pub retention_days: u32,
    /// Days after today whose partitions are made ahead of time.
    pub premake_days: u32,
    /// The longest any statement of the pass waits for a lock (and so the
    /// longest it can hold up an insert queued behind it).
    pub lock_timeout: Duration,
    /// Also make the partitions of every day from this one to today (within
    /// the retention), before importing history into them.
    pub backfill_from: Option<NaiveDate>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_days: 30,
            premake_days: 7,
            lock_timeout: Duration::from_millis(500),
            backfill_from: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(
        "`{PARENT}` is not partitioned by day: apply the migrations first (ai-runtime-migrate)"
    )]
    NotPartitioned,
    #[error("retention must be at least 1 day (0 would drop today's events)")]
    NoRetention,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ran(Report),
    /// Another pass holds the lock; nothing was done.
    Skipped,
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Today, by the database's clock, in UTC.
    pub today: Option<NaiveDate>,
    /// Partitions made, with the events moved into each from the default partition.
    pub created: Vec<(NaiveDate, u64)>,
    /// Partitions dropped (all their events older than the retention).
    pub dropped: Vec<NaiveDate>,
    /// Events of the default partition older than the retention, deleted.
    pub expired_in_default: u64,
    /// Steps that gave up waiting for a lock; the next pass does them.
    pub postponed: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(today) = self.today {
            writeln!(f, "today (UTC): {today}")?;
        }
        if self.created.is_empty() {
            writeln!(f, "created: none")?;
        }
        for (day, moved) in &self.created {
            write!(f, "created {}", partition_name(*day))?;
            if *moved > 0 {
                write!(f, " ({moved} events moved from {DEFAULT_PARTITION})")?;
            }
            writeln!(f)?;
        }
        if self.dropped.is_empty() {
            writeln!(f, "dropped: none")?;
        }
        for day in &self.dropped {
            writeln!(f, "dropped {} (past the retention)", partition_name(*day))?;
        }
        if self.expired_in_default > 0 {
            writeln!(
                f,
                "deleted {} events past the retention from {DEFAULT_PARTITION}",
                self.expired_in_default
            )?;
        }
        for step in &self.postponed {
            writeln!(f, "postponed (lock busy): {step}")?;
        }
        Ok(())
    }
}

/// Runs one pass, unless another one holds the lock.
pub async fn run_pass(pool: &PgPool, options: &Options) -> Result<Outcome, PassError> {
    if options.retention_days == 0 {
        return Err(PassError::NoRetention);
    }
    let mut conn = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(Outcome::Skipped);
    }
    // Every statement of the pass, reads included, waits at most this long
    // for a lock: an insert queued behind it waits no longer.
    let result = match sqlx::query(&format!(
        "set lock_timeout = '{}ms'",
        options.lock_timeout.as_millis().max(1)
    ))
    .execute(&mut *conn)
    .await
    {
        Ok(_) => pass(&mut conn, options).await,
        Err(e) => Err(e.into()),
    };
    let unlocked = sqlx::query_scalar::<_, bool>("select pg_advisory_unlock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await;
    let reset = sqlx::query("reset lock_timeout").execute(&mut *conn).await;
    if !matches!(unlocked, Ok(true)) || reset.is_err() {
        // Never hand a connection that may still hold the lock back to the
        // pool: closing it ends the session, and so the lock.
        let _ = conn.close().await;
    }
    result.map(Outcome::Ran)
}

async fn pass(conn: &mut PgConnection, options: &Options) -> Result<Report, PassError> {
    let is_partitioned: Option<bool> = sqlx::query_scalar(
        "select c.relkind = 'p' from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relname = $1",
    )
    .bind(PARENT)
    .fetch_optional(&mut *conn)
    .await?;
    if is_partitioned != Some(true) {
        return Err(PassError::NotPartitioned);
    }
    let (today, cutoff): (NaiveDate, DateTime<Utc>) = sqlx::query_as(
        "select (now() at time zone 'UTC')::date, now() - make_interval(days => $1)",
    )
    .bind(i32::try_from(options.retention_days).unwrap_or(i32::MAX))
    .fetch_one(&mut *conn)
    .await?;
    // A day is past the retention when all of it is older than the cutoff:
    // its end, midnight of the next day, is at or before the cutoff.
    let first_kept = cutoff.date_naive();
    let mut report = Report {
        today: Some(today),
        ..Report::default()
    };
    let mut existing = partitions(conn).await?;

    let mut steps = Steps::default();
    // Events that landed in the default partition: their day gets its
    // partition (they move into it), unless it is past the retention.
    let strays_sql = format!(
        "select distinct (occurred_at at time zone 'UTC')::date from public.{DEFAULT_PARTITION} order by 1"
    );
    let read_strays = sqlx::query_scalar(&strays_sql).fetch_all(&mut *conn);
    let stray_days: Vec<NaiveDate> = steps
        .run(format!("read {DEFAULT_PARTITION}"), read_strays)
        .await?
        .unwrap_or_default();
    let premade =
        (0..=options.premake_days).filter_map(|n| today.checked_add_days(Days::new(n.into())));
    let backfill = options
        .backfill_from
        .into_iter()
        .flat_map(|from| from.iter_days().take_while(move |day| *day < today));
    let wanted: BTreeSet<NaiveDate> = stray_days
        .into_iter()
        .chain(backfill)
        .filter(|day| *day >= first_kept)
        .chain(premade)
        .collect();
    for day in wanted.difference(&existing.clone()) {
        let what = format!("create {}", partition_name(*day));
        if let Some(moved) = steps.run(what, create(conn, *day)).await? {
            report.created.push((*day, moved));
            existing.insert(*day);
        }
    }
    for day in existing.iter().filter(|day| **day < first_kept) {
        let what = format!("drop {}", partition_name(*day));
        if steps.run(what, drop_day(conn, *day)).await?.is_some() {
            report.dropped.push(*day);
        }
    }
    let expire_sql = format!(
        "delete from public.{DEFAULT_PARTITION} where occurred_at < {}",
        start_literal(first_kept)
    );
    let expire = sqlx::query(&expire_sql).execute(&mut *conn);
    if let Some(done) = steps
        .run(format!("expire {DEFAULT_PARTITION}"), expire)
        .await?
    {
        report.expired_in_default = done.rows_affected();
    }
    report.postponed = steps.postponed;
    Ok(report)
}

/// The days of the daily partitions that exist.
async fn partitions(conn: &mut PgConnection) -> Result<BTreeSet<NaiveDate>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_inherits i
         join pg_class c on c.oid = i.inhrelid
         where i.inhparent = $1::regclass",
    )
    .bind(format!("public.{PARENT}"))
    .fetch_all(&mut *conn)
    .await?;
    Ok(names.iter().filter_map(|n| day_of(n)).collect())
}

/// Makes `day`'s partition as a table of its own, moves the day's events
/// from the default partition into it, then attaches it (which builds its
/// indexes and checks the default partition holds none of its rows), in one
/// transaction: a concurrent insert of that day lands either in the default
/// partition before, and moves, or in the new partition after.
async fn create(conn: &mut PgConnection, day: NaiveDate) -> Result<u64, sqlx::Error> {
    let name = partition_name(day);
    let from = start_literal(day);
    let to = start_literal(day.succ_opt().unwrap_or(day));
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(&format!(
        "create table public.{name} (like public.{PARENT} including defaults including constraints)"
    ))
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::query(&format!(
        "with moved as (delete from public.{DEFAULT_PARTITION}
                        where occurred_at >= {from} and occurred_at < {to} returning *)
         insert into public.{name} select * from moved"
    ))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(&format!(
        "alter table public.{PARENT} attach partition public.{name} for values from ({from}) to ({to})"
    ))
    .execute(&mut *tx)
    .await?;
    // Supabase's API would otherwise expose the partition as a table.
    sqlx::query(&format!(
        "alter table public.{name} enable row level security"
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(moved)
}

/// Detaches and drops `day`'s partition. (`detach ... concurrently` would
/// take a weaker lock, but Postgres refuses it while a default partition
/// exists; the lock timeout bounds the wait instead.)
async fn drop_day(conn: &mut PgConnection, day: NaiveDate) -> Result<(), sqlx::Error> {
    let name = partition_name(day);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query(&format!(
        "alter table public.{PARENT} detach partition public.{name}"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("drop table public.{name}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The pass's steps in order. Once one gives up waiting for a lock, the
/// table is busy: the steps after it are postponed without trying, rather
/// than each waiting out its own timeout (and holding up the inserts queued
/// behind it once more).
#[derive(Default)]
struct Steps {
    busy: bool,
    postponed: Vec<String>,
}

impl Steps {
    async fn run<T>(
        &mut self,
        what: String,
        step: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<Option<T>, sqlx::Error> {
        if self.busy {
            self.postponed.push(what);
            return Ok(None);
        }
        match step.await {
            Ok(done) => Ok(Some(done)),
            Err(e) if is_lock_timeout(&e) => {
                self.busy = true;
                self.postponed.push(what);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == LOCK_NOT_AVAILABLE)
}

/// Runs a pass now and then every `every`, for as long as the returned task
/// lives (the admin server keeps one per process; the advisory lock lets only
/// one of several servers on a database work at a time). A failed pass (the
/// database down) is logged and tried again within a minute: it stops nothing.
pub fn spawn_periodic(
    pool: PgPool,
    options: Options,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    const RETRY_AFTER: Duration = Duration::from_secs(60);
    tokio::spawn(async move {
        loop {
            let next = match run_pass(&pool, &options).await {
                Ok(Outcome::Ran(report)) => {
                    if report
                        == (Report {
                            today: report.today,
                            ..Report::default()
                        })
                    {
                        tracing::debug!("events maintenance: nothing to do");
                    } else {
                        tracing::info!("events maintenance:\n{report}");
                    }
                    every
                }
                Ok(Outcome::Skipped) => {
                    tracing::debug!("events maintenance: another server's pass is running");
                    every
                }
                Err(e) => {
                    tracing::warn!("events maintenance failed (tried again within a minute): {e}");
                    RETRY_AFTER.min(every)
                }
            };
            tokio::time::sleep(next).await;
        }
    })
}
