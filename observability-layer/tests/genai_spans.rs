//! GenAI spans written the way rig and genai write them (fields at
//! creation, usage recorded later, closed), read back through the
//! in-memory recorder. The real libraries run against a simulated provider
//! in `genai-capture-tests`.

mod common;

use std::time::Duration;

use common::{assert_balanced, install, wait_until, DEAD_URL};
use observability_layer::{
    EventLayer, ModelPrice, Operation, RecordedEvent, RuntimeLayer, RuntimeLayerBuilder, SinkHandle,
};
use serde_json::json;
use tracing::field::Empty;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

fn builder() -> RuntimeLayerBuilder {
    RuntimeLayer::builder()
        .database_url(DEAD_URL)
        .flush_interval(Duration::from_millis(10))
        .shutdown_deadline(Duration::from_millis(200))
}

fn recorded(handle: &SinkHandle, n: usize) -> Vec<RecordedEvent> {
    assert!(
        wait_until(Duration::from_secs(30), || handle.recent_events().len()
            >= n),
        "expected {n} recorded events, got {:?}",
        handle.recent_events()
    );
    handle.recent_events()
}

/// A chat span shaped like rig's: 4 fields at creation, usage and the
/// response recorded later, content among them.
fn rig_like_chat(model: &str, prompt: &str, reply: &str) {
    let span = tracing::info_span!(target: "rig::completions", "chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = model,
        gen_ai.system_instructions = "be brief",
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation = Empty,
    );
    let _entered = span.enter();
    span.record("gen_ai.input.messages", prompt);
    tracing::trace!(target: "rig::completions", body = %prompt, "request body");
    span.record("gen_ai.response.id", "chatcmpl-1");
    span.record("gen_ai.response.model", model);
    span.record("gen_ai.usage.input_tokens", 1_000_000u64);
    span.record("gen_ai.usage.output_tokens", 1_000_000u64);
    span.record("gen_ai.usage.cache_read.input_tokens", 0u64);
    span.record("gen_ai.usage.cache_creation", 0u64);
    span.record("gen_ai.output.messages", reply);
}

#[test]
fn a_chat_span_becomes_one_priced_provider_call_with_the_task_ids() {
    let (_default, guard, handle) = install(builder());
    let task = Uuid::new_v4();
    {
        let task_span = tracing::info_span!("task", task_id = %task, worker_id = "worker-7");
        let _in_task = task_span.enter();
        rig_like_chat("gpt-4o-mini", "PROMPT-TEXT-1", "REPLY-TEXT-1");
    }
    let events = recorded(&handle, 1);
    let call = &events[0];
    assert_eq!(call.layer, EventLayer::ProviderRuntime);
    assert_eq!(call.operation, Operation::Call);
    assert_eq!(call.reason_code, "PROVIDER_CALL_OK");
    assert_eq!(call.entity_id, "openai/gpt-4o-mini");
    assert_eq!(call.task_id, Some(task));
    assert_eq!(call.worker_id.as_deref(), Some("worker-7"));
    let m = &call.metadata;
    assert_eq!(m["gen_ai.operation.name"], json!("chat"));
    assert_eq!(m["gen_ai.request.model"], json!("gpt-4o-mini"));
    assert_eq!(m["gen_ai.response.model"], json!("gpt-4o-mini"));
    assert_eq!(m["gen_ai.response.id"], json!("chatcmpl-1"));
    assert_eq!(m["gen_ai.usage.input_tokens"], json!(1_000_000));
    assert_eq!(m["gen_ai.usage.output_tokens"], json!(1_000_000));
    // rig's spelling, under the one key.
    assert_eq!(m["gen_ai.usage.cache_creation.input_tokens"], json!(0));
    assert!(m["latency_ms"].as_f64().unwrap() >= 0.0);
    // $0.15 + $0.60 per million tokens in the table.
    let cost = m["cost_usd"].as_f64().expect("a price");
    assert!((cost - 0.75).abs() < 1e-9, "{cost}");
    // Content is off by default: nothing of the prompt, the reply or the
    // instructions, nor the body event.
    let all = format!("{events:?}");
    for text in ["PROMPT-TEXT-1", "REPLY-TEXT-1", "be brief"] {
        assert!(!all.contains(text), "{text} was stored: {all}");
    }
    assert_eq!(events.len(), 1, "{events:?}");
    let stats = guard.shutdown();
    assert_eq!(stats.unpriced_calls, 0);
    assert_balanced(&stats);
}

#[test]
fn content_capture_keeps_content_scrubbed() {
    let (_default, _guard, handle) = install(builder().capture_content(true));
    rig_like_chat(
        "gpt-4o-mini",
        "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
        "REPLY-TEXT-2",
    );
    let events = recorded(&handle, 1);
    let m = &events[0].metadata;
    let prompt = m["gen_ai.input.messages"].as_str().unwrap();
    assert!(!prompt.contains("abcdefghijklmnopqrstuvwxyz"), "{prompt}");
    assert!(prompt.contains("[REDACTED"), "{prompt}");
    assert_eq!(m["gen_ai.output.messages"], json!("REPLY-TEXT-2"));
    assert_eq!(m["gen_ai.system_instructions"], json!("be brief"));
    // The body event is never stored, content capture or not.
    assert_eq!(handle.recent_events().len(), 1);
}

#[test]
fn failures_tools_and_agents_map_to_their_rows() {
    let (_default, guard, handle) = install(builder());
    {
        let agent = tracing::info_span!(
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "support"
        );
        let _a = agent.enter();
        {
            let tool = tracing::info_span!(
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = "lookup_order",
                gen_ai.tool.call.id = "call_1",
                gen_ai.tool.call.arguments = "ARGS-TEXT",
                gen_ai.tool.call.result = Empty
            );
            tool.record("gen_ai.tool.call.result", "RESULT-TEXT");
        }
        {
            // No status on the span: an ERROR event inside fails it.
            let chat = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                gen_ai.system = "anthropic",
                gen_ai.request.model = "claude-x"
            );
            let _c = chat.enter();
            tracing::error!("provider answered 500");
        }
        {
            let chat = tracing::info_span!("chat", gen_ai.operation.name = "chat",
                gen_ai.provider.name = "openai", gen_ai.request.model = "gpt-4o-mini",
                error.type = "rate_limited");
            drop(chat);
        }
        {
            let chat = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = "selfhosted",
                gen_ai.request.model = "mystery-1",
                gen_ai.usage.input_tokens = 10,
                gen_ai.usage.output_tokens = 5,
                otel.status_code = "ERROR"
            );
            drop(chat);
        }
    }
    let events = recorded(&handle, 5);
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.layer,
                e.operation,
                e.reason_code.as_str(),
                e.entity_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                EventLayer::ToolRuntime,
                Operation::ToolCall,
                "TOOL_CALL_OK",
                "lookup_order"
            ),
            (
                EventLayer::ProviderRuntime,
                Operation::Call,
                "PROVIDER_CALL_FAILED",
                "anthropic/claude-x"
            ),
            (
                EventLayer::ProviderRuntime,
                Operation::Call,
                "PROVIDER_CALL_FAILED",
                "openai/gpt-4o-mini"
            ),
            (
                EventLayer::ProviderRuntime,
                Operation::Call,
                "PROVIDER_CALL_FAILED",
                "selfhosted/mystery-1"
            ),
            (
                EventLayer::ToolRuntime,
                Operation::ToolLoop,
                "AGENT_INVOCATION_COMPLETED",
                "support"
            ),
        ]
    );
    assert_eq!(events[0].metadata["gen_ai.tool.call.id"], json!("call_1"));
    assert_eq!(events[1].metadata["error.type"], json!("error_event"));
    assert_eq!(
        events[1].metadata["gen_ai.provider.name"],
        json!("anthropic")
    );
    assert_eq!(events[2].metadata["error.type"], json!("rate_limited"));
    assert_eq!(events[3].metadata["error.type"], json!("ERROR"));
    assert_eq!(events[3].metadata["level"], json!("ERROR"));
    let all = format!("{events:?}");
    assert!(
        !all.contains("ARGS-TEXT") && !all.contains("RESULT-TEXT"),
        "{all}"
    );
    // The self-hosted model is in no table: no price, counted.
    assert!(events[3].metadata.get("cost_usd").is_none());
    assert_eq!(guard.shutdown().unpriced_calls, 1);
}

#[test]
fn host_prices_price_models_the_table_lacks() {
    let (_default, _guard, handle) = install(builder().model_price(
        "selfhosted",
        "mystery-1",
        ModelPrice::per_million_tokens(2.0, 4.0),
    ));
    let chat = tracing::info_span!(
        "chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "selfhosted",
        gen_ai.request.model = "mystery-1",
        gen_ai.usage.input_tokens = 500_000,
        gen_ai.usage.output_tokens = 250_000
    );
    drop(chat);
    let events = recorded(&handle, 1);
    assert_eq!(events[0].metadata["cost_usd"], json!(2.0));
}

#[test]
fn ordinary_spans_and_create_agent_write_nothing() {
    let (_default, guard, handle) = install(builder());
    {
        let plain = tracing::info_span!("plain", model = "m", tokens = 3);
        let _p = plain.enter();
        tracing::error!("an error outside any GenAI span");
        let describe = tracing::info_span!("create_agent", gen_ai.operation.name = "create_agent");
        drop(describe);
    }
    tracing::info!(
        layer = "worker",
        operation = "HEARTBEAT",
        reason_code = "MARK"
    );
    let events = recorded(&handle, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason_code, "MARK");
    assert_eq!(guard.shutdown().emitted, 1);
}

#[test]
fn a_chat_span_recorded_and_closed_on_other_threads_keeps_every_attribute() {
    // The opening thread finds the span in its own list, also when it is no
    // longer the last there; another thread finds it in the opener's list,
    // takes it over, records into it and closes it.
    let observability_layer::RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = builder().build().expect("build");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let task = Uuid::new_v4();
    let (task_span, chat) = tracing::dispatcher::with_default(&dispatch, || {
        let task_span = tracing::info_span!("task", task_id = %task);
        let chat = tracing::info_span!(parent: &task_span, "chat",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o-mini",
            gen_ai.response.model = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
        );
        chat.record("gen_ai.usage.input_tokens", 1_000_000u64);
        // A second GenAI span opened here: the first is no longer this thread's last.
        let tool = tracing::info_span!(parent: &task_span, "execute_tool",
            gen_ai.operation.name = "execute_tool", gen_ai.tool.name = "lookup");
        chat.record("gen_ai.response.model", "gpt-4o-mini");
        drop(tool);
        (task_span, chat)
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                chat.record("gen_ai.usage.output_tokens", 1_000_000u64);
                drop(chat);
            })
        });
    });
    drop(task_span);
    let events = recorded(&handle, 2);
    let call = events
        .iter()
        .find(|e| e.operation == Operation::Call)
        .expect("the chat's event");
    assert_eq!(call.reason_code, "PROVIDER_CALL_OK");
    assert_eq!(call.task_id, Some(task));
    let m = &call.metadata;
    assert_eq!(m["gen_ai.response.model"], json!("gpt-4o-mini"));
    assert_eq!(m["gen_ai.usage.input_tokens"], json!(1_000_000));
    assert_eq!(m["gen_ai.usage.output_tokens"], json!(1_000_000));
    assert!((m["cost_usd"].as_f64().expect("a price") - 0.75).abs() < 1e-9);
    let tool = events
        .iter()
        .find(|e| e.operation == Operation::ToolCall)
        .expect("the tool's event");
    assert_eq!(tool.task_id, Some(task));
    let stats = guard.shutdown();
    assert_balanced(&stats);
}
