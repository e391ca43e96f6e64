//! Every reason code the phase1 worker writes, in one place. Each one is
//! documented in `REASON_CODES.md` (a test checks that).

// ---- task transitions (persona_tasks / task_transition_events) and the
// ---- dispatcher / execution TASK events that report them
/// A new task entered the queue (none -> PENDING).
pub const TASK_ENQUEUED: &str = "TASK_ENQUEUED";
/// A worker leased the task (PENDING -> RUNNING).
pub const TASK_LEASED: &str = "TASK_LEASED";
/// The reply was produced and approved (RUNNING -> DONE).
pub const TASK_COMPLETED: &str = "TASK_COMPLETED";
/// A lease ran out (its worker died or hung); an attempt is counted (RUNNING -> PENDING).
pub const LEASE_EXPIRED: &str = "LEASE_EXPIRED";
/// A lease ran out and the task has no attempts left (RUNNING -> FAILED).
pub const LEASE_EXPIRED_ATTEMPTS_EXHAUSTED: &str = "LEASE_EXPIRED_ATTEMPTS_EXHAUSTED";
/// The worker lost its lease before finishing (another worker took the task over).
pub const LEASE_LOST: &str = "LEASE_LOST";
/// Every provider route failed; an attempt is counted and the task is retried later (RUNNING -> PENDING).
pub const PROVIDER_UNAVAILABLE: &str = "PROVIDER_UNAVAILABLE";
/// Every provider route failed and the task has no attempts left (RUNNING -> FAILED).
pub const PROVIDER_ATTEMPTS_EXHAUSTED: &str = "PROVIDER_ATTEMPTS_EXHAUSTED";
/// The circuit breaker is open: the task goes back untouched, no attempt counted (RUNNING -> PENDING).
pub const BREAKER_OPEN_PUT_BACK: &str = "BREAKER_OPEN_PUT_BACK";
/// The worker is stopping: the task goes back untouched, no attempt counted (RUNNING -> PENDING).
pub const WORKER_SHUTDOWN_PUT_BACK: &str = "WORKER_SHUTDOWN_PUT_BACK";

// ---- gates
/// Safety gate: the message contains a blocked term (RUNNING -> SKIPPED).
pub const SAFETY_BLOCKED_TERM: &str = "SAFETY_BLOCKED_TERM";
/// Safety gate: the message is empty (RUNNING -> SKIPPED).
pub const SAFETY_EMPTY_MESSAGE: &str = "SAFETY_EMPTY_MESSAGE";
/// Review gate: the reply's confidence is under the threshold (RUNNING -> IN_REVIEW).
pub const REVIEW_LOW_CONFIDENCE: &str = "REVIEW_LOW_CONFIDENCE";
/// Review gate: the tool loop hit its bound, so the reply may be incomplete (RUNNING -> IN_REVIEW).
pub const REVIEW_TOOL_LOOP_TRUNCATED: &str = "REVIEW_TOOL_LOOP_TRUNCATED";

// ---- provider_runtime / model_adapter
/// A provider call returned a completion.
pub const PROVIDER_CALL_OK: &str = "PROVIDER_CALL_OK";
/// A provider call failed (error kind in metadata: `error`, `timeout`, `outage`).
pub const PROVIDER_CALL_FAILED: &str = "PROVIDER_CALL_FAILED";
/// A failed call is retried on the same route after a backoff.
pub const PROVIDER_RETRY_SCHEDULED: &str = "PROVIDER_RETRY_SCHEDULED";
/// A route used up its retries; the call moves to the next route.
pub const PROVIDER_ROUTE_FAILOVER: &str = "PROVIDER_ROUTE_FAILOVER";
/// Every route used up its retries: `invoke_llm` fails.
pub const PROVIDER_ROUTES_EXHAUSTED: &str = "PROVIDER_ROUTES_EXHAUSTED";
/// The model adapter switched to the fallback model.
pub const MODEL_FALLBACK_SELECTED: &str = "MODEL_FALLBACK_SELECTED";

// ---- tool_runtime
/// A tool call returned a result.
pub const TOOL_CALL_OK: &str = "TOOL_CALL_OK";
/// The tool loop ended because the model asked for no more tools.
pub const TOOL_LOOP_COMPLETED: &str = "TOOL_LOOP_COMPLETED";
/// The tool loop stopped at its iteration bound with tool requests left.
pub const TOOL_LOOP_MAX_ITERATIONS: &str = "TOOL_LOOP_MAX_ITERATIONS";

// ---- execution BREAKER
/// CLOSED -> OPEN: the failure threshold was reached.
pub const BREAKER_OPENED: &str = "BREAKER_OPENED";
/// OPEN -> HALF_OPEN: the cooldown passed; one trial call is allowed.
pub const BREAKER_HALF_OPENED: &str = "BREAKER_HALF_OPENED";
/// HALF_OPEN -> CLOSED: the trial call succeeded.
pub const BREAKER_CLOSED: &str = "BREAKER_CLOSED";
/// HALF_OPEN -> OPEN: the trial call failed; a new cooldown starts.
pub const BREAKER_REOPENED: &str = "BREAKER_REOPENED";

/// Every code above, for the documentation check.
pub const ALL: &[&str] = &[
    TASK_ENQUEUED,
    TASK_LEASED,
    TASK_COMPLETED,
    LEASE_EXPIRED,
    LEASE_EXPIRED_ATTEMPTS_EXHAUSTED,
    LEASE_LOST,
    PROVIDER_UNAVAILABLE,
    PROVIDER_ATTEMPTS_EXHAUSTED,
    BREAKER_OPEN_PUT_BACK,
    WORKER_SHUTDOWN_PUT_BACK,
    SAFETY_BLOCKED_TERM,
    SAFETY_EMPTY_MESSAGE,
    REVIEW_LOW_CONFIDENCE,
    REVIEW_TOOL_LOOP_TRUNCATED,
    PROVIDER_CALL_OK,
    PROVIDER_CALL_FAILED,
    PROVIDER_RETRY_SCHEDULED,
    PROVIDER_ROUTE_FAILOVER,
    PROVIDER_ROUTES_EXHAUSTED,
    MODEL_FALLBACK_SELECTED,
    TOOL_CALL_OK,
    TOOL_LOOP_COMPLETED,
    TOOL_LOOP_MAX_ITERATIONS,
    BREAKER_OPENED,
    BREAKER_HALF_OPENED,
    BREAKER_CLOSED,
    BREAKER_REOPENED,
];

#[cfg(test)]
mod tests {
    /// The "Phase1 worker" section of REASON_CODES.md documents every code.
    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../REASON_CODES.md");
        let section = doc
            .split("## Phase1 worker")
            .nth(1)
            .expect("REASON_CODES.md has a Phase1 worker section");
        let section = section.split("\n## ").next().unwrap_or(section);
        for code in super::ALL {
            assert!(
                section.contains(&format!("`{code}`")),
                "{code} is not documented in REASON_CODES.md"
            );
        }
    }
}
