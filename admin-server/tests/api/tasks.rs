//! `GET /tasks`: filters, stuck flags, the latest event per task, paging, bad parameters.

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{ago, insert_event, insert_task, Event, Task};
use crate::server;

struct Crafted {
    id: Uuid,
    status: &'static str,
    stuck: bool,
}

/// One task per interesting case, created one second apart (newest last).
async fn craft(pool: &PgPool) -> Vec<Crafted> {
    let cases: Vec<(Task, bool)> = vec![
        (
            Task {
                status: "PENDING",
                scheduled_at: ago(0),
                ..Task::default()
            },
            false,
        ),
        // Due ten minutes ago: past the five-minute threshold.
        (
            Task {
                status: "PENDING",
                scheduled_at: ago(600),
                ..Task::default()
            },
            true,
        ),
        // Due in the future.
        (
            Task {
                status: "PENDING",
                scheduled_at: ago(-600),
                ..Task::default()
            },
            false,
        ),
        (
            Task {
                status: "RUNNING",
                lease_owner: Some("worker-1".into()),
                lease_expires_at: Some(ago(-30)),
                ..Task::default()
            },
            false,
        ),
        (
            Task {
                status: "RUNNING",
                lease_owner: Some("worker-2".into()),
                lease_expires_at: Some(ago(30)),
                ..Task::default()
            },
            true,
        ),
        (
            Task {
                status: "DONE",
                scheduled_at: ago(3600),
                ..Task::default()
            },
            false,
        ),
        (
            Task {
                status: "FAILED",
                reason_code: Some("PROVIDER_EXHAUSTED"),
                ..Task::default()
            },
            false,
        ),
        (
            Task {
                status: "SKIPPED",
                reason_code: Some("SAFETY_BLOCKED"),
                ..Task::default()
            },
            false,
        ),
        (
            Task {
                status: "IN_REVIEW",
                ..Task::default()
            },
            false,
        ),
    ];
    let mut out = Vec::new();
    let n = cases.len() as i64;
    for (i, (mut task, stuck)) in cases.into_iter().enumerate() {
        task.created_at = ago(n - i as i64);
        let status = task.status;
        let id = insert_task(pool, task).await;
        out.push(Crafted { id, status, stuck });
    }
    out.reverse(); // newest first, as the API lists them
    out
}

fn ids(body: &Value) -> Vec<Uuid> {
    body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn filters_and_stuck_flags(pool: PgPool) {
    let crafted = craft(&pool).await;
    let server = server::start(pool).await;

    let all = server.ok("tasks").await;
    assert_eq!(ids(&all), crafted.iter().map(|c| c.id).collect::<Vec<_>>());
    for (task, c) in all["tasks"].as_array().unwrap().iter().zip(&crafted) {
        assert_eq!(task["stuck"], c.stuck, "{task}");
        assert_eq!(task["status"], c.status);
    }
    let failed = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "FAILED")
        .unwrap();
    assert_eq!(failed["reasonCode"], "PROVIDER_EXHAUSTED");
    assert_eq!(failed["reason"], "because PROVIDER_EXHAUSTED");
    let expired = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["leaseOwner"] == "worker-2")
        .unwrap();
    assert!(expired["leaseExpiresAt"].is_string());

    let select = |keep: &dyn Fn(&Crafted) -> bool| -> Vec<Uuid> {
        crafted.iter().filter(|c| keep(c)).map(|c| c.id).collect()
    };
    let cases: Vec<(&str, Vec<Uuid>)> = vec![
        ("status=PENDING", select(&|c| c.status == "PENDING")),
        ("status=RUNNING", select(&|c| c.status == "RUNNING")),
        ("status=IN_REVIEW", select(&|c| c.status == "IN_REVIEW")),
        ("stuck=true", select(&|c| c.stuck)),
        ("stuck=false", select(&|c| !c.stuck)),
        (
            "status=PENDING&stuck=true",
            select(&|c| c.status == "PENDING" && c.stuck),
        ),
        (
            "status=RUNNING&stuck=false",
            select(&|c| c.status == "RUNNING" && !c.stuck),
        ),
        ("status=DONE&stuck=true", vec![]),
    ];
    for (query, want) in cases {
        assert_eq!(
            ids(&server.ok(&format!("tasks?{query}")).await),
            want,
            "{query}"
        );
    }

    // Stuck tasks of both statuses, a page at a time: the pages merge the
    // stuck RUNNING and PENDING tasks in one order and the cursor carries on.
    let stuck = select(&|c| c.stuck);
    assert!(
        ["RUNNING", "PENDING"]
            .iter()
            .all(|s| crafted.iter().any(|c| c.stuck && c.status == *s)),
        "the crafted tasks hold stuck tasks of both statuses"
    );
    let pages = server.every_page("tasks?stuck=true&limit=1").await;
    assert_eq!(pages.iter().flat_map(ids).collect::<Vec<_>>(), stuck);
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn paging_and_latest_event(pool: PgPool) {
    let crafted = craft(&pool).await;
    let with_events = crafted[2].id;
    for (seconds_ago, reason) in [(50, "OLD"), (5, "NEWEST"), (20, "MIDDLE")] {
        insert_event(
            &pool,
            Event {
                layer: "execution",
                operation: "TASK",
                reason_code: reason,
                task_id: Some(with_events),
                occurred_at: ago(seconds_ago),
                ..Event::default()
            },
        )
        .await;
    }
    let server = server::start(pool).await;

    let pages = server.every_page("tasks?limit=2").await;
    let mut seen = Vec::new();
    for body in &pages {
        seen.extend(ids(body));
        for task in body["tasks"].as_array().unwrap() {
            if task["id"] == with_events.to_string() {
                assert_eq!(task["latestEvent"]["reasonCode"], "NEWEST", "{task}");
                assert_eq!(task["latestEvent"]["layer"], "execution");
            } else {
                assert!(task["latestEvent"].is_null(), "{task}");
            }
        }
    }
    assert_eq!(seen, crafted.iter().map(|c| c.id).collect::<Vec<_>>());
    server.stop().await;
}

/// A task finished days ago still shows the latest event of its life: the
/// lookup is bounded by the task's own days (created to last update), not by
/// today's.
#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn an_old_task_keeps_its_latest_event(pool: PgPool) {
    const DAYS_AGO: i64 = 3 * 86_400;
    let id = insert_task(
        &pool,
        Task {
            status: "DONE",
            created_at: ago(DAYS_AGO),
            scheduled_at: ago(DAYS_AGO),
            ..Task::default()
        },
    )
    .await;
    sqlx::query("update persona_tasks set updated_at = $2 where id = $1")
        .bind(id)
        .bind(ago(DAYS_AGO - 600))
        .execute(&pool)
        .await
        .unwrap();
    for (seconds_ago, reason) in [(DAYS_AGO - 100, "LEASED"), (DAYS_AGO - 590, "COMPLETED")] {
        insert_event(
            &pool,
            Event {
                layer: "execution",
                operation: "TASK",
                reason_code: reason,
                task_id: Some(id),
                occurred_at: ago(seconds_ago),
                ..Event::default()
            },
        )
        .await;
    }
    let server = server::start(pool).await;
    let body = server.ok("tasks?status=DONE").await;
    let task = &body["tasks"][0];
    assert_eq!(task["id"], id.to_string(), "{body}");
    assert_eq!(task["latestEvent"]["reasonCode"], "COMPLETED", "{task}");
    server.stop().await;
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn bad_parameters_are_named(pool: PgPool) {
    // A genuine cursor of the events endpoint, which this one must refuse.
    insert_event(&pool, Event::default()).await;
    insert_event(&pool, Event::default()).await;
    let server = server::start(pool).await;
    let events_cursor = server.ok("events?limit=1").await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, parameter) in [
        ("tasks?status=done", "status"),
        ("tasks?status=", "status"),
        ("tasks?stuck=yes", "stuck"),
        ("tasks?stuck=", "stuck"),
        ("tasks?limit=0", "limit"),
        ("tasks?limit=1000", "limit"),
        ("tasks?cursor=%00%01", "cursor"),
        ("status?window=0", "window"),
        ("status?window=abc", "window"),
        ("status?window=100000", "window"),
        // NUL, which no text column holds (issue 18).
        ("tasks?status=%00", "status"),
        ("tasks?stuck=true%00", "stuck"),
        ("tasks?cursor=a%00", "cursor"),
        ("status?window=%0015", "window"),
    ] {
        server.bad(query, parameter).await;
    }
    server
        .bad(&format!("tasks?cursor={events_cursor}"), "cursor")
        .await;
    server.stop().await;
}
