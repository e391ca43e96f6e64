//! The reference phase1 reply runner: a leased task queue over
//! `persona_tasks`, an execution agent that calls a simulated LLM provider
//! through retries, fallbacks and a circuit breaker, a bounded tool loop,
//! safety and review gates, and runtime events at every step (plain
//! `tracing` events; install the observability layer to persist them).
//!
//! Library entry point for hosts (the binary and the demo):
//! `Runner::new(RunnerConfig, PgPool).with_status(publisher).run(shutdown)`.

pub mod agent;
pub mod breaker;
pub mod capture;
pub mod clock;
pub mod gates;
mod layer_status;
pub mod provider;
pub mod queue;
pub mod reason;
pub mod rng;
pub mod runner;
mod shutdown;
pub mod state;
pub mod status;
mod worker;
pub mod workload;

/// `ai_worker_status.agent_type` of every phase1 worker.
pub const AGENT_TYPE: &str = "phase1_reply_runner";

pub use agent::{AgentConfig, Decision, ExecutionAgent};
pub use breaker::{BreakerConfig, BreakerSnapshot, BreakerState, CircuitBreaker};
pub use layer_status::{worker_report, LayerStatus};
pub use provider::{OutageWindows, ProviderConfig, Route, SimulatedProvider};
pub use queue::{NewTask, Queue, QueueError, Task};
pub use runner::{ContinuousWorkload, RunMode, RunSummary, Runner, RunnerConfig, RunnerError};
pub use status::{StatusPublisher, WorkerStatus};
pub use worker::WorkerSummary;
