//! `runtime_event!`: `tracing::event!` with a typed layer and operation.

/// Emits a runtime event with a typed [`EventLayer`](crate::EventLayer) and
/// [`Operation`](crate::Operation), so neither can be misspelt:
///
/// ```
/// use observability_layer::{runtime_event, EventLayer, Operation};
/// use tracing::Level;
///
/// let route = "sim/gpt-sim-1";
/// runtime_event!(Level::INFO, EventLayer::ProviderRuntime, Operation::Call, "PROVIDER_CALL_OK",
///     entity_id = %route, latency_ms = 12, "llm call ok");
/// runtime_event!(Level::WARN, EventLayer::Worker, Operation::Breaker, "BREAKER_OPENED");
/// ```
///
/// Everything after the reason code is passed to `tracing::event!` as is
/// (fields, then an optional message).
#[macro_export]
macro_rules! runtime_event {
    ($level:expr, $layer:expr, $operation:expr, $reason_code:expr $(,)?) => {
        $crate::__private::tracing::event!(
            $level,
            layer = $crate::EventLayer::as_str($layer),
            operation = $crate::Operation::as_str($operation),
            reason_code = $reason_code,
        )
    };
    ($level:expr, $layer:expr, $operation:expr, $reason_code:expr, $($rest:tt)+) => {
        $crate::__private::tracing::event!(
            $level,
            layer = $crate::EventLayer::as_str($layer),
            operation = $crate::Operation::as_str($operation),
            reason_code = $reason_code,
            $($rest)+
        )
    };
}
