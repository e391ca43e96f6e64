//! The safety and review gates decide the same with the runtime layer
//! installed, without it, and with the events database unreachable: the
//! seed's "policy/safety/review gate semantics unchanged".

use std::sync::Arc;
use std::time::Duration;

use observability_layer::{RuntimeLayer, RuntimeSink, SinkHandle};
use phase1_worker::clock::{Clock, SystemClock};
use phase1_worker::gates::{review_gate, safety_gate, ReviewDecision, ReviewInput, SafetyDecision};
use phase1_worker::workload::{self, TaskInput};
use phase1_worker::{AgentConfig, Decision, ExecutionAgent, ProviderConfig, SimulatedProvider};
use sqlx::PgPool;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/unreachable";

#[derive(Debug, PartialEq)]
struct Decisions {
    safety: Vec<SafetyDecision>,
    review: Vec<ReviewDecision>,
    /// The whole agent: gates after real provider calls and the tool loop.
    agent: Vec<Decision>,
}

/// Every message of a generated workload through the gates and the agent.
async fn decide() -> Decisions {
    let tasks = workload::tasks(17, "gates", 0, 300);
    let inputs: Vec<TaskInput> = tasks
        .iter()
        .map(|t| TaskInput::from_payload(&t.payload, &t.idempotency_key))
        .collect();
    let safety = inputs.iter().map(|i| safety_gate(&i.message)).collect();
    let mut review = Vec::new();
    for step in 0..=20 {
        for truncated in [false, true] {
            let input = ReviewInput {
                confidence: f64::from(step) / 20.0,
                tool_loop_truncated: truncated,
            };
            review.push(review_gate(input, 0.5));
        }
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider_config = ProviderConfig {
        failure_rate: 0.3,
        latency: Duration::ZERO,
        outages: None,
    };
    let provider = SimulatedProvider::new(17, provider_config, clock.clone());
    let config = AgentConfig {
        retry_backoff: Duration::ZERO,
        ..AgentConfig::default()
    };
    let mut agent = ExecutionAgent::new("gates-1", config, provider, clock);
    let mut decisions = Vec::new();
    for input in &inputs {
        decisions.push(agent.execute(input, 0).await);
    }
    Decisions {
        safety,
        review,
        agent: decisions,
    }
}

async fn decide_under(dispatch: Dispatch) -> Decisions {
    let _default = tracing::dispatcher::set_default(&dispatch);
    decide().await
}

fn layered(
    builder: observability_layer::RuntimeLayerBuilder,
) -> (Dispatch, SinkHandle, observability_layer::SinkGuard) {
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = builder.agent_type("phase1_reply_runner").build().unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        handle,
        guard,
    )
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn gates_decide_the_same_with_without_and_with_a_failing_layer(pool: PgPool) {
    let without = decide_under(Dispatch::none()).await;

    let (dispatch, handle, guard) = layered(RuntimeLayer::builder().pool(pool.clone()));
    let with_layer = decide_under(dispatch).await;
    assert!(handle.flush(Duration::from_secs(10)));
    let written = guard.shutdown().written;

    let (dispatch, handle, guard) = layered(
        RuntimeLayer::builder()
            .database_url(UNREACHABLE)
            .shutdown_deadline(Duration::from_millis(100)),
    );
    let unreachable = decide_under(dispatch).await;
    let failing = handle.stats();
    drop(guard);

    assert_eq!(with_layer, without);
    assert_eq!(unreachable, without);
    // The workload reaches every gate outcome.
    let skipped = without
        .agent
        .iter()
        .filter(|d| {
            matches!(
                d,
                Decision::Finish {
                    status: ai_runtime_vocab::TaskStatus::Skipped,
                    ..
                }
            )
        })
        .count();
    let in_review = without
        .agent
        .iter()
        .filter(|d| {
            matches!(
                d,
                Decision::Finish {
                    status: ai_runtime_vocab::TaskStatus::InReview,
                    ..
                }
            )
        })
        .count();
    assert!(
        skipped > 5 && in_review > 50,
        "{skipped} skipped, {in_review} in review"
    );
    // And the layers really were in the path: one wrote, one could not.
    assert!(written > 500, "{written}");
    let stored: i64 = sqlx::query_scalar("select count(*) from ai_runtime_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored as u64, written);
    assert!(failing.emitted > 500, "{failing:?}");
    assert_eq!(failing.written, 0);
}
