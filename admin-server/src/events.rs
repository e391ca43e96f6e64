//! `GET /events`: runtime events, newest first, keyset-paginated on
//! `(occurred_at desc, id desc)`.

use std::collections::BTreeSet;

use ai_runtime_api::{EventLayer, Operation};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::cursor::CursorKind;
use crate::db::Vocab;
use crate::error::ApiFailure;
use crate::page::{Page, PageItem};
use crate::params::{EventFilter, EventsQuery};

/// One event, borrowed from its row, serialized as
/// [`ai_runtime_api::RuntimeEvent`] (a test checks) without an owned copy of
/// each text column, and with `metadata` passed through as the database's
/// JSON text rather than parsed into a tree and printed again.
#[derive(Debug, FromRow, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventJson<'r> {
    pub(crate) id: Uuid,
    pub(crate) layer: Vocab<EventLayer>,
    pub(crate) operation: Vocab<Operation>,
    pub(crate) reason_code: &'r str,
    pub(crate) entity_id: &'r str,
    pub(crate) task_id: Option<Uuid>,
    pub(crate) persona_id: Option<Uuid>,
    pub(crate) worker_id: Option<&'r str>,
    pub(crate) metadata: &'r RawValue,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) created_at: DateTime<Utc>,
}

impl PageItem for EventJson<'_> {
    const ITEMS: &'static str = "events";
    const CURSOR: CursorKind = CursorKind::Events;
    fn sort_key(&self) -> (DateTime<Utc>, Uuid) {
        (self.occurred_at, self.id)
    }
}

pub(crate) const SELECT: &str = "select id, layer, operation, reason_code, entity_id, task_id, \
     persona_id, worker_id, metadata, occurred_at, created_at from public.ai_runtime_events where true";

/// The SQL of one page (limit + 1 rows, to know whether another page follows).
/// `from`, `to` and the cursor bound `occurred_at`, so Postgres reads only
/// the daily partitions of that range.
fn page_query(filter: &EventFilter) -> QueryBuilder<'static, Postgres> {
    filtered(QueryBuilder::new(SELECT), filter)
}

/// `q` (a `select ... where true`) narrowed to `filter`'s page.
fn filtered(
    mut q: QueryBuilder<'static, Postgres>,
    filter: &EventFilter,
) -> QueryBuilder<'static, Postgres> {
    if let Some(layer) = filter.layer {
        q.push(" and layer = ").push_bind(layer.as_str());
    }
    if let Some(operation) = filter.operation {
        q.push(" and operation = ").push_bind(operation.as_str());
    }
    if let Some(code) = &filter.reason_code {
        q.push(" and reason_code = ").push_bind(code.clone());
    }
    if let Some(entity) = &filter.entity_id {
        q.push(" and entity_id = ").push_bind(entity.clone());
    }
    if let Some(task) = filter.task_id {
        q.push(" and task_id = ").push_bind(task);
    }
    if let Some(worker) = &filter.worker_id {
        q.push(" and worker_id = ").push_bind(worker.clone());
    }
    if let Some(from) = filter.from {
        q.push(" and occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" and occurred_at <= ").push_bind(to);
    }
    if let Some(after) = filter.after {
        // Row comparison: lets every `(…, occurred_at desc)` index seek to
        // the cursor. Postgres does not prune partitions on a row
        // comparison; the plain bound beside it (implied by it) does.
        q.push(" and occurred_at <= ")
            .push_bind(after.at)
            .push(" and (occurred_at, id) < (")
            .push_bind(after.at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    q.push(" order by occurred_at desc, id desc limit ")
        .push_bind(filter.limit + 1);
    q
}

/// How far back a page without a lower bound looks first (see [`first_try`]).
const FIRST_TRY: chrono::Duration = chrono::Duration::days(1);

/// A page without a lower bound (`from`) would be planned over every daily
/// partition the retention keeps; most such pages are filled by the newest
/// day alone. So it is first asked for the day before its upper bound (the
/// cursor, `to` or now): when that fills the page (limit + 1 rows), those
/// are the page, since every row outside the day is older than every row in
/// it. Otherwise the page is asked for again without the bound. With a
/// month of daily partitions, planning is most of a page's cost (README,
/// "A month of history").
fn first_try(filter: &EventFilter) -> Option<EventFilter> {
    if filter.from.is_some() {
        return None;
    }
    let upper = [filter.to, filter.after.map(|a| a.at)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(Utc::now);
    Some(EventFilter {
        from: Some(upper - FIRST_TRY),
        ..filter.clone()
    })
}

/// The rows of `filter`'s page: one statement, or two when the
/// [`first_try`] does not fill it.
async fn page_rows(pool: &PgPool, filter: &EventFilter) -> Result<Vec<PgRow>, sqlx::Error> {
    if one_task(filter) {
        // A task's events are few, so the first try would rarely fill the
        // page; its prepared statement is the cheap way to all of them.
        return page_query(filter).build().fetch_all(pool).await;
    }
    if let Some(narrow) = first_try(filter) {
        let rows = fetch_rows(pool, &narrow).await?;
        if rows.len() as i64 > filter.limit {
            return Ok(rows);
        }
    }
    fetch_rows(pool, filter).await
}

/// Whether the page asks for one task's events and filters on nothing else
/// but time. Its statement is prepared once per connection: whatever the
/// task, the `(task_id, occurred_at desc)` index of each day gives its events
/// in order, so the generic plan Postgres settles on after five executions
/// is the right one, and it skips planning over every daily partition
/// (0.3 ms against 2–3 ms per page in `psql` with a month of partitions).
fn one_task(filter: &EventFilter) -> bool {
    let EventFilter {
        layer,
        operation,
        reason_code,
        entity_id,
        task_id,
        worker_id,
        from: _,
        to: _,
        limit: _,
        after: _,
    } = filter;
    task_id.is_some()
        && layer.is_none()
        && operation.is_none()
        && reason_code.is_none()
        && entity_id.is_none()
        && worker_id.is_none()
}

async fn fetch_rows(pool: &PgPool, filter: &EventFilter) -> Result<Vec<PgRow>, sqlx::Error> {
    // Not persistent: an unnamed statement is planned with the actual
    // parameters every time. A cached generic plan cannot tell a task that
    // owns half the table from one with three events when another filter
    // is beside it (`taskId` + `reasonCode`), and picks one index for both.
    page_query(filter)
        .build()
        .persistent(false)
        .fetch_all(pool)
        .await
}

/// One page of events as the response.
pub(crate) async fn page(pool: &PgPool, filter: &EventFilter) -> Result<Response, ApiFailure> {
    let rows = page_rows(pool, filter).await?;
    let events = rows
        .iter()
        .map(EventJson::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page::from_look_ahead(events, filter.limit)).into_response())
}

/// The tables (daily partitions of `ai_runtime_events`) Postgres plans to
/// read for the `/events` page that `query` (a query string, as the API
/// takes it) asks for: what the admin API benchmark prints beside each shape,
/// and what to look at when a filter is slow.
pub async fn planned_partitions(
    pool: &PgPool,
    query: &str,
) -> Result<BTreeSet<String>, ApiFailure> {
    let filter = EventFilter::try_from(crate::params::parse::<EventsQuery>(query)?)?;
    // The statement that makes the page: the first try's when it fills it.
    if let Some(narrow) = first_try(&filter).filter(|_| !one_task(&filter)) {
        if fetch_rows(pool, &narrow).await?.len() as i64 > filter.limit {
            return Ok(tables_read(pool, &narrow).await?);
        }
    }
    Ok(tables_read(pool, &filter).await?)
}

/// The tables a page's plan reads (Postgres prunes the partitions outside
/// the range while planning, with the values bound).
async fn tables_read(pool: &PgPool, filter: &EventFilter) -> Result<BTreeSet<String>, sqlx::Error> {
    let explain = QueryBuilder::new(format!("explain (format json) {SELECT}"));
    let plan: Value = filtered(explain, filter)
        .build_query_scalar()
        .persistent(false)
        .fetch_one(pool)
        .await?;
    let mut tables = BTreeSet::new();
    relations(&plan[0]["Plan"], &mut tables);
    Ok(tables)
}

/// Adds the tables a JSON plan `node` and its children read to `out`.
pub(crate) fn relations(node: &Value, out: &mut BTreeSet<String>) {
    if let Some(name) = node.get("Relation Name").and_then(Value::as_str) {
        out.insert(name.to_owned());
    }
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        relations(child, out);
    }
}

#[cfg(test)]
mod tests {
    use ai_runtime_api::{EventsResponse, RuntimeEvent};
    use chrono::Duration;
    use serde_json::json;

    use sqlx::postgres::PgPoolOptions;
    use sqlx::Executor;

    use super::*;
    use crate::partition_fixtures::{partitions_of, ten_days_of_partitions};

    /// The ids of every page of `filter`, walked with the cursor as a
    /// client does.
    async fn every_page(pool: &PgPool, mut filter: EventFilter) -> Vec<Uuid> {
        let mut seen = Vec::new();
        loop {
            let rows = page_rows(pool, &filter).await.unwrap();
            let mut events: Vec<EventJson> = rows
                .iter()
                .map(|r| EventJson::from_row(r).unwrap())
                .collect();
            let more = events.len() as i64 > filter.limit;
            events.truncate(filter.limit as usize);
            seen.extend(events.iter().map(|e| e.id));
            let Some(last) = events.last().filter(|_| more) else {
                return seen;
            };
            filter.after = Some(crate::cursor::Cursor {
                at: last.occurred_at,
                id: last.id,
            });
        }
    }

    /// Pages without a lower bound, walked with the cursor over events
    /// spread across days: the same rows in the same order as one query over
    /// the whole table, whether the newest day fills a page (the first try)
    /// or not (the page crossing into older days).
    #[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
    async fn pages_without_a_lower_bound_cross_the_days(pool: PgPool) {
        ten_days_of_partitions(&pool, 2).await;
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, occurred_at)
             select 'execution', 'TASK', 'TASK_OK', 'e', now() - make_interval(hours => h)
             from unnest(array[1, 2, 3, 4, 50, 51, 120]) h",
        )
        .execute(&pool)
        .await
        .unwrap();
        let all: Vec<Uuid> = sqlx::query_scalar(
            "select id from ai_runtime_events order by occurred_at desc, id desc",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for limit in [1, 2, 3, 5, 50] {
            let filter = EventFilter {
                limit,
                ..EventFilter::default()
            };
            assert_eq!(every_page(&pool, filter).await, all, "limit {limit}");
        }

        // Only the newest day is planned when it fills the page.
        let today = Utc::now().date_naive();
        let newest = EventFilter {
            limit: 2,
            ..EventFilter::default()
        };
        let narrow = first_try(&newest).unwrap();
        assert!(page_rows(&pool, &narrow).await.unwrap().len() > 2);
        let read = tables_read(&pool, &narrow).await.unwrap();
        assert!(
            read.is_disjoint(&partitions_of(&[today - Duration::days(2)])),
            "{read:?}"
        );
    }

    /// One task's events come through its prepared statement; on the
    /// generic plan Postgres settles on for it (forced here, where it would
    /// otherwise switch after five executions), the pages hold the same
    /// rows, over days and with the cursor.
    #[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
    async fn one_tasks_pages_stay_the_same_on_a_generic_plan(pool: PgPool) {
        ten_days_of_partitions(&pool, 2).await;
        let (task, other) = (Uuid::new_v4(), Uuid::new_v4());
        sqlx::query(
            "insert into ai_runtime_events (layer, operation, reason_code, entity_id, task_id, occurred_at)
             select 'execution', 'TASK', 'TASK_OK', 'e', case when h % 2 = 0 then $1 else $2 end,
                    now() - make_interval(hours => h)
             from generate_series(1, 30) h",
        )
        .bind(task)
        .bind(other)
        .execute(&pool)
        .await
        .unwrap();
        let want: Vec<Uuid> = sqlx::query_scalar(
            "select id from ai_runtime_events where task_id = $1 order by occurred_at desc, id desc",
        )
        .bind(task)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(want.len(), 15);
        let generic = PgPoolOptions::new()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("set plan_cache_mode = force_generic_plan")
                        .await
                        .map(drop)
                })
            })
            .connect_with(pool.connect_options().as_ref().clone())
            .await
            .unwrap();
        let filter = EventFilter {
            task_id: Some(task),
            limit: 4,
            ..EventFilter::default()
        };
        assert!(one_task(&filter));
        assert_eq!(every_page(&generic, filter.clone()).await, want);
        assert_eq!(every_page(&pool, filter).await, want);
    }

    /// A page over a time range reads only the days of that range.
    #[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
    async fn a_time_range_reads_only_its_days(pool: PgPool) {
        ten_days_of_partitions(&pool, 2).await;
        let now = Utc::now();
        let today = now.date_naive();
        let day = |n: i64| today - Duration::days(n);
        let page = EventFilter {
            limit: 50,
            ..EventFilter::default()
        };

        // The last hour, as the dashboard asks: today and the days ahead
        // (empty), never the past.
        let last_hour = EventFilter {
            from: Some(now - Duration::hours(1)),
            ..page.clone()
        };
        let read = tables_read(&pool, &last_hour).await.unwrap();
        let past = partitions_of(&[day(1), day(2), day(9)]);
        assert!(
            read.contains(&partitions_of(&[today]).pop_first().unwrap()),
            "{read:?}"
        );
        assert!(read.is_disjoint(&past), "{read:?}");

        // A closed range three to five days back: exactly those days.
        let closed = EventFilter {
            from: Some((day(5)).and_hms_opt(0, 0, 0).unwrap().and_utc()),
            to: Some((day(3)).and_hms_opt(23, 0, 0).unwrap().and_utc()),
            ..page.clone()
        };
        assert_eq!(
            tables_read(&pool, &closed).await.unwrap(),
            partitions_of(&[day(5), day(4), day(3)])
        );

        // A cursor's bound prunes too: older than two days ago, since a week.
        let deep = EventFilter {
            from: Some(now - Duration::days(7)),
            after: Some(crate::cursor::Cursor {
                at: now - Duration::days(2),
                id: Uuid::nil(),
            }),
            ..page.clone()
        };
        let read = tables_read(&pool, &deep).await.unwrap();
        assert!(
            read.is_disjoint(&partitions_of(&[today, day(1), day(8), day(9)])),
            "{read:?}"
        );
        assert!(
            read.is_superset(&partitions_of(&[day(2), day(3), day(7)])),
            "{read:?}"
        );
    }

    /// A page serializes, byte for byte, as the API type the dashboard
    /// reads (and the OpenAPI document describes).
    #[test]
    fn a_page_is_the_events_response() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        // Compact, with sorted keys: how serde_json prints a `Value`.
        let metadata_text = r#"{"level":"INFO","nested":{"list":[1,2.5,null,"x\"y"]}}"#;
        let metadata: Box<RawValue> = RawValue::from_string(metadata_text.into()).unwrap();
        let (id, task, persona) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let tricky = "quote \" backslash \\ newline \n tab \t é \u{1}";
        let borrowed = |id| EventJson {
            id,
            layer: Vocab(EventLayer::ToolRuntime),
            operation: Vocab(Operation::Retry),
            reason_code: "TOOL_RETRY",
            entity_id: tricky,
            task_id: Some(task),
            persona_id: Some(persona),
            worker_id: Some(tricky),
            metadata: &metadata,
            occurred_at: at,
            created_at: at + chrono::Duration::milliseconds(5),
        };
        let owned = RuntimeEvent {
            id,
            layer: EventLayer::ToolRuntime,
            operation: Operation::Retry,
            reason_code: "TOOL_RETRY".into(),
            entity_id: tricky.into(),
            task_id: Some(task),
            persona_id: Some(persona),
            worker_id: Some(tricky.into()),
            metadata: json!({"level": "INFO", "nested": {"list": [1, 2.5, null, "x\"y"]}}),
            occurred_at: at,
            created_at: at + chrono::Duration::milliseconds(5),
        };
        let look_ahead = borrowed(Uuid::new_v4());
        let page = Page::from_look_ahead(vec![borrowed(id), look_ahead], 1);
        let expected = EventsResponse {
            events: vec![owned],
            next_cursor: Some(crate::cursor::Cursor { at, id }.encode(CursorKind::Events)),
        };
        let text = serde_json::to_string(&page).unwrap();
        assert_eq!(text, serde_json::to_string(&expected).unwrap());
        assert_eq!(
            serde_json::from_str::<EventsResponse>(&text).unwrap(),
            expected
        );
    }
}
