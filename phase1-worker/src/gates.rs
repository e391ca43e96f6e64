//! The safety and review gates: pure functions of their input. They never
//! look at the clock, the database or the subscriber, so their decisions
//! are the same with or without observability.

use crate::reason;

/// Terms the safety gate refuses to reply to (a stand-in for a real policy).
pub const BLOCKED_TERMS: &[&str] = &["credit card number", "home address", "self-harm", "weapon"];

/// The safety gate's decision on an incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafetyDecision {
    Allow,
    /// Skip the task: SKIPPED with this reason.
    Block {
        reason_code: &'static str,
        reason: String,
    },
}

/// Blocks empty messages and messages that mention a blocked term.
pub fn safety_gate(message: &str) -> SafetyDecision {
    if message.trim().is_empty() {
        return SafetyDecision::Block {
            reason_code: reason::SAFETY_EMPTY_MESSAGE,
            reason: "message is empty".to_owned(),
        };
    }
    let lower = message.to_lowercase();
    match BLOCKED_TERMS.iter().find(|term| lower.contains(*term)) {
        Some(term) => SafetyDecision::Block {
            reason_code: reason::SAFETY_BLOCKED_TERM,
            reason: format!("message mentions blocked term `{term}`"),
        },
        None => SafetyDecision::Allow,
    }
}

/// What the review gate looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReviewInput {
    /// The reply's confidence, in `[0, 1]`.
    pub confidence: f64,
    /// The tool loop stopped at its bound with requests left.
    pub tool_loop_truncated: bool,
}

/// The review gate's decision on a drafted reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewDecision {
    Approve,
    /// Hold for a person: IN_REVIEW with this reason.
    Review {
        reason_code: &'static str,
        reason: String,
    },
}

/// Sends a reply to review when it may be incomplete or its confidence is
/// under `threshold`.
pub fn review_gate(input: ReviewInput, threshold: f64) -> ReviewDecision {
    if input.tool_loop_truncated {
        return ReviewDecision::Review {
            reason_code: reason::REVIEW_TOOL_LOOP_TRUNCATED,
            reason: "tool loop hit its iteration bound".to_owned(),
        };
    }
    if input.confidence.is_nan() || input.confidence < threshold {
        return ReviewDecision::Review {
            reason_code: reason::REVIEW_LOW_CONFIDENCE,
            reason: format!("confidence {:.2} < {threshold:.2}", input.confidence),
        };
    }
    ReviewDecision::Approve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safety_blocks_empty_and_blocked_terms_case_insensitively() {
        assert_eq!(safety_gate("How was your weekend?"), SafetyDecision::Allow);
        assert_eq!(
            safety_gate("  \n"),
            SafetyDecision::Block {
                reason_code: reason::SAFETY_EMPTY_MESSAGE,
                reason: "message is empty".into()
            }
        );
        assert_eq!(
            safety_gate("What is her HOME ADDRESS?"),
            SafetyDecision::Block {
                reason_code: reason::SAFETY_BLOCKED_TERM,
                reason: "message mentions blocked term `home address`".into()
            }
        );
    }

    #[test]
    fn review_holds_truncated_and_low_confidence_replies() {
        let ok = ReviewInput {
            confidence: 0.8,
            tool_loop_truncated: false,
        };
        assert_eq!(review_gate(ok, 0.6), ReviewDecision::Approve);
        assert_eq!(
            review_gate(
                ReviewInput {
                    confidence: 0.6,
                    ..ok
                },
                0.6
            ),
            ReviewDecision::Approve
        );
        let low = review_gate(
            ReviewInput {
                confidence: 0.5,
                ..ok
            },
            0.6,
        );
        assert_eq!(
            low,
            ReviewDecision::Review {
                reason_code: reason::REVIEW_LOW_CONFIDENCE,
                reason: "confidence 0.50 < 0.60".into()
            }
        );
        let nan = review_gate(
            ReviewInput {
                confidence: f64::NAN,
                ..ok
            },
            0.6,
        );
        assert!(matches!(nan, ReviewDecision::Review { .. }));
        let truncated = review_gate(
            ReviewInput {
                tool_loop_truncated: true,
                ..ok
            },
            0.6,
        );
        assert!(matches!(
            truncated,
            ReviewDecision::Review {
                reason_code: reason::REVIEW_TOOL_LOOP_TRUNCATED,
                ..
            }
        ));
    }
}
