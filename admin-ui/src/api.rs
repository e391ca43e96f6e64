//! The admin API client: one GET with the bearer token, decoded into the
//! response types of `ai-runtime-api` (the crate the server serializes).

use std::fmt;

use ai_runtime_api::{ApiError, API_BASE};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response, UrlSearchParams};

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

/// Query parameters, in order; empty values are left out.
pub type Query = Vec<(&'static str, String)>;

/// `GET {API_BASE}/{path}?{query}` with `Authorization: Bearer {token}`.
pub async fn get<T: DeserializeOwned>(
    token: &str,
    path: &str,
    query: &Query,
) -> Result<T, FetchError> {
    let url = url_for(path, query)?;
    let response = send(token, &url).await?;
    let status = response.status();
    let body = body_text(&response).await?;
    match status {
        200..=299 => serde_json::from_str(&body).map_err(|e| FetchError::Decode(e.to_string())),
        401 => Err(FetchError::Unauthorized),
        403 => Err(FetchError::Forbidden),
        _ => Err(FetchError::Http {
            status,
            message: error_message(&body),
        }),
    }
}

fn url_for(path: &str, query: &Query) -> Result<String, FetchError> {
    let params = UrlSearchParams::new().map_err(network)?;
    for (key, value) in query.iter().filter(|(_, v)| !v.is_empty()) {
        params.append(key, value);
    }
    let query = String::from(params.to_string());
    Ok(if query.is_empty() {
        format!("{API_BASE}/{path}")
    } else {
        format!("{API_BASE}/{path}?{query}")
    })
}

async fn send(token: &str, url: &str) -> Result<Response, FetchError> {
    let headers = Headers::new().map_err(network)?;
    headers.set("Accept", "application/json").map_err(network)?;
    headers
        .set("Authorization", &format!("Bearer {token}"))
        .map_err(network)?;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(url, &init).map_err(network)?;
    let answer = JsFuture::from(leptos::prelude::window().fetch_with_request(&request))
        .await
        .map_err(network)?;
    answer.dyn_into().map_err(network)
}

async fn body_text(response: &Response) -> Result<String, FetchError> {
    let text = JsFuture::from(response.text().map_err(network)?)
        .await
        .map_err(network)?;
    Ok(text.as_string().unwrap_or_default())
}

/// The server's sentence (and the parameter it names) from an [`ApiError`] body.
fn error_message(body: &str) -> String {
    match serde_json::from_str::<ApiError>(body) {
        Ok(ApiError {
            parameter: Some(p),
            message,
            ..
        }) => format!("{message} (parameter `{p}`)"),
        Ok(ApiError { message, .. }) => message,
        Err(_) => "no details".to_owned(),
    }
}

fn network(err: JsValue) -> FetchError {
    let why = err
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| err.as_string())
        .unwrap_or_else(|| "unknown error".to_owned());
    FetchError::Network(why)
}
