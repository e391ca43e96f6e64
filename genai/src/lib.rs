#![doc = include_str!("../README.md")]
//!
//! OpenTelemetry GenAI span attributes as AI runtime events, in one place
//! and without `tracing`: the observability layer maps the spans it sees
//! (rig, genai, any library following the conventions) through it, and an
//! OTLP receiver maps the spans it is sent through the same code, so both
//! give identical rows. `README.md` beside this file has the table.
//!
//! - [`attributes`]: which attribute (in each spelling in use) is kept,
//!   under which metadata key, and what for; content is marked as such;
//! - [`mapping`]: a closed span's columns (layer, operation, reason code,
//!   entity) from what it carried, and whether it failed;
//! - [`prices`]: what an inference cost, from the host's prices and the
//!   `genai-prices` table.

pub mod attributes;
pub mod mapping;
pub mod prices;

pub use attributes::{attribute, keys, Attribute, Role, Usage, SLOTS};
pub use mapping::{map, Entity, Kind, Mapped, SpanFacts, TokenUsage};
