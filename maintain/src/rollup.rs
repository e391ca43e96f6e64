//! Roll-ups of the runtime events and the task transitions, so that the
//! trends panel and `/status` over a day read a few hundred rows per series
//! instead of every event (or transition) of the day.
//!
//! Two roll-ups, each with its high-water mark in `ai_runtime_rollups`
//! (`rolled_until`: every UTC minute before it is rolled up):
//! - `events`: `ai_runtime_event_rollups` (events and failures per layer)
//!   and `ai_runtime_call_rollups` (provider calls per route: a latency
//!   histogram and token sums), each at three grains ([`GRAINS`]): minutes
//!   from the raw events, 5-minute and hourly rows summed from the minutes
//!   (a reader takes the coarsest grain that divides its buckets); and
//!   `ai_runtime_breaker_changes`, the circuit-breaker reports copied;
//! - `transitions`: `task_transition_minutes` (transitions per minute and
//!   `(from_status, to_status)`).
//!
//! A pass rolls every whole minute up to the current one, in chunks of
//! [`Options::rollup_chunk`], one transaction each (so a backfill over a
//! month of history never holds anything for long, and an interrupted one
//! resumes where it stopped). It starts [`Options::rollup_late`] before the
//! mark: those minutes are rolled up again (delete and insert, idempotent),
//! which counts the events that arrived late. An event stored more than that
//! after the minute it occurred in, minus the time between passes, stays in
//! `ai_runtime_events` but not in the roll-ups.
//!
//! Readers take the roll-up rows before the mark and the raw rows from it
//! on, in one snapshot; the raw part is rolled up by the same SQL
//! ([`EVENT_MINUTES_SQL`], [`CALL_MINUTES_SQL`], [`TRANSITION_MINUTES_SQL`]),
//! so both parts count alike.

use std::fmt;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use crate::failure::FAILURE_REASON_CODES;

/// The advisory lock a roll-up holds ("AI-RTRUP" in ASCII); another one on
/// the same database skips. Not the partition pass's: the two may overlap.
pub const ROLLUP_LOCK_KEY: i64 = 0x4149_2d52_5452_5550;

/// The latency histogram: bin 0 holds calls under 1 ms, bin `i` (1 to
/// `LATENCY_BINS - 2`) holds `[GROWTH^(i-1), GROWTH^i)` ms, the last bin
/// everything from `GROWTH^(LATENCY_BINS - 2)` ms (about 58 minutes) on.
pub const LATENCY_BINS: usize = 160;
/// Each bin's upper bound over its lower one.
pub const LATENCY_GROWTH: f64 = 1.1;

/// The bin of a latency of `ms` milliseconds, as the roll-up SQL computes it.
pub fn latency_bin(ms: f64) -> usize {
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    let bin = 1.0 + (ms.ln() / LATENCY_GROWTH.ln()).floor();
    (bin as usize).min(LATENCY_BINS - 1)
}

/// The value a percentile falling in `bin` reports: the bin's geometric
/// middle (0.5 ms for bin 0, the lower bound for the open last bin). A true
/// value in a bounded bin is within `sqrt(GROWTH) - 1` (4.9%) of it.
pub fn latency_bin_value(bin: usize) -> f64 {
    match bin {
        0 => 0.5,
        b if b >= LATENCY_BINS - 1 => LATENCY_GROWTH.powi(LATENCY_BINS as i32 - 2),
        b => LATENCY_GROWTH.powf(b as f64 - 0.5),
    }
}

/// The grains of the event roll-ups, in seconds: minutes, 5 minutes, hours.
pub const GRAINS: [i32; 3] = [60, 300, 3600];

/// The roll-up of `ai_runtime_events` in `[$1, $2)` per minute: `(start,
/// layer, events, failures)`, `$3` the failure class's codes.
pub const EVENT_MINUTES_SQL: &str = "\
select date_trunc('minute', occurred_at, 'UTC') as start, layer, count(*) as events, \
       count(*) filter (where reason_code = any($3::text[])) as failures \
from public.ai_runtime_events where occurred_at >= $1 and occurred_at < $2 \
group by 1, 2";

/// The roll-up of the provider calls in `[$1, $2)` per minute: `(start, route, calls,
/// latency_bins, latency_counts, input_tokens, output_tokens, cost_usd)`. A call is a
/// `provider_runtime` CALL event but the routes-exhausted summary; its route
/// is `entity_id`; its latency `metadata.latency_ms` and its tokens
/// `metadata."gen_ai.usage.input_tokens"` / `"…output_tokens"`, or the short
/// names the OTLP exporter also maps to them (`input_tokens`/`prompt_tokens`,
/// `output_tokens`/`completion_tokens`; the first present name decides),
/// when they are JSON numbers (absent or otherwise: no latency, 0 tokens);
/// its cost `metadata.cost_usd` when a non-negative number (else 0).
pub const CALL_MINUTES_SQL: &str = "\
with calls as ( \
    select date_trunc('minute', occurred_at, 'UTC') as start, entity_id as route, \
        case when jsonb_typeof(metadata->'latency_ms') = 'number' then \
            case when (metadata->'latency_ms')::numeric < 1 then 0 \
                 when (metadata->'latency_ms')::numeric >= 1e7 then 159 \
                 else least(159, 1 + floor(ln((metadata->'latency_ms')::numeric::float8) / ln(1.1::float8))::int) \
            end end::smallint as bin, \
        case when jsonb_typeof(usage.input) = 'number' then \
            least(greatest(usage.input::numeric, 0), 1e12)::bigint \
            else 0 end as input_tokens, \
        case when jsonb_typeof(usage.output) = 'number' then \
            least(greatest(usage.output::numeric, 0), 1e12)::bigint \
            else 0 end as output_tokens, \
        case when jsonb_typeof(metadata->'cost_usd') = 'number' then \
            least(greatest((metadata->'cost_usd')::numeric, 0), 1e9)::float8 \
            else 0 end as cost_usd \
    from public.ai_runtime_events \
    cross join lateral (select \
        coalesce(metadata->'gen_ai.usage.input_tokens', metadata->'input_tokens', \
                 metadata->'prompt_tokens') as input, \
        coalesce(metadata->'gen_ai.usage.output_tokens', metadata->'output_tokens', \
                 metadata->'completion_tokens') as output) usage \
    where layer = 'provider_runtime' and operation = 'CALL' \
      and reason_code <> 'PROVIDER_ROUTES_EXHAUSTED' \
      and occurred_at >= $1 and occurred_at < $2), \
per_bin as ( \
    select start, route, bin, count(*) as calls, sum(input_tokens) as input_tokens, \
        sum(output_tokens) as output_tokens, sum(cost_usd) as cost_usd \
    from calls group by start, route, bin) \
select start, route, sum(calls)::bigint as calls, \
    coalesce(array_agg(bin order by bin) filter (where bin is not null), '{}') as latency_bins, \
    coalesce(array_agg(calls::int order by bin) filter (where bin is not null), '{}') as latency_counts, \
    sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens, \
    sum(cost_usd)::float8 as cost_usd \
from per_bin group by start, route";

/// The circuit-breaker reports in `[$1, $2)`: `(worker_id, occurred_at,
/// opened, reason)`.
pub const BREAKER_CHANGES_SQL: &str = "\
select coalesce(worker_id, entity_id) as worker_id, occurred_at, \
       reason_code = 'WORKER_CIRCUIT_OPENED' as opened, metadata->>'circuit_reason' as reason \
from public.ai_runtime_events \
where layer = 'worker' and reason_code in ('WORKER_CIRCUIT_OPENED', 'WORKER_CIRCUIT_CLOSED') \
  and occurred_at >= $1 and occurred_at < $2";

/// The `$3`-second rows of the event roll-up in `[$1, $2)` (both aligned to
/// `$3`), summed from its minute rows.
const EVENT_COARSER_SQL: &str = "\
insert into public.ai_runtime_event_rollups (grain_seconds, start, layer, events, failures) \
select $3::int, date_bin(make_interval(secs => $3::int), start, timestamptz '1970-01-01 00:00:00+00'), \
       layer, sum(events), sum(failures) \
from public.ai_runtime_event_rollups \
where grain_seconds = 60 and start >= $1 and start < $2 \
group by 2, 3";

/// The `$3`-second rows of the call roll-up in `[$1, $2)`, summed from its
/// minute rows: the histograms merged bin by bin.
const CALL_COARSER_SQL: &str = "\
insert into public.ai_runtime_call_rollups \
    (grain_seconds, start, route, calls, latency_bins, latency_counts, input_tokens, output_tokens, cost_usd) \
with m as ( \
    select date_bin(make_interval(secs => $3::int), start, timestamptz '1970-01-01 00:00:00+00') as period, \
        route, calls, latency_bins, latency_counts, input_tokens, output_tokens, cost_usd \
    from public.ai_runtime_call_rollups \
    where grain_seconds = 60 and start >= $1 and start < $2), \
totals as ( \
    select period, route, sum(calls)::bigint as calls, sum(input_tokens)::bigint as input_tokens, \
        sum(output_tokens)::bigint as output_tokens, sum(cost_usd)::float8 as cost_usd \
    from m group by 1, 2), \
bins as ( \
    select period, route, b.bin, sum(b.n)::int as n \
    from m cross join lateral unnest(m.latency_bins, m.latency_counts) as b(bin, n) \
    group by 1, 2, 3), \
hists as ( \
    select period, route, array_agg(bin order by bin) as bins, array_agg(n order by bin) as counts \
    from bins group by 1, 2) \
select $3::int, t.period, t.route, t.calls, coalesce(h.bins, '{}'), coalesce(h.counts, '{}'), \
    t.input_tokens, t.output_tokens, t.cost_usd \
from totals t left join hists h using (period, route)";

/// The roll-up of `task_transition_events` in `[$1, $2)`: `(minute,
/// from_status ('' for a creation), to_status, transitions)`.
pub const TRANSITION_MINUTES_SQL: &str = "\
select date_trunc('minute', occurred_at, 'UTC') as minute, coalesce(from_status, '') as from_status, \
       to_status, count(*) as transitions \
from public.task_transition_events where occurred_at >= $1 and occurred_at < $2 \
group by 1, 2, 3";

/// The failure class, the `$3` of [`EVENT_MINUTES_SQL`].
pub fn failure_codes() -> Vec<String> {
    FAILURE_REASON_CODES
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// The two roll-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    Events,
    Transitions,
}

impl Rollup {
    pub const ALL: [Rollup; 2] = [Rollup::Events, Rollup::Transitions];

    /// Its key in `ai_runtime_rollups`.
    pub fn key(self) -> &'static str {
        match self {
            Rollup::Events => "events",
            Rollup::Transitions => "transitions",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Rollup::Events => "public.ai_runtime_events",
            Rollup::Transitions => "public.task_transition_events",
        }
    }

    /// Its tables (each with its time column).
    fn tables(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Rollup::Events => &[
                ("public.ai_runtime_event_rollups", "start"),
                ("public.ai_runtime_call_rollups", "start"),
                ("public.ai_runtime_breaker_changes", "occurred_at"),
            ],
            Rollup::Transitions => &[("public.task_transition_minutes", "minute")],
        }
    }
}

/// The high-water mark of `rollup` (`None` before its first pass).
pub async fn rolled_until(
    conn: &mut PgConnection,
    rollup: Rollup,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("select rolled_until from public.ai_runtime_rollups where rollup = $1")
        .bind(rollup.key())
        .fetch_optional(conn)
        .await
}

/// What one roll-up did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RollupReport {
    /// Per roll-up: the minutes rolled (again), `[from, until)`, and in how
    /// many chunks (transactions).
    pub rolled: Vec<(Rollup, DateTime<Utc>, DateTime<Utc>, u32)>,
    /// Roll-up rows past the retention, deleted.
    pub expired_rows: u64,
    /// A statement gave up waiting for its lock (a long report holding a
    /// table): the rest waits for the next pass (the chunks done are kept).
    pub postponed: bool,
}

impl fmt::Display for RollupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (rollup, from, until, chunks) in &self.rolled {
            writeln!(
                f,
                "rolled up {}: {} to {} ({} chunk{})",
                rollup.key(),
                from.format("%Y-%m-%d %H:%M"),
                until.format("%Y-%m-%d %H:%M"),
                chunks,
                if *chunks == 1 { "" } else { "s" }
            )?;
        }
        if self.postponed {
            writeln!(f, "roll-ups postponed (lock busy)")?;
        }
        if self.expired_rows > 0 {
            writeln!(
                f,
                "deleted {} roll-up rows past the retention",
                self.expired_rows
            )?;
        }
        Ok(())
    }
}

/// What a roll-up needs to know.
pub(crate) struct Plan {
    /// Minutes rolled up again behind the mark.
    pub(crate) late: Duration,
    pub(crate) chunk: Duration,
    /// Roll up again from here (history imported behind the mark).
    pub(crate) backfill_from: Option<DateTime<Utc>>,
}

/// Rolls both roll-ups up to the current minute, then deletes the rows past
/// `first_kept`, noting in `report` what is done. The caller holds
/// [`ROLLUP_LOCK_KEY`].
pub(crate) async fn roll_up(
    conn: &mut PgConnection,
    plan: &Plan,
    first_kept: impl Fn(Rollup) -> DateTime<Utc>,
    report: &mut RollupReport,
) -> Result<(), sqlx::Error> {
    let now: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&mut *conn)
        .await?;
    let current = now.duration_trunc(Duration::minutes(1)).unwrap_or_default();
    for rollup in Rollup::ALL {
        let kept = first_kept(rollup);
        let start = match rolled_until(conn, rollup).await? {
            Some(mark) => mark.min(current - plan.late),
            // The first pass: all the history there is.
            None => oldest(conn, rollup).await?.unwrap_or(current),
        };
        let start = plan
            .backfill_from
            .map_or(start, |from| from.min(start))
            .max(kept)
            .duration_trunc(Duration::minutes(1))
            .unwrap_or_default();
        let mut from = start;
        let mut chunks = 0;
        loop {
            let until = (from + plan.chunk).min(current).max(from);
            roll_chunk(conn, rollup, from, until).await?;
            chunks += 1;
            from = until;
            if from >= current {
                break;
            }
        }
        report.rolled.push((rollup, start, current, chunks));
    }
    for rollup in Rollup::ALL {
        for (table, time) in rollup.tables() {
            report.expired_rows += sqlx::query(&format!("delete from {table} where {time} < $1"))
                .bind(first_kept(rollup))
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
    }
    Ok(())
}

/// The minute of the oldest row of `rollup`'s source.
async fn oldest(
    conn: &mut PgConnection,
    rollup: Rollup,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "select date_trunc('minute', min(occurred_at), 'UTC') from {}",
        rollup.source()
    ))
    .fetch_one(conn)
    .await
}

/// Rolls `[from, until)` up again in one transaction and moves the mark to
/// `until` (never back). For the events, the 5-minute and hourly rows of the
/// periods those minutes fall in are summed again from the minutes.
async fn roll_chunk(
    conn: &mut PgConnection,
    rollup: Rollup,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    match rollup {
        Rollup::Events => {
            for (table, columns, select) in [
                (
                    "public.ai_runtime_event_rollups",
                    "start, layer, events, failures",
                    EVENT_MINUTES_SQL,
                ),
                (
                    "public.ai_runtime_call_rollups",
                    "start, route, calls, latency_bins, latency_counts, input_tokens, output_tokens, cost_usd",
                    CALL_MINUTES_SQL,
                ),
            ] {
                replace(&mut tx, table, 60, from, until).await?;
                let sql =
                    format!("insert into {table} (grain_seconds, {columns}) select 60, * from ({select}) m");
                let mut insert = sqlx::query(&sql).bind(from).bind(until);
                if select == EVENT_MINUTES_SQL {
                    insert = insert.bind(failure_codes());
                }
                insert.execute(&mut *tx).await?;
            }
            sqlx::query(
                "delete from public.ai_runtime_breaker_changes \
                 where occurred_at >= $1 and occurred_at < $2",
            )
            .bind(from)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            let sql = format!(
                "insert into public.ai_runtime_breaker_changes \
                 (worker_id, occurred_at, opened, reason) {BREAKER_CHANGES_SQL}"
            );
            sqlx::query(&sql)
                .bind(from)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            for grain in &GRAINS[1..] {
                let (lo, hi) = widen(from, until, *grain);
                for (table, coarser) in [
                    ("public.ai_runtime_event_rollups", EVENT_COARSER_SQL),
                    ("public.ai_runtime_call_rollups", CALL_COARSER_SQL),
                ] {
                    replace(&mut tx, table, *grain, lo, hi).await?;
                    sqlx::query(coarser)
                        .bind(lo)
                        .bind(hi)
                        .bind(grain)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        Rollup::Transitions => {
            sqlx::query(
                "delete from public.task_transition_minutes where minute >= $1 and minute < $2",
            )
            .bind(from)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            let sql = format!(
                "insert into public.task_transition_minutes \
                 (minute, from_status, to_status, transitions) {TRANSITION_MINUTES_SQL}"
            );
            sqlx::query(&sql)
                .bind(from)
                .bind(until)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query(
        "insert into public.ai_runtime_rollups (rollup, rolled_until) values ($1, $2)
         on conflict (rollup) do update
         set rolled_until = greatest(ai_runtime_rollups.rolled_until, excluded.rolled_until),
             updated_at = now()",
    )
    .bind(rollup.key())
    .bind(until)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Deletes `table`'s `grain` rows in `[from, until)`.
async fn replace(
    tx: &mut PgConnection,
    table: &str,
    grain: i32,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "delete from {table} where grain_seconds = $1 and start >= $2 and start < $3"
    ))
    .bind(grain)
    .bind(from)
    .bind(until)
    .execute(tx)
    .await
    .map(drop)
}

/// `[from, until)` widened to whole `grain`-second periods (aligned since 1970).
pub fn widen(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    grain: i32,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let grain = i64::from(grain);
    let down = |t: DateTime<Utc>| t.timestamp().div_euclid(grain) * grain;
    let lo = down(from);
    let hi = if until.timestamp() == down(until) && until.timestamp_subsec_nanos() == 0 {
        until.timestamp()
    } else {
        down(until) + grain
    };
    (
        DateTime::from_timestamp(lo, 0).unwrap_or(from),
        DateTime::from_timestamp(hi, 0).unwrap_or(until),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_and_their_values() {
        assert_eq!(latency_bin(0.0), 0);
        assert_eq!(latency_bin(0.99), 0);
        assert_eq!(latency_bin(-5.0), 0);
        assert_eq!(latency_bin(1.0), 1);
        assert_eq!(latency_bin(1.09), 1);
        assert_eq!(latency_bin(1.11), 2);
        assert_eq!(latency_bin(1e9), LATENCY_BINS - 1);
        // Every bounded bin's value is within 4.9% of anything in it.
        for ms in [1.0, 3.0, 17.0, 250.0, 999.0, 12_345.0, 3_000_000.0] {
            let value = latency_bin_value(latency_bin(ms));
            assert!(
                (value - ms).abs() / ms <= LATENCY_GROWTH.sqrt() - 1.0 + 1e-9,
                "{ms} -> {value}"
            );
        }
    }
}
