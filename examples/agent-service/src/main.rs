//! An axum service with a rig agent (one tool) and the observability layer.
//!
//! The service writes no logging code of its own: each `POST /ask` opens a
//! task span (its `task_id` and `worker_id`), the rig agent answers inside
//! it, and the layer turns the GenAI spans rig opens (the provider calls,
//! the tool call) into runtime events with their tokens, latency and cost.
//!
//! ```sh
//! AI_RUNTIME_EVENTS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ai_runtime_demo \
//!     cargo run -p agent-service-example -- --bind 127.0.0.1:3000
//! curl -s localhost:3000/ask -H 'content-type: application/json' -d '{"question":"Where is order A-17?"}'
//! ```
//!
//! Without `--openai-base-url` it answers through an OpenAI-compatible
//! provider simulated on loopback (the demo's), so it runs offline; with
//! one (and `OPENAI_API_KEY`) it talks to that provider instead.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use observability_layer::RuntimeLayer;
use rig_agent::prelude::*;
use rig_core::providers::openai::OpenAIConfig;
use serde::{Deserialize, Serialize};
use serde_json::json;
use simulated_llm::{Reply, SimulatedLlm};
use tracing::Instrument as _;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

mod order_tool;

/// The worker id this service's events carry.
const WORKER_ID: &str = "agent-service-1";

#[derive(Parser)]
#[command(about = "An axum service with a rig agent, observed by the layer")]
struct Args {
    /// Where to listen (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    bind: SocketAddr,
    /// An OpenAI-compatible provider; unset: one simulated on loopback.
    #[arg(long, env = "OPENAI_BASE_URL")]
    openai_base_url: Option<String>,
    /// The model asked for (priced by the layer's price table).
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
}

#[derive(Deserialize)]
struct Question {
    question: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    task_id: Uuid,
    answer: String,
}

/// One question, one task: the span's ids are inherited by every event the
/// layer writes for the agent's calls inside it.
async fn ask(
    State(agent): State<Arc<Agent>>,
    Json(question): Json<Question>,
) -> Result<Json<Answer>, (StatusCode, String)> {
    let task_id = Uuid::new_v4();
    let span = tracing::info_span!("task", task_id = %task_id, worker_id = WORKER_ID);
    let answer = async { agent.prompt(question.question.as_str()).await }
        .instrument(span)
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, format!("the agent failed: {e}")))?;
    Ok(Json(Answer {
        task_id,
        answer: answer.output(),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The one line a service adds: the layer, configured from the environment.
    let sink = RuntimeLayer::builder()
        .from_env()
        .context("configuring the layer (AI_RUNTIME_EVENTS_DATABASE_URL)")?
        .agent_type("agent_service_example")
        .build()
        .context("starting the layer")?;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )),
        )
        .with(sink.layer)
        .init();

    // Kept alive for the service's lifetime when simulated.
    let mut simulated = None;
    let (base_url, key) = match args.openai_base_url {
        Some(url) => (url, std::env::var("OPENAI_API_KEY").unwrap_or_default()),
        None => {
            let provider = SimulatedLlm::start(Reply {
                text: "Order A-17 shipped yesterday; it should arrive tomorrow.".into(),
                usage: (180, 40),
                model: None,
                tool_arguments: json!({"order_id": "A-17"}),
            })
            .await
            .context("starting the simulated provider")?;
            let url = provider.base_url();
            simulated = Some(provider);
            (url, "sk-example-simulated".to_owned())
        }
    };
    let model = OpenAIConfig::new(&key)
        .with_base_url(&base_url)
        .client()
        .chat(&args.model);
    let agent = AgentBuilder::new(model)
        .name("order-support")
        .preamble("You answer questions about orders; look the order up first.")
        .tool(order_tool::LookupOrder)
        .default_max_turns(3)
        .build();

    let app = Router::new()
        .route("/ask", post(ask))
        .with_state(Arc::new(agent));
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(simulated);
    // Dropping the guard flushes what is queued, within its deadline.
    sink.guard.shutdown();
    Ok(())
}
