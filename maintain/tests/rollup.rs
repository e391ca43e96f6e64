//! The per-minute roll-ups on real Postgres, each test on a fresh database:
//! what they count, idempotence, bounded chunks, retention, and two at once;
//! as the `ai_runtime_maintainer` role.

mod common;

use std::time::Duration;

use ai_runtime_maintain::rollup::{Rollup, ROLLUP_LOCK_KEY};
use ai_runtime_maintain::{Options, Outcome};
use chrono::{DateTime, DurationRound, Utc};
use common::{run_pass, run_rollup};
use sqlx::PgPool;

async fn rollup(pool: &PgPool, options: &Options) -> ai_runtime_maintain::rollup::RollupReport {
    run_rollup(pool, options)
        .await
        .unwrap()
        .expect("no other roll-up runs")
}

/// Inserts `n` events `minutes_ago` (from the test's start, so that one
/// test's events of one time share their minute), of `reason` (provider
/// calls with a latency and tokens when `reason` is PROVIDER_CALL_*).
async fn events(pool: &PgPool, n: i32, minutes_ago: f64, reason: &str) {
    static START: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        // Mid-minute: a few seconds either way stay in the minute.
        Utc::now()
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap()
            + chrono::Duration::seconds(30)
    });
    let at = start - chrono::Duration::milliseconds((minutes_ago * 60_000.0) as i64);
    sqlx::query(
        "insert into ai_runtime_events (layer, operation, reason_code, entity_id, metadata, occurred_at)
         select case when $3 like 'PROVIDER_CALL%' then 'provider_runtime' else 'worker' end,
                case when $3 like 'PROVIDER_CALL%' then 'CALL' else 'HEARTBEAT' end,
                $3, 'sim/m',
                jsonb_build_object('latency_ms', 10 * g, 'gen_ai.usage.input_tokens', g,
                                   'gen_ai.usage.output_tokens', 1),
                $2
         from generate_series(1, $1) g",
    )
    .bind(n)
    .bind(at)
    .bind(reason)
    .execute(pool)
    .await
    .unwrap();
}

/// Every roll-up row, as text, in order.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select 'e ' || e::text from ai_runtime_event_rollups e
         union all select 'c ' || c::text from ai_runtime_call_rollups c
         union all select 't ' || t::text from task_transition_minutes t
         order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// calls, latency_bins, latency_counts, input_tokens, output_tokens.
type CallRow = (i64, Vec<i16>, Vec<i32>, i64, i64);

async fn mark(pool: &PgPool, rollup: Rollup) -> Option<DateTime<Utc>> {
    let mut conn = pool.acquire().await.unwrap();
    ai_runtime_maintain::rollup::rolled_until(&mut conn, rollup)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn counts_per_minute_and_a_second_pass_changes_nothing(pool: PgPool) {
    events(&pool, 3, 30.0, "PROVIDER_CALL_OK").await;
    events(&pool, 2, 30.0, "PROVIDER_CALL_FAILED").await;
    events(&pool, 4, 90.0, "HEARTBEAT_OK").await;
    events(&pool, 1, 90.0, "WORKER_CIRCUIT_OPENED").await;
    let options = Options::default();
    let report = rollup(&pool, &options).await;
    let now: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let minute = now.duration_trunc(chrono::Duration::minutes(1)).unwrap();
    assert_eq!(mark(&pool, Rollup::Events).await, Some(minute));
    assert_eq!(report.rolled[0].2, minute, "{report}");

    // Each grain sums to the same (the events are 30 and 90 minutes old).
    for grain in [60, 300, 3600] {
        let layers: Vec<(String, i64, i64)> = sqlx::query_as(
            "select layer, sum(events)::bigint, sum(failures)::bigint from ai_runtime_event_rollups
             where grain_seconds = $1 group by layer order by layer",
        )
        .bind(grain)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            layers,
            [("provider_runtime".into(), 5, 2), ("worker".into(), 5, 1)],
            "grain {grain}"
        );
    }
    let calls: Vec<CallRow> = sqlx::query_as(
        "select calls, latency_bins, latency_counts, input_tokens, output_tokens
         from ai_runtime_call_rollups order by grain_seconds",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(calls.len(), 3, "one row per grain");
    assert!(calls.iter().all(|c| *c == calls[0]), "{calls:?}");
    let calls = calls[0].clone();
    // 10, 20, 30 ms (OK) and 10, 20 ms (FAILED): bins of 10, 20 and 30 ms.
    let bin = |ms: f64| ai_runtime_maintain::rollup::latency_bin(ms) as i16;
    assert_eq!(calls.0, 5);
    assert_eq!(calls.1, [bin(10.0), bin(20.0), bin(30.0)]);
    assert_eq!(calls.2, [2, 2, 1]);
    assert_eq!((calls.3, calls.4), (1 + 2 + 3 + 1 + 2, 5));

    let first = snapshot(&pool).await;
    rollup(&pool, &options).await;
    assert_eq!(
        snapshot(&pool).await,
        first,
        "a second pass changes nothing"
    );
    // Rolling all of it up again from scratch gives the same rows.
    let again = Options {
        backfill_from: Some(now.date_naive() - chrono::Days::new(1)),
        ..options.clone()
    };
    rollup(&pool, &again).await;
    assert_eq!(snapshot(&pool).await, first);
}

/// The first pass over existing history backfills it in chunks of
/// `rollup_chunk`, each its own transaction; later passes roll only the
/// late window again.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn history_is_backfilled_in_bounded_chunks(pool: PgPool) {
    events(&pool, 2, 5.0 * 60.0 + 10.0, "HEARTBEAT_OK").await;
    events(&pool, 2, 1.0, "HEARTBEAT_OK").await;
    let options = Options {
        rollup_chunk: Duration::from_secs(3600),
        ..Options::default()
    };
    let report = rollup(&pool, &options).await;
    let (rollup_kind, from, until, chunks) = report.rolled[0];
    assert_eq!(rollup_kind, Rollup::Events);
    let hours = (until - from).num_minutes() as f64 / 60.0;
    assert!((5.0..5.5).contains(&hours), "{report}");
    assert_eq!(chunks, 6, "{report}");
    let total: i64 = sqlx::query_scalar(
        "select sum(events)::bigint from ai_runtime_event_rollups where grain_seconds = 60",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(total, 4);
    // The next pass: only the late window (15 minutes), one chunk.
    let report = rollup(&pool, &options).await;
    let (_, from, until, chunks) = report.rolled[0];
    assert!((until - from).num_minutes() <= 16, "{report}");
    assert_eq!(chunks, 1);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn retention_deletes_the_old_minutes(pool: PgPool) {
    // Rows as a pass of long ago would have left them.
    sqlx::raw_sql(
        "insert into ai_runtime_event_rollups (grain_seconds, start, layer, events, failures) values
             (60, date_trunc('minute', now()) - interval '40 days', 'worker', 1, 0),
             (60, date_trunc('minute', now()) - interval '2 days', 'worker', 1, 0);
         insert into ai_runtime_call_rollups (grain_seconds, start, route, calls, latency_bins,
                 latency_counts, input_tokens, output_tokens) values
             (3600, date_trunc('hour', now()) - interval '40 days', 'r', 1, '{}', '{}', 0, 0);
         insert into task_transition_minutes (minute, from_status, to_status, transitions) values
             (date_trunc('minute', now()) - interval '9 days', '', 'PENDING', 1),
             (date_trunc('minute', now()) - interval '6 days', '', 'PENDING', 1);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let report = rollup(
        &pool,
        &Options {
            retention_days: 3,
            ..Options::default()
        },
    )
    .await;
    // Events keep 3 days; transitions at least 8 (the longest /status window is 7).
    assert_eq!(report.expired_rows, 3, "{report}");
    let left: Vec<String> = snapshot(&pool).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left[0].starts_with("e ") && left[1].starts_with("t "),
        "{left:?}"
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_second_rollup_at_once_skips(pool: PgPool) {
    events(&pool, 1, 1.0, "HEARTBEAT_OK").await;
    let mut holder = pool.acquire().await.unwrap();
    let held: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(ROLLUP_LOCK_KEY)
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    assert!(held);
    assert!(run_rollup(&pool, &Options::default())
        .await
        .unwrap()
        .is_none());
    // A whole pass still does its partitions, and says the roll-up skipped.
    match run_pass(&pool, &Options::default()).await.unwrap() {
        Outcome::Ran(report) => {
            assert!(report.rollup.is_none());
            assert!(report.to_string().contains("another roll-up is running"));
        }
        Outcome::Skipped => panic!("the partition pass has its own lock"),
    }
    assert_eq!(mark(&pool, Rollup::Events).await, None);
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(ROLLUP_LOCK_KEY)
        .execute(&mut *holder)
        .await
        .unwrap();
    holder.close().await.unwrap();

    // Two at once from two connections: one rolls up, or both in turn;
    // the rows are the same as one pass's.
    let options = Options::default();
    let (a, b) = tokio::join!(run_rollup(&pool, &options), run_rollup(&pool, &options));
    let ran = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|r| r.is_some())
        .count();
    assert!(ran >= 1);
    let total: i64 = sqlx::query_scalar(
        "select sum(events)::bigint from ai_runtime_event_rollups where grain_seconds = 60",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(total, 1);
}
