//! Every way a request can fail, and the JSON response each one becomes.

use ai_runtime_api::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A failed request. Each variant maps to one status code and an [`ApiError`] body.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// 400: a query parameter is missing its expected form.
    #[error("bad parameter `{parameter}`: {message}")]
    BadParameter { parameter: String, message: String },
    /// 400 without a single parameter to blame (e.g. an unparsable query string).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750), plus
    /// `error="invalid_token"` when a token was presented but refused.
    #[error("unauthorized: {message}")]
    Unauthorized {
        message: String,
        invalid_token: bool,
    },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// 503: the database cannot be reached; the server recovers by itself.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// 500: a bug or a database error that is not an outage.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiFailure {
    pub(crate) fn bad(parameter: &str, message: impl Into<String>) -> Self {
        ApiFailure::BadParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiFailure::BadParameter { .. } | ApiFailure::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiFailure::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiFailure::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiFailure::NotFound(_) => StatusCode::NOT_FOUND,
            ApiFailure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiFailure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn body(&self) -> ApiError {
        let (error, parameter, message) = match self {
            ApiFailure::BadParameter { parameter, message } => {
                ("bad_parameter", Some(parameter.clone()), message.clone())
            }
            ApiFailure::BadRequest(m) => ("bad_parameter", None, m.clone()),
            ApiFailure::Unauthorized { message, .. } => ("unauthorized", None, message.clone()),
            ApiFailure::Forbidden(m) => ("forbidden", None, m.clone()),
            ApiFailure::NotFound(m) => ("not_found", None, m.clone()),
            ApiFailure::Unavailable(_) => (
                "unavailable",
                None,
                "the database cannot be reached; retry shortly".to_owned(),
            ),
            ApiFailure::Internal(_) => ("internal", None, "internal error".to_owned()),
        };
        ApiError {
            error: error.to_owned(),
            parameter,
            message,
        }
    }
}

impl From<sqlx::Error> for ApiFailure {
    fn from(error: sqlx::Error) -> Self {
        if is_outage(&error) {
            ApiFailure::Unavailable(error)
        } else {
            ApiFailure::Internal(error.to_string())
        }
    }
}

/// Whether a database error means "cannot reach the database right now"
/// rather than "this query is wrong".
fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exceptions; 57P: shutdown, cannot connect now;
            // 57014: statement timeout; 53300: too many connections; 3D000: database gone;
            // 55000: database not accepting connections; 28: login refused.
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("28")
                || code == "55000"
                || code == "57014"
                || code == "53300"
                || code == "3D000"
        }),
        _ => false,
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        match &self {
            ApiFailure::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            ApiFailure::Internal(e) => tracing::error!(error = %e, "internal error"),
            _ => {}
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if let ApiFailure::Unauthorized { invalid_token, .. } = self {
            let challenge = if invalid_token {
                r#"Bearer error="invalid_token""#
            } else {
                "Bearer"
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
