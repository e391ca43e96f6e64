//! An OTLP/HTTP receiver (`POST /v1/traces`, `POST /v1/logs`, protobuf or
//! JSON, gzip or not) that turns GenAI spans and this project's own log
//! records into runtime events, handed to an observability-layer sink
//! (`SinkHandle::submit`): batching, scrubbing, retries and drop counting
//! are the sink's. See `docs/otlp-ingest.md`.
//!
//! The modules, in the order a request travels: `receiver` (HTTP, auth
//! with `auth`, answers), `decode` (the envelope, item by item), `spans`
//! and `logs` (items into events, with `attributes`), `outcome`, `stats`;
//! `status` is the `google.rpc.Status` of error answers.

pub mod attributes;
pub mod auth;
pub mod decode;
pub mod logs;
pub mod outcome;
pub mod receiver;
pub mod spans;
pub mod stats;
pub mod status;

pub use auth::{IngestToken, TokenError, TOKEN_HEADER};
pub use receiver::{router, serve, spawn_status_publisher, Receiver, ReceiverSettings};
pub use stats::{IngestCounts, IngestStats};
