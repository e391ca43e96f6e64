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

use ai_runtime_api::{
    DEFAULT_LIMIT, DEFAULT_WINDOW_MINUTES, MAX_LIMIT, MAX_TREND_BUCKETS, MAX_WINDOW_MINUTES,
};
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

/// `GET /trends` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrendsQuery {
    /// The range's start (RFC 3339); default `to` minus 24 hours. The first
    /// bucket starts at it, aligned down to the bucket width.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub(crate) from: Option<String>,
    /// The range's end (RFC 3339, after `from`); default now. The last bucket
    /// ends at it, aligned up to the bucket width.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub(crate) to: Option<String>,
    /// The bucket width, whole minutes: seconds (`300`) or a number with a
    /// unit `s`, `m`, `h` or `d` (`5m`, `1h`, `1d`). Buckets are aligned to
    /// multiples of the width since 1970-01-01 UTC. At most 400 buckets
    /// (`MAX_TREND_BUCKETS`). Default: the first of 1m, 5m, 15m, 1h, 6h, 1d,
    /// 7d that cuts the range into at most 300 buckets.
    #[param(value_type = Option<String>, example = "5m")]
    pub(crate) bucket: Option<String>,
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

/// A validated `/trends` range: `[from, to)` cut into `bucket_seconds`
/// buckets, both ends aligned to the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrendRange {
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
    pub(crate) bucket_seconds: i64,
}

/// The widths an absent `bucket` is chosen from, in seconds.
pub(crate) const BUCKET_LADDER: [i64; 7] = [60, 300, 900, 3600, 21_600, 86_400, 604_800];
/// An automatic bucket cuts the range into at most this many buckets.
pub(crate) const AUTO_BUCKETS: i64 = 300;
/// The default range: the dashboard's last 24 hours.
const DEFAULT_RANGE_SECONDS: i64 = 24 * 3600;

impl TrendRange {
    /// Validates `q`, with `now` as the default `to`.
    pub(crate) fn parse(q: TrendsQuery, now: DateTime<Utc>) -> Result<Self, ApiFailure> {
        let to = timestamp("to", q.to)?.unwrap_or(now);
        let from = match timestamp("from", q.from)? {
            Some(from) => from,
            None => to
                .checked_sub_signed(chrono::Duration::seconds(DEFAULT_RANGE_SECONDS))
                .ok_or_else(|| ApiFailure::bad("to", "too early"))?,
        };
        if from >= to {
            return Err(ApiFailure::bad("from", "`from` must be before `to`"));
        }
        match q.bucket {
            Some(raw) => {
                let width = bucket_seconds(&raw)?;
                let range = Self::aligned(from, to, width)?;
                if range.buckets() > MAX_TREND_BUCKETS {
                    return Err(ApiFailure::bad(
                        "bucket",
                        format!(
                            "cuts the range into {} buckets, more than {MAX_TREND_BUCKETS}; take a wider bucket",
                            range.buckets()
                        ),
                    ));
                }
                Ok(range)
            }
            None => BUCKET_LADDER
                .iter()
                .filter_map(|width| Self::aligned(from, to, *width).ok())
                .find(|range| range.buckets() <= AUTO_BUCKETS)
                .ok_or_else(|| {
                    ApiFailure::bad(
                        "from",
                        format!("the range is too long for {AUTO_BUCKETS} buckets of a week"),
                    )
                }),
        }
    }

    fn aligned(from: DateTime<Utc>, to: DateTime<Utc>, width: i64) -> Result<Self, ApiFailure> {
        let down = |t: DateTime<Utc>| t.timestamp().div_euclid(width) * width;
        let start = down(from);
        let end = down(to - chrono::Duration::microseconds(1)) + width;
        let at = |seconds: i64, name: &str| {
            DateTime::from_timestamp(seconds, 0)
                .ok_or_else(|| ApiFailure::bad(name, "out of range"))
        };
        Ok(TrendRange {
            from: at(start, "from")?,
            to: at(end, "to")?,
            bucket_seconds: width,
        })
    }

    /// How many buckets the range holds.
    pub(crate) fn buckets(&self) -> i64 {
        (self.to - self.from).num_seconds() / self.bucket_seconds
    }
}

/// A `bucket` in seconds: whole minutes, given as seconds or with a unit.
fn bucket_seconds(raw: &str) -> Result<i64, ApiFailure> {
    let bad = || {
        ApiFailure::bad(
            "bucket",
            "expected whole minutes, as seconds (300) or with a unit (5m, 1h, 1d)",
        )
    };
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => raw.split_at(at),
        None => (raw, "s"),
    };
    let per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let seconds = digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .filter(|s| *s >= 60 && s % 60 == 0 && *s <= 366 * 86_400)
        .ok_or_else(bad)?;
    Ok(seconds)
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

    fn trends(from: &str, to: &str, bucket: Option<&str>) -> Result<TrendRange, ApiFailure> {
        let now = DateTime::parse_from_rfc3339("2026-11-30T10:07:30Z")
            .unwrap()
            .to_utc();
        TrendRange::parse(
            TrendsQuery {
                from: Some(from).filter(|s| !s.is_empty()).map(Into::into),
                to: Some(to).filter(|s| !s.is_empty()).map(Into::into),
                bucket: bucket.map(Into::into),
            },
            now,
        )
    }

    #[test]
    fn trend_ranges_default_align_and_choose_a_bucket() {
        // The last 24 h by default: 5-minute buckets, aligned outwards.
        let day = trends("", "", None).unwrap();
        assert_eq!(day.bucket_seconds, 300);
        assert_eq!(day.from.to_rfc3339(), "2026-11-29T10:05:00+00:00");
        assert_eq!(day.to.to_rfc3339(), "2026-11-30T10:10:00+00:00");
        assert_eq!(day.buckets(), 289);
        let hour = trends("2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z", None).unwrap();
        assert_eq!((hour.bucket_seconds, hour.buckets()), (60, 60));
        let week = trends("2026-11-23T10:00:00Z", "", None).unwrap();
        assert_eq!((week.bucket_seconds, week.buckets()), (3600, 169));
        let half_year = trends("2026-06-01T00:00:00Z", "", None).unwrap();
        assert_eq!(
            (half_year.bucket_seconds, half_year.buckets()),
            (86_400, 183)
        );
        let year = trends("2025-11-30T10:00:00Z", "", None).unwrap();
        assert_eq!(year.bucket_seconds, 604_800);
        // Each form of a bucket.
        for (raw, seconds) in [
            ("300", 300),
            ("5m", 300),
            ("1h", 3600),
            ("1d", 86_400),
            ("120s", 120),
        ] {
            let range = trends("2026-11-30T00:00:00Z", "", Some(raw)).unwrap();
            assert_eq!(range.bucket_seconds, seconds, "{raw}");
        }
    }

    #[test]
    fn bad_trend_ranges_name_their_parameter() {
        let bad = |from, to, bucket| parameter_of(trends(from, to, bucket).unwrap_err());
        assert_eq!(
            bad("2026-11-30T10:00:00Z", "2026-11-30T10:00:00Z", None),
            "from"
        );
        assert_eq!(
            bad("2026-11-30T11:00:00Z", "2026-11-30T10:00:00Z", None),
            "from"
        );
        assert_eq!(bad("yesterday", "", None), "from");
        assert_eq!(bad("", "soon", None), "to");
        for bucket in [
            "",
            "0",
            "30",
            "30s",
            "90s",
            "5x",
            "-5m",
            "m",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert_eq!(bad("", "", Some(bucket)), "bucket", "{bucket:?}");
        }
        // 24 hours of minutes: 1440 buckets, over 400.
        assert_eq!(bad("", "", Some("1m")), "bucket");
        assert_eq!(trends("", "", Some("4m")).unwrap().buckets(), 361);
        // Longer than 300 weeks.
        assert_eq!(bad("2000-01-01T00:00:00Z", "", None), "from");
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
