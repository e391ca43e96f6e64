//! The task state machine: which status changes are legal.
//!
//! ```text
//!            enqueue            lease
//!   (none) ---------> PENDING --------> RUNNING --+--> DONE | SKIPPED | FAILED
//!                        ^                 |      +--> IN_REVIEW --> DONE | SKIPPED
//!                        +-----------------+  requeue / put back
//! ```

use ai_runtime_vocab::TaskStatus;

/// A status change the state machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal task transition {} -> {to}", from.map_or("(none)", TaskStatus::as_str))]
pub struct IllegalTransition {
    pub from: Option<TaskStatus>,
    pub to: TaskStatus,
}

/// Whether `from -> to` is legal (`None` is a task that does not exist yet).
pub fn is_legal(from: Option<TaskStatus>, to: TaskStatus) -> bool {
    use TaskStatus::*;
    matches!(
        (from, to),
        (None, Pending)
            | (Some(Pending), Running)
            | (Some(Running), Pending | InReview | Done | Skipped | Failed)
            | (Some(InReview), Done | Skipped)
    )
}

/// `Ok` when legal, the typed error otherwise.
pub fn check(from: Option<TaskStatus>, to: TaskStatus) -> Result<(), IllegalTransition> {
    if is_legal(from, to) {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in [Done, Skipped, Failed] {
            for to in TaskStatus::ALL {
                assert!(check(Some(from), *to).is_err(), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_lifecycle_is_legal_and_shortcuts_are_not() {
        assert!(check(None, Pending).is_ok());
        assert!(check(Some(Pending), Running).is_ok());
        assert!(check(Some(Running), Done).is_ok());
        assert!(check(Some(Running), Pending).is_ok());
        assert!(check(Some(InReview), Done).is_ok());
        assert!(check(None, Running).is_err());
        assert!(check(Some(Pending), Done).is_err());
        assert!(check(Some(Running), Running).is_err());
        let err = check(Some(Done), Running).unwrap_err();
        assert_eq!(err.to_string(), "illegal task transition DONE -> RUNNING");
        assert_eq!(
            check(None, Done).unwrap_err().to_string(),
            "illegal task transition (none) -> DONE"
        );
    }
}
