//! The layer's hand-made OTLP exporter against the OpenTelemetry SDK's own
//! (`opentelemetry-otlp`'s HTTP/protobuf log exporter behind the SDK's
//! `BatchLogProcessor`, its usual setup), into the same local receiver that
//! decodes every request, in the same run (alternated, twice each):
//!
//!     cargo bench -p observability-layer --features otlp --bench otlp_exporters
//!
//! Both send the realistic event (a 40-byte body, 12 attributes: the
//! layer's `ai_runtime.*` ones, a 60-byte `error`) in batches of 512, one
//! task's ids per 25 events. The layer's side starts from `tracing::info!`
//! (capture, channel, writer, mapping, encoding, HTTP); the SDK's side
//! starts from records built by hand (no `tracing` bridge at all), so it
//! is the SDK's best case. Printed: events/s from the first event until
//! the receiver has decoded the last, and the whole process's CPU per
//! event (receiver included: the same records to decode on both sides).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use observability_layer::{RuntimeLayer, RuntimeSink};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::Resource;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

#[path = "../tests/common/otlp_receiver.rs"]
mod otlp_receiver;

use otlp_receiver::Receiver;

const EVENTS: usize = 200_000;
const BATCH: usize = 512;
const EVENTS_PER_TASK: usize = 25;
/// Both sides' queue, and the backlog past which the emitter waits (half
/// of it): a rate into the receiver, not a count of drops.
const QUEUE: usize = 32_768;

fn main() {
    let receiver = Receiver::start_counting();
    println!("# OTLP exporters: the layer's against opentelemetry-otlp's\n");
    println!("{EVENTS} realistic events, batches of {BATCH}, one local receiver\n");
    println!("| run | exporter | seconds | events/s | process CPU µs/event |");
    println!("| ---: | --- | ---: | ---: | ---: |");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 1..=2 {
        for (name, into) in [
            ("layer (hyper)", &mut ours),
            ("opentelemetry-otlp", &mut theirs),
        ] {
            let before = receiver.records_seen();
            let cpu = process_cpu();
            let start = Instant::now();
            match name {
                "layer (hyper)" => layer_side(&receiver),
                _ => sdk_side(&receiver, before),
            }
            let secs = start.elapsed().as_secs_f64();
            let cpu = (process_cpu() - cpu).as_secs_f64();
            assert_eq!(
                receiver.records_seen() - before,
                EVENTS,
                "{name} lost events"
            );
            let rate = EVENTS as f64 / secs;
            let cpu_us = cpu * 1e6 / EVENTS as f64;
            println!("| {run} | {name} | {secs:.2} | {rate:.0} | {cpu_us:.2} |");
            into.push((rate, cpu_us));
        }
    }
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / 2.0;
    println!(
        "\nlayer / opentelemetry-otlp: events/s {:.2}x, CPU per event {:.2}x\n",
        mean(&ours, |r| r.0) / mean(&theirs, |r| r.0),
        mean(&ours, |r| r.1) / mean(&theirs, |r| r.1),
    );
}

fn process_cpu() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// The layer, OTLP only: `tracing::info!` to the receiver.
fn layer_side(receiver: &Receiver) {
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = RuntimeLayer::builder()
        .otlp_endpoint(&receiver.endpoint())
        .batch_size(BATCH)
        .channel_capacity(QUEUE)
        .build()
        .expect("build");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for run in 0..(EVENTS / EVENTS_PER_TASK) as u64 {
            let (task, persona) = (Uuid::new_v4(), Uuid::new_v4());
            let span = tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1");
            let _entered = span.enter();
            for i in 0..EVENTS_PER_TASK as u64 {
                while handle.queued() > QUEUE / 2 {
                    std::thread::sleep(Duration::from_micros(200));
                }
                tracing::info!(
                    layer = "provider_runtime",
                    operation = "CALL",
                    reason_code = "PROVIDER_CALL_FAILED",
                    entity_id = "openai/gpt-4o-mini-2024-07-18",
                    latency_ms = black_box((run + i) % 500),
                    attempt = 1u64,
                    error = "upstream returned 429 Too Many Requests: rate limit exceeded",
                    model = "o3-mini-high",
                    "provider call failed, retrying in 250 ms"
                );
            }
        }
    });
    assert!(handle.flush(Duration::from_secs(120)));
    let stats = guard.shutdown();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
}

/// The SDK: records built by hand with the attributes the layer sends,
/// through the `BatchLogProcessor` and `opentelemetry-otlp`'s HTTP
/// exporter (reqwest's blocking client, the crate's default).
fn sdk_side(receiver: &Receiver, before: usize) {
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/logs", receiver.endpoint()))
        .build()
        .expect("opentelemetry-otlp exporter");
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_export_batch_size(BATCH)
                .with_max_queue_size(QUEUE)
                .build(),
        )
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_resource(Resource::builder().with_service_name("bench").build())
        .with_log_processor(processor)
        .build();
    let logger = provider.logger("observability-layer");
    let mut sent = 0;
    for run in 0..(EVENTS / EVENTS_PER_TASK) as i64 {
        let (task, persona) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
        for i in 0..EVENTS_PER_TASK as i64 {
            while sent - (receiver.records_seen() - before) > QUEUE / 2 {
                std::thread::sleep(Duration::from_micros(200));
            }
            let now = SystemTime::now();
            let mut record = logger.create_log_record();
            record.set_timestamp(now);
            record.set_observed_timestamp(now);
            record.set_severity_number(Severity::Info);
            record.set_severity_text("INFO");
            record.set_body(AnyValue::from("provider call failed, retrying in 250 ms"));
            record.add_attributes([
                ("ai_runtime.layer", AnyValue::from("provider_runtime")),
                ("ai_runtime.operation", AnyValue::from("CALL")),
                (
                    "ai_runtime.reason_code",
                    AnyValue::from("PROVIDER_CALL_FAILED"),
                ),
                (
                    "ai_runtime.entity_id",
                    AnyValue::from("openai/gpt-4o-mini-2024-07-18"),
                ),
                ("ai_runtime.task_id", AnyValue::from(task.clone())),
                ("ai_runtime.persona_id", AnyValue::from(persona.clone())),
                ("ai_runtime.worker_id", AnyValue::from("worker-1")),
                ("ai_runtime.target", AnyValue::from("otlp_exporters")),
                ("latency_ms", AnyValue::from(black_box((run + i) % 500))),
                ("attempt", AnyValue::from(1i64)),
                (
                    "error",
                    AnyValue::from("upstream returned 429 Too Many Requests: rate limit exceeded"),
                ),
                ("model", AnyValue::from("o3-mini-high")),
            ]);
            logger.emit(record);
            sent += 1;
        }
    }
    let until = Instant::now() + Duration::from_secs(120);
    while receiver.records_seen() - before < EVENTS && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = provider.shutdown();
}
