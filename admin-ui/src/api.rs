//! The admin API client: one GET with the bearer token (through `gloo-net`),
//! decoded into the response types of `ai-runtime-api` (the crate the server
//! serializes). The token goes in the `Authorization` header only, never in
//! the URL, so it stays out of request lines and access logs.

use std::fmt;

use ai_runtime_api::{ApiError, API_BASE};
use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;

/// Why a request gave no data.
#[derive(Debug, Clone, PartialEq)]
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

/// `GET {API_BASE}/{path}?{query}` with `Authorization: Bearer {token}`,
/// decoded as `T`.
pub async fn get<T: DeserializeOwned>(
    token: &str,
    path: &str,
    query: &Query,
) -> Result<T, FetchError> {
    decode(&get_text(token, path, query).await?)
}

/// `GET {API_BASE}/{path}?{query}` with `Authorization: Bearer {token}`: the
/// body of a 2xx answer.
async fn get_text(token: &str, path: &str, query: &Query) -> Result<String, FetchError> {
    let params = query
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (*key, value.as_str()));
    let response = Request::get(&format!("{API_BASE}/{path}"))
        .query(params)
        .header("Accept", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .send()
        .await
        .map_err(network)?;
    match response.status() {
        200..=299 => response.text().await.map_err(network),
        401 => Err(FetchError::Unauthorized),
        403 => Err(FetchError::Forbidden),
        status => Err(FetchError::Http {
            status,
            message: error_message(&response).await,
        }),
    }
}

fn network(error: gloo_net::Error) -> FetchError {
    FetchError::Network(error.to_string())
}

/// The server's sentence (and the parameter it names) from an [`ApiError`] body.
async fn error_message(response: &Response) -> String {
    let body = response.text().await.unwrap_or_default();
    match decode::<ApiError>(&body) {
        Ok(ApiError {
            parameter: Some(p),
            message,
            ..
        }) => format!("{message} (parameter `{p}`)"),
        Ok(ApiError { message, .. }) => message,
        Err(_) => "no details".to_owned(),
    }
}
