//! The reason codes the layer itself writes (all `worker` / `HEARTBEAT`
//! events, written when a reported worker's status or circuit changes).
//! Every code the project emits is listed in `REASON_CODES.md`.

/// First report of a worker from this sink (the process started reporting it).
pub const WORKER_ONLINE: &str = "WORKER_ONLINE";
/// A worker's status changed (`previous_status` and `status` in metadata).
pub const WORKER_STATUS_CHANGED: &str = "WORKER_STATUS_CHANGED";
/// A worker's circuit breaker opened (`circuit_reason` in metadata).
pub const WORKER_CIRCUIT_OPENED: &str = "WORKER_CIRCUIT_OPENED";
/// A worker's circuit breaker closed again.
pub const WORKER_CIRCUIT_CLOSED: &str = "WORKER_CIRCUIT_CLOSED";

/// Every code above.
pub const ALL: &[&str] = &[
    WORKER_ONLINE,
    WORKER_STATUS_CHANGED,
    WORKER_CIRCUIT_OPENED,
    WORKER_CIRCUIT_CLOSED,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_code_is_documented_in_reason_codes_md() {
        let doc = include_str!("../../REASON_CODES.md");
        let section = doc
            .split("## Observability layer")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("an Observability layer section");
        for code in super::ALL {
            assert!(
                section.contains(&format!("`{code}`")),
                "{code} is not in REASON_CODES.md"
            );
        }
    }
}
