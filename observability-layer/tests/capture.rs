//! What the layer captures: field mapping, span inheritance, invalid events,
//! redaction and truncation, the recursion guard. Read back through the
//! in-memory recorder, which works without a database.

mod common;

use std::fmt;
use std::time::Duration;

use common::{assert_balanced, install, wait_until, DEAD_URL};
use observability_layer::{
    redact::REDACTED, runtime_event, EventLayer, Operation, RecordedEvent, RuntimeLayer,
    RuntimeSink, SinkHandle,
};
use serde_json::json;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

fn builder() -> observability_layer::RuntimeLayerBuilder {
    RuntimeLayer::builder()
        .database_url(DEAD_URL)
        .shutdown_deadline(Duration::from_millis(200))
}

fn recorded(handle: &SinkHandle, n: usize) -> Vec<RecordedEvent> {
    assert!(
        wait_until(Duration::from_secs(5), || handle.recent_events().len() >= n),
        "expected {n} recorded events, got {:?}",
        handle.recent_events()
    );
    handle.recent_events()
}

#[test]
fn fields_map_to_columns_and_metadata() {
    let (_default, guard, handle) = install(builder());
    let task = Uuid::new_v4();
    let persona = Uuid::new_v4();
    let before = chrono::Utc::now();
    tracing::warn!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_FAILED",
        entity_id = "sim/gpt-sim-1",
        task_id = %task,
        persona_id = persona.to_string(),
        worker_id = "worker-1",
        latency_ms = 12,
        attempt = 2u64,
        ratio = 0.5,
        retryable = true,
        error = ?"timeout",
        "llm call failed"
    );
    let after = chrono::Utc::now();
    let events = recorded(&handle, 1);
    let e = &events[0];
    assert_eq!(e.layer, EventLayer::ProviderRuntime);
    assert_eq!(e.operation, Operation::Call);
    assert_eq!(e.reason_code, "PROVIDER_CALL_FAILED");
    assert_eq!(e.entity_id, "sim/gpt-sim-1");
    assert_eq!(e.task_id, Some(task));
    assert_eq!(e.persona_id, Some(persona));
    assert_eq!(e.worker_id.as_deref(), Some("worker-1"));
    assert!(before <= e.occurred_at && e.occurred_at <= after);
    assert_eq!(
        serde_json::Value::Object(e.metadata.clone()),
        json!({
            "latency_ms": 12,
            "attempt": 2,
            "ratio": 0.5,
            "retryable": true,
            "error": "\"timeout\"",
            "message": "llm call failed",
            "level": "WARN",
            "target": "capture",
        })
    );
    let stats = guard.shutdown();
    assert_eq!(stats.emitted, 1);
    assert_balanced(&stats);
}

#[test]
fn ids_are_inherited_from_spans_innermost_first() {
    let (_default, guard, handle) = install(builder());
    let (outer_task, inner_task, own_task) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let persona = Uuid::new_v4();
    let outer = tracing::info_span!("outer", task_id = %outer_task, persona_id = %persona, worker_id = "w-outer", entity_id = "outer-entity");
    let inner = tracing::info_span!(parent: &outer, "inner", task_id = %inner_task, worker_id = tracing::field::Empty);
    inner.record("worker_id", "w-inner");
    let between = tracing::info_span!(parent: &inner, "no_ids", step = 3);
    {
        let _o = outer.enter();
        let _i = inner.enter();
        let _b = between.enter();
        tracing::info!(layer = "execution", operation = "TASK", reason_code = "A");
        tracing::info!(layer = "execution", operation = "TASK", reason_code = "B", task_id = %own_task, entity_id = "own");
    }
    {
        let _o = outer.enter();
        tracing::info!(layer = "execution", operation = "TASK", reason_code = "C");
    }
    let plain = tracing::info_span!("plain", task_id = %own_task);
    plain.in_scope(|| tracing::info!(layer = "execution", operation = "TASK", reason_code = "D"));
    tracing::info!(
        layer = "worker",
        operation = "HEARTBEAT",
        reason_code = "E",
        worker_id = "w-9"
    );
    tracing::info!(layer = "worker", operation = "HEARTBEAT", reason_code = "F");

    let events = recorded(&handle, 6);
    let ids = |e: &RecordedEvent| {
        (
            e.task_id,
            e.persona_id,
            e.worker_id.clone(),
            e.entity_id.clone(),
        )
    };
    assert_eq!(
        ids(&events[0]),
        (
            Some(inner_task),
            Some(persona),
            Some("w-inner".into()),
            "outer-entity".into()
        )
    );
    assert_eq!(
        ids(&events[1]),
        (
            Some(own_task),
            Some(persona),
            Some("w-inner".into()),
            "own".into()
        )
    );
    assert_eq!(
        ids(&events[2]),
        (
            Some(outer_task),
            Some(persona),
            Some("w-outer".into()),
            "outer-entity".into()
        )
    );
    // entity_id falls back to the task id, then the worker id, then the target.
    assert_eq!(
        ids(&events[3]),
        (Some(own_task), None, None, own_task.to_string())
    );
    assert_eq!(
        ids(&events[4]),
        (None, None, Some("w-9".into()), "w-9".into())
    );
    assert_eq!(events[5].entity_id, "capture");
    assert_balanced(&guard.shutdown());
}

/// Each thread reuses the ids it found for its current scope; every way the
/// scope can change under it must still show in the very next event.
#[test]
fn inherited_ids_follow_enters_exits_and_late_records() {
    let (_default, guard, handle) = install(builder());
    let [first, nested, late, elsewhere] = [(); 4].map(|_| Uuid::new_v4());
    let event =
        |code: &str| tracing::info!(layer = "execution", operation = "TASK", reason_code = code);
    let outer = tracing::info_span!("outer", task_id = %first, worker_id = "w-1");
    let other = tracing::info_span!("other", task_id = %elsewhere);
    {
        let _o = outer.enter();
        event("in outer");
        tracing::info_span!("nested", task_id = %nested).in_scope(|| event("in nested"));
        event("back in outer");
        outer.record("task_id", tracing::field::display(late));
        event("after a late record");
        // Recorded from another thread while this one stays inside.
        std::thread::scope(|s| {
            s.spawn(|| outer.record("worker_id", "w-2"));
        });
        event("after a record elsewhere");
        tracing::info!(parent: &other, layer = "execution", operation = "TASK", reason_code = "explicit parent");
        tracing::info_span!(parent: None, "detached").in_scope(|| event("in a root span"));
        event("outer again");
    }
    event("outside");

    let events = recorded(&handle, 9);
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.reason_code.as_str(), e.task_id, e.worker_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("in outer", Some(first), Some("w-1")),
            ("in nested", Some(nested), Some("w-1")),
            ("back in outer", Some(first), Some("w-1")),
            ("after a late record", Some(late), Some("w-1")),
            ("after a record elsewhere", Some(late), Some("w-2")),
            ("explicit parent", Some(elsewhere), None),
            ("in a root span", None, None),
            ("outer again", Some(late), Some("w-2")),
            ("outside", None, None),
        ]
    );
    assert_balanced(&guard.shutdown());
}

/// The W3C trace context a host records on its spans (as it knows them
/// from `tracing-opentelemetry` or a `traceparent`) reaches the events
/// inside as metadata `trace_id` / `span_id`, innermost first; an event's
/// own fields win.
#[test]
fn trace_context_is_inherited_from_spans() {
    let (_default, guard, handle) = install(builder());
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let event =
        |code: &str| tracing::info!(layer = "execution", operation = "TASK", reason_code = code);
    let request = tracing::info_span!(
        "request",
        trace_id = trace,
        span_id = "00f067aa0ba902b7",
        worker_id = "w-1"
    );
    request.in_scope(|| {
        event("in the request");
        let call = tracing::info_span!("call", span_id = tracing::field::Empty);
        call.in_scope(|| {
            event("before the call's span id");
            call.record("span_id", "b7ad6b7169203331");
            event("in the call");
            tracing::info!(
                layer = "execution",
                operation = "TASK",
                reason_code = "own",
                trace_id = "0af7651916cd43dd8448eb211c80319c",
                span_id = "b9c7c989f97918e1"
            );
        });
    });
    event("outside");
    let events = recorded(&handle, 5);
    let got: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.reason_code.as_str(),
                e.metadata.get("trace_id").and_then(|v| v.as_str()),
                e.metadata.get("span_id").and_then(|v| v.as_str()),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("in the request", Some(trace), Some("00f067aa0ba902b7")),
            (
                "before the call's span id",
                Some(trace),
                Some("00f067aa0ba902b7")
            ),
            ("in the call", Some(trace), Some("b7ad6b7169203331")),
            (
                "own",
                Some("0af7651916cd43dd8448eb211c80319c"),
                Some("b9c7c989f97918e1")
            ),
            ("outside", None, None),
        ]
    );
    // Each key once, even when both the event and its span have one.
    let own = &events[3];
    assert_eq!(own.worker_id.as_deref(), Some("w-1"));
    assert_balanced(&guard.shutdown());
}

fn codes_and_tasks(handle: &SinkHandle, n: usize) -> Vec<(String, Option<Uuid>)> {
    recorded(handle, n)
        .into_iter()
        .map(|e| (e.reason_code, e.task_id))
        .collect()
}

fn owned(list: &[(&str, Option<Uuid>)]) -> Vec<(String, Option<Uuid>)> {
    list.iter()
        .map(|(code, id)| (code.to_string(), *id))
        .collect()
}

fn task_event(code: &str) {
    tracing::info!(layer = "execution", operation = "TASK", reason_code = code);
}

/// Spans entered and exited around every event (as an instrumented future's
/// span is on every poll), a span entered again while already entered, and
/// spans closed and new ones made: each event still gets the ids of the
/// span the registry calls current.
#[test]
fn inherited_ids_follow_reentered_and_replaced_spans() {
    let (_default, guard, handle) = install(builder());
    let [a, b, c] = [(); 3].map(|_| Uuid::new_v4());
    let span_a = tracing::info_span!("a", task_id = %a);
    let span_b = tracing::info_span!("b", task_id = %b);
    for _ in 0..2 {
        span_a.in_scope(|| task_event("poll a"));
        span_b.in_scope(|| task_event("poll b"));
    }
    {
        let _b = span_b.enter();
        task_event("in b");
        let _a = span_a.enter();
        // Entering `b` again does not make it current: `a` stays current.
        span_b.in_scope(|| task_event("b again inside a"));
        task_event("still in a");
    }
    drop((span_a, span_b));
    // New spans, which may take the closed spans' slots in the registry.
    tracing::info_span!("c", task_id = %c).in_scope(|| task_event("in a new span"));
    tracing::info_span!("plain").in_scope(|| task_event("in a span without ids"));
    task_event("outside");
    assert_eq!(
        codes_and_tasks(&handle, 10),
        owned(&[
            ("poll a", Some(a)),
            ("poll b", Some(b)),
            ("poll a", Some(a)),
            ("poll b", Some(b)),
            ("in b", Some(b)),
            ("b again inside a", Some(a)),
            ("still in a", Some(a)),
            ("in a new span", Some(c)),
            ("in a span without ids", None),
            ("outside", None),
        ])
    );
    assert_balanced(&guard.shutdown());
}

/// Two subscribers, each with its own layer, on one thread: span ids are
/// only unique within a subscriber (both first spans get the same id here),
/// and each layer must follow its own subscriber's spans.
#[test]
fn inherited_ids_follow_each_subscribers_own_spans() {
    let RuntimeSink {
        layer: first_layer,
        guard: first_guard,
        handle: first_handle,
        ..
    } = builder().build().unwrap();
    let RuntimeSink {
        layer: second_layer,
        guard: second_guard,
        handle: second_handle,
        ..
    } = builder().build().unwrap();
    let first = tracing_subscriber::registry().with(first_layer);
    let second = tracing_subscriber::registry().with(second_layer);
    let [mine, theirs] = [(); 2].map(|_| Uuid::new_v4());
    tracing::subscriber::with_default(first, || {
        tracing::info_span!("mine", task_id = %mine).in_scope(|| {
            tracing::subscriber::with_default(second, || {
                tracing::info_span!("theirs", task_id = %theirs)
                    .in_scope(|| task_event("second, in its span"));
                task_event("second, outside its span");
            });
            task_event("first, in its span");
        });
    });
    assert_eq!(
        codes_and_tasks(&first_handle, 1),
        owned(&[("first, in its span", Some(mine))])
    );
    assert_eq!(
        codes_and_tasks(&second_handle, 2),
        owned(&[
            ("second, in its span", Some(theirs)),
            ("second, outside its span", None),
        ])
    );
    assert_balanced(&first_guard.shutdown());
    assert_balanced(&second_guard.shutdown());
}

#[test]
fn invalid_events_are_counted_by_reason_and_never_recorded() {
    let (_default, guard, handle) = install(builder());
    tracing::info!(operation = "CALL", reason_code = "X");
    tracing::info!(layer = "providers", operation = "CALL", reason_code = "X");
    tracing::info!(layer = "execution", reason_code = "X");
    tracing::info!(layer = "execution", operation = "call", reason_code = "X");
    tracing::info!(layer = "execution", operation = "TASK", reason_code = "");
    tracing::info!(
        layer = "execution",
        operation = "TASK",
        reason_code = "X",
        task_id = "not-a-uuid"
    );
    tracing::info!(
        layer = "execution",
        operation = "TASK",
        reason_code = "X",
        task_id = 42
    );
    tracing::info!(layer = 7, operation = "TASK", reason_code = "X");
    tracing::info_span!("bad", persona_id = "nope").in_scope(|| {
        tracing::info!(layer = "execution", operation = "TASK", reason_code = "X");
    });
    // Not runtime events at all: not counted.
    tracing::info!(layer = "execution", operation = "TASK", "no reason code");
    tracing::info!("plain log");
    // One valid event, so we know when the writer has caught up.
    tracing::info!(layer = "execution", operation = "TASK", reason_code = "OK");
    let events = recorded(&handle, 1);
    assert_eq!(events.len(), 1);
    let stats = guard.shutdown();
    assert_eq!(stats.emitted, 10);
    assert_eq!(stats.invalid, 9);
    let by = |k: &str| stats.invalid_by_reason.get(k).copied().unwrap_or(0);
    assert_eq!(by("missing_layer"), 1);
    assert_eq!(by("unknown_layer"), 2);
    assert_eq!(by("missing_operation"), 1);
    assert_eq!(by("unknown_operation"), 1);
    assert_eq!(by("missing_reason_code"), 1);
    assert_eq!(by("invalid_task_id"), 2);
    assert_eq!(by("invalid_persona_id"), 1);
    assert_eq!(stats.dropped_database, 1);
    assert_balanced(&stats);
}

#[test]
fn credentials_are_redacted_and_big_values_truncated() {
    let (_default, guard, handle) = install(builder().max_value_bytes(64).max_metadata_bytes(100));
    let long = "x".repeat(1000);
    tracing::info!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_OK",
        api_key = "sk-live-123",
        authorization = %"Bearer abc",
        db_password = ?"hunter2",
        prompt_tokens = 42,
        body = %long,
    );
    tracing::info!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_OK",
        a = %"a".repeat(60),
        b = %"b".repeat(60),
        c = "c",
    );
    let events = recorded(&handle, 2);
    let m = &events[0].metadata;
    assert_eq!(m["api_key"], REDACTED);
    assert_eq!(m["authorization"], REDACTED);
    assert_eq!(m["db_password"], REDACTED);
    assert_eq!(m["prompt_tokens"], 42);
    assert_eq!(
        m["body"],
        format!("{}…[truncated, 1000 bytes in total]", "x".repeat(64))
    );
    assert_eq!(m["truncated"], true);
    let all = format!("{:?}", handle.recent_events());
    for secret in ["sk-live-123", "Bearer abc", "hunter2"] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
    // The per-event budget (100 bytes): a keeps 60, b keeps 40, c keeps nothing.
    let m = &events[1].metadata;
    assert_eq!(m["a"], "a".repeat(60));
    assert_eq!(
        m["b"],
        format!("{}…[truncated, 60 bytes in total]", "b".repeat(40))
    );
    assert_eq!(m["c"], "…[truncated, 1 bytes in total]");
    assert_eq!(m["truncated"], true);
    assert_balanced(&guard.shutdown());
}

/// A value whose `Debug` impl itself logs a runtime event.
struct Chatty;
impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::info!(
            layer = "execution",
            operation = "TASK",
            reason_code = "FROM_DEBUG"
        );
        f.write_str("chatty")
    }
}

/// `kind <TAB> value <TAB> expected` rows of the secret corpus.
fn secret_corpus() -> Vec<(String, String, String)> {
    include_str!("corpus/secrets.tsv")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let p: Vec<String> = l.split('\t').map(|p| p.replace("\\n", "\n")).collect();
            (p[0].clone(), p[1].clone(), p[2].clone())
        })
        .collect()
}

fn ordinary_corpus() -> Vec<&'static str> {
    include_str!("corpus/ordinary.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Emits `value` as the message, an `error` field (formatted, and as a
/// `&str`) and the `entity_id` of one event.
fn event_carrying(value: &str) {
    tracing::error!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_FAILED",
        entity_id = value,
        error = %value,
        detail = value,
        "{value}"
    );
}

#[test]
fn secrets_inside_values_are_scrubbed_and_ordinary_text_is_not() {
    let (_default, guard, handle) = install(builder().recorder_capacity(1024));
    let secrets = secret_corpus();
    let ordinary = ordinary_corpus();
    for (_, value, _) in &secrets {
        event_carrying(value);
    }
    for line in &ordinary {
        event_carrying(line);
    }
    let events = recorded(&handle, secrets.len() + ordinary.len());
    let expected = secrets
        .iter()
        .map(|(_, _, scrubbed)| scrubbed.as_str())
        .chain(ordinary.iter().copied());
    for (e, want) in events.iter().zip(expected) {
        assert_eq!(e.entity_id, want);
        assert_eq!(e.metadata["message"], want);
        assert_eq!(e.metadata["error"], want);
        assert_eq!(e.metadata["detail"], want);
    }
    assert_balanced(&guard.shutdown());
}

#[test]
fn hosts_add_their_own_secret_patterns() {
    let (_default, guard, handle) =
        install(builder().secret_pattern("acme_key", r"acme_(?P<secret>[0-9a-f]{16})\b"));
    event_carrying("rotated acme_0123456789abcdef and sk-proj-AbC123dEf456GhI789jKl012");
    let e = &recorded(&handle, 1)[0];
    assert_eq!(
        e.metadata["message"],
        "rotated acme_[REDACTED:acme_key] and [REDACTED:api_key]"
    );
    drop(guard);
    let err = RuntimeLayer::builder()
        .database_url(DEAD_URL)
        .secret_pattern("broken", "acme_(")
        .build()
        .err()
        .expect("a pattern that does not compile is refused");
    assert!(err.to_string().contains("\"broken\""), "{err}");
}

#[test]
fn the_layer_never_feeds_on_itself() {
    let (_default, guard, handle) = install(builder());
    // Logging from inside a captured value's Debug impl is ignored...
    tracing::info!(layer = "execution", operation = "TASK", reason_code = "OUTER", value = ?Chatty);
    // ...and so are events from the writer's own dependencies.
    tracing::info!(target: "sqlx::query", layer = "execution", operation = "TASK", reason_code = "SQL");
    tracing::info!(target: "tokio::task", layer = "execution", operation = "TASK", reason_code = "RT");
    tracing::info!(target: "observability_layer::writer", layer = "execution", operation = "TASK", reason_code = "W");
    let events = recorded(&handle, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason_code, "OUTER");
    assert_eq!(events[0].metadata["value"], "chatty");
    let stats = guard.shutdown();
    assert_eq!(stats.emitted, 1);
    assert_balanced(&stats);
}

#[test]
fn the_typed_macro_emits_runtime_events() {
    let (_default, guard, handle) = install(builder());
    let route = "sim/gpt-sim-1";
    runtime_event!(
        tracing::Level::INFO,
        EventLayer::ToolRuntime,
        Operation::ToolCall,
        "TOOL_CALL_OK",
        entity_id = %route,
        tool = "search",
        "tool ok"
    );
    runtime_event!(
        tracing::Level::ERROR,
        EventLayer::Worker,
        Operation::Breaker,
        "BREAKER_OPENED"
    );
    let events = recorded(&handle, 2);
    assert_eq!(events[0].layer, EventLayer::ToolRuntime);
    assert_eq!(events[0].operation, Operation::ToolCall);
    assert_eq!(events[0].entity_id, route);
    assert_eq!(events[0].metadata["tool"], "search");
    assert_eq!(events[0].metadata["message"], "tool ok");
    assert_eq!(events[1].operation, Operation::Breaker);
    assert_eq!(events[1].metadata["level"], "ERROR");
    assert_balanced(&guard.shutdown());
}

#[test]
fn ordinary_events_and_spans_pass_through_untouched() {
    let (_default, guard, handle) = install(builder());
    tracing::info_span!("work", step = 1).in_scope(|| {
        tracing::debug!(user = "x", "hello");
        tracing::error!(operation = "fetch", "an unrelated operation field");
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(handle.recent_events().is_empty());
    let stats = guard.shutdown();
    assert_eq!(stats.emitted, 0);
}
