#![doc = include_str!("../README.md")]
//!
//! The closed vocabularies of the runtime: the values the schema's CHECK
//! constraints allow. One definition, used by the layer, the worker, the
//! API types (and so the server and the dashboard).
//!
//! The event's `layer` column is [`EventLayer`], named so that it never
//! clashes with `tracing_subscriber::Layer`, which users of the layer crate
//! import too.

use std::fmt;
use std::str::FromStr;

pub mod reason_codes;

use serde::{Deserialize, Serialize};

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal, $case:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = $case)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored in the database and sent over the API.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        // Written by hand: utoipa's derive does not see a `rename_all` that
        // arrives through a macro argument, and would document Rust names.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: $kind, value: s.to_owned() }),
                }
            }
        }
    };
}

vocabulary! {
    /// Which part of the runtime emitted an event (`ai_runtime_events.layer`).
    EventLayer, "layer", "snake_case" {
        ProviderRuntime => "provider_runtime",
        ToolRuntime => "tool_runtime",
        ModelAdapter => "model_adapter",
        Execution => "execution",
        Dispatcher => "dispatcher",
        Worker => "worker",
    }
}

vocabulary! {
    /// What the runtime was doing (`ai_runtime_events.operation`).
    Operation, "operation", "SCREAMING_SNAKE_CASE" {
        Call => "CALL",
        Fallback => "FALLBACK",
        Retry => "RETRY",
        ToolCall => "TOOL_CALL",
        ToolLoop => "TOOL_LOOP",
        Task => "TASK",
        Heartbeat => "HEARTBEAT",
        Breaker => "BREAKER",
    }
}

vocabulary! {
    /// A phase1 task's status (`persona_tasks.status`).
    TaskStatus, "task status", "SCREAMING_SNAKE_CASE" {
        Pending => "PENDING",
        Running => "RUNNING",
        InReview => "IN_REVIEW",
        Done => "DONE",
        Skipped => "SKIPPED",
        Failed => "FAILED",
    }
}

vocabulary! {
    /// A worker's status (`ai_worker_status.status`).
    WorkerState, "worker status", "SCREAMING_SNAKE_CASE" {
        Running => "RUNNING",
        Idle => "IDLE",
        Degraded => "DEGRADED",
        Stopped => "STOPPED",
    }
}

impl TaskStatus {
    /// DONE, SKIPPED and FAILED end a task; IN_REVIEW waits for a person.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Done | TaskStatus::Skipped | TaskStatus::Failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_matches_serde() {
        for layer in EventLayer::ALL {
            assert_eq!(layer.as_str().parse::<EventLayer>().unwrap(), *layer);
            let json = serde_json::to_string(layer).unwrap();
            assert_eq!(json, format!("\"{}\"", layer.as_str()));
        }
        for op in Operation::ALL {
            let json = serde_json::to_string(op).unwrap();
            assert_eq!(json, format!("\"{}\"", op.as_str()));
        }
        for s in TaskStatus::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(
            serde_json::to_string(&WorkerState::Degraded).unwrap(),
            "\"DEGRADED\""
        );
    }

    #[test]
    fn unknown_values_are_named() {
        let err = "providers".parse::<EventLayer>().unwrap_err();
        assert_eq!(err.to_string(), "unknown layer `providers`");
        assert!("call".parse::<Operation>().is_err());
        assert!("IN REVIEW".parse::<TaskStatus>().is_err());
    }
}
