//! Spans into runtime events: spans carrying `gen_ai.operation.name`
//! through the GenAI mapping; every other span is ignored (and counted).

use opentelemetry_proto::tonic::trace::v1::Span;

use crate::attributes;
use crate::decode::Decoded;
use crate::outcome::Outcome;

/// What each span of the request becomes, in order.
pub fn outcomes(decoded: &Decoded<Span>) -> Vec<Outcome> {
    decoded
        .batches
        .iter()
        .flat_map(|batch| batch.items.iter())
        .map(|span| {
            if attributes::has(&span.attributes, "gen_ai.operation.name") {
                Outcome::Rejected("GenAI spans are not mapped yet".into())
            } else {
                Outcome::Ignored
            }
        })
        .collect()
}
