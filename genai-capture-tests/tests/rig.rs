//! rig (rig-core + rig-agent 0.44, `openai.chat(model)` on
//! `/chat/completions`) under the layer, against the simulated provider on
//! loopback: the rows its spans become, in Postgres.

mod common;

use common::{
    assert_absent, assert_priced_call, builder, install, rows, shapes, task_span, CALL_OK,
};
use rig_agent::prelude::*;
use rig_core::completion::CompletionRequest;
use rig_core::providers::openai::{OpenAI, OpenAIConfig};
use serde_json::json;
use simulated_llm::tool::{LookupOrder, ORDER_STATE};
use simulated_llm::{Mode, Reply, SimulatedLlm, TOOL_CALL_ID};
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

const MODEL: &str = "gpt-4o-mini";
const PROMPT: &str = "PROMPT-TEXT-rig-7d1";
const REPLY: &str = "REPLY-TEXT-rig-5c2";

async fn provider() -> SimulatedLlm {
    SimulatedLlm::start(Reply {
        text: REPLY.into(),
        usage: (42, 9),
        model: None,
        tool_arguments: json!({"order_id": "A-17"}),
    })
    .await
    .expect("simulated provider")
}

fn openai(sim: &SimulatedLlm) -> OpenAI {
    OpenAIConfig::new("sk-test-not-a-real-key")
        .with_base_url(sim.base_url())
        .client()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_completion_and_a_streamed_one_are_priced_calls_of_their_task(pool: PgPool) {
    let sim = provider().await;
    let (_default, guard, handle) = install(builder(&pool));
    let model = openai(&sim).chat(MODEL);
    let task = Uuid::new_v4();
    async {
        model
            .call(CompletionRequest::new(PROMPT))
            .await
            .expect("completion");
        model
            .stream(CompletionRequest::new(PROMPT))
            .expect("stream")
            .finish()
            .await
            .expect("streamed completion");
    }
    .instrument(task_span(task))
    .await;
    let rows = rows(&pool, &handle).await;
    assert_eq!(shapes(&rows), [CALL_OK, CALL_OK,]);
    for row in &rows {
        assert_priced_call(row, task, (42, 9));
        assert_eq!(row.metadata["gen_ai.request.model"], MODEL);
        assert_eq!(row.metadata["gen_ai.response.model"], MODEL);
        assert_eq!(row.metadata["gen_ai.response.id"], "chatcmpl-sim-1");
    }
    assert_eq!(rows[1].metadata["gen_ai.request.stream"], true);
    assert_absent(&rows, &[PROMPT, REPLY, "sk-test-not-a-real-key"]);
    // The simulated provider saw both, the second streamed.
    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1]["stream"], true);
    assert_eq!(guard.shutdown().unpriced_calls, 0);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_agent_turn_with_a_tool_call_is_two_calls_and_a_tool_call(pool: PgPool) {
    let sim = provider().await;
    let (_default, _guard, handle) = install(builder(&pool));
    // rig records content on its spans here: the layer must still store none.
    let agent = AgentBuilder::new(openai(&sim).chat(MODEL))
        .name("support")
        .preamble("INSTRUCTIONS-TEXT be brief")
        .record_content_telemetry(true)
        .tool(LookupOrder)
        .default_max_turns(3)
        .build();
    let task = Uuid::new_v4();
    // The run starts inside the task's span (rig looks for an enclosing
    // span when the prompt is made, not when it is polled).
    let answer = async { agent.prompt(PROMPT).await }
        .instrument(task_span(task))
        .await
        .expect("agent answer");
    assert!(format!("{answer:?}").contains(REPLY));
    let rows = rows(&pool, &handle).await;
    // Inside the task's span rig opens no invoke_agent span: the turn is
    // its calls and its tool call.
    assert_eq!(
        shapes(&rows),
        [
            CALL_OK,
            ("tool_runtime", "TOOL_CALL", "TOOL_CALL_OK", "lookup_order"),
            CALL_OK,
        ]
    );
    assert_priced_call(&rows[0], task, (42, 9));
    assert_priced_call(&rows[2], task, (42, 9));
    let tool = &rows[1];
    assert_eq!(tool.task_id, Some(task));
    assert_eq!(tool.metadata["gen_ai.tool.call.id"], TOOL_CALL_ID);
    assert!(tool.metadata["latency_ms"].as_f64().is_some());
    assert!(tool.metadata.get("cost_usd").is_none());
    assert_absent(
        &rows,
        &[PROMPT, REPLY, ORDER_STATE, "A-17", "INSTRUCTIONS-TEXT"],
    );
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_agent_run_outside_any_span_is_an_agent_invocation(pool: PgPool) {
    let sim = provider().await;
    let (_default, _guard, handle) = install(builder(&pool));
    let agent = AgentBuilder::new(openai(&sim).chat(MODEL))
        .name("support")
        .tool(LookupOrder)
        .default_max_turns(3)
        .build();
    agent.prompt(PROMPT).await.expect("agent answer");
    let rows = rows(&pool, &handle).await;
    let agent_row = rows
        .iter()
        .find(|r| r.operation == "TOOL_LOOP")
        .unwrap_or_else(|| panic!("no invoke_agent row: {rows:?}"));
    assert_eq!(agent_row.reason_code, "AGENT_INVOCATION_COMPLETED");
    assert_eq!(agent_row.entity_id, "support");
    assert_eq!(rows.len(), 4, "{:?}", shapes(&rows));
    assert_absent(&rows, &[PROMPT, REPLY]);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_500_and_a_429_are_failed_calls(pool: PgPool) {
    let sim = provider().await;
    let (_default, guard, handle) = install(builder(&pool));
    let model = openai(&sim).chat(MODEL);
    let task = Uuid::new_v4();
    for mode in [Mode::ServerError, Mode::RateLimited] {
        sim.set_mode(mode);
        let result = model
            .call(CompletionRequest::new(PROMPT))
            .instrument(task_span(task))
            .await;
        assert!(result.is_err(), "{mode:?} should fail the call");
    }
    let rows = rows(&pool, &handle).await;
    assert_eq!(
        shapes(&rows),
        [
            (
                "provider_runtime",
                "CALL",
                "PROVIDER_CALL_FAILED",
                "openai/gpt-4o-mini"
            ),
            (
                "provider_runtime",
                "CALL",
                "PROVIDER_CALL_FAILED",
                "openai/gpt-4o-mini"
            ),
        ]
    );
    for row in &rows {
        assert_eq!(row.task_id, Some(task));
        // rig's chat spans carry no error status: the layer knows the call
        // failed because it closed without a response.
        assert_eq!(
            row.metadata["error.type"], "no_response",
            "{}",
            row.metadata
        );
        assert_eq!(row.metadata["level"], "ERROR");
        assert!(row.metadata.get("cost_usd").is_none());
    }
    // A call without tokens has nothing to price: not counted as unpriced.
    assert_eq!(guard.shutdown().unpriced_calls, 0);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn with_content_on_a_secret_in_the_prompt_is_scrubbed(pool: PgPool) {
    let sim = provider().await;
    let (_default, _guard, handle) = install(builder(&pool).capture_content(true));
    let agent = AgentBuilder::new(openai(&sim).chat(MODEL))
        .name("support")
        .record_content_telemetry(true)
        .build();
    let secret = "sk-proj-Zq8wX3vN5bT1yR7uK2mP9sL4dF6gH0jA";
    async { agent.prompt(format!("{PROMPT} my key is {secret}")).await }
        .instrument(task_span(Uuid::new_v4()))
        .await
        .expect("agent answer");
    let rows = rows(&pool, &handle).await;
    assert_eq!(rows.len(), 1, "{:?}", shapes(&rows));
    let m = &rows[0].metadata;
    let input = m["gen_ai.input.messages"]
        .as_str()
        .unwrap_or_else(|| panic!("no input: {m}"));
    assert!(input.contains(PROMPT), "{input}");
    assert!(input.contains("[REDACTED"), "{input}");
    assert!(
        m["gen_ai.output.messages"]
            .as_str()
            .is_some_and(|o| o.contains(REPLY)),
        "{m}"
    );
    assert!(
        !rows[0].text.contains(secret),
        "the secret was stored: {}",
        rows[0].text
    );
}
