//! One maintenance pass, under the advisory lock.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::postgres::PgConnection;
use sqlx::PgPool;

use crate::day::{day_of, partition_name, start_literal, DEFAULT_PARTITION, PARENT};
use crate::rollup::{roll_up, Plan, Rollup, RollupReport, ROLLUP_LOCK_KEY};

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
    /// the retention), before importing history into them; and roll the
    /// minutes from this day on up again.
    pub backfill_from: Option<NaiveDate>,
    /// Minutes behind the roll-ups' mark rolled up again on every pass: an
    /// event stored up to this long (less the time between passes) after it
    /// occurred is still counted in the trends.
    pub rollup_late: Duration,
    /// The minutes rolled up per transaction (a backfill's step).
    pub rollup_chunk: Duration,
    /// Seconds between roll-ups in [`spawn_periodic`] (the partition pass
    /// runs at its own, longer interval): the raw tail a reader rolls up
    /// itself is at most about this long.
    pub rollup_interval: Duration,
}

/// Transition roll-ups are kept at least this long: `/status` takes trend
/// windows of up to a week.
const MIN_TRANSITION_DAYS: u32 = 8;

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_days: 30,
            premake_days: 7,
            lock_timeout: Duration::from_millis(500),
            backfill_from: None,
            rollup_late: Duration::from_secs(15 * 60),
            rollup_chunk: Duration::from_secs(3600),
            rollup_interval: Duration::from_secs(60),
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

/// Postgres's `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

impl PassError {
    /// What to do when the pass's role may not maintain (the admin server's
    /// `ai_runtime_reader`, say); empty otherwise.
    pub fn role_hint(&self) -> &'static str {
        let denied = match self {
            PassError::Database(e) => e
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == INSUFFICIENT_PRIVILEGE),
            _ => false,
        };
        if denied {
            " (this role may not maintain: connect as a login granted ai_runtime_maintainer, \
             e.g. the admin server's MAINTENANCE_DATABASE_URL)"
        } else {
            ""
        }
    }
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
    /// The roll-ups; `None` when another roll-up was running.
    pub rollup: Option<RollupReport>,
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
        match &self.rollup {
            Some(rollup) => write!(f, "{rollup}")?,
            None => writeln!(f, "roll-ups: another roll-up is running; skipped")?,
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
        return result.map(Outcome::Ran);
    }
    let mut report = result?;
    // On the same connection (the binary's pool holds one), under the
    // roll-ups' own lock.
    report.rollup = rollup_on(conn, options).await?;
    Ok(Outcome::Ran(report))
}

/// Rolls the events and transitions up to the current minute (the roll-up
/// part of a pass, on its own: what [`spawn_periodic`] runs every
/// [`Options::rollup_interval`]). `None` when another roll-up holds the lock.
pub async fn run_rollup(
    pool: &PgPool,
    options: &Options,
) -> Result<Option<RollupReport>, PassError> {
    if options.retention_days == 0 {
        return Err(PassError::NoRetention);
    }
    let conn = pool.acquire().await?;
    rollup_on(conn, options).await
}

async fn rollup_on(
    mut conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    options: &Options,
) -> Result<Option<RollupReport>, PassError> {
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(ROLLUP_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(None);
    }
    let result = match sqlx::query(&format!(
        "set lock_timeout = '{}ms'",
        options.lock_timeout.as_millis().max(1)
    ))
    .execute(&mut *conn)
    .await
    {
        Ok(_) => rollups(&mut conn, options).await,
        Err(e) => Err(e),
    };
    let unlocked = sqlx::query_scalar::<_, bool>("select pg_advisory_unlock($1)")
        .bind(ROLLUP_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await;
    let reset = sqlx::query("reset lock_timeout").execute(&mut *conn).await;
    if !matches!(unlocked, Ok(true)) || reset.is_err() {
        let _ = conn.close().await;
    }
    Ok(Some(result?))
}

async fn rollups(conn: &mut PgConnection, options: &Options) -> Result<RollupReport, sqlx::Error> {
    // The first kept day of each roll-up, as the partitions' retention counts it.
    let (events_kept, transitions_kept): (NaiveDate, NaiveDate) = sqlx::query_as(
        "select ((now() - make_interval(days => $1)) at time zone 'UTC')::date,
                ((now() - make_interval(days => $2)) at time zone 'UTC')::date",
    )
    .bind(i32::try_from(options.retention_days).unwrap_or(i32::MAX))
    .bind(i32::try_from(options.retention_days.max(MIN_TRANSITION_DAYS)).unwrap_or(i32::MAX))
    .fetch_one(&mut *conn)
    .await?;
    let midnight = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    let plan = Plan {
        late: chrono::Duration::from_std(options.rollup_late).unwrap_or_default(),
        chunk: chrono::Duration::from_std(options.rollup_chunk)
            .unwrap_or_default()
            .max(chrono::Duration::minutes(1)),
        backfill_from: options.backfill_from.map(midnight),
    };
    let mut report = RollupReport::default();
    let first_kept = |rollup| match rollup {
        Rollup::Events => midnight(events_kept),
        Rollup::Transitions => midnight(transitions_kept),
    };
    match roll_up(conn, &plan, first_kept, &mut report).await {
        Ok(()) => Ok(report),
        Err(e) if is_lock_timeout(&e) => {
            report.postponed = true;
            Ok(report)
        }
        Err(e) => Err(e),
    }
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

/// Makes `day`'s partition and moves the day's events from the default
/// partition into it, in one transaction (`ai_runtime_create_partition`,
/// which runs as the table's owner: see the roles migration). Returns the
/// events moved.
async fn create(conn: &mut PgConnection, day: NaiveDate) -> Result<u64, sqlx::Error> {
    let moved: i64 = sqlx::query_scalar("select public.ai_runtime_create_partition($1)")
        .bind(day)
        .fetch_one(&mut *conn)
        .await?;
    Ok(u64::try_from(moved).unwrap_or_default())
}

/// Detaches and drops `day`'s partition (`ai_runtime_drop_partition`, as the
/// table's owner).
async fn drop_day(conn: &mut PgConnection, day: NaiveDate) -> Result<(), sqlx::Error> {
    sqlx::query("select public.ai_runtime_drop_partition($1)")
        .bind(day)
        .execute(&mut *conn)
        .await
        .map(drop)
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

/// Runs a pass now and then every `every`, and the roll-ups alone every
/// [`Options::rollup_interval`] in between, for as long as the returned task
/// lives (the admin server keeps one per process; the advisory locks let
/// only one of several servers on a database work at a time). A failed pass
/// (the database down) is logged and tried again within a minute: it stops
/// nothing.
pub fn spawn_periodic(
    pool: PgPool,
    options: Options,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    const RETRY_AFTER: Duration = Duration::from_secs(60);
    let rollup_every = options.rollup_interval.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut next_pass = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_pass {
                match run_pass(&pool, &options).await {
                    Ok(Outcome::Ran(report)) => {
                        let quiet = report.created.is_empty()
                            && report.dropped.is_empty()
                            && report.expired_in_default == 0
                            && report.postponed.is_empty();
                        if quiet {
                            tracing::debug!("events maintenance: nothing to do");
                        } else {
                            tracing::info!("events maintenance:\n{report}");
                        }
                        next_pass = now + every;
                    }
                    Ok(Outcome::Skipped) => {
                        tracing::debug!("events maintenance: another server's pass is running");
                        next_pass = now + every;
                    }
                    Err(e) => {
                        tracing::warn!(
                            "events maintenance failed (tried again within a minute): {e}{}",
                            e.role_hint()
                        );
                        next_pass = now + RETRY_AFTER.min(every);
                    }
                }
            } else {
                match run_rollup(&pool, &options).await {
                    Ok(Some(report)) => tracing::debug!("roll-ups:\n{report}"),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(
                            "roll-ups failed (tried again shortly): {e}{}",
                            e.role_hint()
                        );
                    }
                }
            }
            let wake = (tokio::time::Instant::now() + rollup_every).min(next_pass);
            tokio::time::sleep_until(wake).await;
        }
    })
}
