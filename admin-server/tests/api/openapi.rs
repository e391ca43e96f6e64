//! Responses checked against the OpenAPI document the server serves, with a
//! small JSON-schema checker (the subset utoipa emits: `$ref`, `type`,
//! `oneOf`/`allOf`, `enum`, `format`, `properties`, `required`, `items`).
//! Undeclared properties count as errors, so the document cannot drift.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::fixtures::{insert_event, insert_task, upsert_worker, Event, Task, Worker};
use crate::server;

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "dangling $ref {reference}");
        return check(doc, target, value, at, errors);
    }
    if let Some(branches) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let fits = branches.iter().any(|b| {
            let mut e = Vec::new();
            check(doc, b, value, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits no branch of {schema}"));
        }
        return;
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            check(doc, part, value, at, errors);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            errors.push(format!("{at}: {actual} is not {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    if let (Some(format), Some(text)) = (schema["format"].as_str(), value.as_str()) {
        let ok = match format {
            "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "uuid" => uuid::Uuid::parse_str(text).is_ok(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: `{text}` is not a {format}"));
        }
    }
    if let Value::Object(fields) = value {
        for required in schema["required"].as_array().into_iter().flatten() {
            if !fields.contains_key(required.as_str().unwrap()) {
                errors.push(format!("{at}: missing required `{required}`"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (key, field) in fields {
                match properties.get(key) {
                    Some(s) => check(doc, s, field, &format!("{at}.{key}"), errors),
                    None => errors.push(format!("{at}: undeclared property `{key}`")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(doc, item_schema, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn response_schema<'a>(doc: &'a Value, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path]["get"]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(!schema.is_null(), "no schema for {path} {status}");
    schema
}

fn assert_fits(doc: &Value, path: &str, status: u16, body: &Value) {
    let mut errors = Vec::new();
    check(
        doc,
        response_schema(doc, path, status),
        body,
        "$",
        &mut errors,
    );
    assert!(errors.is_empty(), "{path} {status}:\n{}", errors.join("\n"));
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn responses_match_the_openapi_document(pool: PgPool) {
    upsert_worker(&pool, Worker::default()).await;
    upsert_worker(&pool, Worker {
        worker_id: "w-open",
        circuit_open: true,
        circuit_reason: Some("PROVIDER_OUTAGE"),
        metadata: json!({"sink": {"sinkId": "s", "droppedChannelFull": 1, "droppedDatabase": 0}}),
        ..Worker::default()
    })
    .await;
    let task = insert_task(
        &pool,
        Task {
            status: "FAILED",
            reason_code: Some("X"),
            ..Task::default()
        },
    )
    .await;
    insert_task(&pool, Task::default()).await;
    insert_event(
        &pool,
        Event {
            task_id: Some(task),
            metadata: json!({"latency_ms": 3}),
            ..Event::default()
        },
    )
    .await;
    insert_event(
        &pool,
        Event {
            worker_id: None,
            ..Event::default()
        },
    )
    .await;
    let pool_for_rows = pool.clone();
    let server = server::start(pool).await;
    let doc = server.ok("openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let base = "/api/admin/ai/runtime";
    for (endpoint, query) in [
        ("status", ""),
        ("events", "?limit=1"),
        ("tasks", "?limit=1"),
    ] {
        let path = format!("{base}/{endpoint}");
        let body = server.ok(&format!("{endpoint}{query}")).await;
        assert_fits(&doc, &path, 200, &body);
        let (status, error) = server.api(&format!("{endpoint}?limit=0&window=0")).await;
        assert_eq!(status, 400);
        assert_fits(&doc, &path, 400, &error);
        let (status, error) = server.api_as(endpoint, None).await;
        assert_eq!(status, 401);
        assert_fits(&doc, &path, 401, &error);
    }
    // A task's story: with a transition and an event, unknown, malformed.
    sqlx::query(
        "insert into task_transition_events (task_id, from_status, to_status, reason_code, worker_id) \
         values ($1, null, 'PENDING', 'ENQUEUED', null), ($1, 'PENDING', 'FAILED', 'X', 'w-open')",
    )
    .bind(task)
    .execute(&pool_for_rows)
    .await
    .unwrap();
    let path = format!("{base}/tasks/{{id}}");
    let story = server.ok(&format!("tasks/{task}")).await;
    assert_eq!(story["transitions"].as_array().unwrap().len(), 2);
    assert_eq!(story["events"].as_array().unwrap().len(), 1);
    assert_fits(&doc, &path, 200, &story);
    for (raw, status) in [
        (uuid::Uuid::new_v4().to_string(), 404),
        ("x".to_owned(), 400),
    ] {
        let (got, error) = server.api(&format!("tasks/{raw}")).await;
        assert_eq!(got, status);
        assert_fits(&doc, &path, status, &error);
    }
    let (status, error) = server.api_as(&format!("tasks/{task}"), None).await;
    assert_eq!(status, 401);
    assert_fits(&doc, &path, 401, &error);
    let id_parameter = &doc["paths"][&path]["get"]["parameters"][0];
    assert_eq!(id_parameter["in"], "path");
    assert_eq!(id_parameter["name"], "id");

    let trends_path = format!("{base}/trends");
    let trends = server.ok("trends").await;
    assert!(!trends["routes"].as_array().unwrap().is_empty());
    assert_fits(&doc, &trends_path, 200, &trends);
    let (status, error) = server.api("trends?bucket=1s").await;
    assert_eq!(status, 400);
    assert_fits(&doc, &trends_path, 400, &error);
    // The pages above were not empty, so nested shapes were checked too.
    let tasks = server.ok("tasks").await;
    assert!(tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["latestEvent"].is_object()));

    let params = |endpoint: &str| -> BTreeSet<String> {
        doc["paths"][format!("{base}/{endpoint}")]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["in"], "query");
                p["name"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        params("events"),
        names(&[
            "layer",
            "operation",
            "reasonCode",
            "entityId",
            "taskId",
            "workerId",
            "from",
            "to",
            "limit",
            "cursor"
        ])
    );
    assert_eq!(
        params("tasks"),
        names(&["status", "stuck", "limit", "cursor"])
    );
    assert_eq!(params("status"), names(&["window"]));
    assert_eq!(params("trends"), names(&["from", "to", "bucket"]));
    // The NUL rule is stated on every parameter of every endpoint.
    for item in doc["paths"].as_object().unwrap().values() {
        for parameter in item["get"]["parameters"].as_array().into_iter().flatten() {
            let description = parameter["description"].as_str().unwrap_or_default();
            assert!(
                description.contains("NUL (U+0000"),
                "{}: {description}",
                parameter["name"]
            );
        }
    }
    server.stop().await;
}
