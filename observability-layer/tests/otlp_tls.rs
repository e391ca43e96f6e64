//! The OTLP exporter against an https collector on 127.0.0.1 (the
//! receiver of `common/otlp_receiver.rs` behind TLS, with a self-signed
//! certificate the test makes): trusted through `otlp_root_certificates`
//! or `OTEL_EXPORTER_OTLP_CERTIFICATE`, every event arrives with its
//! headers; not trusted, the collector is unavailable, counted, and the
//! host is not held up.

mod common;
#[path = "common/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "common/tls_receiver.rs"]
mod tls_receiver;

use std::time::{Duration, Instant};

use common::{assert_balanced, install};
use observability_layer::RuntimeLayer;

const SECRET_HEADER: &str = "Bearer c2VjcmV0LXRscy1oZWFkZXI=";

fn emit(n: u64) {
    for i in 0..n {
        tracing::info!(
            layer = "tool_runtime",
            operation = "TOOL_CALL",
            reason_code = "TOOL_CALL_OK",
            tool = "search_kb",
            n = i
        );
    }
}

#[test]
fn events_reach_an_https_collector_whose_certificate_the_host_trusts() {
    let (receiver, pem) = tls_receiver::start_tls();
    let port = receiver.address.port();
    let builder = RuntimeLayer::builder()
        .otlp_endpoint(&format!("https://127.0.0.1:{port}"))
        .otlp_root_certificates(pem.as_bytes())
        .otlp_header("authorization", SECRET_HEADER)
        .flush_interval(Duration::from_millis(20));
    let (_default, guard, _handle) = install(builder);
    emit(300);
    let stats = guard.shutdown();
    assert_balanced(&stats);
    let otlp = &stats.exporters[0];
    assert_eq!((otlp.exported, otlp.dropped()), (300, 0), "{otlp:?}");
    let requests = receiver.requests();
    assert_eq!(requests.iter().map(|r| r.records.len()).sum::<usize>(), 300);
    assert!(requests
        .iter()
        .all(|r| r.headers["authorization"] == SECRET_HEADER));
    // One connection, kept: the receiver saw every request answered 200.
    assert!(requests.iter().all(|r| r.answered == 200));
}

#[test]
fn the_certificate_file_variable_is_trusted_for_the_localhost_name() {
    let (receiver, pem) = tls_receiver::start_tls();
    let port = receiver.address.port();
    let file = std::env::temp_dir().join(format!("otlp-ca-{}-{port}.pem", std::process::id()));
    std::fs::write(&file, &pem).unwrap();
    let endpoint = format!("https://localhost:{port}/v1/logs");
    let path = file.to_string_lossy().into_owned();
    let builder = RuntimeLayer::builder()
        .apply_env(|name| match name {
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(path.clone()),
            _ => None,
        })
        .unwrap()
        .flush_interval(Duration::from_millis(20));
    let (_default, guard, _handle) = install(builder);
    emit(5);
    let stats = guard.shutdown();
    let _ = std::fs::remove_file(&file);
    assert_balanced(&stats);
    assert_eq!(stats.exporters[0].exported, 5, "{:?}", stats.exporters[0]);
    assert_eq!(receiver.accepted_records().len(), 5);
}

#[test]
fn an_untrusted_certificate_leaves_the_collector_unavailable_and_the_host_unharmed() {
    let (receiver, _pem) = tls_receiver::start_tls();
    let port = receiver.address.port();
    let builder = RuntimeLayer::builder()
        .otlp_endpoint(&format!("https://127.0.0.1:{port}"))
        .otlp_header("authorization", SECRET_HEADER)
        .flush_interval(Duration::from_millis(20))
        .shutdown_deadline(Duration::from_millis(500));
    let (_default, guard, _handle) = install(builder);
    let started = Instant::now();
    emit(50);
    assert!(started.elapsed() < Duration::from_secs(1));
    let stopping = Instant::now();
    let stats = guard.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    assert_balanced(&stats);
    let otlp = &stats.exporters[0];
    assert_eq!((otlp.exported, otlp.dropped()), (0, 50), "{otlp:?}");
    let error = otlp.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("TLS"), "{error}");
    assert!(!error.contains("c2VjcmV0"), "{error}");
    assert!(receiver.requests().is_empty());
}
