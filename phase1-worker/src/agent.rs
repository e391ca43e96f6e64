//! The execution agent: turns one task's input into a decision, calling the
//! provider through retries and fallbacks behind the circuit breaker, running
//! the bounded tool loop and the gates. It does not touch the queue: the
//! worker applies the decision.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_runtime_vocab::{EventLayer, Operation, TaskStatus};

use crate::breaker::{Admission, BreakerConfig, BreakerSnapshot, CircuitBreaker};
use crate::clock::Clock;
use crate::gates::{review_gate, safety_gate, ReviewDecision, ReviewInput, SafetyDecision};
use crate::provider::{Completion, CompletionRequest, ProviderError, Route, SimulatedProvider};
use crate::reason;
use crate::workload::TaskInput;

/// Tools the simulated model may ask for.
pub const TOOLS: &[&str] = &["search_memory", "lookup_persona", "fetch_thread"];

/// How the agent calls the provider and judges replies.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Tried in order: the primary route first, then fallbacks.
    pub routes: Vec<Route>,
    /// Calls per route (the first call and its retries).
    pub attempts_per_route: u32,
    /// Backoff before the first retry; doubles for each further retry.
    pub retry_backoff: Duration,
    /// The tool loop's bound.
    pub max_tool_iterations: u32,
    /// Replies under this confidence go to review.
    pub review_threshold: f64,
    pub breaker: BreakerConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            routes: vec![Route::primary(), Route::fallback()],
            attempts_per_route: 3,
            retry_backoff: Duration::from_millis(100),
            max_tool_iterations: 3,
            review_threshold: 0.5,
            breaker: BreakerConfig::default(),
        }
    }
}

/// What should happen to the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Move to a final (or review) status.
    Finish {
        status: TaskStatus,
        reason_code: &'static str,
        reason: Option<String>,
    },
    /// Every provider route failed: count an attempt and retry later.
    Retry { reason: String },
    /// The breaker refused the call: give the task back untouched.
    PutBack { reason_code: &'static str },
}

/// `invoke_llm` failed on every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {calls} provider calls failed, last: {last}")]
pub struct RoutesExhausted {
    pub calls: u32,
    pub last: ProviderError,
}

/// See the module docs.
#[derive(Debug)]
pub struct ExecutionAgent {
    config: AgentConfig,
    provider: SimulatedProvider,
    breaker: CircuitBreaker,
    active_route: Route,
}

impl ExecutionAgent {
    /// `name` identifies the agent's breaker in events (e.g. the worker id).
    pub fn new(
        name: &str,
        config: AgentConfig,
        provider: SimulatedProvider,
        clock: Arc<dyn Clock>,
    ) -> ExecutionAgent {
        let breaker = CircuitBreaker::new(format!("breaker/{name}"), config.breaker, clock);
        let active_route = config
            .routes
            .first()
            .cloned()
            .unwrap_or_else(Route::primary);
        ExecutionAgent {
            config,
            provider,
            breaker,
            active_route,
        }
    }

    /// The route that served the last successful call (the primary at first).
    pub fn active_route(&self) -> &Route {
        &self.active_route
    }

    pub fn breaker(&self) -> BreakerSnapshot {
        self.breaker.snapshot()
    }

    /// How long to hold off leasing because the breaker is open; `None` when
    /// a call would be admitted (closed, or the cooldown has passed).
    pub fn breaker_wait(&self) -> Option<Duration> {
        self.breaker
            .snapshot()
            .cooldown_remaining
            .filter(|d| !d.is_zero())
    }

    /// Decides what happens to a task: safety gate, breaker, provider, tool
    /// loop, review gate. `attempts` is what the task has spent so far.
    pub async fn execute(&mut self, input: &TaskInput, attempts: u32) -> Decision {
        if let SafetyDecision::Block {
            reason_code,
            reason,
        } = safety_gate(&input.message)
        {
            return Decision::Finish {
                status: TaskStatus::Skipped,
                reason_code,
                reason: Some(reason),
            };
        }
        if let Admission::Rejected { .. } = self.breaker.admit() {
            return Decision::PutBack {
                reason_code: reason::BREAKER_OPEN_PUT_BACK,
            };
        }
        let completion = match self
            .invoke_llm(input.task_seed, attempts, input.message.len())
            .await
        {
            Ok(completion) => {
                self.breaker.record_success();
                completion
            }
            Err(err) => {
                self.breaker.record_failure(err.last.kind());
                return Decision::Retry {
                    reason: err.to_string(),
                };
            }
        };
        let truncated = self.run_tool_loop(input.task_seed, completion.tool_requests);
        let review = ReviewInput {
            confidence: completion.confidence,
            tool_loop_truncated: truncated,
        };
        match review_gate(review, self.config.review_threshold) {
            ReviewDecision::Review {
                reason_code,
                reason,
            } => Decision::Finish {
                status: TaskStatus::InReview,
                reason_code,
                reason: Some(reason),
            },
            ReviewDecision::Approve => Decision::Finish {
                status: TaskStatus::Done,
                reason_code: reason::TASK_COMPLETED,
                reason: None,
            },
        }
    }

    /// Calls the routes in order, each up to `attempts_per_route` times with
    /// exponential backoff between retries. `message_chars` sizes the
    /// prompt (the token usage the provider reports).
    pub async fn invoke_llm(
        &mut self,
        task_seed: u64,
        task_attempt: u32,
        message_chars: usize,
    ) -> Result<Completion, RoutesExhausted> {
        let routes = self.config.routes.clone();
        let mut calls = 0;
        let mut last = ProviderError::Error;
        for (index, route) in routes.iter().enumerate() {
            if let Some(previous) = index.checked_sub(1).map(|i| &routes[i]) {
                emit_fallback(previous, route);
            }
            for call_attempt in 1..=self.config.attempts_per_route {
                calls += 1;
                let request = CompletionRequest {
                    task_seed,
                    task_attempt,
                    call_attempt,
                    message_chars,
                };
                let started = Instant::now();
                let result = self.provider.complete(route, &request).await;
                let latency_ms = started.elapsed().as_millis() as u64;
                match result {
                    Ok(completion) => {
                        tracing::info!(
                            layer = EventLayer::ProviderRuntime.as_str(),
                            operation = Operation::Call.as_str(),
                            reason_code = reason::PROVIDER_CALL_OK,
                            entity_id = %route,
                            route = %route,
                            provider = %route.provider,
                            model = %route.model,
                            attempt = call_attempt,
                            fallback = index > 0,
                            latency_ms,
                            input_tokens = completion.usage.input_tokens,
                            output_tokens = completion.usage.output_tokens,
                            "provider call ok"
                        );
                        self.active_route = route.clone();
                        return Ok(completion);
                    }
                    Err(err) => {
                        last = err;
                        tracing::warn!(
                            layer = EventLayer::ProviderRuntime.as_str(),
                            operation = Operation::Call.as_str(),
                            reason_code = reason::PROVIDER_CALL_FAILED,
                            entity_id = %route,
                            route = %route,
                            provider = %route.provider,
                            model = %route.model,
                            attempt = call_attempt,
                            fallback = index > 0,
                            latency_ms,
                            error = err.kind(),
                            "provider call failed: {err}"
                        );
                    }
                }
                if call_attempt < self.config.attempts_per_route {
                    let backoff = self.config.retry_backoff * 2u32.pow(call_attempt - 1);
                    tracing::info!(
                        layer = EventLayer::ProviderRuntime.as_str(),
                        operation = Operation::Retry.as_str(),
                        reason_code = reason::PROVIDER_RETRY_SCHEDULED,
                        entity_id = %route,
                        route = %route,
                        provider = %route.provider,
                        model = %route.model,
                        attempt = call_attempt + 1,
                        backoff_ms = backoff.as_millis() as u64,
                        "retrying provider call"
                    );
                    if !backoff.is_zero() {
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
        }
        let err = RoutesExhausted { calls, last };
        let entity = routes.last().map(Route::to_string).unwrap_or_default();
        tracing::warn!(
            layer = EventLayer::ProviderRuntime.as_str(),
            operation = Operation::Call.as_str(),
            reason_code = reason::PROVIDER_ROUTES_EXHAUSTED,
            entity_id = %entity,
            calls,
            error = last.kind(),
            "{err}"
        );
        Err(err)
    }

    /// Runs the tools the model asked for, at most `max_tool_iterations`;
    /// returns whether the bound cut the loop short.
    fn run_tool_loop(&self, task_seed: u64, requested: u32) -> bool {
        let bound = self.config.max_tool_iterations;
        let iterations = requested.min(bound);
        for iteration in 1..=iterations {
            let tool = TOOLS[((task_seed + u64::from(iteration)) % TOOLS.len() as u64) as usize];
            tracing::info!(
                layer = EventLayer::ToolRuntime.as_str(),
                operation = Operation::ToolCall.as_str(),
                reason_code = reason::TOOL_CALL_OK,
                entity_id = tool,
                iteration,
                "tool call ok"
            );
        }
        let truncated = requested > bound;
        let code = if truncated {
            reason::TOOL_LOOP_MAX_ITERATIONS
        } else {
            reason::TOOL_LOOP_COMPLETED
        };
        tracing::info!(
            layer = EventLayer::ToolRuntime.as_str(),
            operation = Operation::ToolLoop.as_str(),
            reason_code = code,
            entity_id = "tool_loop",
            iterations,
            requested,
            max_iterations = bound,
            "tool loop ended after {iterations} iterations"
        );
        truncated
    }
}

fn emit_fallback(from: &Route, to: &Route) {
    tracing::warn!(
        layer = EventLayer::ProviderRuntime.as_str(),
        operation = Operation::Fallback.as_str(),
        reason_code = reason::PROVIDER_ROUTE_FAILOVER,
        entity_id = %to,
        from_route = %from,
        to_route = %to,
        provider = %to.provider,
        model = %to.model,
        "provider route failed over"
    );
    if from.model != to.model {
        tracing::warn!(
            layer = EventLayer::ModelAdapter.as_str(),
            operation = Operation::Fallback.as_str(),
            reason_code = reason::MODEL_FALLBACK_SELECTED,
            entity_id = %to.model,
            from_model = %from.model,
            to_model = %to.model,
            "model adapter fell back to {}",
            to.model
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::EventCapture;
    use crate::clock::SystemClock;
    use crate::provider::ProviderConfig;

    fn agent(failure_rate: f64) -> ExecutionAgent {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let provider_config = ProviderConfig {
            failure_rate,
            latency: Duration::ZERO,
            outages: None,
        };
        let provider = SimulatedProvider::new(1, provider_config, clock.clone());
        let config = AgentConfig {
            retry_backoff: Duration::ZERO,
            ..AgentConfig::default()
        };
        ExecutionAgent::new("w1", config, provider, clock)
    }

    fn input(message: &str) -> TaskInput {
        TaskInput {
            message: message.to_owned(),
            task_seed: 11,
        }
    }

    #[tokio::test]
    async fn every_route_failing_emits_retries_fallbacks_and_a_retry_decision() {
        let capture = EventCapture::new();
        let _guard = capture.set_default();
        let mut agent = agent(1.0);
        let decision = agent.execute(&input("hello"), 0).await;
        assert!(matches!(decision, Decision::Retry { .. }), "{decision:?}");
        let calls: Vec<_> = capture
            .events()
            .into_iter()
            .filter(|e| e.layer == "provider_runtime" && e.operation == "CALL")
            .map(|e| e.reason_code)
            .collect();
        assert_eq!(calls.len(), 7);
        assert_eq!(calls[6], reason::PROVIDER_ROUTES_EXHAUSTED);
        assert_eq!(capture.count("provider_runtime", "RETRY"), 4);
        assert_eq!(capture.count("provider_runtime", "FALLBACK"), 1);
        assert_eq!(capture.count("model_adapter", "FALLBACK"), 1);
        assert_eq!(capture.count("tool_runtime", "TOOL_LOOP"), 0);
        let retry = capture
            .events()
            .into_iter()
            .find(|e| e.operation == "RETRY")
            .unwrap();
        assert_eq!(retry.field("attempt").as_deref(), Some("2"));
        assert_eq!(
            retry.field("entity_id").as_deref(),
            Some("simulated/sim-large-1")
        );
        assert_eq!(
            retry.field("route").as_deref(),
            Some("simulated/sim-large-1")
        );
        let exhausted = capture
            .events()
            .into_iter()
            .find(|e| e.reason_code == reason::PROVIDER_ROUTES_EXHAUSTED)
            .unwrap();
        assert_eq!(exhausted.field("calls").as_deref(), Some("6"));
    }

    #[tokio::test]
    async fn the_breaker_opens_and_then_puts_tasks_back() {
        let mut agent = agent(1.0);
        for _ in 0..3 {
            assert!(matches!(
                agent.execute(&input("hi"), 0).await,
                Decision::Retry { .. }
            ));
        }
        assert!(agent.breaker().is_open());
        assert!(agent.breaker_wait().is_some());
        let decision = agent.execute(&input("hi"), 0).await;
        assert_eq!(
            decision,
            Decision::PutBack {
                reason_code: reason::BREAKER_OPEN_PUT_BACK
            }
        );
        // The safety gate still decides first, breaker or not.
        let decision = agent.execute(&input("my home address is"), 0).await;
        assert!(matches!(
            decision,
            Decision::Finish {
                status: TaskStatus::Skipped,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_healthy_call_runs_the_tool_loop_and_the_review_gate() {
        let capture = EventCapture::new();
        let _guard = capture.set_default();
        let mut agent = agent(0.0);
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let decision = agent
                .execute(
                    &TaskInput {
                        message: "hello".into(),
                        task_seed: seed,
                    },
                    0,
                )
                .await;
            match decision {
                Decision::Finish {
                    status,
                    reason_code,
                    ..
                } => {
                    seen.insert((status, reason_code));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(seen.contains(&(TaskStatus::Done, reason::TASK_COMPLETED)));
        assert!(seen.contains(&(TaskStatus::InReview, reason::REVIEW_LOW_CONFIDENCE)));
        assert!(seen.contains(&(TaskStatus::InReview, reason::REVIEW_TOOL_LOOP_TRUNCATED)));
        assert_eq!(capture.count("tool_runtime", "TOOL_LOOP"), 200);
        let bounded = capture
            .events()
            .into_iter()
            .filter(|e| e.reason_code == reason::TOOL_LOOP_MAX_ITERATIONS)
            .count();
        assert!(bounded > 0);
        assert_eq!(agent.active_route(), &Route::primary());
    }
}
