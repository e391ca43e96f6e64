//! The admin API client: one GET with the bearer token, decoded into the
//! response types of `ai-runtime-api` (the crate the server serializes). The
//! token goes in the `Authorization` header only, never in the URL, so it
//! stays out of request lines and access logs.
//!
//! In the browser a request goes through `gloo-net`; while the server
//! renders a page, through the admin server's API router in the same process
//! ([`ServerApi`], given by the server as a context), so both get the same
//! answers from the same handlers.

use std::fmt;

use ai_runtime_api::{ApiError, API_BASE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a request gave no data. Serializable: a page rendered on the server
/// hands its answers, failures too, to the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FetchError {
    /// 401: the token is missing, malformed or rejected.
    Unauthorized,
    /// 403: a valid token, but not an admin's.
    Forbidden,
    /// Any other non-2xx answer, with the server's sentence when it sent one.
    Http { status: u16, message: String },
    /// The request never got an answer (server down, network gone).
    Network(String),
    /// The answer was not the JSON the shared types describe.
    Decode(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Unauthorized => f.write_str("not signed in (401)"),
            FetchError::Forbidden => f.write_str("not an admin (403)"),
            FetchError::Http { status, message } => write!(f, "HTTP {status}: {message}"),
            FetchError::Network(why) => write!(f, "the server could not be reached ({why})"),
            FetchError::Decode(why) => write!(f, "unexpected answer ({why})"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Query parameters, in order; empty values are left out.
pub type Query = Vec<(&'static str, String)>;

/// An answer's body as the shared type it holds.
pub fn decode<T: DeserializeOwned>(body: &str) -> Result<T, FetchError> {
    serde_json::from_str(body).map_err(|e| FetchError::Decode(e.to_string()))
}

/// How requests reach the admin API from where this code runs.
#[derive(Clone, Default)]
pub struct Transport {
    /// The server's API router while it renders a page; `None` in the browser.
    #[cfg(not(target_arch = "wasm32"))]
    server: Option<ServerApi>,
}

impl Transport {
    /// The transport of this page: the server's context while it renders,
    /// gloo-net in the browser.
    pub fn from_context() -> Self {
        Transport {
            #[cfg(not(target_arch = "wasm32"))]
            server: leptos::prelude::use_context::<ServerApi>(),
        }
    }
}

/// `GET {API_BASE}/{path}?{query}` with `Authorization: Bearer {token}`,
/// decoded as `T`.
pub async fn get<T: DeserializeOwned>(
    transport: &Transport,
    token: &str,
    path: &str,
    query: &Query,
) -> Result<T, FetchError> {
    decode(&get_text(transport, token, path, query).await?)
}

/// A 2xx answer's body, or the error its status means.
fn answer(status: u16, body: String) -> Result<String, FetchError> {
    match status {
        200..=299 => Ok(body),
        401 => Err(FetchError::Unauthorized),
        403 => Err(FetchError::Forbidden),
        status => Err(FetchError::Http {
            status,
            message: error_message(&body),
        }),
    }
}

/// The server's sentence (and the parameter it names) from an [`ApiError`] body.
fn error_message(body: &str) -> String {
    match decode::<ApiError>(body) {
        Ok(ApiError {
            parameter: Some(p),
            message,
            ..
        }) => format!("{message} (parameter `{p}`)"),
        Ok(ApiError { message, .. }) => message,
        Err(_) => "no details".to_owned(),
    }
}

/// Query parameters, empty values left out.
fn present(query: &Query) -> impl Iterator<Item = (&'static str, &str)> {
    query
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (*key, value.as_str()))
}

#[cfg(target_arch = "wasm32")]
async fn get_text(
    _transport: &Transport,
    token: &str,
    path: &str,
    query: &Query,
) -> Result<String, FetchError> {
    use gloo_net::http::Request;
    let network = |e: gloo_net::Error| FetchError::Network(e.to_string());
    let response = Request::get(&format!("{API_BASE}/{path}"))
        .query(present(query))
        .header("Accept", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send()
        .await
        .map_err(network)?;
    // An error's body only names the failure; a lost one says "no details".
    let body = response.text().await;
    match (response.status(), body) {
        (status @ 200..=299, body) => answer(status, body.map_err(network)?),
        (status, body) => answer(status, body.unwrap_or_default()),
    }
}

#[cfg(not(target_arch = "wasm32"))]
async fn get_text(
    transport: &Transport,
    token: &str,
    path: &str,
    query: &Query,
) -> Result<String, FetchError> {
    let server = transport.server.as_ref().ok_or_else(|| {
        FetchError::Network("no admin API in this process to render with".to_owned())
    })?;
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(present(query))
        .finish();
    let uri = if query.is_empty() {
        format!("{API_BASE}/{path}")
    } else {
        format!("{API_BASE}/{path}?{query}")
    };
    let (status, body) = (server.0)(uri, token.to_owned())
        .await
        .map_err(FetchError::Network)?;
    answer(status, body)
}

/// What [`ServerApi`] answers: the status and the body, or why there was none.
#[cfg(not(target_arch = "wasm32"))]
pub type ServerAnswer =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(u16, String), String>> + Send>>;

/// The admin server's API router as the pages it renders call it: a GET of
/// a path and query (`/api/...?...`) with a bearer token.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone)]
pub struct ServerApi(pub std::sync::Arc<dyn Fn(String, String) -> ServerAnswer + Send + Sync>);
