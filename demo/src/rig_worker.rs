//! The demo's rig worker: its replies come from a real rig agent (rig-core +
//! rig-agent) with one tool, against an OpenAI-compatible provider simulated
//! on a loopback port (`simulated-llm`). It writes no event itself: the
//! layer captures rig's GenAI spans, so the dashboard shows its provider
//! calls, tool calls, tokens and cost beside the phase1 workers'
//! hand-written events.

use std::time::Duration;

use anyhow::Context as _;
use rig_agent::prelude::*;
use rig_core::providers::openai::OpenAIConfig;
use serde_json::json;
use simulated_llm::tool::LookupOrder;
use simulated_llm::{Reply, SimulatedLlm};
use tracing::Instrument as _;

/// The worker id its calls carry (from its span).
pub const WORKER_ID: &str = "rig-agent-1";
/// The model it asks for (priced by the `genai-prices` table).
const MODEL: &str = "gpt-4o-mini";
/// Between two questions.
const PAUSE: Duration = Duration::from_secs(3);

/// Asks the agent a question every few seconds until `stop` resolves; a
/// failed turn is logged and the next one tried.
pub async fn run(stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let provider = SimulatedLlm::start(Reply {
        text: "Your order shipped yesterday; it should arrive tomorrow.".into(),
        usage: (180, 40),
        model: None,
        tool_arguments: json!({"order_id": "A-17"}),
    })
    .await
    .context("starting the simulated provider")?;
    let model = OpenAIConfig::new("sk-demo-simulated-provider")
        .with_base_url(provider.base_url())
        .client()
        .chat(MODEL);
    let agent = AgentBuilder::new(model)
        .name("order-support")
        .preamble("You answer questions about orders; look the order up first.")
        .tool(LookupOrder)
        .default_max_turns(3)
        .build();
    let work = async {
        for turn in 1u64.. {
            let span = tracing::info_span!("rig_turn", worker_id = WORKER_ID, turn);
            // Prompted inside the span: rig reads the enclosing span then.
            let answer = async { agent.prompt("Where is my order A-17?").await };
            if let Err(e) = answer.instrument(span).await {
                tracing::error!(worker_id = WORKER_ID, "rig agent turn failed: {e}");
            }
            tokio::time::sleep(PAUSE).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
    Ok(())
}
