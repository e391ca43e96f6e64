//! `GET /trends`: events per bucket and layer with the failures set apart,
//! provider call latency percentiles and token usage per route, and the
//! circuit breakers' open intervals, over a time range.
//!
//! Its cost does not follow the events of the range: the minutes before the
//! roll-ups' mark come from the per-minute roll-ups the maintenance pass
//! keeps (`ai_runtime_maintain::rollup`; a day is ~1,440 rows per layer and
//! per route), and only the minutes after it (the last minute or two while
//! the admin server's roll-ups run) are rolled up here from the raw events,
//! by the same SQL. Both parts are read in one snapshot, so a pass that
//! moves the mark meanwhile counts nothing twice.

use std::collections::{BTreeMap, BTreeSet};

use ai_runtime_api::{
    BreakerInterval, EventLayer, LayerCount, RoutePoint, RouteTrend, TrendBucket, TrendsResponse,
};
use ai_runtime_maintain::rollup::{
    failure_codes, latency_bin_value, rolled_until, Rollup, CALL_MINUTES_SQL, EVENT_MINUTES_SQL,
    LATENCY_BINS,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

use crate::db::parse_db;
use crate::error::ApiFailure;
use crate::params::{TrendRange, TrendsQuery};

/// The rolled-up event counts of `[$1, $2)`, summed per `$3`-second bucket.
const ROLLED_EVENTS_SQL: &str = "\
select date_bin(make_interval(secs => $3), minute, timestamptz '1970-01-01 00:00:00+00') as bucket, \
       layer, sum(events)::bigint, sum(failures)::bigint \
from public.ai_runtime_event_minutes where minute >= $1 and minute < $2 \
group by 1, 2";

/// The rolled-up provider calls of `[$1, $2)`, per minute (histograms merge here).
const ROLLED_CALLS_SQL: &str = "\
select minute, route, calls, latency_bins, latency_counts, input_tokens, output_tokens \
from public.ai_runtime_call_minutes where minute >= $1 and minute < $2";

const CIRCUIT_OPENED: &str = "WORKER_CIRCUIT_OPENED";
const CIRCUIT_CLOSED: &str = "WORKER_CIRCUIT_CLOSED";

/// Each worker's last breaker event before `$1` (whether its breaker was
/// open when the range starts). Breaker events are rare: the reason code's
/// index finds them in each day quickly.
const BREAKER_BEFORE_SQL: &str = "\
select distinct on (coalesce(worker_id, entity_id)) coalesce(worker_id, entity_id) as worker, \
       reason_code, occurred_at, metadata->>'circuit_reason' as reason \
from public.ai_runtime_events \
where layer = 'worker' and reason_code in ('WORKER_CIRCUIT_OPENED', 'WORKER_CIRCUIT_CLOSED') \
  and occurred_at < $1 \
order by coalesce(worker_id, entity_id), occurred_at desc";

/// The breaker events from `$1` on, in order (the range's, and those after it
/// that close an interval still open at its end).
const BREAKER_SINCE_SQL: &str = "\
select coalesce(worker_id, entity_id) as worker, reason_code, occurred_at, \
       metadata->>'circuit_reason' as reason \
from public.ai_runtime_events \
where layer = 'worker' and reason_code in ('WORKER_CIRCUIT_OPENED', 'WORKER_CIRCUIT_CLOSED') \
  and occurred_at >= $1 \
order by occurred_at, id";

/// One minute of one route's provider calls, from the roll-up or the tail.
#[derive(sqlx::FromRow)]
struct CallMinute {
    minute: DateTime<Utc>,
    route: String,
    calls: i64,
    latency_bins: Vec<i16>,
    latency_counts: Vec<i32>,
    input_tokens: i64,
    output_tokens: i64,
}
type BreakerRow = (String, String, DateTime<Utc>, Option<String>);

/// Where the range splits: roll-ups before, raw events from it on.
fn split_at(range: &TrendRange, mark: Option<DateTime<Utc>>) -> DateTime<Utc> {
    mark.unwrap_or(range.from).clamp(range.from, range.to)
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
    let split = split_at(range, rolled_until(&mut tx, Rollup::Events).await?);
    let width = range.bucket_seconds;

    let mut events: BTreeMap<(DateTime<Utc>, String), (i64, i64)> = BTreeMap::new();
    let rolled: Vec<(DateTime<Utc>, String, i64, i64)> = sqlx::query_as(ROLLED_EVENTS_SQL)
        .bind(range.from)
        .bind(split)
        .bind(width as f64)
        .fetch_all(&mut *tx)
        .await?;
    let tail: Vec<(DateTime<Utc>, String, i64, i64)> = sqlx::query_as(EVENT_MINUTES_SQL)
        .bind(split)
        .bind(range.to)
        .bind(failure_codes())
        .fetch_all(&mut *tx)
        .await?;
    for (at, layer, n, failed) in rolled.into_iter().chain(tail) {
        let counts = events.entry((bucket_of(at, width), layer)).or_default();
        counts.0 += n;
        counts.1 += failed;
    }

    let mut calls: Vec<CallMinute> = sqlx::query_as(ROLLED_CALLS_SQL)
        .bind(range.from)
        .bind(split)
        .fetch_all(&mut *tx)
        .await?;
    let tail: Vec<CallMinute> = sqlx::query_as(CALL_MINUTES_SQL)
        .bind(split)
        .bind(range.to)
        .fetch_all(&mut *tx)
        .await?;
    calls.extend(tail);

    let before: Vec<BreakerRow> = sqlx::query_as(BREAKER_BEFORE_SQL)
        .bind(range.from)
        .fetch_all(&mut *tx)
        .await?;
    let since: Vec<BreakerRow> = sqlx::query_as(BREAKER_SINCE_SQL)
        .bind(range.from)
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
}

/// Per route (sorted), the buckets with calls: counts and tokens summed,
/// histograms merged, percentiles read off the merged histogram.
fn routes(calls: Vec<CallMinute>, width: i64) -> Vec<RouteTrend> {
    let mut sums: BTreeMap<String, BTreeMap<DateTime<Utc>, PointSum>> = BTreeMap::new();
    for row in calls {
        let point = sums
            .entry(row.route)
            .or_default()
            .entry(bucket_of(row.minute, width))
            .or_insert_with(|| PointSum {
                calls: 0,
                histogram: vec![0; LATENCY_BINS],
                input_tokens: 0,
                output_tokens: 0,
            });
        point.calls += row.calls;
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
    for (worker, code, at, reason) in before {
        if code == CIRCUIT_OPENED {
            open.insert(worker, (at, reason));
        }
    }
    for (worker, code, at, reason) in since {
        match code.as_str() {
            CIRCUIT_OPENED if at < to => {
                open.entry(worker).or_insert((at, reason));
            }
            CIRCUIT_CLOSED => {
                if let Some((opened_at, reason)) = open.remove(&worker) {
                    out.push(BreakerInterval {
                        worker_id: worker,
                        opened_at,
                        closed_at: Some(at),
                        reason,
                    });
                }
            }
            _ => {}
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
/// string, as the API takes it) asks for, with the minutes it rolls up
/// from raw events: what the admin API benchmark prints beside each shape.
pub async fn planned_trend_tables(
    pool: &PgPool,
    query: &str,
) -> Result<(BTreeSet<String>, i64), ApiFailure> {
    let q = crate::params::parse::<TrendsQuery>(query)?;
    let range = TrendRange::parse(q, Utc::now())?;
    let mut conn = pool.acquire().await?;
    let split = split_at(&range, rolled_until(&mut conn, Rollup::Events).await?);
    let mut tables = BTreeSet::new();
    let plans: [(&str, Vec<Bind>); 6] = [
        (
            ROLLED_EVENTS_SQL,
            vec![
                Bind::At(range.from),
                Bind::At(split),
                Bind::Seconds(range.bucket_seconds as f64),
            ],
        ),
        (
            EVENT_MINUTES_SQL,
            vec![Bind::At(split), Bind::At(range.to), Bind::Codes],
        ),
        (
            ROLLED_CALLS_SQL,
            vec![Bind::At(range.from), Bind::At(split)],
        ),
        (CALL_MINUTES_SQL, vec![Bind::At(split), Bind::At(range.to)]),
        (BREAKER_BEFORE_SQL, vec![Bind::At(range.from)]),
        (BREAKER_SINCE_SQL, vec![Bind::At(range.from)]),
    ];
    for (sql, binds) in plans {
        let explain = format!("explain (format json) {sql}");
        let mut query = sqlx::query_scalar::<_, Value>(&explain);
        for bind in binds {
            query = match bind {
                Bind::At(t) => query.bind(t),
                Bind::Seconds(s) => query.bind(s),
                Bind::Codes => query.bind(failure_codes()),
            };
        }
        let plan = query.persistent(false).fetch_one(&mut *conn).await?;
        crate::events::relations(&plan[0]["Plan"], &mut tables);
    }
    Ok((tables, (range.to - split).num_minutes()))
}

enum Bind {
    At(DateTime<Utc>),
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
        let row = |w: &str, code: &str, t: &str| (w.to_owned(), code.to_owned(), at(t), None);
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
