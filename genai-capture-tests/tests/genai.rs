//! genai 0.7 (feature `otel`) under the layer, against the simulated
//! OpenAI-compatible provider on loopback: the rows its spans become.

mod common;

use common::{
    assert_absent, assert_priced_call, builder, install, rows, shapes, task_span, CALL_OK,
};
use futures_util::StreamExt;
use genai::adapter::AdapterKind;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest};
use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
use genai::{Client, ModelIden, ServiceTarget};
use simulated_llm::{Mode, Reply, SimulatedLlm};
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

const MODEL: &str = "gpt-4o-mini";
const PROMPT: &str = "PROMPT-TEXT-genai-3f9";
const REPLY: &str = "REPLY-TEXT-genai-8a4";

async fn provider() -> SimulatedLlm {
    SimulatedLlm::start(Reply {
        text: REPLY.into(),
        usage: (120, 30),
        ..Reply::default()
    })
    .await
    .expect("simulated provider")
}

/// A genai client whose OpenAI calls go to the simulated provider.
fn client(sim: &SimulatedLlm) -> Client {
    let endpoint = format!("{}/v1/", sim.base_url());
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(endpoint.clone()),
                auth: AuthData::from_single("sk-test-genai-not-real"),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    Client::builder()
        .with_service_target_resolver(resolver)
        .build()
        .expect("genai client")
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system("INSTRUCTIONS-TEXT be brief"),
        ChatMessage::user(PROMPT),
    ])
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_completion_and_a_streamed_one_are_priced_calls_of_their_task(pool: PgPool) {
    let sim = provider().await;
    let (_default, guard, handle) = install(builder(&pool));
    let client = client(&sim);
    let task = Uuid::new_v4();
    async {
        let answer = client
            .exec_chat(MODEL, request(), None)
            .await
            .expect("chat");
        assert_eq!(answer.first_text(), Some(REPLY));
        let options = ChatOptions::default().with_capture_usage(true);
        let mut stream = client
            .exec_chat_stream(MODEL, request(), Some(&options))
            .await
            .expect("stream")
            .stream;
        while let Some(event) = stream.next().await {
            event.expect("stream event");
        }
    }
    .instrument(task_span(task))
    .await;
    let rows = rows(&pool, &handle).await;
    assert_eq!(shapes(&rows), [CALL_OK, CALL_OK,]);
    for row in &rows {
        assert_priced_call(row, task, (120, 30));
        assert_eq!(row.metadata["gen_ai.request.model"], MODEL);
    }
    assert_eq!(rows[0].metadata["gen_ai.request.stream"], false);
    assert_eq!(rows[1].metadata["gen_ai.request.stream"], true);
    assert_absent(
        &rows,
        &[PROMPT, REPLY, "INSTRUCTIONS-TEXT", "sk-test-genai-not-real"],
    );
    assert_eq!(guard.shutdown().unpriced_calls, 0);
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn a_500_and_a_429_are_failed_calls_with_their_status(pool: PgPool) {
    let sim = provider().await;
    let (_default, _guard, handle) = install(builder(&pool));
    let client = client(&sim);
    let task = Uuid::new_v4();
    for mode in [Mode::ServerError, Mode::RateLimited] {
        sim.set_mode(mode);
        let result = client
            .exec_chat(MODEL, request(), None)
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
    // genai names the HTTP status as the error type.
    assert_eq!(
        rows[0].metadata["error.type"], "500",
        "{}",
        rows[0].metadata
    );
    assert_eq!(
        rows[1].metadata["error.type"], "429",
        "{}",
        rows[1].metadata
    );
    for row in &rows {
        assert_eq!(row.task_id, Some(task));
        assert_eq!(row.metadata["otel.status_code"], "error");
    }
    assert_absent(&rows, &[PROMPT]);
}
