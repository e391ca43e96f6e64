//! Fills a scratch database with COPY: tasks (with their transitions),
//! runtime events and a few workers, at one of two scales: `base` (100k
//! tasks and 1M events over a week) or `month` (10M tasks, a runner doing 2
//! tasks/s for two months, and 20M events over the 30 days a default
//! retention keeps). The skewed data set gives one task 40% of all events.
//! Events are then put in their daily partitions by a maintenance pass.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// How much history a data set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub name: &'static str,
    pub tasks: usize,
    pub events: usize,
    pub task_days: i64,
    pub event_days: i64,
}

impl Scale {
    pub const BASE: Scale = Scale {
        name: "base",
        tasks: 100_000,
        events: 1_000_000,
        task_days: 7,
        event_days: 7,
    };
    pub const MONTH: Scale = Scale {
        name: "month",
        tasks: 10_000_000,
        events: 20_000_000,
        task_days: 58,
        event_days: 30,
    };
}

impl std::str::FromStr for Scale {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Scale> {
        match s {
            "base" => Ok(Scale::BASE),
            "month" => Ok(Scale::MONTH),
            other => anyhow::bail!("unknown scale `{other}` (base, month)"),
        }
    }
}

/// Rows sent per COPY.
const CHUNK: usize = 100_000;
pub const WORKERS: usize = 8;
/// The skewed set's hot task owns this share of the events.
pub const HOT_SHARE: f64 = 0.4;

/// What the harness needs to know about the generated data.
pub struct DataSet {
    pub hot_task: Option<Uuid>,
    pub some_task: Uuid,
}

/// A small deterministic generator (xorshift64*): data sets are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(
            ((u128::from(self.next()) << 64) | u128::from(self.next())).to_be_bytes(),
        )
        .into_uuid()
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

fn pick<'a>(rng: &mut Rng, weighted: &[(&'a str, u64)]) -> &'a str {
    let total: u64 = weighted.iter().map(|w| w.1).sum();
    let mut roll = rng.below(total);
    for (value, weight) in weighted {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    weighted[0].0
}

pub async fn generate(
    conn: &mut PgConnection,
    scale: Scale,
    skewed: bool,
) -> anyhow::Result<DataSet> {
    let mut rng = Rng::new(if skewed { 7 } else { 3 });
    let now = Utc::now();
    let task_span = Duration::days(scale.task_days).num_milliseconds() as u64;

    // ---- tasks and transitions
    let mut tasks = Vec::with_capacity(scale.tasks);
    let mut task_rows = String::new();
    let mut transition_rows = String::new();
    for i in 0..scale.tasks {
        let id = rng.uuid();
        let created_at = now - Duration::milliseconds(rng.below(task_span) as i64);
        let age = now - created_at;
        let status = if age < Duration::minutes(10) {
            pick(&mut rng, &[("PENDING", 50), ("RUNNING", 30), ("DONE", 20)])
        } else {
            // Finished, mostly; a review waits a day or two for a person;
            // a stuck PENDING or RUNNING task is rare.
            let status = pick(
                &mut rng,
                &[
                    ("DONE", 85_000),
                    ("FAILED", 6_000),
                    ("SKIPPED", 8_000),
                    ("IN_REVIEW", 980),
                    ("PENDING", 10),
                    ("RUNNING", 10),
                ],
            );
            if status == "IN_REVIEW" && age > Duration::days(2) {
                "DONE"
            } else {
                status
            }
        };
        let (lease_owner, lease_expires) = if status == "RUNNING" {
            let w = format!("worker-{}", rng.below(WORKERS as u64));
            let expiry = if age < Duration::minutes(10) {
                now + Duration::seconds(30)
            } else {
                created_at + Duration::seconds(30)
            };
            (w, ts(expiry))
        } else {
            ("\\N".into(), "\\N".into())
        };
        let (code, reason) = match status {
            "FAILED" => ("PROVIDER_EXHAUSTED", "all providers failed"),
            "SKIPPED" => ("SAFETY_BLOCKED", "blocked by the safety gate"),
            "IN_REVIEW" => ("REVIEW_REQUIRED", "needs a person"),
            _ => ("\\N", "\\N"),
        };
        let updated = created_at + Duration::seconds(3);
        let _ = writeln!(
            task_rows,
            "{id}\t{}\treply\t{{}}\t{status}\t1\t3\t{lease_owner}\t{lease_expires}\t{}\t{code}\t{reason}\tbench-{i}\t{}\t{}",
            rng.uuid(),
            ts(created_at),
            ts(created_at),
            ts(updated)
        );
        let _ = writeln!(
            transition_rows,
            "{}\t{id}\t\\N\tPENDING\tTASK_ENQUEUED\t{}",
            rng.uuid(),
            ts(created_at)
        );
        if status != "PENDING" {
            let _ = writeln!(
                transition_rows,
                "{}\t{id}\tPENDING\tRUNNING\tTASK_LEASED\t{}",
                rng.uuid(),
                ts(created_at + Duration::seconds(1))
            );
        }
        if status != "PENDING" && status != "RUNNING" {
            let _ = writeln!(
                transition_rows,
                "{}\t{id}\tRUNNING\t{status}\tTASK_FINISHED\t{}",
                rng.uuid(),
                ts(updated)
            );
        }
        tasks.push(id);
        if (i + 1) % CHUNK == 0 || i + 1 == scale.tasks {
            copy(conn, "copy public.persona_tasks (id, persona_id, kind, payload, status, attempts, max_attempts, lease_owner, lease_expires_at, scheduled_at, reason_code, reason, idempotency_key, created_at, updated_at) from stdin", std::mem::take(&mut task_rows)).await?;
            copy(conn, "copy public.task_transition_events (id, task_id, from_status, to_status, reason_code, occurred_at) from stdin", std::mem::take(&mut transition_rows)).await?;
        }
    }
    let some_task = tasks[tasks.len() / 2];
    drop(tasks);
    let hot_task = generate_events(conn, scale, skewed).await?;

    // ---- workers
    for w in 0..WORKERS {
        sqlx::query(
            "insert into public.ai_worker_status (worker_id, agent_type, status, last_heartbeat, metadata) \
             values ($1, 'phase1_reply_runner', 'RUNNING', now(), $2)",
        )
        .bind(format!("worker-{w}"))
        .bind(serde_json::json!({
            "route": {"provider": "sim", "model": format!("model-{}", w % 4)},
            "heartbeatIntervalSeconds": 10,
            "sink": {"sinkId": format!("sink-{w}"), "droppedChannelFull": 0, "droppedDatabase": 0},
        }))
        .execute(&mut *conn)
        .await?;
    }
    Ok(DataSet {
        hot_task,
        some_task,
    })
}

/// The events of the last `event_days`, generated in the database one day
/// at a time (each day's rows go to that day's partition, whose indexes stay
/// small and cached; a client-side COPY of the same rows ran at a quarter of
/// the speed here, bound by the index updates of one big table). The mix of
/// layers and reason codes is the one below; 80% of the non-heartbeat events
/// belong to a task of that day (within 3 s of its creation), the rest to
/// none. In the skewed set one task of the period owns 40% of all events.
/// Returns the hot task.
pub async fn generate_events(
    conn: &mut PgConnection,
    scale: Scale,
    skewed: bool,
) -> anyhow::Result<Option<Uuid>> {
    sqlx::raw_sql("truncate public.ai_runtime_events")
        .execute(&mut *conn)
        .await?;
    let hot: Option<Uuid> = if skewed {
        sqlx::query_scalar(
            "select id from public.persona_tasks where created_at > now() - make_interval(days => $1) \
             order by created_at limit 1 offset 1000",
        )
        .bind(scale.event_days as i32)
        .fetch_optional(&mut *conn)
        .await?
    } else {
        None
    };
    let per_day = scale.events as i64 / scale.event_days;
    let statement = format!(
        "with {}, \
         day as (select array_agg(id) as ids, array_agg(created_at) as created \
                 from public.persona_tasks where created_at >= $1 and created_at < $1 + interval '1 day'), \
         new as (select n, random() as pick, random() as r, $1 + random() * least(interval '1 day', now() - $1) as at \
                 from generate_series(1, $2) n) \
         insert into public.ai_runtime_events (layer, operation, reason_code, entity_id, task_id, worker_id, metadata, occurred_at) \
         select s.layer, s.operation, s.reason_code, \
             case when s.layer = 'worker' then 'worker-' || (n % 8) \
                  when s.layer = 'tool_runtime' then 'tool-' || (n % 12) else 'sim/model-' || (n % 4) end, \
             t.task_id, 'worker-' || (n % 8), \
             jsonb_build_object('level', case when s.reason_code like '%_OK' then 'INFO' else 'WARN' end, 'latency_ms', n % 900) \
                 || {TOKENS}, \
             least(coalesce(t.at, new.at), now()) \
         from new cross join day \
         join lateral (select * from spread where spread.upto > new.pick * spread.total order by upto limit 1) s on true \
         left join lateral (select \
                 case when $3::uuid is not null and new.r < {HOT_SHARE} then $3::uuid \
                      else day.ids[1 + (n % greatest(cardinality(day.ids), 1))] end as task_id, \
                 case when $3::uuid is not null and new.r < {HOT_SHARE} then null \
                      else day.created[1 + (n % greatest(cardinality(day.ids), 1))] + random() * interval '3 seconds' end as at \
             where ($3::uuid is not null and new.r < {HOT_SHARE}) \
                or (s.layer <> 'worker' and new.r < 0.8 and cardinality(day.ids) > 0)) t on true",
        mix_ctes()
    );
    let today = Utc::now().date_naive();
    for back in (0..scale.event_days).rev() {
        let day = today - Duration::days(back);
        let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        sqlx::query(&statement)
            .bind(start)
            .bind(per_day)
            .bind(hot)
            .execute(&mut *conn)
            .await?;
    }
    Ok(hot)
}

/// `shapes` (the mix below as SQL values) and `spread` (each shape's
/// cumulative weight, to pick one with a random number), the CTEs both
/// event generators start from.
fn mix_ctes() -> String {
    let values: Vec<String> = SHAPES
        .iter()
        .map(|(layer, op, reason, weight)| format!("('{layer}', '{op}', '{reason}', {weight})"))
        .collect();
    format!(
        "shapes(layer, operation, reason_code, weight) as (values {}), \
         spread as (select *, sum(weight) over (order by reason_code) as upto, \
                    sum(weight) over () as total from shapes)",
        values.join(", ")
    )
}

/// The token usage a provider call reports (OpenTelemetry's GenAI names, as
/// the worker writes them), as SQL over the shape `s` and the row number `n`.
const TOKENS: &str = "case when s.layer = 'provider_runtime' and s.operation = 'CALL' then \
     jsonb_build_object('gen_ai.usage.input_tokens', 200 + n % 1800, 'gen_ai.usage.output_tokens', 50 + n % 400) \
     else '{}'::jsonb end";

/// The mix of events: layer, operation, reason code, weight.
const SHAPES: &[(&str, &str, &str, u64)] = &[
    ("provider_runtime", "CALL", "PROVIDER_CALL_OK", 300),
    ("provider_runtime", "CALL", "PROVIDER_TIMEOUT", 20),
    ("provider_runtime", "RETRY", "PROVIDER_RETRY_SCHEDULED", 20),
    ("provider_runtime", "FALLBACK", "PROVIDER_FALLBACK_USED", 10),
    ("provider_runtime", "BREAKER", "PROVIDER_CIRCUIT_OPENED", 1),
    ("worker", "HEARTBEAT", "HEARTBEAT_OK", 250),
    ("execution", "TASK", "TASK_DONE", 120),
    ("execution", "TASK", "TASK_FAILED", 10),
    ("tool_runtime", "TOOL_CALL", "TOOL_CALL_OK", 100),
    ("tool_runtime", "TOOL_LOOP", "TOOL_LOOP_LIMIT", 2),
    ("model_adapter", "CALL", "ADAPTER_PARSE_OK", 100),
    ("dispatcher", "TASK", "TASK_LEASED", 67),
];

async fn copy(conn: &mut PgConnection, statement: &str, rows: String) -> anyhow::Result<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Brings a reused data set up to now: the tasks (with their transitions)
/// and events of the time since its newest task, at the data set's rates, so
/// that "the last 15 minutes" holds what a live runtime would have there
/// (at most the last six hours are filled). Returns the tasks added.
pub async fn top_up(conn: &mut PgConnection, scale: Scale) -> anyhow::Result<i64> {
    let tasks_per_second = scale.tasks as f64 / (scale.task_days as f64 * 86_400.0);
    let events_per_second = scale.events as f64 / (scale.event_days as f64 * 86_400.0);
    let gap: f64 = sqlx::query_scalar(
        "select least(extract(epoch from now() - max(created_at)), 6 * 3600)::float8 \
         from public.persona_tasks",
    )
    .fetch_one(&mut *conn)
    .await?;
    let tasks = (gap * tasks_per_second) as i64;
    let events = (gap * events_per_second) as i64;
    if tasks < 1 {
        return Ok(0);
    }
    // Each task: created at a random instant of the gap; in the last ten
    // minutes still PENDING or RUNNING now and then, otherwise finished like
    // the rest; transitions PENDING, RUNNING (+1 s), final (+3 s).
    sqlx::query(
        "with new as ( \
             select gen_random_uuid() as id, now() - random() * make_interval(secs => $1) as created_at, random() as r \
             from generate_series(1, $2)), \
         placed as ( \
             select id, created_at, case \
                 when created_at > now() - interval '10 minutes' and r < 0.5 then 'PENDING' \
                 when created_at > now() - interval '10 minutes' and r < 0.8 then 'RUNNING' \
                 when r < 0.85 then 'DONE' when r < 0.91 then 'FAILED' when r < 0.99 then 'SKIPPED' \
                 else 'IN_REVIEW' end as status \
             from new), \
         tasks as ( \
             insert into public.persona_tasks (id, persona_id, kind, status, attempts, lease_owner, lease_expires_at, \
                 scheduled_at, idempotency_key, created_at, updated_at) \
             select id, gen_random_uuid(), 'reply', status, 1, \
                 case when status = 'RUNNING' then 'worker-' || (random() * 7)::int end, \
                 case when status = 'RUNNING' then now() + interval '30 seconds' end, \
                 created_at, 'top-up-' || id, created_at, created_at + interval '3 seconds' \
             from placed returning id, status, created_at) \
         insert into public.task_transition_events (task_id, from_status, to_status, reason_code, occurred_at) \
         select id, null, 'PENDING', 'TASK_ENQUEUED', created_at from tasks \
         union all select id, 'PENDING', 'RUNNING', 'TASK_LEASED', created_at + interval '1 second' \
             from tasks where status <> 'PENDING' \
         union all select id, 'RUNNING', status, 'TASK_FINISHED', created_at + interval '3 seconds' \
             from tasks where status not in ('PENDING', 'RUNNING')",
    )
    .bind(gap)
    .bind(tasks)
    .execute(&mut *conn)
    .await?;
    // Events of the gap, in the generator's mix (heartbeats without a task).
    let statement = format!(
        "with {}, \
         recent as (select array_agg(id) as ids from public.persona_tasks where created_at > now() - make_interval(secs => $1)), \
         new as (select random() as pick, now() - random() * make_interval(secs => $1) as at, n from generate_series(1, $2) n) \
         insert into public.ai_runtime_events (layer, operation, reason_code, entity_id, task_id, worker_id, metadata, occurred_at) \
         select s.layer, s.operation, s.reason_code, \
             case when s.layer = 'worker' then 'worker-' || (n % 8) else 'sim/model-' || (n % 4) end, \
             case when s.layer = 'worker' then null else r.ids[1 + (n % greatest(cardinality(r.ids), 1))] end, \
             'worker-' || (n % 8), jsonb_build_object('latency_ms', n % 900) || {TOKENS}, at \
         from new cross join recent r \
         join lateral (select * from spread where spread.upto > new.pick * spread.total order by upto limit 1) s on true",
        mix_ctes()
    );
    sqlx::query(&statement)
        .bind(gap)
        .bind(events)
        .execute(&mut *conn)
        .await?;
    sqlx::raw_sql(
        "analyze public.persona_tasks, public.task_transition_events, public.ai_runtime_events",
    )
    .execute(&mut *conn)
    .await?;
    Ok(tasks)
}
