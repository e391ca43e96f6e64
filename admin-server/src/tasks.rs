//! `GET /tasks`: recent tasks, most recently created first, keyset-paginated
//! on `(created_at desc, id desc)`, each with its stuck flag and latest event.

use ai_runtime_api::{EventLayer, Operation, TaskStatus};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::config::Thresholds;
use crate::cursor::CursorKind;
use crate::db::Vocab;
use crate::error::ApiFailure;
use crate::page::{Page, PageItem};
use crate::params::TaskFilter;
use crate::stuck::Stuck;

/// One task, borrowed from its row, serialized as
/// [`ai_runtime_api::TaskSummary`] (a test checks).
#[derive(Debug, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskJson<'r> {
    id: Uuid,
    persona_id: Uuid,
    kind: &'r str,
    pub(crate) status: Vocab<TaskStatus>,
    reason_code: Option<&'r str>,
    reason: Option<&'r str>,
    lease_owner: Option<&'r str>,
    lease_expires_at: Option<DateTime<Utc>>,
    attempts: i32,
    max_attempts: i32,
    scheduled_at: DateTime<Utc>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    stuck: bool,
    #[sqlx(flatten)]
    latest_event: LatestEventColumns<'r>,
}

impl PageItem for TaskJson<'_> {
    const ITEMS: &'static str = "tasks";
    const CURSOR: CursorKind = CursorKind::Tasks;
    fn sort_key(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }
}

#[cfg(test)]
impl TaskJson<'static> {
    /// A RUNNING task of kind `reply` leased by `worker-1`, without events.
    pub(crate) fn for_test(id: Uuid, persona_id: Uuid, at: DateTime<Utc>) -> Self {
        TaskJson {
            id,
            persona_id,
            kind: "reply",
            status: Vocab(TaskStatus::Running),
            reason_code: None,
            reason: None,
            lease_owner: Some("worker-1"),
            lease_expires_at: Some(at),
            attempts: 1,
            max_attempts: 3,
            scheduled_at: at,
            created_at: at,
            updated_at: at,
            stuck: false,
            latest_event: LatestEventColumns {
                event_id: None,
                event_layer: None,
                event_operation: None,
                event_reason_code: None,
                event_occurred_at: None,
            },
        }
    }
}

/// The latest event's columns of the lateral join: all null when the task
/// has no event. Serialized as [`LatestEvent`] or `null`.
#[derive(Debug, FromRow)]
struct LatestEventColumns<'r> {
    event_id: Option<Uuid>,
    event_layer: Option<Vocab<EventLayer>>,
    event_operation: Option<Vocab<Operation>>,
    event_reason_code: Option<&'r str>,
    event_occurred_at: Option<DateTime<Utc>>,
}

/// [`ai_runtime_api::EventSummary`], borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LatestEvent<'r> {
    id: Uuid,
    layer: Vocab<EventLayer>,
    operation: Vocab<Operation>,
    reason_code: &'r str,
    occurred_at: DateTime<Utc>,
}

impl Serialize for LatestEventColumns<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = match *self {
            LatestEventColumns {
                event_id: Some(id),
                event_layer: Some(layer),
                event_operation: Some(operation),
                event_reason_code: Some(reason_code),
                event_occurred_at: Some(occurred_at),
            } => Some(LatestEvent {
                id,
                layer,
                operation,
                reason_code,
                occurred_at,
            }),
            _ => None,
        };
        event.serialize(serializer)
    }
}

/// The SQL of one page (limit + 1 rows). The page is cut first and only its
/// rows look up their latest event, so the lateral lookup runs `limit + 1`
/// times whatever the filter matches. A task's events happen while it is
/// worked on: from its creation (an hour's margin for hosts whose clocks run
/// behind) and, once it is finished, to a day after its last update (the
/// finishing transition); an active task's up to tomorrow. So a finished
/// task's lookup reads only the one or two daily partitions of its life
/// (pruned at run time), not every day from the task's to today, nor the
/// empty days made ahead: an old page (a deep cursor) costs what a fresh one
/// does. The task page (`task_detail`) bounds its events the same way.
pub(crate) fn page_query(
    filter: &TaskFilter,
    thresholds: &Thresholds,
) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(
        "select t.*, e.id as event_id, e.layer as event_layer, \
         e.operation as event_operation, e.reason_code as event_reason_code, \
         e.occurred_at as event_occurred_at \
         from (select t.id, t.persona_id, t.kind, t.status, t.reason_code, t.reason, \
             t.lease_owner, t.lease_expires_at, t.attempts, t.max_attempts, t.scheduled_at, \
             t.created_at, t.updated_at, coalesce(",
    );
    Stuck::Any.push_condition(&mut q, thresholds);
    q.push(", false) as stuck from public.persona_tasks t where true");
    if let Some(id) = filter.id {
        q.push(" and t.id = ").push_bind(id);
    }
    if let Some(status) = filter.status {
        q.push(" and t.status = ").push_bind(status.as_str());
    }
    match filter.stuck {
        Some(true) => {
            q.push(" and ");
            Stuck::Any.push_condition(&mut q, thresholds);
        }
        Some(false) => {
            q.push(" and not coalesce(");
            Stuck::Any.push_condition(&mut q, thresholds);
            q.push(", false)");
        }
        None => {}
    }
    if let Some(after) = filter.after {
        q.push(" and (t.created_at, t.id) < (")
            .push_bind(after.at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    q.push(" order by t.created_at desc, t.id desc limit ")
        .push_bind(filter.limit + 1);
    q.push(
        ") t left join lateral (select id, layer, operation, reason_code, occurred_at \
             from public.ai_runtime_events where task_id = t.id \
             and occurred_at >= t.created_at - interval '1 hour' \
             and occurred_at < case when t.status in ('DONE', 'SKIPPED', 'FAILED') \
                 then least(greatest(t.updated_at, t.created_at), now()) else now() end \
                 + interval '1 day' \
             order by occurred_at desc, id desc limit 1) e on true \
         order by t.created_at desc, t.id desc",
    );
    q
}

/// One page of tasks as the response.
pub(crate) async fn page(
    pool: &PgPool,
    filter: &TaskFilter,
    thresholds: &Thresholds,
) -> Result<Response, ApiFailure> {
    let mut query = page_query(filter, thresholds);
    // Prepared once per connection: the tasks table has no skew a generic
    // plan would misjudge (unlike events::page), and planning the latest-event
    // lookup over every daily partition is most of a page's cost.
    let rows = query.build().fetch_all(pool).await?;
    let tasks = rows
        .iter()
        .map(TaskJson::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page::from_look_ahead(tasks, filter.limit)).into_response())
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventSummary, TaskSummary, TasksResponse};
    use chrono::Duration;

    use super::*;
    use crate::cursor::Cursor;

    /// A page serializes, byte for byte, as the API type the dashboard reads.
    #[test]
    fn a_page_is_the_tasks_response() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let (id, other, persona, event) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let tricky = "provider said \"no\"\n\\ é";
        let with_event = TaskJson {
            id,
            persona_id: persona,
            kind: "llm_call",
            status: Vocab(TaskStatus::Failed),
            reason_code: Some("PROVIDER_FAILED"),
            reason: Some(tricky),
            lease_owner: Some("worker-2"),
            lease_expires_at: Some(at + Duration::seconds(30)),
            attempts: 3,
            max_attempts: -1,
            scheduled_at: at - Duration::seconds(60),
            created_at: at - Duration::seconds(61),
            updated_at: at,
            stuck: true,
            latest_event: LatestEventColumns {
                event_id: Some(event),
                event_layer: Some(Vocab(EventLayer::ProviderRuntime)),
                event_operation: Some(Vocab(Operation::Call)),
                event_reason_code: Some("PROVIDER_CALL_FAILED"),
                event_occurred_at: Some(at - Duration::milliseconds(5)),
            },
        };
        let without_event = |id| TaskJson {
            id,
            persona_id: persona,
            kind: "tool_run",
            status: Vocab(TaskStatus::Pending),
            reason_code: None,
            reason: None,
            lease_owner: None,
            lease_expires_at: None,
            attempts: 0,
            max_attempts: 5,
            scheduled_at: at,
            created_at: at,
            updated_at: at,
            stuck: false,
            latest_event: LatestEventColumns {
                event_id: None,
                event_layer: None,
                event_operation: None,
                event_reason_code: None,
                event_occurred_at: None,
            },
        };
        let expected = TasksResponse {
            tasks: vec![
                TaskSummary {
                    id,
                    persona_id: persona,
                    kind: "llm_call".into(),
                    status: TaskStatus::Failed,
                    reason_code: Some("PROVIDER_FAILED".into()),
                    reason: Some(tricky.into()),
                    lease_owner: Some("worker-2".into()),
                    lease_expires_at: Some(at + Duration::seconds(30)),
                    attempts: 3,
                    max_attempts: -1,
                    scheduled_at: at - Duration::seconds(60),
                    created_at: at - Duration::seconds(61),
                    updated_at: at,
                    stuck: true,
                    latest_event: Some(EventSummary {
                        id: event,
                        layer: EventLayer::ProviderRuntime,
                        operation: Operation::Call,
                        reason_code: "PROVIDER_CALL_FAILED".into(),
                        occurred_at: at - Duration::milliseconds(5),
                    }),
                },
                TaskSummary {
                    id: other,
                    persona_id: persona,
                    kind: "tool_run".into(),
                    status: TaskStatus::Pending,
                    reason_code: None,
                    reason: None,
                    lease_owner: None,
                    lease_expires_at: None,
                    attempts: 0,
                    max_attempts: 5,
                    scheduled_at: at,
                    created_at: at,
                    updated_at: at,
                    stuck: false,
                    latest_event: None,
                },
            ],
            next_cursor: Some(Cursor { at, id: other }.encode(CursorKind::Tasks)),
        };
        let rows = vec![
            with_event,
            without_event(other),
            without_event(Uuid::new_v4()),
        ];
        let text = serde_json::to_string(&Page::from_look_ahead(rows, 2)).unwrap();
        assert_eq!(text, serde_json::to_string(&expected).unwrap());
    }
}
