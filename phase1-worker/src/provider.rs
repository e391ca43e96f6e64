//! The simulated LLM provider: deterministic, seeded, with configurable
//! latency, failure rate and outage windows.
//!
//! Whether a call fails and what it returns is a pure function of the seed,
//! the task's own seed, the route and the attempt numbers, so the same
//! workload gives the same outcomes whatever the timing or the number of
//! workers. Only outage windows depend on time (they exist to trip the
//! circuit breaker in long-running demos).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::rng::{hash_str, mix_all, unit};

/// A provider and model to call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    pub provider: String,
    pub model: String,
}

impl Route {
    pub fn new(provider: &str, model: &str) -> Route {
        Route {
            provider: provider.to_owned(),
            model: model.to_owned(),
        }
    }

    /// The primary route of the simulation.
    pub fn primary() -> Route {
        Route::new("simulated", "sim-large-1")
    }

    /// The fallback route of the simulation.
    pub fn fallback() -> Route {
        Route::new("simulated-backup", "sim-small-1")
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Periodic outages: up for the first `every` after start, then down for
/// `duration` at the start of each following period of `every`
/// (down while `elapsed >= every` and `elapsed % every < duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageWindows {
    pub every: Duration,
    pub duration: Duration,
}

impl OutageWindows {
    /// Whether `elapsed` (since the provider started) falls in an outage.
    pub fn contains(&self, elapsed: Duration) -> bool {
        if self.every.is_zero() || self.duration.is_zero() || elapsed < self.every {
            return false;
        }
        let into_period = elapsed.as_nanos() % self.every.as_nanos();
        into_period < self.duration.as_nanos()
    }
}

/// How the simulated provider behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProviderConfig {
    /// Probability in `[0, 1]` that a single call fails.
    pub failure_rate: f64,
    /// Mean latency of a call (each call takes 50%..150% of it).
    pub latency: Duration,
    pub outages: Option<OutageWindows>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            failure_rate: 0.05,
            latency: Duration::from_millis(50),
            outages: None,
        }
    }
}

/// Identifies one call, for the deterministic draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionRequest {
    /// The task's own seed (from its payload).
    pub task_seed: u64,
    /// Attempts the task has already spent.
    pub task_attempt: u32,
    /// The call's attempt on its route, from 1.
    pub call_attempt: u32,
    /// Characters of the user's message (the prompt's variable part).
    pub message_chars: usize,
}

/// Tokens of the system prompt and persona instructions every call carries.
const SYSTEM_PROMPT_TOKENS: u32 = 380;

/// What a call consumed, as a provider's usage report gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// A reply from the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    /// The model's confidence in its reply, in `[0.35, 1)`.
    pub confidence: f64,
    /// How many tool calls the model asks for before its final answer.
    pub tool_requests: u32,
    pub usage: TokenUsage,
}

/// How a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider returned an error")]
    Error,
    #[error("provider call timed out")]
    Timeout,
    #[error("provider is in an outage")]
    Outage,
}

impl ProviderError {
    pub const fn kind(self) -> &'static str {
        match self {
            ProviderError::Error => "error",
            ProviderError::Timeout => "timeout",
            ProviderError::Outage => "outage",
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    seed: u64,
    config: ProviderConfig,
    clock: Arc<dyn Clock>,
    started: Instant,
}

impl SimulatedProvider {
    pub fn new(seed: u64, config: ProviderConfig, clock: Arc<dyn Clock>) -> SimulatedProvider {
        let started = clock.now();
        SimulatedProvider {
            seed,
            config,
            clock,
            started,
        }
    }

    /// Whether an outage window is open now.
    pub fn in_outage(&self) -> bool {
        let elapsed = self.clock.now().saturating_duration_since(self.started);
        self.config.outages.is_some_and(|o| o.contains(elapsed))
    }

    /// One call. An outage fails at once (connection refused); otherwise the
    /// call takes its latency and then succeeds or fails by the draw.
    pub async fn complete(
        &self,
        route: &Route,
        request: &CompletionRequest,
    ) -> Result<Completion, ProviderError> {
        if self.in_outage() {
            return Err(ProviderError::Outage);
        }
        let route_hash = hash_str(&route.to_string());
        let draw = |salt: u64| {
            mix_all(&[
                self.seed,
                request.task_seed,
                route_hash,
                u64::from(request.task_attempt),
                u64::from(request.call_attempt),
                salt,
            ])
        };
        let latency = self.config.latency.mul_f64(0.5 + unit(draw(1)));
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let failure = draw(2);
        if unit(failure) < self.config.failure_rate {
            return Err(if failure & 1 == 0 {
                ProviderError::Error
            } else {
                ProviderError::Timeout
            });
        }
        // The reply depends on the task and the route, not on the attempt.
        let reply = mix_all(&[self.seed, request.task_seed, route_hash, 3]);
        let tools = mix_all(&[self.seed, request.task_seed, 4]);
        let tool_requests = (tools % 5) as u32;
        Ok(Completion {
            text: format!("{} reply #{:08x}", route.model, reply as u32),
            confidence: 0.35 + 0.65 * unit(reply),
            tool_requests,
            usage: usage(draw(5), request.message_chars, tool_requests),
        })
    }
}

/// Plausible token counts for a call (about 4 characters a token): the
/// system prompt, up to 600 tokens of conversation history and the
/// message in; a reply of 0.5 to 2 times the message's length plus 30 to
/// 190 tokens, and about 25 tokens per tool call the model asks for, out.
/// Drawn from `draw`, so the same call reports the same usage.
fn usage(draw: u64, message_chars: usize, tool_requests: u32) -> TokenUsage {
    let message_tokens = u32::try_from(message_chars.div_ceil(4)).unwrap_or(u32::MAX);
    let history = (draw % 601) as u32;
    let reply_factor = 0.5 + 1.5 * unit(draw >> 16);
    let reply =
        (f64::from(message_tokens) * reply_factor) as u32 + 30 + ((draw >> 40) % 161) as u32;
    TokenUsage {
        input_tokens: SYSTEM_PROMPT_TOKENS
            .saturating_add(history)
            .saturating_add(message_tokens),
        output_tokens: reply.saturating_add(25 * tool_requests),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn provider(failure_rate: f64, clock: &ManualClock) -> SimulatedProvider {
        let config = ProviderConfig {
            failure_rate,
            latency: Duration::ZERO,
            outages: Some(OutageWindows {
                every: Duration::from_secs(60),
                duration: Duration::from_secs(10),
            }),
        };
        SimulatedProvider::new(9, config, Arc::new(clock.clone()))
    }

    fn request(task_seed: u64, call_attempt: u32) -> CompletionRequest {
        CompletionRequest {
            task_seed,
            task_attempt: 0,
            call_attempt,
            message_chars: 120,
        }
    }

    #[tokio::test]
    async fn usage_is_seeded_and_grows_with_the_message() {
        let clock = ManualClock::new();
        let p = provider(0.0, &clock);
        let route = Route::primary();
        let mut short_in = 0;
        let mut long_in = 0;
        for task in 0..200 {
            let mut r = request(task, 1);
            r.message_chars = 40;
            let a = p.complete(&route, &r).await.unwrap().usage;
            assert_eq!(a, p.complete(&route, &r).await.unwrap().usage, "seeded");
            assert!((390..=990).contains(&a.input_tokens), "{a:?}");
            assert!((35..=400).contains(&a.output_tokens), "{a:?}");
            short_in += a.input_tokens;
            r.message_chars = 4000;
            let b = p.complete(&route, &r).await.unwrap().usage;
            assert!(b.output_tokens >= 530, "{b:?}");
            long_in += b.input_tokens;
        }
        // 1000 tokens more of message, on average.
        assert_eq!((long_in - short_in) / 200, 990);
    }

    #[test]
    fn outage_windows() {
        let w = OutageWindows {
            every: Duration::from_secs(60),
            duration: Duration::from_secs(10),
        };
        let s = Duration::from_secs;
        assert!(!w.contains(s(0)));
        assert!(!w.contains(s(59)));
        assert!(w.contains(s(60)));
        assert!(w.contains(s(69)));
        assert!(!w.contains(s(70)));
        assert!(w.contains(s(125)));
    }

    #[tokio::test]
    async fn same_inputs_same_results_and_rate_is_respected() {
        let clock = ManualClock::new();
        let a = provider(0.3, &clock);
        let b = provider(0.3, &clock);
        let route = Route::primary();
        let mut failures = 0;
        for task in 0..2_000 {
            let ra = a.complete(&route, &request(task, 1)).await;
            let rb = b.complete(&route, &request(task, 1)).await;
            assert_eq!(ra, rb);
            failures += usize::from(ra.is_err());
        }
        assert!((500..700).contains(&failures), "{failures}");
    }

    #[tokio::test]
    async fn outage_fails_every_call_then_recovers() {
        let clock = ManualClock::new();
        let p = provider(0.0, &clock);
        assert!(p.complete(&Route::primary(), &request(1, 1)).await.is_ok());
        clock.advance(Duration::from_secs(61));
        assert!(p.in_outage());
        for route in [Route::primary(), Route::fallback()] {
            let err = p.complete(&route, &request(1, 1)).await.unwrap_err();
            assert_eq!(err.kind(), "outage");
        }
        clock.advance(Duration::from_secs(10));
        assert!(p.complete(&Route::primary(), &request(1, 1)).await.is_ok());
    }
}
