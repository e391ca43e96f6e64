//! The query strings of the endpoints: raw (every value a string, so that a
//! bad value becomes a 400 naming its parameter rather than a generic
//! rejection) and validated.
//!
//! Every endpoint reads its parameters through [`Params`], which refuses,
//! before any typed parse, what no parameter may hold: a value with NUL
//! (U+0000), which no Postgres `text` column can store, and a parameter
//! given twice. [`NulRule`] states the rule in the OpenAPI description of
//! every parameter, so endpoints added later get both.

use ai_runtime_api::{EventLayer, Operation, TaskStatus};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::openapi::path::Operation as OpenApiOperation;
use utoipa::{IntoParams, Modify};
use uuid::Uuid;

use crate::cursor::{Cursor, CursorKind};
use crate::error::ApiFailure;

use ai_runtime_api::{DEFAULT_LIMIT, DEFAULT_WINDOW_MINUTES, MAX_LIMIT, MAX_WINDOW_MINUTES};
const MAX_TEXT_LEN: usize = 512;

/// The rule [`Params`] enforces, as the OpenAPI documents it.
const NUL_RULE: &str = "A value containing NUL (U+0000, `%00`) is refused with 400 \
                        naming this parameter.";

/// A handler's query parameters `T` (one of the `*Query` structs below),
/// checked as the module documentation says; the failure is a 400 naming
/// the parameter.
pub(crate) struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + IntoParams,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiFailure> {
        parse(parts.uri.query().unwrap_or("")).map(Params)
    }
}

/// Parses a raw query string into `T`.
pub(crate) fn parse<T: DeserializeOwned + IntoParams>(query: &str) -> Result<T, ApiFailure> {
    // Splitting never fails: bad percent-encoding is kept as it is, and
    // invalid UTF-8 becomes U+FFFD.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|e| ApiFailure::BadRequest(e.to_string()))?;
    let known: Vec<String> = T::into_params(|| None)
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    // Unknown parameters are ignored, as the typed parse ignores them.
    for (name, value) in pairs.iter().filter(|(name, _)| known.contains(name)) {
        if value.contains('\0') {
            return Err(ApiFailure::bad(
                name,
                "must not contain NUL (U+0000): no text column can hold it",
            ));
        }
        if seen.contains(&name.as_str()) {
            return Err(ApiFailure::bad(name, "given more than once"));
        }
        seen.push(name);
    }
    serde_urlencoded::from_str(query).map_err(|e| ApiFailure::BadRequest(e.to_string()))
}

/// Adds [`NUL_RULE`] to the description of every parameter of the document.
pub(crate) struct NulRule;

impl Modify for NulRule {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<OpenApiOperation>; 8] = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            let parameters = operations
                .into_iter()
                .flatten()
                .flat_map(|operation| operation.parameters.iter_mut().flatten())
                .chain(item.parameters.iter_mut().flatten());
            for parameter in parameters {
                parameter.description = Some(match parameter.description.take() {
                    Some(text) => format!("{text} {NUL_RULE}"),
                    None => NUL_RULE.to_owned(),
                });
            }
        }
    }
}

/// `GET /events` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsQuery {
    /// Only events of this layer.
    #[param(value_type = Option<EventLayer>)]
    pub(crate) layer: Option<String>,
    /// Only events of this operation.
    #[param(value_type = Option<Operation>)]
    pub(crate) operation: Option<String>,
    /// Only events with this reason code (exact match).
    pub(crate) reason_code: Option<String>,
    /// Only events about this entity (exact match).
    pub(crate) entity_id: Option<String>,
    /// Only events of this task.
    #[param(value_type = Option<Uuid>)]
    pub(crate) task_id: Option<String>,
    /// Only events of this worker.
    pub(crate) worker_id: Option<String>,
    /// Only events that occurred at or after this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub(crate) from: Option<String>,
    /// Only events that occurred at or before this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub(crate) to: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub(crate) limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// `GET /tasks` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TasksQuery {
    /// Only tasks in this status.
    #[param(value_type = Option<TaskStatus>)]
    pub(crate) status: Option<String>,
    /// Only stuck (`true`) or only not stuck (`false`) tasks.
    #[param(value_type = Option<bool>)]
    pub(crate) stuck: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub(crate) limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// `GET /status` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusQuery {
    /// The trend window in minutes, 1 to 10080 (default 15).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 10080)]
    pub(crate) window: Option<String>,
}

/// Validated events filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EventFilter {
    pub(crate) layer: Option<EventLayer>,
    pub(crate) operation: Option<Operation>,
    pub(crate) reason_code: Option<String>,
    pub(crate) entity_id: Option<String>,
    pub(crate) task_id: Option<Uuid>,
    pub(crate) worker_id: Option<String>,
    pub(crate) from: Option<DateTime<Utc>>,
    pub(crate) to: Option<DateTime<Utc>>,
    pub(crate) limit: i64,
    pub(crate) after: Option<Cursor>,
}

/// Validated tasks filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TaskFilter {
    /// Only this task (`GET /tasks/{id}`); the listing never sets it.
    pub(crate) id: Option<Uuid>,
    pub(crate) status: Option<TaskStatus>,
    pub(crate) stuck: Option<bool>,
    pub(crate) limit: i64,
    pub(crate) after: Option<Cursor>,
}

impl TryFrom<EventsQuery> for EventFilter {
    type Error = ApiFailure;

    fn try_from(q: EventsQuery) -> Result<Self, ApiFailure> {
        let from = timestamp("from", q.from)?;
        let to = timestamp("to", q.to)?;
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(ApiFailure::bad("from", "`from` must not be after `to`"));
            }
        }
        Ok(EventFilter {
            layer: vocabulary("layer", q.layer, EventLayer::ALL)?,
            operation: vocabulary("operation", q.operation, Operation::ALL)?,
            reason_code: text("reasonCode", q.reason_code)?,
            entity_id: text("entityId", q.entity_id)?,
            task_id: uuid("taskId", q.task_id)?,
            worker_id: text("workerId", q.worker_id)?,
            from,
            to,
            limit: limit(q.limit)?,
            after: cursor(CursorKind::Events, q.cursor)?,
        })
    }
}

impl TryFrom<TasksQuery> for TaskFilter {
    type Error = ApiFailure;

    fn try_from(q: TasksQuery) -> Result<Self, ApiFailure> {
        let stuck = match q.stuck.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(ApiFailure::bad("stuck", "expected `true` or `false`")),
        };
        Ok(TaskFilter {
            id: None,
            status: vocabulary("status", q.status, TaskStatus::ALL)?,
            stuck,
            limit: limit(q.limit)?,
            after: cursor(CursorKind::Tasks, q.cursor)?,
        })
    }
}

/// The validated `window` of `GET /status`, in minutes.
pub(crate) fn window_minutes(q: StatusQuery) -> Result<i64, ApiFailure> {
    let Some(raw) = q.window else {
        return Ok(DEFAULT_WINDOW_MINUTES);
    };
    match raw.parse::<i64>() {
        Ok(w) if (1..=MAX_WINDOW_MINUTES).contains(&w) => Ok(w),
        _ => Err(ApiFailure::bad(
            "window",
            format!("expected whole minutes between 1 and {MAX_WINDOW_MINUTES}"),
        )),
    }
}

fn limit(raw: Option<String>) -> Result<i64, ApiFailure> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiFailure::bad(
            "limit",
            format!("expected an integer between 1 and {MAX_LIMIT}"),
        )),
    }
}

fn cursor(kind: CursorKind, raw: Option<String>) -> Result<Option<Cursor>, ApiFailure> {
    raw.map(|c| Cursor::decode(kind, &c).map_err(|e| ApiFailure::bad("cursor", e.to_string())))
        .transpose()
}

fn timestamp(name: &str, raw: Option<String>) -> Result<Option<DateTime<Utc>>, ApiFailure> {
    let Some(raw) = raw else { return Ok(None) };
    // An unencoded `+` in a query string arrives as a space; accept it.
    let repaired = raw.replace(' ', "+");
    DateTime::parse_from_rfc3339(&repaired)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiFailure::bad(
                name,
                "expected an RFC 3339 timestamp such as 2026-11-25T08:00:00Z",
            )
        })
}

fn uuid(name: &str, raw: Option<String>) -> Result<Option<Uuid>, ApiFailure> {
    raw.map(|s| Uuid::parse_str(&s).map_err(|_| ApiFailure::bad(name, "expected a UUID")))
        .transpose()
}

fn text(name: &str, raw: Option<String>) -> Result<Option<String>, ApiFailure> {
    match raw {
        Some(s) if s.is_empty() => Err(ApiFailure::bad(name, "must not be empty")),
        Some(s) if s.len() > MAX_TEXT_LEN => Err(ApiFailure::bad(
            name,
            format!("must be at most {MAX_TEXT_LEN} bytes"),
        )),
        other => Ok(other),
    }
}

fn vocabulary<T>(name: &str, raw: Option<String>, all: &[T]) -> Result<Option<T>, ApiFailure>
where
    T: std::str::FromStr + std::fmt::Display,
{
    raw.map(|s| {
        s.parse::<T>().map_err(|_| {
            let allowed: Vec<String> = all.iter().map(ToString::to_string).collect();
            ApiFailure::bad(name, format!("expected one of {}", allowed.join(", ")))
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter_of(err: ApiFailure) -> String {
        match err {
            ApiFailure::BadParameter { parameter, .. } => parameter,
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn events_defaults_and_errors() {
        let filter = EventFilter::try_from(EventsQuery::default()).unwrap();
        assert_eq!(filter.limit, DEFAULT_LIMIT);
        let bad = |q: EventsQuery| parameter_of(EventFilter::try_from(q).unwrap_err());
        assert_eq!(
            bad(EventsQuery {
                layer: Some("x".into()),
                ..Default::default()
            }),
            "layer"
        );
        assert_eq!(
            bad(EventsQuery {
                limit: Some("0".into()),
                ..Default::default()
            }),
            "limit"
        );
        assert_eq!(
            bad(EventsQuery {
                limit: Some("501".into()),
                ..Default::default()
            }),
            "limit"
        );
        assert_eq!(
            bad(EventsQuery {
                task_id: Some("1".into()),
                ..Default::default()
            }),
            "taskId"
        );
        assert_eq!(
            bad(EventsQuery {
                from: Some("2026-01-02T00:00:00Z".into()),
                to: Some("2026-01-01T00:00:00Z".into()),
                ..Default::default()
            }),
            "from"
        );
    }

    #[test]
    fn nul_and_repeated_parameters_are_named() {
        let parameter = |query: &str| parameter_of(parse::<EventsQuery>(query).unwrap_err());
        assert_eq!(parameter("entityId=a%00b"), "entityId");
        assert_eq!(parameter("reasonCode=%00"), "reasonCode");
        assert_eq!(parameter("limit=5&workerId=%00x"), "workerId");
        assert_eq!(parameter("layer=worker&layer=execution"), "layer");
        let parameter = |query: &str| parameter_of(parse::<TasksQuery>(query).unwrap_err());
        assert_eq!(parameter("status=%00"), "status");
        let parameter = |query: &str| parameter_of(parse::<StatusQuery>(query).unwrap_err());
        assert_eq!(parameter("window=1%00"), "window");
    }

    #[test]
    fn unknown_parameters_and_other_control_characters_pass() {
        let q: EventsQuery = parse("other=%00&other=2&entityId=a%01%1Fb%FF").unwrap();
        assert_eq!(q.entity_id.as_deref(), Some("a\u{1}\u{1f}b\u{fffd}"));
        let q: TasksQuery = parse("").unwrap();
        assert!(q.status.is_none());
    }

    #[test]
    fn space_for_plus_in_timestamps() {
        let filter = EventFilter::try_from(EventsQuery {
            from: Some("2026-01-01T01:00:00 01:00".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            filter.from.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
    }
}
