//! The failure class of reason codes: the events the trends panel sets apart
//! as failures. `REASON_CODES.md` marks each of them with **failure** (a test
//! checks the two agree).
//!
//! A code is of the class when it reports that something the runtime tried
//! did not work: a provider call or every route failed, a task lost its
//! lease or ran out of attempts, a circuit breaker opened. Consequences that
//! are counted where they start (a retry scheduled, a task put back while
//! the breaker is open) and policy outcomes (a safety gate, a review) are not.
//!
//! The roll-ups store each minute's failures as counted when the minute was
//! rolled up: a code added to the class later counts from then on.

/// Every reason code of the failure class.
pub const FAILURE_REASON_CODES: &[&str] = &[
    // provider_runtime
    "PROVIDER_CALL_FAILED",
    "PROVIDER_ROUTES_EXHAUSTED",
    // tool_runtime (captured GenAI spans)
    "TOOL_CALL_FAILED",
    "AGENT_INVOCATION_FAILED",
    // task lifecycle
    "PROVIDER_UNAVAILABLE",
    "PROVIDER_ATTEMPTS_EXHAUSTED",
    "LEASE_EXPIRED",
    "LEASE_EXPIRED_ATTEMPTS_EXHAUSTED",
    "LEASE_LOST",
    // circuit breakers
    "BREAKER_OPENED",
    "BREAKER_REOPENED",
    "WORKER_CIRCUIT_OPENED",
];

/// Whether `code` is of the failure class.
pub fn is_failure(code: &str) -> bool {
    FAILURE_REASON_CODES.contains(&code)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The marker in `REASON_CODES.md`, in a row's meaning.
    const MARKER: &str = "**failure**";

    /// `(code, marked)` for every row of every table of `REASON_CODES.md`
    /// whose first cell is a code.
    fn documented() -> Vec<(String, bool)> {
        let doc = include_str!("../../REASON_CODES.md");
        doc.lines()
            .filter_map(|line| {
                let first = line.strip_prefix("| `")?;
                let code = &first[..first.find('`')?];
                let upper = code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit());
                upper.then(|| (code.to_owned(), line.contains(MARKER)))
            })
            .collect()
    }

    #[test]
    fn the_class_is_the_codes_marked_in_reason_codes_md() {
        let rows = documented();
        assert!(rows.len() > 30, "parsed {} rows", rows.len());
        let marked: BTreeSet<&str> = rows
            .iter()
            .filter(|(_, marked)| *marked)
            .map(|(code, _)| code.as_str())
            .collect();
        let class: BTreeSet<&str> = FAILURE_REASON_CODES.iter().copied().collect();
        assert_eq!(marked, class, "REASON_CODES.md's **failure** rows");
        assert_eq!(class.len(), FAILURE_REASON_CODES.len(), "listed twice");
        assert!(is_failure("LEASE_LOST") && !is_failure("PROVIDER_CALL_OK"));
    }
}
