//! The seed's regression: the phase1 runner keeps working when runtime
//! event writes fail. With one worker and the same seed, every task ends
//! with the same status and reason whether the events database accepts
//! writes or is unreachable, and the run is not slower when it is. The
//! same holds with the OTLP exporter on, beside Postgres, and with its
//! collector unreachable.

#[path = "../../observability-layer/tests/common/otlp_receiver.rs"]
mod otlp_receiver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use observability_layer::{RuntimeLayer, RuntimeSink, SinkGuard, SinkHandle};
use phase1_worker::{
    AgentConfig, BreakerConfig, LayerStatus, ProviderConfig, RunMode, RunSummary, Runner,
    RunnerConfig,
};
use sqlx::PgPool;
use tracing_subscriber::layer::SubscriberExt;

const SEED: u64 = 42;
const TASKS: u64 = 300;
/// Nothing listens on port 1: every write attempt fails at once.
const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/unreachable";

/// Outcome per task index: (status, reason code, attempts spent).
type Outcomes = BTreeMap<i64, (String, String, i32)>;

fn config(namespace: &str, tasks: u64) -> RunnerConfig {
    RunnerConfig {
        workers: 1,
        worker_id_prefix: namespace.to_owned(),
        seed: SEED,
        enqueue: tasks,
        namespace: namespace.to_owned(),
        // 60% of calls fail: about 5% of tasks exhaust both routes and are
        // retried, so attempts and retries are part of the outcome.
        provider: ProviderConfig {
            failure_rate: 0.6,
            latency: Duration::ZERO,
            outages: None,
        },
        agent: AgentConfig {
            retry_backoff: Duration::ZERO,
            breaker: BreakerConfig {
                failure_threshold: 3,
                cooldown: Duration::from_millis(10),
            },
            ..AgentConfig::default()
        },
        poll_interval: Duration::from_millis(5),
        requeue_delay: Duration::ZERO,
        mode: RunMode::UntilDrained,
        ..RunnerConfig::default()
    }
}

/// Runs one worker over `namespace`'s tasks with the layer installed.
async fn run(
    pool: &PgPool,
    namespace: &str,
    sink: RuntimeSink,
) -> (RunSummary, SinkHandle, SinkGuard) {
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = sink;
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    let runner = Runner::new(config(namespace, TASKS), pool.clone())
        .with_status(Arc::new(LayerStatus::new(handle.clone())));
    let summary = tokio::time::timeout(Duration::from_secs(60), runner.run(std::future::pending()))
        .await
        .expect("the run drains")
        .unwrap();
    (summary, handle, guard)
}

async fn outcomes(pool: &PgPool, namespace: &str) -> Outcomes {
    let rows: Vec<(i64, String, String, i32)> = sqlx::query_as(
        "select (payload->>'index')::bigint, status, reason_code, attempts
         from persona_tasks where idempotency_key like $1 || ':%'",
    )
    .bind(namespace)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(i, s, r, a)| (i, (s, r, a)))
        .collect()
}

async fn events_of(pool: &PgPool, worker_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from ai_runtime_events where worker_id = $1")
        .bind(worker_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn outcomes_are_identical_and_no_slower_when_event_writes_fail(pool: PgPool) {
    // Warm the connection pool and the caches, so neither timed run pays for it.
    Runner::new(config("warmup", 20), pool.clone())
        .run(std::future::pending())
        .await
        .unwrap();

    let working = RuntimeLayer::builder()
        .pool(pool.clone())
        .agent_type("phase1_reply_runner")
        .build()
        .unwrap();
    let (ok, ok_handle, ok_guard) = run(&pool, "ok", working).await;
    assert!(ok_handle.flush(Duration::from_secs(10)), "events settle");
    let ok_stats = ok_guard.shutdown();

    let failing = RuntimeLayer::builder()
        .database_url(UNREACHABLE)
        .agent_type("phase1_reply_runner")
        .shutdown_deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let (down, down_handle, down_guard) = run(&pool, "down", failing).await;
    let down_emitted = down_handle.stats().emitted;
    let down_stats = down_guard.shutdown();

    // Same outcome for every task.
    let ok_outcomes = outcomes(&pool, "ok").await;
    let down_outcomes = outcomes(&pool, "down").await;
    assert_eq!(ok_outcomes.len(), TASKS as usize);
    assert_eq!(ok_outcomes, down_outcomes);
    assert_eq!(ok.totals, down.totals);
    // The workload exercises every path: gates, review, provider retries.
    let statuses: std::collections::BTreeSet<&str> =
        ok_outcomes.values().map(|(s, _, _)| s.as_str()).collect();
    assert!(
        statuses.is_superset(&["DONE", "IN_REVIEW", "SKIPPED"].into()),
        "{statuses:?}"
    );
    assert!(ok.totals.retried > 0, "{:?}", ok.totals);

    // The working sink wrote events and the worker's status row ...
    assert!(ok_stats.written > 1_000, "{ok_stats:?}");
    assert_eq!(ok_stats.dropped(), 0, "{ok_stats:?}");
    assert!(events_of(&pool, "ok-1").await > 1_000);
    let status: String =
        sqlx::query_scalar("select status from ai_worker_status where worker_id = 'ok-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "STOPPED");
    // ... the failing one emitted as many and wrote none.
    assert!(down_emitted > 1_000, "{down_stats:?}");
    assert_eq!(down_stats.written, 0, "{down_stats:?}");
    assert!(down_stats.last_error.is_some(), "{down_stats:?}");
    assert_eq!(events_of(&pool, "down-1").await, 0);

    // Not slower (generous tolerance: the machine is shared).
    let limit = ok.elapsed * 2 + Duration::from_secs(1);
    assert!(
        down.elapsed <= limit,
        "failing event writes slowed the run: {:?} vs {:?}",
        down.elapsed,
        ok.elapsed
    );
    println!(
        "events ok: {:?} ({} written), events unreachable: {:?} ({} emitted, 0 written)",
        ok.elapsed, ok_stats.written, down.elapsed, down_emitted
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn outcomes_are_identical_with_otlp_on_and_with_the_collector_unreachable(pool: PgPool) {
    use otlp_receiver::{attr_int, attr_str, dead_endpoint, Receiver};

    Runner::new(config("warmup", 20), pool.clone())
        .run(std::future::pending())
        .await
        .unwrap();
    let builder = || {
        RuntimeLayer::builder()
            .pool(pool.clone())
            .agent_type("phase1_reply_runner")
            .shutdown_deadline(Duration::from_millis(1000))
    };

    let (plain, plain_handle, plain_guard) = run(&pool, "plain", builder().build().unwrap()).await;
    assert!(plain_handle.flush(Duration::from_secs(10)));
    plain_guard.shutdown();

    let receiver = Receiver::start();
    let with_otlp = builder()
        .otlp_endpoint(&receiver.endpoint())
        .build()
        .unwrap();
    let (otlp, otlp_handle, otlp_guard) = run(&pool, "otlp", with_otlp).await;
    assert!(otlp_handle.flush(Duration::from_secs(10)), "events settle");
    let otlp_stats = otlp_guard.shutdown();

    let unreachable = builder().otlp_endpoint(&dead_endpoint()).build().unwrap();
    let (down, _down_handle, down_guard) = run(&pool, "otlpdown", unreachable).await;
    let down_stats = down_guard.shutdown();

    // Same outcome for every task, whatever the collector does.
    let plain_outcomes = outcomes(&pool, "plain").await;
    assert_eq!(plain_outcomes.len(), TASKS as usize);
    assert_eq!(plain_outcomes, outcomes(&pool, "otlp").await);
    assert_eq!(plain_outcomes, outcomes(&pool, "otlpdown").await);
    assert_eq!(plain.totals, otlp.totals);
    assert_eq!(plain.totals, down.totals);

    // Every event Postgres stored was received too, token usage included.
    for stats in [&otlp_stats, &down_stats] {
        assert_eq!(stats.exporters.len(), 2);
        assert_eq!(stats.dropped(), 0, "postgres lost nothing: {stats:?}");
        for e in &stats.exporters {
            assert_eq!(e.emitted, e.exported + e.dropped() + e.invalid, "{e:?}");
        }
    }
    let stored = events_of(&pool, "otlp-1").await;
    let records = receiver.accepted_records();
    let received = records
        .iter()
        .filter(|r| attr_str(r, "ai_runtime.worker_id").as_deref() == Some("otlp-1"))
        .count();
    assert!(stored > 1_000);
    assert_eq!(received as i64, stored);
    assert_eq!(otlp_stats.exporters[1].exported, otlp_stats.written);
    let calls: Vec<_> = records
        .iter()
        .filter(|r| attr_str(r, "ai_runtime.reason_code").as_deref() == Some("PROVIDER_CALL_OK"))
        .collect();
    assert!(!calls.is_empty());
    for call in &calls {
        assert_eq!(
            attr_str(call, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert!(attr_str(call, "gen_ai.provider.name").is_some_and(|p| p.starts_with("simulated")));
        assert!(attr_str(call, "gen_ai.request.model").is_some_and(|m| m.starts_with("sim-")));
        let input = attr_int(call, "gen_ai.usage.input_tokens").unwrap();
        let output = attr_int(call, "gen_ai.usage.output_tokens").unwrap();
        assert!(
            (380..=2000).contains(&input) && (30..=4000).contains(&output),
            "{input} {output}"
        );
    }
    let failed = records
        .iter()
        .find(|r| attr_str(r, "ai_runtime.reason_code").as_deref() == Some("PROVIDER_CALL_FAILED"))
        .expect("failed calls");
    assert!(attr_str(failed, "error.type").is_some_and(|t| t == "error" || t == "timeout"));
    // The usage is in Postgres metadata too.
    let with_usage: i64 = sqlx::query_scalar(
        "select count(*) from ai_runtime_events where worker_id = 'otlp-1'
           and reason_code = 'PROVIDER_CALL_OK'
           and (metadata->>'input_tokens')::int >= 380 and (metadata->>'output_tokens')::int > 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(with_usage as usize, calls.len());

    // The unreachable collector dropped (and counted) everything, slowed nothing.
    let unreachable = &down_stats.exporters[1];
    assert_eq!(unreachable.exported, 0, "{unreachable:?}");
    assert_eq!(
        unreachable.dropped(),
        unreachable.emitted,
        "{unreachable:?}"
    );
    assert_eq!(
        events_of(&pool, "otlpdown-1").await as u64,
        down_stats.written
    );
    let limit = plain.elapsed * 2 + Duration::from_secs(1);
    assert!(
        otlp.elapsed <= limit && down.elapsed <= limit,
        "OTLP slowed the run: {:?} / {:?} vs {:?}",
        otlp.elapsed,
        down.elapsed,
        plain.elapsed
    );
}
