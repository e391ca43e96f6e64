//! `GET /trends`: events per bucket and layer with the failures set apart,
//! provider call latency percentiles, token usage and cost per route, and the
//! circuit breakers' open intervals, over a time range.
//!
//! Its cost does not follow the events of the range: the time before the
//! roll-ups' mark comes from the roll-ups the maintenance pass keeps
//! (`ai_runtime_maintain::rollup`), at the coarsest grain that divides the
//! buckets (hours, 5 minutes or minutes: a day in 5-minute buckets is 288
//! rows per layer and per route), with minute rows for the part of the last
//! coarse period before the mark; only the minutes after the mark (the last
//! minute or two while the admin server's roll-ups run) are rolled up here
//! from the raw events, by the same SQL as the pass's. Both parts are read in one snapshot, so a pass that
//! moves the mark meanwhile counts nothing twice.

use std::collections::{BTreeMap, BTreeSet};

use ai_runtime_api::{
    BreakerInterval, EventLayer, LayerCount, RoutePoint, RouteTrend, TrendBucket, TrendsResponse,
};
use ai_runtime_maintain::rollup::{
    failure_codes, latency_bin_value, rolled_until, widen, Rollup, CALL_MINUTES_SQL,
    EVENT_MINUTES_SQL, GRAINS, LATENCY_BINS,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::params::{TrendRange, TrendsQuery};

/// The rolled-up event counts: the `$1`-second rows of `[$2, $3)` and the
/// minute rows of `[$3, $4)`, summed per `$5`-second bucket.
const ROLLED_EVENTS_SQL: &str = "\
select date_bin(make_interval(secs => $5), start, timestamptz '1970-01-01 00:00:00+00') as bucket, \
       layer, sum(events)::bigint, sum(failures)::bigint \
from ( \
    select start, layer, events, failures from public.ai_runtime_event_rollups \
    where grain_seconds = $1 and start >= $2 and start < $3 \
    union all \
    select start, layer, events, failures from public.ai_runtime_event_rollups \
    where grain_seconds = 60 and start >= $3 and start < $4) r \
group by 1, 2";

/// The rolled-up provider calls, as [`ROLLED_EVENTS_SQL`] splits them, row by
/// row (the histograms are merged here).
const ROLLED_CALLS_SQL: &str = "\
select start, route, calls, latency_bins, latency_counts, input_tokens, output_tokens, cost_usd \
from public.ai_runtime_call_rollups where grain_seconds = $1 and start >= $2 and start < $3 \
union all \
select start, route, calls, latency_bins, latency_counts, input_tokens, output_tokens, cost_usd \
from public.ai_runtime_call_rollups where grain_seconds = 60 and start >= $3 and start < $4";

/// The breaker reports: copied by the roll-up before the mark `$2`
/// (`ai_runtime_breaker_changes`, a small table), raw from the mark on (the
/// reason-code index of the tail's day).
const BREAKER_CHANGES: &str = "( \
    select worker_id, occurred_at, opened, reason from public.ai_runtime_breaker_changes \
    where occurred_at < $2 \
    union all \
    select coalesce(worker_id, entity_id), occurred_at, reason_code = 'WORKER_CIRCUIT_OPENED', \
           metadata->>'circuit_reason' \
    from public.ai_runtime_events \
    where layer = 'worker' and reason_code in ('WORKER_CIRCUIT_OPENED', 'WORKER_CIRCUIT_CLOSED') \
      and occurred_at >= $2) c";

/// Each worker's last breaker report before `$1` (whether its breaker was
/// open when the range starts), and every report from `$1` on, in order
/// (the range's, and those after it that close an interval still open at
/// its end); `$2` the mark.
fn breaker_sql() -> (String, String) {
    (
        format!(
            "select distinct on (worker_id) worker_id, opened, occurred_at, reason \
             from {BREAKER_CHANGES} where occurred_at < $1 \
             order by worker_id, occurred_at desc"
        ),
        format!(
            "select worker_id, opened, occurred_at, reason from {BREAKER_CHANGES} \
             where occurred_at >= $1 order by occurred_at, opened"
        ),
    )
}

/// One route's provider calls over a grain's period, from the roll-up or the tail.
#[derive(sqlx::FromRow)]
struct CallMinute {
    start: DateTime<Utc>,
    route: String,
    calls: i64,
    latency_bins: Vec<i16>,
    latency_counts: Vec<i32>,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: f64,
}
/// `(worker, opened, at, reason)`.
type BreakerRow = (String, bool, DateTime<Utc>, Option<String>);

/// Where the range splits: coarse roll-up rows of `grain` seconds in
/// `[range.from, coarse_until)`, minute rows in `[coarse_until, split)`, raw
/// events in `[split, range.to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    grain: i32,
    coarse_until: DateTime<Utc>,
    split: DateTime<Utc>,
    /// The mark itself (the start of time before the first pass).
    mark: DateTime<Utc>,
}

/// The mark before the first pass: all of history is raw (4000 BC, within
/// what Postgres stores).
const BEFORE_ANY_PASS: DateTime<Utc> = match DateTime::from_timestamp(-188_395_000_000, 0) {
    Some(t) => t,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

impl Parts {
    fn of(range: &TrendRange, mark: Option<DateTime<Utc>>) -> Self {
        let split = mark.unwrap_or(range.from).clamp(range.from, range.to);
        // The coarsest grain dividing the bucket (the range is aligned to it).
        let grain = GRAINS
            .iter()
            .rev()
            .copied()
            .find(|g| range.bucket_seconds % i64::from(*g) == 0)
            .unwrap_or(60);
        let (coarse_until, _) = widen(split, split, grain);
        Parts {
            grain,
            coarse_until: coarse_until.clamp(range.from, split),
            split,
            mark: mark.unwrap_or(BEFORE_ANY_PASS),
        }
    }
}

/// The trends of `range`.
pub(crate) async fn trends(
    pool: &PgPool,
    range: &TrendRange,
) -> Result<TrendsResponse, ApiFailure> {
    let mut conn = pool.acquire().await?;
    compute(&mut conn, range).await
}

async fn compute(
    conn: &mut PgConnection,
    range: &TrendRange,
) -> Result<TrendsResponse, ApiFailure> {
    // One snapshot: the mark and the roll-up rows agree.
    let mut tx = conn.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let parts = Parts::of(range, rolled_until(&mut tx, Rollup::Events).await?);
    let split = parts.split;
    let width = range.bucket_seconds;

    let mut events: BTreeMap<(DateTime<Utc>, String), (i64, i64)> = BTreeMap::new();
    let rolled: Vec<(DateTime<Utc>, String, i64, i64)> = sqlx::query_as(ROLLED_EVENTS_SQL)
        .bind(parts.grain)
        .bind(range.from)
        .bind(parts.coarse_until)
        .bind(split)
        .bind(width as f64)
        .fetch_all(&mut *tx)
        .await?;
    // The tail's statements are planned with their values (not persistent):
    // the plan then names only the tail's day, and only its partition is
    // locked, where a cached generic plan locks every day's.
    let tail: Vec<(DateTime<Utc>, String, i64, i64)> = sqlx::query_as(EVENT_MINUTES_SQL)
        .bind(split)
        .bind(range.to)
        .bind(failure_codes())
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
    for (at, layer, n, failed) in rolled.into_iter().chain(tail) {
        let counts = events.entry((bucket_of(at, width), layer)).or_default();
        counts.0 += n;
        counts.1 += failed;
    }

    let mut calls: Vec<CallMinute> = sqlx::query_as(ROLLED_CALLS_SQL)
        .bind(parts.grain)
        .bind(range.from)
        .bind(parts.coarse_until)
        .bind(split)
        .fetch_all(&mut *tx)
        .await?;
    let tail: Vec<CallMinute> = sqlx::query_as(CALL_MINUTES_SQL)
        .bind(split)
        .bind(range.to)
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
    calls.extend(tail);

    let (before_sql, since_sql) = breaker_sql();
    let before: Vec<BreakerRow> = sqlx::query_as(&before_sql)
        .bind(range.from)
        .bind(parts.mark)
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
    let since: Vec<BreakerRow> = sqlx::query_as(&since_sql)
        .bind(range.from)
        .bind(parts.mark)
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;

    Ok(TrendsResponse {
        from: range.from,
        to: range.to,
        bucket_seconds: width,
        buckets: buckets(range, &events)?,
        routes: routes(calls, width),
        breaker_open: breaker_intervals(before, since, range.to),
    })
}

/// The start of the `width`-second bucket holding `at` (aligned since 1970).
fn bucket_of(at: DateTime<Utc>, width: i64) -> DateTime<Utc> {
    let start = at.timestamp().div_euclid(width) * width;
    DateTime::from_timestamp(start, 0).unwrap_or(at)
}

/// Every bucket of the range, with the layers that had events.
fn buckets(
    range: &TrendRange,
    events: &BTreeMap<(DateTime<Utc>, String), (i64, i64)>,
) -> Result<Vec<TrendBucket>, ApiFailure> {
    let mut out: Vec<TrendBucket> = (0..range.buckets())
        .map(|i| TrendBucket {
            start: range.from + chrono::Duration::seconds(i * range.bucket_seconds),
            layers: Vec::new(),
            failures: 0,
        })
        .collect();
    for ((start, layer), (n, failed)) in events {
        let index = (*start - range.from).num_seconds() / range.bucket_seconds;
        let Some(bucket) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        bucket.layers.push(LayerCount {
            layer: parse_db::<EventLayer>(layer)?,
            count: *n,
        });
        bucket.failures += failed;
    }
    for bucket in &mut out {
        bucket
            .layers
            .sort_by_key(|l| EventLayer::ALL.iter().position(|x| *x == l.layer));
    }
    Ok(out)
}

/// One route's calls in one bucket, being merged.
struct PointSum {
    calls: i64,
    histogram: Vec<i64>,
    input_tokens: i64,
    output_tokens: i64,
    cost_usd: f64,
}

/// Per route (sorted), the buckets with calls: counts, tokens and cost summed,
/// histograms merged, percentiles read off the merged histogram.
fn routes(calls: Vec<CallMinute>, width: i64) -> Vec<RouteTrend> {
    let mut sums: BTreeMap<String, BTreeMap<DateTime<Utc>, PointSum>> = BTreeMap::new();
    for row in calls {
        let point = sums
            .entry(row.route)
            .or_default()
            .entry(bucket_of(row.start, width))
            .or_insert_with(|| PointSum {
                calls: 0,
                histogram: vec![0; LATENCY_BINS],
                input_tokens: 0,
                output_tokens: 0,
                cost_usd: 0.0,
            });
        point.calls += row.calls;
        point.cost_usd += row.cost_usd;
        point.input_tokens += row.input_tokens;
        point.output_tokens += row.output_tokens;
        for (bin, count) in row.latency_bins.iter().zip(&row.latency_counts) {
            if let Some(slot) = usize::try_from(*bin)
                .ok()
                .and_then(|b| point.histogram.get_mut(b))
            {
                *slot += i64::from(*count);
            }
        }
    }
    sums.into_iter()
        .map(|(route, points)| RouteTrend {
            route,
            points: points
                .into_iter()
                .map(|(start, p)| RoutePoint {
                    start,
                    calls: p.calls,
                    p50_ms: percentile(&p.histogram, 0.50),
                    p95_ms: percentile(&p.histogram, 0.95),
                    input_tokens: p.input_tokens,
                    output_tokens: p.output_tokens,
                    cost_usd: p.cost_usd,
                })
                .collect(),
        })
        .collect()
}

/// The nearest-rank `q` percentile of the calls in `histogram`, as its bin's
/// value (within 4.9% of the true one); `None` without calls.
pub(crate) fn percentile(histogram: &[i64], q: f64) -> Option<f64> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (bin, n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(latency_bin_value(bin));
        }
    }
    None
}

/// The open intervals of each worker's breaker that overlap `[.., to)`:
/// from its state before the range (`before`, one row per worker) and its
/// events since (`since`, in order). A second OPENED while open, or a
/// CLOSED while closed, changes nothing.
fn breaker_intervals(
    before: Vec<BreakerRow>,
    since: Vec<BreakerRow>,
    to: DateTime<Utc>,
) -> Vec<BreakerInterval> {
    let mut open: BTreeMap<String, (DateTime<Utc>, Option<String>)> = BTreeMap::new();
    let mut out = Vec::new();
    for (worker, opened, at, reason) in before {
        if opened {
            open.insert(worker, (at, reason));
        }
    }
    for (worker, opened, at, reason) in since {
        if opened {
            if at < to {
                open.entry(worker).or_insert((at, reason));
            }
        } else if let Some((opened_at, reason)) = open.remove(&worker) {
            out.push(BreakerInterval {
                worker_id: worker,
                opened_at,
                closed_at: Some(at),
                reason,
            });
        }
    }
    out.extend(
        open.into_iter()
            .map(|(worker_id, (opened_at, reason))| BreakerInterval {
                worker_id,
                opened_at,
                closed_at: None,
                reason,
            }),
    );
    out.sort_by(|a, b| (&a.worker_id, a.opened_at).cmp(&(&b.worker_id, b.opened_at)));
    out
}

/// The tables Postgres plans to read for the trends that `query` (a query
/// string, as the API takes it) asks for, per part (`rolled`, `tail`,
/// `breakers`), with the minutes up to now it rolls up from raw events:
/// what the admin API benchmark prints beside each shape.
pub async fn planned_trend_tables(
    pool: &PgPool,
    query: &str,
) -> Result<(Vec<(&'static str, BTreeSet<String>)>, i64), ApiFailure> {
    let q = crate::params::parse::<TrendsQuery>(query)?;
    let now = Utc::now();
    let range = TrendRange::parse(q, now)?;
    let mut conn = pool.acquire().await?;
    let parts = Parts::of(&range, rolled_until(&mut conn, Rollup::Events).await?);
    let split = parts.split;
    let rolled = || {
        vec![
            Bind::Grain(parts.grain),
            Bind::At(range.from),
            Bind::At(parts.coarse_until),
            Bind::At(split),
        ]
    };
    let (before_sql, since_sql) = breaker_sql();
    let mut rolled_events = rolled();
    rolled_events.push(Bind::Seconds(range.bucket_seconds as f64));
    let plans: [(&str, &str, Vec<Bind>); 6] = [
        ("rolled", ROLLED_EVENTS_SQL, rolled_events),
        (
            "tail",
            EVENT_MINUTES_SQL,
            vec![Bind::At(split), Bind::At(range.to), Bind::Codes],
        ),
        ("rolled", ROLLED_CALLS_SQL, rolled()),
        (
            "tail",
            CALL_MINUTES_SQL,
            vec![Bind::At(split), Bind::At(range.to)],
        ),
        (
            "breakers",
            &before_sql,
            vec![Bind::At(range.from), Bind::At(parts.mark)],
        ),
        (
            "breakers",
            &since_sql,
            vec![Bind::At(range.from), Bind::At(parts.mark)],
        ),
    ];
    let mut parts: Vec<(&'static str, BTreeSet<String>)> = Vec::new();
    for (part, sql, binds) in plans {
        let explain = format!("explain (format json) {sql}");
        let mut query = sqlx::query_scalar::<_, Value>(&explain);
        for bind in binds {
            query = match bind {
                Bind::At(t) => query.bind(t),
                Bind::Grain(g) => query.bind(g),
                Bind::Seconds(s) => query.bind(s),
                Bind::Codes => query.bind(failure_codes()),
            };
        }
        let plan = query.persistent(false).fetch_one(&mut *conn).await?;
        let mut tables = BTreeSet::new();
        crate::events::relations(&plan[0]["Plan"], &mut tables);
        match parts.iter_mut().find(|(p, _)| *p == part) {
            Some((_, all)) => all.extend(tables),
            None => parts.push((part, tables)),
        }
    }
    let tail_minutes = (range.to.min(now) - split).num_minutes().max(0);
    Ok((parts, tail_minutes))
}

enum Bind {
    At(DateTime<Utc>),
    Grain(i32),
    Seconds(f64),
    Codes,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_range_splits_into_coarse_rows_minutes_and_the_raw_tail() {
        let range = |from: &str, to: &str, bucket_seconds| TrendRange {
            from: at(from),
            to: at(to),
            bucket_seconds,
        };
        let day = range("2026-11-29T10:05:00Z", "2026-11-30T10:10:00Z", 300);
        let parts = Parts::of(&day, Some(at("2026-11-30T10:07:00Z")));
        assert_eq!(
            parts,
            Parts {
                grain: 300,
                coarse_until: at("2026-11-30T10:05:00Z"),
                split: at("2026-11-30T10:07:00Z"),
                mark: at("2026-11-30T10:07:00Z"),
            }
        );
        let week = range("2026-11-23T10:00:00Z", "2026-11-30T11:00:00Z", 3600);
        let parts = Parts::of(&week, Some(at("2026-11-30T10:07:00Z")));
        assert_eq!(
            (parts.grain, parts.coarse_until),
            (3600, at("2026-11-30T10:00:00Z"))
        );
        let fifteen = range("2026-11-29T10:00:00Z", "2026-11-30T10:15:00Z", 900);
        assert_eq!(Parts::of(&fifteen, None).grain, 300);
        // No roll-up yet: all raw.
        assert_eq!(Parts::of(&fifteen, None).split, fifteen.from);
        // A mark past the range: all rolled up, coarse to the end.
        let past = Parts::of(&fifteen, Some(at("2026-12-01T00:00:00Z")));
        assert_eq!((past.coarse_until, past.split), (fifteen.to, fifteen.to));
        let hour = range("2026-11-30T09:07:00Z", "2026-11-30T10:08:00Z", 60);
        let parts = Parts::of(&hour, Some(at("2026-11-30T10:07:00Z")));
        assert_eq!((parts.grain, parts.coarse_until), (60, parts.split));
    }

    #[test]
    fn percentiles_by_nearest_rank_on_the_bins() {
        use ai_runtime_maintain::rollup::latency_bin;
        let mut h = vec![0; LATENCY_BINS];
        assert_eq!(percentile(&h, 0.5), None);
        // 100 calls of 1..=100 ms: p50 is the 50th (50 ms), p95 the 95th.
        for ms in 1..=100 {
            h[latency_bin(f64::from(ms))] += 1;
        }
        assert_eq!(
            percentile(&h, 0.5),
            Some(latency_bin_value(latency_bin(50.0)))
        );
        assert_eq!(
            percentile(&h, 0.95),
            Some(latency_bin_value(latency_bin(95.0)))
        );
        let p95 = percentile(&h, 0.95).unwrap();
        assert!((p95 - 95.0).abs() / 95.0 < 0.049, "{p95}");
    }

    #[test]
    fn breaker_intervals_from_the_state_before_and_the_events_since() {
        const CIRCUIT_OPENED: bool = true;
        const CIRCUIT_CLOSED: bool = false;
        let row = |w: &str, opened: bool, t: &str| (w.to_owned(), opened, at(t), None);
        let to = at("2026-11-30T12:00:00Z");
        let before = vec![
            row("a", CIRCUIT_OPENED, "2026-11-29T08:00:00Z"),
            row("b", CIRCUIT_CLOSED, "2026-11-29T09:00:00Z"),
            row("c", CIRCUIT_OPENED, "2026-11-29T09:30:00Z"),
        ];
        let since = vec![
            row("a", CIRCUIT_CLOSED, "2026-11-30T10:05:00Z"),
            row("b", CIRCUIT_CLOSED, "2026-11-30T10:06:00Z"),
            row("b", CIRCUIT_OPENED, "2026-11-30T10:10:00Z"),
            row("b", CIRCUIT_OPENED, "2026-11-30T10:11:00Z"),
            row("b", CIRCUIT_CLOSED, "2026-11-30T12:30:00Z"),
            // Opened after the range: not in it.
            row("d", CIRCUIT_OPENED, "2026-11-30T12:10:00Z"),
        ];
        let got: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> =
            breaker_intervals(before, since, to)
                .into_iter()
                .map(|i| (i.worker_id, i.opened_at, i.closed_at))
                .collect();
        assert_eq!(
            got,
            [
                (
                    "a".into(),
                    at("2026-11-29T08:00:00Z"),
                    Some(at("2026-11-30T10:05:00Z"))
                ),
                (
                    "b".into(),
                    at("2026-11-30T10:10:00Z"),
                    Some(at("2026-11-30T12:30:00Z"))
                ),
                ("c".into(), at("2026-11-29T09:30:00Z"), None),
            ]
        );
    }
}
