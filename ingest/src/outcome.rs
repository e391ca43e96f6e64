//! What becomes of one span or log record.

use observability_layer::PreparedEvent;

#[derive(Debug)]
pub enum Outcome {
    /// A runtime event, to hand to the sink.
    Event(Box<PreparedEvent>),
    /// Not a runtime event (an ordinary span, a foreign log): counted, dropped.
    Ignored,
    /// Meant as a runtime event but unusable (an unknown layer, a task id
    /// that is no UUID): counted, and reported in `partial_success`.
    Rejected(String),
}
