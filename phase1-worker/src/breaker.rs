//! The circuit breaker in front of the LLM provider.
//!
//! A pure state machine over an injectable clock: CLOSED until
//! `failure_threshold` consecutive provider failures, then OPEN for
//! `cooldown`, then HALF_OPEN for one trial call that closes it (success) or
//! reopens it (failure). Every transition emits exactly one `execution`
//! BREAKER event; nothing else does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_runtime_vocab::{EventLayer, Operation};

use crate::clock::Clock;
use crate::reason;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF_OPEN",
        }
    }
}

/// When the breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(5),
        }
    }
}

/// What the runner publishes as worker status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    /// Why it opened; `None` while CLOSED.
    pub open_reason: Option<String>,
    /// Time left before a trial is allowed; `None` unless OPEN.
    pub cooldown_remaining: Option<Duration>,
}

impl BreakerSnapshot {
    /// Open or half-open: the provider is not trusted yet.
    pub fn is_open(&self) -> bool {
        self.state != BreakerState::Closed
    }
}

/// Whether a provider call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Try again after `retry_in` (zero: a half-open trial is in flight).
    Rejected {
        retry_in: Duration,
    },
}

/// See the module docs.
#[derive(Debug)]
pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    state: BreakerState,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    open_reason: Option<String>,
    trial_in_flight: bool,
}

impl CircuitBreaker {
    /// `name` is the events' `entity_id` (e.g. the worker's breaker).
    pub fn new(name: impl Into<String>, config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        CircuitBreaker {
            name: name.into(),
            config,
            clock,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: None,
            open_reason: None,
            trial_in_flight: false,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to make a provider call. OPEN turns HALF_OPEN here once the
    /// cooldown has passed, admitting one trial call.
    pub fn admit(&mut self) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => {
                let remaining = self.cooldown_remaining();
                if remaining > Duration::ZERO {
                    return Admission::Rejected {
                        retry_in: remaining,
                    };
                }
                self.move_to(BreakerState::HalfOpen, reason::BREAKER_HALF_OPENED);
                self.trial_in_flight = true;
                Admission::Allowed
            }
            BreakerState::HalfOpen if self.trial_in_flight => Admission::Rejected {
                retry_in: Duration::ZERO,
            },
            BreakerState::HalfOpen => {
                self.trial_in_flight = true;
                Admission::Allowed
            }
        }
    }

    /// An admitted call succeeded.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.trial_in_flight = false;
        if self.state == BreakerState::HalfOpen {
            self.opened_at = None;
            self.move_to(BreakerState::Closed, reason::BREAKER_CLOSED);
            self.open_reason = None;
        }
    }

    /// An admitted call failed; `cause` says how (kept as the open reason).
    pub fn record_failure(&mut self, cause: &str) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.trial_in_flight = false;
        match self.state {
            BreakerState::Closed if self.consecutive_failures >= self.config.failure_threshold => {
                self.open(cause, reason::BREAKER_OPENED);
            }
            BreakerState::HalfOpen => self.open(cause, reason::BREAKER_REOPENED),
            _ => {}
        }
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        BreakerSnapshot {
            state: self.state,
            consecutive_failures: self.consecutive_failures,
            open_reason: self.open_reason.clone(),
            cooldown_remaining: (self.state == BreakerState::Open)
                .then(|| self.cooldown_remaining()),
        }
    }

    fn open(&mut self, cause: &str, code: &'static str) {
        self.opened_at = Some(self.clock.now());
        self.open_reason = Some(format!(
            "{} consecutive provider failures, last: {cause}",
            self.consecutive_failures
        ));
        self.move_to(BreakerState::Open, code);
    }

    fn cooldown_remaining(&self) -> Duration {
        let opened_at = self.opened_at.unwrap_or_else(|| self.clock.now());
        (opened_at + self.config.cooldown).saturating_duration_since(self.clock.now())
    }

    fn move_to(&mut self, to: BreakerState, code: &'static str) {
        let from = self.state;
        self.state = to;
        tracing::info!(
            layer = EventLayer::Execution.as_str(),
            operation = Operation::Breaker.as_str(),
            reason_code = code,
            entity_id = %self.name,
            from_state = from.as_str(),
            to_state = to.as_str(),
            consecutive_failures = self.consecutive_failures,
            cooldown_ms = self.config.cooldown.as_millis() as u64,
            open_reason = self.open_reason.as_deref().unwrap_or(""),
            "circuit breaker {} -> {}",
            from.as_str(),
            to.as_str()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::EventCapture;
    use crate::clock::ManualClock;

    fn breaker(clock: &ManualClock) -> CircuitBreaker {
        let config = BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
        };
        CircuitBreaker::new("breaker:w1", config, Arc::new(clock.clone()))
    }

    fn breaker_codes(capture: &EventCapture) -> Vec<String> {
        capture
            .events()
            .into_iter()
            .filter(|e| e.layer == "execution" && e.operation == "BREAKER")
            .map(|e| e.reason_code)
            .collect()
    }

    #[test]
    fn opens_at_the_threshold_with_one_event() {
        let clock = ManualClock::new();
        let capture = EventCapture::new();
        capture.run(|| {
            let mut b = breaker(&clock);
            b.record_failure("outage");
            b.record_failure("outage");
            assert_eq!(b.state(), BreakerState::Closed);
            assert!(breaker_codes(&capture).is_empty());
            b.record_failure("outage");
            assert_eq!(b.state(), BreakerState::Open);
            // Further failures while open are not transitions.
            b.record_failure("outage");
            assert_eq!(
                b.admit(),
                Admission::Rejected {
                    retry_in: Duration::from_secs(10)
                }
            );
            let snap = b.snapshot();
            assert!(snap.is_open());
            assert_eq!(snap.state, BreakerState::Open);
            assert_eq!(snap.consecutive_failures, 4);
            assert_eq!(snap.cooldown_remaining, Some(Duration::from_secs(10)));
            assert_eq!(
                snap.open_reason.as_deref(),
                Some("3 consecutive provider failures, last: outage")
            );
        });
        assert_eq!(breaker_codes(&capture), vec![reason::BREAKER_OPENED]);
        let event = &capture.events()[0];
        assert_eq!(event.field("entity_id").as_deref(), Some("breaker:w1"));
        assert_eq!(event.field("to_state").as_deref(), Some("OPEN"));
    }

    #[test]
    fn a_success_resets_the_count() {
        let clock = ManualClock::new();
        let mut b = breaker(&clock);
        b.record_failure("e");
        b.record_failure("e");
        b.record_success();
        b.record_failure("e");
        b.record_failure("e");
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.snapshot().consecutive_failures, 2);
    }

    #[test]
    fn half_opens_after_cooldown_then_closes_on_success() {
        let clock = ManualClock::new();
        let capture = EventCapture::new();
        capture.run(|| {
            let mut b = breaker(&clock);
            (0..3).for_each(|_| b.record_failure("error"));
            clock.advance(Duration::from_secs(9));
            assert_eq!(
                b.admit(),
                Admission::Rejected {
                    retry_in: Duration::from_secs(1)
                }
            );
            assert_eq!(
                b.snapshot().cooldown_remaining,
                Some(Duration::from_secs(1))
            );
            clock.advance(Duration::from_secs(1));
            assert_eq!(b.admit(), Admission::Allowed);
            assert_eq!(b.state(), BreakerState::HalfOpen);
            // One trial at a time.
            assert_eq!(
                b.admit(),
                Admission::Rejected {
                    retry_in: Duration::ZERO
                }
            );
            let snap = b.snapshot();
            assert!(snap.is_open());
            assert_eq!(snap.cooldown_remaining, None);
            b.record_success();
            assert_eq!(b.state(), BreakerState::Closed);
            assert_eq!(b.admit(), Admission::Allowed);
            let snap = b.snapshot();
            assert!(!snap.is_open());
            assert_eq!(snap.open_reason, None);
            assert_eq!(snap.consecutive_failures, 0);
        });
        assert_eq!(
            breaker_codes(&capture),
            vec![
                reason::BREAKER_OPENED,
                reason::BREAKER_HALF_OPENED,
                reason::BREAKER_CLOSED
            ]
        );
    }

    #[test]
    fn reopens_on_failure_in_half_open_with_a_fresh_cooldown() {
        let clock = ManualClock::new();
        let capture = EventCapture::new();
        capture.run(|| {
            let mut b = breaker(&clock);
            (0..3).for_each(|_| b.record_failure("error"));
            clock.advance(Duration::from_secs(10));
            assert_eq!(b.admit(), Admission::Allowed);
            b.record_failure("timeout");
            assert_eq!(b.state(), BreakerState::Open);
            let snap = b.snapshot();
            assert_eq!(snap.cooldown_remaining, Some(Duration::from_secs(10)));
            assert_eq!(
                snap.open_reason.as_deref(),
                Some("4 consecutive provider failures, last: timeout")
            );
            clock.advance(Duration::from_secs(10));
            assert_eq!(b.admit(), Admission::Allowed);
            b.record_success();
        });
        assert_eq!(
            breaker_codes(&capture),
            vec![
                reason::BREAKER_OPENED,
                reason::BREAKER_HALF_OPENED,
                reason::BREAKER_REOPENED,
                reason::BREAKER_HALF_OPENED,
                reason::BREAKER_CLOSED
            ]
        );
    }
}
