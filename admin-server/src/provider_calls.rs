//! A task's provider calls, read from its events: the model, tokens, cost
//! and duration of each `provider_runtime` CALL event (the routes-exhausted
//! summary excepted), whether the layer captured it from a GenAI span
//! (`gen_ai.*` keys, `cost_usd`) or the host wrote it by hand (`model`,
//! `input_tokens`, ...; the same names the roll-ups read).

use ai_runtime_api::{EventLayer, Operation, ProviderCall};
use ai_runtime_maintain::failure::is_failure;
use serde::Deserialize;
use serde_json::Value;

use crate::events::EventJson;

/// The metadata a call's summary reads (any other key is skipped unparsed).
#[derive(Deserialize, Default)]
struct CallMetadata {
    #[serde(rename = "gen_ai.response.model")]
    response_model: Option<Value>,
    #[serde(rename = "gen_ai.request.model")]
    request_model: Option<Value>,
    model: Option<Value>,
    #[serde(rename = "gen_ai.usage.input_tokens")]
    genai_input: Option<Value>,
    input_tokens: Option<Value>,
    #[serde(rename = "gen_ai.usage.output_tokens")]
    genai_output: Option<Value>,
    output_tokens: Option<Value>,
    cost_usd: Option<Value>,
    latency_ms: Option<Value>,
}

fn text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn count(value: Option<Value>) -> Option<i64> {
    value?.as_i64()
}

fn number(value: Option<Value>) -> Option<f64> {
    value?.as_f64()
}

/// The provider calls among `events`, in their order.
pub(crate) fn of(events: &[EventJson<'_>]) -> Vec<ProviderCall> {
    events
        .iter()
        .filter(|e| {
            e.layer.0 == EventLayer::ProviderRuntime
                && e.operation.0 == Operation::Call
                && e.reason_code != "PROVIDER_ROUTES_EXHAUSTED"
        })
        .map(|e| {
            // Metadata the database holds is JSON; an object of another
            // shape only leaves the summary empty.
            let m: CallMetadata = serde_json::from_str(e.metadata.get()).unwrap_or_default();
            ProviderCall {
                event_id: e.id,
                occurred_at: e.occurred_at,
                route: e.entity_id.to_owned(),
                model: text(m.response_model)
                    .or_else(|| text(m.request_model))
                    .or_else(|| text(m.model)),
                input_tokens: count(m.genai_input).or_else(|| count(m.input_tokens)),
                output_tokens: count(m.genai_output).or_else(|| count(m.output_tokens)),
                cost_usd: number(m.cost_usd),
                duration_ms: number(m.latency_ms),
                reason_code: e.reason_code.to_owned(),
                failed: is_failure(e.reason_code),
            }
        })
        .collect()
}
