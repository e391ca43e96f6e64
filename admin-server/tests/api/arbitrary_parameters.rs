//! Arbitrary values for every query parameter of every endpoint: each
//! answer is 200 or 400 (404 where the path names an id), never a 5xx, and
//! a 400 names a parameter the request had.
//!
//! The endpoints and their parameters come from the server's own OpenAPI
//! document, so a parameter or an endpoint added later is covered without
//! touching this test. Values: valid ones from each parameter's schema,
//! arbitrary bytes (control characters, NUL, invalid UTF-8, all
//! percent-encoded), valid values with a NUL inside, very long values, and
//! several parameters at once, repeats included.

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::fixtures::{insert_event, insert_task, upsert_worker, Event, Task, Worker};
use crate::server;

/// Requests per run: a few seconds on two cores.
const CASES: u32 = 300;
const API_PREFIX: &str = "/api/admin/ai/runtime/";

/// One request: its path (relative to the API), whether the path names an
/// id, and its parameters with their raw bytes.
#[derive(Debug, Clone)]
struct Case {
    path: String,
    names_an_id: bool,
    params: Vec<(String, Vec<u8>)>,
}

impl Case {
    fn path_and_query(&self) -> String {
        let query: Vec<String> = self
            .params
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name.as_bytes()), encode(value)))
            .collect();
        format!("{}?{}", self.path, query.join("&"))
    }
}

/// Percent-encodes every byte but the unreserved ones, so the bytes reach
/// the server exactly as generated.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Values the schema accepts, and a few just outside it.
fn schema_values(doc: &Value, schema: &Value, out: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return schema_values(doc, &doc["components"]["schemas"][name], out);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for branch in schema[key].as_array().into_iter().flatten() {
            schema_values(doc, branch, out);
        }
    }
    for value in schema["enum"].as_array().into_iter().flatten() {
        if let Some(text) = value.as_str() {
            out.push(text.to_owned());
            out.push(text.to_lowercase());
        }
    }
    match schema["format"].as_str() {
        Some("uuid") => out.extend([
            uuid::Uuid::new_v4().to_string(),
            "00000000-0000-0000-0000-000000000000".into(),
        ]),
        Some("date-time") => out.extend(
            [
                "2026-11-25T08:00:00Z",
                "0000-01-01T00:00:00+23:59",
                "9999-12-31T23:59:59.999999-23:59",
                "2026-11-25T08:00:00 01:00",
            ]
            .map(str::to_owned),
        ),
        _ => {}
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"integer") {
        let min = schema["minimum"].as_i64().unwrap_or(0);
        let max = schema["maximum"].as_i64().unwrap_or(i64::MAX - 1);
        for n in [min, max, min - 1, max + 1, -1, i64::MAX, i64::MIN] {
            out.push(n.to_string());
        }
    }
    if types.contains(&"boolean") {
        out.extend(["true", "false", "TRUE"].map(str::to_owned));
    }
}

/// Arbitrary values of one parameter.
fn values(valid: Vec<String>) -> BoxedStrategy<Vec<u8>> {
    let valid = if valid.is_empty() {
        vec!["x".to_owned()]
    } else {
        valid
    };
    let with_nul = (
        prop::sample::select(valid.clone()),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(value, at)| {
            let mut bytes = value.into_bytes();
            bytes.insert(at.index(bytes.len() + 1), 0);
            bytes
        });
    let controls = prop::collection::vec(0u8..0x20, 1..8);
    prop_oneof![
        3 => prop::sample::select(valid).prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..40),
        2 => with_nul,
        1 => controls,
        // Unreserved, so not tripled by encoding: ten of them stay well
        // within a request line's limits.
        1 => (600usize..3000).prop_map(|n| b"a".repeat(n)),
    ]
    .boxed()
}

/// Every request the document describes, with arbitrary parameters.
fn requests(doc: &Value) -> BoxedStrategy<Case> {
    let mut endpoints = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(operation) = item.get("get") else {
            continue;
        };
        let path = path.strip_prefix(API_PREFIX).expect("under the API base");
        let names_an_id = path.contains('{');
        // Path parameters get a random id (an unknown one: 404 is fine).
        let path_strategy = (prop::collection::vec(any::<u128>(), 4)).prop_map({
            let path = path.to_owned();
            move |ids| {
                let mut ids = ids.into_iter();
                path.split('/')
                    .map(|segment| match segment.starts_with('{') {
                        true => uuid::Uuid::from_u128(ids.next().unwrap_or(0)).to_string(),
                        false => segment.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            }
        });
        let mut per_parameter: Vec<BoxedStrategy<(String, Vec<u8>)>> = Vec::new();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "query" {
                continue;
            }
            let name = parameter["name"].as_str().expect("a name").to_owned();
            let mut valid = Vec::new();
            schema_values(doc, &parameter["schema"], &mut valid);
            per_parameter.push(values(valid).prop_map(move |v| (name.clone(), v)).boxed());
        }
        // A parameter no endpoint knows is ignored.
        per_parameter.push(
            values(vec![])
                .prop_map(|v| ("unknownParameter".to_owned(), v))
                .boxed(),
        );
        let params = prop::collection::vec(Union::new(per_parameter), 0..6);
        endpoints.push(
            (path_strategy, params)
                .prop_map(move |(path, params)| Case {
                    path,
                    names_an_id,
                    params,
                })
                .boxed(),
        );
    }
    assert!(endpoints.len() >= 3, "the document lists the endpoints");
    Union::new(endpoints).boxed()
}

async fn check(client: &reqwest::Client, base: &str, case: Case) -> Result<(), TestCaseError> {
    let path_and_query = case.path_and_query();
    let response = client
        .get(format!("{base}{API_PREFIX}{path_and_query}"))
        .header("Authorization", format!("Bearer {}", server::TOKEN))
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("{path_and_query}: {e}")))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let allowed = status == StatusCode::OK
        || status == StatusCode::BAD_REQUEST
        || (status == StatusCode::NOT_FOUND && case.names_an_id);
    prop_assert!(allowed, "{path_and_query}: {status} {body}");
    if status == StatusCode::BAD_REQUEST {
        let named = body["parameter"].as_str().unwrap_or_default();
        prop_assert!(
            case.params.iter().any(|(name, _)| name == named),
            "{path_and_query}: the 400 names no parameter of the request: {body}"
        );
    }
    Ok(())
}

#[sqlx::test(migrator = "ai_runtime_migrations::MIGRATOR")]
async fn every_parameter_answers_200_or_a_named_400(pool: PgPool) {
    // Rows on every page, so the 200s go through decoding and JSON too.
    let task = insert_task(&pool, Task::default()).await;
    insert_event(
        &pool,
        Event {
            task_id: Some(task),
            entity_id: "entity \u{1} é".into(),
            metadata: json!({"note": "\u{7f}"}),
            ..Event::default()
        },
    )
    .await;
    upsert_worker(&pool, Worker::default()).await;
    let server = server::start(pool).await;
    let doc = server.ok("openapi.json").await;
    let base = server.base.clone();
    // The runner is synchronous: it runs on a blocking thread with a runtime
    // of its own, while this test's runtime keeps serving.
    let result = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = reqwest::Client::new();
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        runner.run(&requests(&doc), |case| {
            runtime.block_on(check(&client, &base, case))
        })
    })
    .await
    .unwrap();
    server.stop().await;
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
