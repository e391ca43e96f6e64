//! An OpenAI-compatible provider simulated on a loopback port:
//! `POST /chat/completions` (and `/v1/chat/completions`) answers like the
//! real API, deterministically, so that a real client library (rig, genai)
//! can be run against it.
//!
//! - a plain request gets [`Reply::text`] with [`Reply::usage`];
//! - `"stream": true` gets server-sent events: the text in chunks, a last
//!   chunk with the finish reason, then one with the usage, then `[DONE]`;
//! - a request offering `tools`, whose messages hold no tool result yet,
//!   gets a call of the first tool (id [`TOOL_CALL_ID`], arguments
//!   [`Reply::tool_arguments`]); with a tool result, the text;
//! - [`Mode::ServerError`] answers 500, [`Mode::RateLimited`] 429 with
//!   `Retry-After`, both with an OpenAI-shaped error body.

#[cfg(feature = "rig")]
pub mod tool;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The id of the tool call the server asks for.
pub const TOOL_CALL_ID: &str = "call_sim_1";

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 500 with an error body.
    ServerError,
    /// 429 with `Retry-After: 1`.
    RateLimited,
}

/// What a successful answer holds.
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    /// `(prompt_tokens, completion_tokens)`.
    pub usage: (u64, u64),
    /// The `model` answered with (`None`: the one asked for).
    pub model: Option<String>,
    pub tool_arguments: Value,
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            text: "Simulated reply from the loopback provider.".into(),
            usage: (42, 9),
            model: None,
            tool_arguments: json!({}),
        }
    }
}

#[derive(Debug)]
struct Shared {
    mode: Mode,
    reply: Reply,
    requests: Vec<Value>,
}

/// A running server; it stops when its runtime does.
#[derive(Debug, Clone)]
pub struct SimulatedLlm {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl SimulatedLlm {
    /// Serves on `127.0.0.1:<free port>` on the current Tokio runtime.
    pub async fn start(reply: Reply) -> std::io::Result<SimulatedLlm> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            mode: Mode::Ok,
            reply,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/chat/completions", post(chat))
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(SimulatedLlm { addr, shared })
    }

    /// The base URL a client is given (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// The request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn chat(State(shared): State<Arc<Mutex<Shared>>>, Json(body): Json<Value>) -> Response {
    let (mode, reply) = {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.requests.push(body.clone());
        (shared.mode, shared.reply.clone())
    };
    match mode {
        Mode::Ok => answer(&body, &reply),
        Mode::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "simulated outage",
        ),
        Mode::RateLimited => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "simulated rate limit",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": code, "code": code, "param": null}});
    (status, Json(body)).into_response()
}

/// The tool to call: the first offered, when no tool result came back yet.
fn tool_to_call(body: &Value) -> Option<String> {
    let answered = body["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
    if answered {
        return None;
    }
    body["tools"][0]["function"]["name"]
        .as_str()
        .map(str::to_owned)
}

fn answer(body: &Value, reply: &Reply) -> Response {
    let model = reply
        .model
        .clone()
        .or_else(|| body["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "simulated".into());
    let (prompt, completion) = reply.usage;
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion});
    let tool = tool_to_call(body);
    let tool_calls = tool.as_ref().map(|name| {
        json!([{"id": TOOL_CALL_ID, "type": "function",
            "function": {"name": name, "arguments": reply.tool_arguments.to_string()}}])
    });
    let finish = if tool.is_some() { "tool_calls" } else { "stop" };
    if body["stream"] == true {
        return stream(&model, reply, tool_calls, finish, usage);
    }
    let message = match tool_calls {
        Some(calls) => json!({"role": "assistant", "content": null, "tool_calls": calls}),
        None => json!({"role": "assistant", "content": reply.text}),
    };
    Json(json!({
        "id": "chatcmpl-sim-1", "object": "chat.completion", "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": usage,
    }))
    .into_response()
}

/// The answer as server-sent events, written at once (clients read it
/// event by event all the same).
fn stream(
    model: &str,
    reply: &Reply,
    tool_calls: Option<Value>,
    finish: &str,
    usage: Value,
) -> Response {
    let chunk = |choices: Value, usage: Value| {
        json!({"id": "chatcmpl-sim-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": choices, "usage": usage})
    };
    let mut events = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
        Value::Null,
    )];
    match tool_calls {
        Some(mut calls) => {
            calls[0]["index"] = json!(0);
            events.push(chunk(
                json!([{"index": 0, "delta": {"tool_calls": calls}}]),
                Value::Null,
            ));
        }
        None => {
            let words: Vec<&str> = reply.text.split_inclusive(' ').collect();
            for piece in words.chunks(3) {
                let content: String = piece.concat();
                events.push(chunk(
                    json!([{"index": 0, "delta": {"content": content}}]),
                    Value::Null,
                ));
            }
        }
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": finish}]),
        Value::Null,
    ));
    events.push(chunk(json!([]), usage));
    let mut text = String::new();
    for event in events {
        text.push_str("data: ");
        text.push_str(&event.to_string());
        text.push_str("\n\n");
    }
    text.push_str("data: [DONE]\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response()
}
