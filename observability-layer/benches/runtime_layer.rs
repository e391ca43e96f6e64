//! Benchmark harness: every figure is printed next to a baseline measured
//! in the same run. Needs PostgreSQL at DATABASE_URL (a scratch database is
//! created and dropped).
//!
//!     cargo bench -p observability-layer --bench runtime_layer
//!
//! Sections: emitting-thread cost (1 and 2 threads) against a bare registry
//! and against tracing-appender non_blocking + fmt JSON; the cost of an
//! ordinary event; a captured GenAI span (rig's shape) and an ordinary span
//! against the realistic event, each above the bare registry (`-- genai`:
//! only that section); ingest from emit to committed rows against COPY;
//! peak RSS while the database is unreachable. `-- otlp` (with `--features otlp`):
//! the emitting thread with two exporters (Postgres and OTLP) against one,
//! and the OTLP exporter's rate into a local receiver.

use std::hint::black_box;
use std::io::Write as _;
use std::process::Command;
use std::str::FromStr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use observability_layer::{RuntimeLayer, RuntimeSink, SinkHandle};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;
use uuid::Uuid;

#[cfg(feature = "otlp")]
#[path = "../tests/common/otlp_receiver.rs"]
mod otlp_receiver;

const CHUNK: usize = 8192;
const ROUNDS: usize = 24;
const INGEST_EVENTS: usize = 200_000;
const PACED_RATE: usize = 40_000;
const PACED_SECONDS: usize = 5;
const RSS_EVENTS: usize = 1_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "rss-child") {
        rss_child(&args[pos + 1]);
        return;
    }
    // For profilers: `profile-emit <threads> [span-per-event] [realistic]
    // [warm]` emits into a sink whose database is unreachable, nothing else
    // (`realistic`: the event with long strings instead of the short one;
    // `warm`: one untimed pass first, so that the measured one reuses event
    // boxes as a running service does; the difference between the counts
    // of a run with `warm` and one without is the steady state's).
    if let Some(pos) = args.iter().position(|a| a == "profile-emit") {
        let threads = args.get(pos + 1).and_then(|t| t.parse().ok()).unwrap_or(1);
        let entries = match args.iter().any(|a| a == "span-per-event") {
            true => SpanEntries::OnePerEvent,
            false => SpanEntries::OnePerRound,
        };
        let event = match args.iter().any(|a| a == "realistic") {
            true => Event::Realistic,
            false => Event::Short,
        };
        let (dispatch, guard, _handle) = runtime_layer("postgres://postgres@127.0.0.1:1/x");
        if args.iter().any(|a| a == "warm") {
            measure(&dispatch, threads, event, entries, &|| {});
        }
        let (cpu, wall) = measure(&dispatch, threads, event, entries, &|| {});
        println!("{cpu:.1} ns CPU, {wall:.1} ns wall per event");
        drop(guard);
        return;
    }
    // For profilers: `profile-genai <chat|ordinary|event> [bare|noop]` runs
    // `per_call`'s loop of one GenAI section's shape into a sink whose
    // database is unreachable (`bare`: the bare registry; `noop`: the
    // registry with a layer that does nothing), nothing else.
    if let Some(pos) = args.iter().position(|a| a == "profile-genai") {
        let shape: fn(u64) = match args.get(pos + 1).map(String::as_str) {
            Some("ordinary") => ordinary_span,
            Some("event") => emit_realistic_event,
            _ => rig_shaped_chat_span,
        };
        let bare = args.iter().any(|a| a == "bare");
        let noop = args.iter().any(|a| a == "noop");
        let (dispatch, guard, _handle) = match (bare, noop) {
            (true, _) => (Dispatch::new(tracing_subscriber::registry()), None, None),
            (_, true) => (
                Dispatch::new(
                    tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()),
                ),
                None,
                None,
            ),
            _ => {
                let (dispatch, guard, handle) = runtime_layer("postgres://postgres@127.0.0.1:1/x");
                (dispatch, Some(guard), Some(handle))
            }
        };
        println!("{:.1} ns CPU per call", per_call(&dispatch, shape, &|| {}));
        drop(guard);
        return;
    }
    let base_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = format!("obs_layer_bench_{}", std::process::id());
    let url = rt.block_on(create_database(&base_url, &db));
    println!("# observability-layer benchmarks (scratch database {db})\n");

    if let Some(pos) = args.iter().position(|a| a == "ingest-stored") {
        let stored = args.get(pos + 1).expect("ingest-stored <database>");
        rt.block_on(ingest_stored(&base_url, &url, stored));
        rt.block_on(drop_database(&base_url, &db));
        return;
    }
    if let Some(mode) = args.iter().find(|a| *a == "otlp" || *a == "otlp-rate") {
        // `otlp-rate`: only the export rate (for profilers).
        #[cfg(feature = "otlp")]
        otlp_section(&url, mode == "otlp");
        #[cfg(not(feature = "otlp"))]
        println!("the {mode} section needs `--features otlp`");
        rt.block_on(drop_database(&base_url, &db));
        return;
    }
    if args.iter().any(|a| a == "genai") {
        genai_span_cost(&url);
        rt.block_on(drop_database(&base_url, &db));
        return;
    }
    emit_cost(&url, 1);
    emit_cost(&url, 2);
    // `emit-only`: just the two sections above (quick before/after checks).
    if !args.iter().any(|a| a == "emit-only") {
        ordinary_event_cost(&url);
        genai_span_cost(&url);
        rt.block_on(ingest(&url));
        peak_rss();
    }

    rt.block_on(drop_database(&base_url, &db));
}

// ------------------------------------------------------------- emitting ---

/// The short event: 8 fields inside a 3-field span, every string short
/// enough for the layer's inline text (all at most 22 bytes).
#[inline(never)]
fn emit_runtime_event(i: u64) {
    tracing::info!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_OK",
        entity_id = "sim/gpt-sim-1",
        latency_ms = black_box(i % 500),
        attempt = 1u64,
        provider = "sim",
        model = "gpt-sim-1",
        "llm call ok"
    );
}

/// The realistic event: the same 8 fields and span, with the strings real
/// events carry: a 40-byte message, a 29-byte `entity_id`, a 60-byte
/// `error` and a 12-byte `model`.
#[inline(never)]
fn emit_realistic_event(i: u64) {
    tracing::info!(
        layer = "provider_runtime",
        operation = "CALL",
        reason_code = "PROVIDER_CALL_FAILED",
        entity_id = "openai/gpt-4o-mini-2024-07-18",
        latency_ms = black_box(i % 500),
        attempt = 1u64,
        error = "upstream returned 429 Too Many Requests: rate limit exceeded",
        model = "o3-mini-high",
        "provider call failed, retrying in 250 ms"
    );
}

/// Which event a measurement emits.
#[derive(Clone, Copy)]
enum Event {
    Short,
    Realistic,
}

impl Event {
    fn emit(self, i: u64) {
        match self {
            Event::Short => emit_runtime_event(i),
            Event::Realistic => emit_realistic_event(i),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Event::Short => "short event (strings <= 22 bytes)",
            Event::Realistic => "realistic event (40/29/60-byte strings)",
        }
    }
}

/// Runtime events per task in the ingest runs (a phase1 task writes 10 to
/// 40: its transitions, provider calls, retries and tool calls).
const EVENTS_PER_TASK: u64 = 25;

fn span_ids() -> (Uuid, Uuid) {
    (Uuid::new_v4(), Uuid::new_v4())
}

/// CPU time of the calling thread (immune to other processes on the machine).
fn thread_cpu_time() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

/// How often the measured span is entered.
#[derive(Clone, Copy)]
enum SpanEntries {
    /// Entered once, around all of a round's events.
    OnePerRound,
    /// Entered and exited around each event, as an instrumented future's
    /// span is around each poll: the layer sees the span current again and
    /// reuses the ids it found for the previous event (`scope.rs`).
    OnePerEvent,
}

/// Cost per event on the emitting threads as (thread CPU ns, wall ns): the
/// median over `ROUNDS` rounds of `CHUNK` events per thread, which sheds
/// rounds disturbed by other processes. `between` runs untimed after each
/// round (to let a writer drain).
fn measure(
    dispatch: &Dispatch,
    threads: usize,
    event: Event,
    entries: SpanEntries,
    between: &dyn Fn(),
) -> (f64, f64) {
    let mut cpu = Vec::with_capacity(ROUNDS);
    let mut wall = Vec::with_capacity(ROUNDS);
    for round in 0..=ROUNDS {
        let barrier = Arc::new(Barrier::new(threads));
        let elapsed: Vec<(Duration, Duration)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let dispatch = dispatch.clone();
                    let barrier = Arc::clone(&barrier);
                    s.spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || {
                            let (task, persona) = span_ids();
                            let span = tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1");
                            barrier.wait();
                            let start = Instant::now();
                            let start_cpu = thread_cpu_time();
                            match entries {
                                SpanEntries::OnePerRound => {
                                    let _entered = span.enter();
                                    for i in 0..CHUNK as u64 {
                                        event.emit(i);
                                    }
                                }
                                SpanEntries::OnePerEvent => {
                                    for i in 0..CHUNK as u64 {
                                        let _entered = span.enter();
                                        event.emit(i);
                                    }
                                }
                            }
                            (thread_cpu_time() - start_cpu, start.elapsed())
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        between();
        if round > 0 {
            // Round 0 warms up (callsite registration, allocator).
            let n = (CHUNK * threads) as f64;
            cpu.push(elapsed.iter().map(|e| e.0).sum::<Duration>().as_nanos() as f64 / n);
            wall.push(elapsed.iter().map(|e| e.1).sum::<Duration>().as_nanos() as f64 / n);
        }
    }
    (median(cpu), median(wall))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn runtime_layer(url: &str) -> (Dispatch, observability_layer::SinkGuard, SinkHandle) {
    let RuntimeSink {
        layer,
        guard,
        handle,
        ..
    } = RuntimeLayer::builder()
        .database_url(url)
        .build()
        .expect("build");
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
        handle,
    )
}

fn emit_cost(url: &str, threads: usize) {
    let short = Event::Short;
    let real = Event::Realistic;
    let bare_dispatch = Dispatch::new(tracing_subscriber::registry());
    let bare = measure(
        &bare_dispatch,
        threads,
        short,
        SpanEntries::OnePerRound,
        &|| {},
    );
    let bare_entering = measure(
        &bare_dispatch,
        threads,
        short,
        SpanEntries::OnePerEvent,
        &|| {},
    );

    let (dispatch, guard, handle) = runtime_layer(url);
    let drain = || {
        handle.flush(Duration::from_secs(60));
    };
    let ours = measure(&dispatch, threads, short, SpanEntries::OnePerRound, &drain);
    let ours_real = measure(&dispatch, threads, real, SpanEntries::OnePerRound, &drain);
    let ours_entering = measure(&dispatch, threads, short, SpanEntries::OnePerEvent, &drain);
    let stats = guard.shutdown();

    let (writer, appender_guard) = tracing_appender::non_blocking(std::io::sink());
    let json = Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().json().with_writer(writer)),
    );
    let pause = || std::thread::sleep(Duration::from_millis(20));
    let appender = measure(&json, threads, short, SpanEntries::OnePerRound, &pause);
    let appender_real = measure(&json, threads, real, SpanEntries::OnePerRound, &pause);
    drop(appender_guard);

    println!("## Emitting thread, 8-field runtime event in a 3-field span, {threads} thread(s)\n");
    println!("| subscriber | event | thread CPU ns/event | wall ns/event |");
    println!("| --- | --- | ---: | ---: |");
    println!(
        "| bare registry | {} | {:.1} | {:.1} |",
        short.name(),
        bare.0,
        bare.1
    );
    for (name, event, m) in [
        ("registry + RuntimeLayer", short, ours),
        ("registry + RuntimeLayer", real, ours_real),
        (
            "registry + tracing-appender non_blocking + fmt JSON",
            short,
            appender,
        ),
        (
            "registry + tracing-appender non_blocking + fmt JSON",
            real,
            appender_real,
        ),
    ] {
        println!("| {name} | {} | {:.1} | {:.1} |", event.name(), m.0, m.1);
    }
    println!(
        "| bare registry, span entered and exited around each event | {} | {:.1} | {:.1} |",
        short.name(),
        bare_entering.0,
        bare_entering.1
    );
    println!(
        "| registry + RuntimeLayer, span entered and exited around each event | {} | {:.1} | {:.1} |",
        short.name(),
        ours_entering.0,
        ours_entering.1
    );
    println!();
    println!(
        "RuntimeLayer, short event: {:.1} ns CPU per event ({:.1} above the bare registry); \
         appender+JSON / RuntimeLayer = {:.1}x CPU, {:.1}x wall. With the span entered around each \
         event: {:.1} ns above the bare registry.",
        ours.0,
        ours.0 - bare.0,
        appender.0 / ours.0,
        appender.1 / ours.1,
        ours_entering.0 - bare_entering.0,
    );
    println!(
        "RuntimeLayer, realistic event: {:.1} ns CPU per event (target <= 200), {:.2}x the short \
         one (target <= 1.25); appender+JSON / RuntimeLayer = {:.1}x CPU, {:.1}x wall (target >= 15x). \
         Sink: emitted {}, written {}, dropped {}.\n",
        ours_real.0,
        ours_real.0 / ours.0,
        appender_real.0 / ours_real.0,
        appender_real.1 / ours_real.1,
        stats.emitted,
        stats.written,
        stats.dropped()
    );
}

fn ordinary_event_cost(url: &str) {
    const N: u64 = 2_000_000;
    fn events(dispatch: &Dispatch) -> f64 {
        tracing::dispatcher::with_default(dispatch, || {
            // Warm-up registers the callsite.
            for i in 0..1000 {
                tracing::info!(user = black_box(i), "ordinary event");
            }
            let start = thread_cpu_time();
            for i in 0..N {
                tracing::info!(user = black_box(i), "ordinary event");
            }
            (thread_cpu_time() - start).as_nanos() as f64 / N as f64
        })
    }
    /// Entering and exiting a span (the layer watches both, `scope.rs`).
    fn span_entries(dispatch: &Dispatch) -> f64 {
        tracing::dispatcher::with_default(dispatch, || {
            let span = tracing::info_span!("request", path = "/x");
            let start = thread_cpu_time();
            for _ in 0..N {
                let _entered = black_box(span.enter());
            }
            (thread_cpu_time() - start).as_nanos() as f64 / N as f64
        })
    }
    // Alternated and the best of three kept, to shed scheduling noise.
    let bare_dispatch = Dispatch::new(tracing_subscriber::registry());
    let (dispatch, guard, _handle) = runtime_layer(url);
    let [mut bare, mut ours, mut bare_span, mut ours_span] = [f64::MAX; 4];
    for _ in 0..3 {
        bare = bare.min(events(&bare_dispatch));
        ours = ours.min(events(&dispatch));
        bare_span = bare_span.min(span_entries(&bare_dispatch));
        ours_span = ours_span.min(span_entries(&dispatch));
    }
    drop(guard);
    println!("## Ordinary (non-runtime) event, and entering an ordinary span, 1 thread\n");
    println!("| subscriber | event, thread CPU ns | span enter + exit, thread CPU ns |");
    println!("| --- | ---: | ---: |");
    println!("| bare registry | {bare:.1} | {bare_span:.1} |");
    println!("| registry + RuntimeLayer | {ours:.1} | {ours_span:.1} |");
    println!(
        "\nDifference: event {:.1} ns (target: a few ns), span enter + exit {:.1} ns.\n",
        ours - bare,
        ours_span - bare_span
    );
}

// ---------------------------------------------------------- GenAI spans ---

/// A chat span shaped like rig's: created with 4 fields (8 more declared
/// empty), entered once, the response's 8 recorded later, closed.
#[inline(never)]
fn rig_shaped_chat_span(i: u64) {
    use tracing::field::Empty;
    let span = tracing::info_span!(target: "rig::completions", "chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o-mini",
        gen_ai.request.stream = false,
        gen_ai.response.id = Empty,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.usage.reasoning_tokens = Empty,
    );
    let _entered = span.enter();
    span.record("gen_ai.response.id", "chatcmpl-AbC123xYz");
    span.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
    span.record("gen_ai.response.finish_reasons", "[\"stop\"]");
    span.record("gen_ai.usage.input_tokens", black_box(1200 + i % 100));
    span.record("gen_ai.usage.output_tokens", black_box(80 + i % 10));
    span.record("gen_ai.usage.cache_read.input_tokens", 0u64);
    span.record("gen_ai.usage.cache_creation.input_tokens", 0u64);
    span.record("gen_ai.usage.reasoning_tokens", 0u64);
}

/// An ordinary span: created with 2 fields, entered once, closed.
#[inline(never)]
fn ordinary_span(i: u64) {
    let span = tracing::info_span!("handle_request", path = "/orders", attempt = black_box(i));
    let _entered = span.enter();
}

/// Thread CPU ns per call of `f` inside a task span: the median of
/// `ROUNDS` rounds of `CHUNK` calls, `between` after each round (untimed).
fn per_call(dispatch: &Dispatch, f: fn(u64), between: &dyn Fn()) -> f64 {
    tracing::dispatcher::with_default(dispatch, || {
        let (task, persona) = span_ids();
        let task_span = tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1");
        let _in_task = task_span.enter();
        let mut rounds = Vec::with_capacity(ROUNDS);
        for round in 0..=ROUNDS {
            let start = thread_cpu_time();
            for i in 0..CHUNK as u64 {
                f(i);
            }
            let spent = (thread_cpu_time() - start).as_nanos() as f64 / CHUNK as f64;
            between();
            if round > 0 {
                rounds.push(spent);
            }
        }
        median(rounds)
    })
}

fn genai_span_cost(url: &str) {
    let bare_dispatch = Dispatch::new(tracing_subscriber::registry());
    // The floor any layer pays: `Layered`'s dispatch and the registry's
    // close guard, with a layer that does nothing at all.
    let noop_layer_dispatch = Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()),
    );
    let (dispatch, guard, handle) = runtime_layer(url);
    let drain = || {
        handle.flush(Duration::from_secs(60));
    };
    let nothing = || {};
    // Alternated, the best of five kept, to shed scheduling noise (with
    // three, one run in four still landed a neighbour's burst on one row).
    // The bare registry's ordinary span is measured twice: how far apart
    // two runs of the same code land is the noise floor of the +ns figure.
    let [mut bare_chat, mut ours_chat, mut bare_event, mut ours_event, mut bare_span, mut ours_span, mut bare_span_again, mut noop_span] =
        [f64::MAX; 8];
    for _ in 0..5 {
        bare_chat = bare_chat.min(per_call(&bare_dispatch, rig_shaped_chat_span, &nothing));
        ours_chat = ours_chat.min(per_call(&dispatch, rig_shaped_chat_span, &drain));
        bare_event = bare_event.min(per_call(&bare_dispatch, emit_realistic_event, &nothing));
        ours_event = ours_event.min(per_call(&dispatch, emit_realistic_event, &drain));
        bare_span = bare_span.min(per_call(&bare_dispatch, ordinary_span, &nothing));
        ours_span = ours_span.min(per_call(&dispatch, ordinary_span, &drain));
        bare_span_again = bare_span_again.min(per_call(&bare_dispatch, ordinary_span, &nothing));
        noop_span = noop_span.min(per_call(&noop_layer_dispatch, ordinary_span, &nothing));
    }
    let stats = guard.shutdown();
    println!("## GenAI spans, 1 thread, inside a 3-field task span\n");
    println!("| what | bare registry, thread CPU ns | registry + RuntimeLayer, thread CPU ns | above the bare registry |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, bare, ours) in [
        (
            "rig-shaped chat span (4 fields, 8 recorded, entered, closed)",
            bare_chat,
            ours_chat,
        ),
        ("realistic runtime event", bare_event, ours_event),
        (
            "ordinary span (2 fields, entered, closed)",
            bare_span,
            ours_span,
        ),
    ] {
        println!("| {name} | {bare:.1} | {ours:.1} | {:.1} |", ours - bare);
    }
    println!(
        "| noise floor: the ordinary span, bare registry again | {bare_span:.1} | {bare_span_again:.1} | {:.1} |",
        bare_span_again - bare_span
    );
    println!(
        "| the floor of any layer: the ordinary span, registry + a layer that does nothing | {bare_span:.1} | {noop_span:.1} | {:.1} |",
        noop_span - bare_span
    );
    println!(
        "\nChat span above the bare registry / realistic event above it: {:.2}x (target <= 2); \
         ordinary span: {:.1} ns above the bare registry (target <= 10; the bare registry against itself: {:.1} ns; \
         {:.1} ns above a do-nothing layer). Sink: emitted {}, written {}, \
         dropped {}, unpriced {}.\n",
        (ours_chat - bare_chat) / (ours_event - bare_event),
        ours_span - bare_span,
        bare_span_again - bare_span,
        ours_span - noop_span,
        stats.emitted,
        stats.written,
        stats.dropped(),
        stats.unpriced_calls,
    );
}

// --------------------------------------------------------------- ingest ---

async fn ingest(url: &str) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let capacity = observability_layer_default_capacity();

    // 1. Maximum rate, each event: emit as fast as the writer takes them
    //    (scrubbing every string value), until committed; then COPY of the
    //    same rows, pre-built, into the same table.
    let mut rates = Vec::new();
    for event in [Event::Short, Event::Realistic] {
        conn.execute("truncate ai_runtime_events").await.unwrap();
        let (stats, ours_secs) = max_rate(url, event);
        conn.execute("truncate ai_runtime_events").await.unwrap();
        let (copied, copy_secs) = copy(&mut conn, &copy_rows(INGEST_EVENTS, event)).await;
        rates.push((event, stats, ours_secs, copied, copy_secs));
    }

    // 2. Sustained: a steady 40k events/s for 5 s at the default capacity.
    conn.execute("truncate ai_runtime_events").await.unwrap();
    let (dispatch, guard, handle) = runtime_layer(url);
    let total = PACED_RATE * PACED_SECONDS;
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        let (task, persona) = span_ids();
        let span = tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1");
        let _entered = span.enter();
        let per_ms = PACED_RATE / 1000;
        for ms in 0..(PACED_SECONDS * 1000) {
            let due = start + Duration::from_millis(ms as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            for i in 0..per_ms {
                emit_runtime_event(i as u64);
            }
        }
    });
    let emitted_in = start.elapsed().as_secs_f64();
    assert!(handle.flush(Duration::from_secs(120)));
    let paced_secs = start.elapsed().as_secs_f64();
    let paced = guard.shutdown();

    println!("## Ingest, emit to committed rows (all indexes), default capacity {capacity}\n");
    println!("| event | path | rows | seconds | rows/s |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for (event, stats, ours_secs, copied, copy_secs) in &rates {
        println!(
            "| {} | RuntimeLayer, as fast as it goes | {} | {ours_secs:.2} | {:.0} |",
            event.name(),
            stats.written,
            stats.written as f64 / ours_secs
        );
        println!(
            "| {} | COPY of the same pre-built rows | {copied} | {copy_secs:.2} | {:.0} |",
            event.name(),
            *copied as f64 / copy_secs
        );
    }
    println!();
    for (event, stats, ours_secs, copied, copy_secs) in &rates {
        println!(
            "{}: RuntimeLayer / COPY = {:.2} (target >= 0.9, secrets scrubbed). Dropped: {}.",
            event.name(),
            (stats.written as f64 / ours_secs) / (*copied as f64 / copy_secs),
            stats.dropped()
        );
    }
    println!(
        "Sustained {PACED_RATE}/s for {PACED_SECONDS} s: emitted {} in {emitted_in:.2} s, all \
         committed after {paced_secs:.2} s, written {}, dropped {} (target: no drops).\n",
        paced.emitted,
        paced.written,
        paced.dropped()
    );
    assert_eq!(paced.emitted as usize, total);
}

/// Emits `INGEST_EVENTS` as fast as the writer takes them (the emitter
/// waits while the channel is more than half full) into `url`, until
/// committed: the final statistics and the seconds it took.
/// COPYs pre-built text rows into `ai_runtime_events`: rows and seconds.
async fn copy(conn: &mut PgConnection, data: &[u8]) -> (u64, f64) {
    let start = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "copy ai_runtime_events (layer, operation, reason_code, entity_id, task_id, \
             persona_id, worker_id, metadata, occurred_at) from stdin",
        )
        .await
        .unwrap();
    for piece in data.chunks(1 << 20) {
        copy.send(piece).await.unwrap();
    }
    let copied = copy.finish().await.unwrap();
    (copied, start.elapsed().as_secs_f64())
}

fn max_rate(url: &str, event: Event) -> (observability_layer::SinkStats, f64) {
    max_rate_into(runtime_layer(url), event)
}

/// Emits `INGEST_EVENTS` as fast as the primary exporter keeps up (its
/// queue at most half full) and returns when they are settled.
fn max_rate_into(
    sink: (Dispatch, observability_layer::SinkGuard, SinkHandle),
    event: Event,
) -> (observability_layer::SinkStats, f64) {
    let capacity = observability_layer_default_capacity();
    let (dispatch, guard, handle) = sink;
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        // A task's events come in a run of EVENTS_PER_TASK under its own
        // span, as a worker's do: the task index takes each new task at a
        // random page, as it does in production (one task for every event
        // would make it append-only and flatter the ingest rate).
        for run in 0..INGEST_EVENTS as u64 / EVENTS_PER_TASK {
            let (task, persona) = span_ids();
            let span = tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1");
            let _entered = span.enter();
            for i in run * EVENTS_PER_TASK..(run + 1) * EVENTS_PER_TASK {
                while handle.queued() > capacity / 2 {
                    std::thread::sleep(Duration::from_micros(200));
                }
                event.emit(i);
            }
        }
    });
    assert!(handle.flush(Duration::from_secs(120)));
    let secs = start.elapsed().as_secs_f64();
    (guard.shutdown(), secs)
}

/// `ingest-stored <database>`: the writer's rate into a database that
/// already holds months of events (the admin API bench's `month` data set)
/// against its rate into an empty one, alternately, three times each. The
/// rows it adds to the stored database are deleted afterwards.
async fn ingest_stored(base_url: &str, empty_url: &str, stored_db: &str) {
    let stored_url = url_with_database(base_url, stored_db);
    let mut stored = PgConnection::connect(&stored_url).await.unwrap();
    let events: i64 = sqlx::query_scalar("select count(*) from ai_runtime_events")
        .fetch_one(&mut stored)
        .await
        .unwrap();
    let mut empty = PgConnection::connect(empty_url).await.unwrap();
    println!("## Ingest into a table holding {events} events against an empty one\n");
    println!("| run | empty table rows/s | {events} stored rows/s | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    let mut ratios = Vec::new();
    for run in 1..=3 {
        empty.execute("truncate ai_runtime_events").await.unwrap();
        // Each timed run starts after a checkpoint, so that neither side
        // pays for the other's dirty pages or starts with fewer full-page
        // writes ahead of it.
        empty.execute("checkpoint").await.unwrap();
        let (e, e_secs) = max_rate(empty_url, Event::Short);
        let started: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select now()")
            .fetch_one(&mut stored)
            .await
            .unwrap();
        stored.execute("checkpoint").await.unwrap();
        let (s, s_secs) = max_rate(&stored_url, Event::Short);
        remove_ingested(&mut stored, started).await;
        let (e_rate, s_rate) = (e.written as f64 / e_secs, s.written as f64 / s_secs);
        ratios.push(s_rate / e_rate);
        println!(
            "| {run} | {e_rate:.0} | {s_rate:.0} | {:.2} |",
            s_rate / e_rate
        );
    }
    println!("\nmedian ratio {:.2} (target >= 0.9)", median(ratios));
}

/// Deletes the rows a run added to the stored data set, then vacuums the
/// partitions they were in: a production table has no such dead rows, and
/// an autovacuum of them during the next run would slow only the stored side.
async fn remove_ingested(stored: &mut PgConnection, since: chrono::DateTime<chrono::Utc>) {
    let partitions: Vec<String> = sqlx::query_scalar(
        "select distinct tableoid::regclass::text from ai_runtime_events \
         where occurred_at >= $1 - interval '1 minute' and created_at >= $1 \
           and worker_id = 'worker-1'",
    )
    .bind(since)
    .fetch_all(&mut *stored)
    .await
    .unwrap();
    // The run's events happened after `since`: the bound on `occurred_at`
    // keeps both statements on the partitions of the run's day.
    sqlx::query(
        "delete from ai_runtime_events where occurred_at >= $1 - interval '1 minute' \
         and created_at >= $1 and worker_id = 'worker-1'",
    )
    .bind(since)
    .execute(&mut *stored)
    .await
    .unwrap();
    for partition in partitions {
        stored
            .execute(format!("vacuum {partition}").as_str())
            .await
            .unwrap();
    }
}

fn observability_layer_default_capacity() -> usize {
    // Mirrors the documented default (AI_RUNTIME_EVENTS_CHANNEL_CAPACITY).
    32_768
}

/// COPY text rows equal to what the layer writes for `event`.
fn copy_rows(n: usize, event: Event) -> Vec<u8> {
    let (mut task, mut persona) = span_ids();
    let mut out = Vec::with_capacity(n * 400);
    let now = chrono::Utc::now();
    let mut rows_of_task = 0;
    for i in 0..n {
        // The tasks of the ingest runs: a new one every EVENTS_PER_TASK rows.
        if rows_of_task == EVENTS_PER_TASK {
            (task, persona) = span_ids();
            rows_of_task = 0;
        }
        rows_of_task += 1;
        let (code, entity, metadata) = match event {
            Event::Short => (
                "PROVIDER_CALL_OK",
                "sim/gpt-sim-1",
                format!(
                    "{{\"latency_ms\":{},\"attempt\":1,\"provider\":\"sim\",\"model\":\"gpt-sim-1\",\
                     \"message\":\"llm call ok\",\"level\":\"INFO\",\"target\":\"runtime_layer\"}}",
                    i % 500
                ),
            ),
            Event::Realistic => (
                "PROVIDER_CALL_FAILED",
                "openai/gpt-4o-mini-2024-07-18",
                format!(
                    "{{\"latency_ms\":{},\"attempt\":1,\"error\":\"upstream returned 429 Too Many \
                     Requests: rate limit exceeded\",\"model\":\"o3-mini-high\",\"message\":\
                     \"provider call failed, retrying in 250 ms\",\"level\":\"INFO\",\
                     \"target\":\"runtime_layer\"}}",
                    i % 500
                ),
            ),
        };
        let at = now + chrono::Duration::microseconds(i as i64);
        writeln!(
            out,
            "provider_runtime\tCALL\t{code}\t{entity}\t{task}\t{persona}\tworker-1\t{metadata}\t{}",
            at.to_rfc3339()
        )
        .unwrap();
    }
    out
}

// ------------------------------------------------------------------ RSS ---

fn peak_rss() {
    let exe = std::env::current_exe().unwrap();
    let run = |mode: &str| -> u64 {
        let out = Command::new(&exe)
            .args(["rss-child", mode])
            .output()
            .expect("run child");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("child {mode}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let bare = run("bare");
    let dead = run("dead");
    let dead_real = run("dead-realistic");
    println!("## Peak RSS, {RSS_EVENTS} runtime events, database unreachable\n");
    println!("| process | peak RSS (MiB) |");
    println!("| --- | ---: |");
    println!("| bare registry | {:.1} |", bare as f64 / 1024.0);
    println!(
        "| registry + RuntimeLayer (unreachable database, default capacity), short event | {:.1} |",
        dead as f64 / 1024.0
    );
    println!(
        "| the same, realistic event | {:.1} |",
        dead_real as f64 / 1024.0
    );
    println!(
        "\nThe layer's bounded buffers account for {:.1} MiB (short event), {:.1} MiB (realistic); \
         the rest were dropped and counted.\n",
        (dead.saturating_sub(bare)) as f64 / 1024.0,
        (dead_real.saturating_sub(bare)) as f64 / 1024.0
    );
}

/// Emits a million events and prints the process's peak RSS in KiB.
fn rss_child(mode: &str) {
    let dispatch;
    let mut guard = None;
    let mut handle = None;
    let event = match mode {
        "dead-realistic" => Event::Realistic,
        _ => Event::Short,
    };
    if mode.starts_with("dead") {
        let RuntimeSink {
            layer,
            guard: g,
            handle: h,
            ..
        } = RuntimeLayer::builder()
            .database_url("postgres://postgres@127.0.0.1:1/x")
            .shutdown_deadline(Duration::from_millis(100))
            .build()
            .unwrap();
        dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        guard = Some(g);
        handle = Some(h);
    } else {
        dispatch = Dispatch::new(tracing_subscriber::registry());
    }
    tracing::dispatcher::with_default(&dispatch, || {
        let (task, persona) = span_ids();
        let span = tracing::info_span!("task", task_id = %task, persona_id = %persona, worker_id = "worker-1");
        let _entered = span.enter();
        for i in 0..RSS_EVENTS as u64 {
            event.emit(i);
        }
    });
    if let Some(g) = guard {
        let stats = g.shutdown();
        assert_eq!(stats.emitted as usize, RSS_EVENTS);
        assert_eq!(stats.dropped() as usize, RSS_EVENTS);
    }
    drop(handle);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap();
    println!("{hwm}");
}

// ------------------------------------------------------------- database ---

async fn create_database(base_url: &str, db: &str) -> String {
    let mut admin = PgConnection::connect(base_url).await.unwrap();
    admin
        .execute(format!("drop database if exists {db}").as_str())
        .await
        .unwrap();
    admin
        .execute(format!("create database {db}").as_str())
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(base_url).unwrap().database(db);
    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    ai_runtime_migrations::MIGRATOR
        .run(&mut conn)
        .await
        .unwrap();
    let url = url_with_database(base_url, db);
    let _ = std::io::stdout().flush();
    url
}

async fn drop_database(base_url: &str, db: &str) {
    let mut admin = PgConnection::connect(base_url).await.unwrap();
    let _ = admin
        .execute(format!("drop database if exists {db} with (force)").as_str())
        .await;
}

fn url_with_database(base_url: &str, db: &str) -> String {
    let (without_query, query) = match base_url.split_once('?') {
        Some((a, q)) => (a, format!("?{q}")),
        None => (base_url, String::new()),
    };
    let root = match without_query.rfind('/') {
        Some(i)
            if without_query[..i].contains("//") && i > without_query.find("//").unwrap() + 1 =>
        {
            &without_query[..i]
        }
        _ => without_query,
    };
    format!("{root}/{db}{query}")
}

// ----------------------------------------------------------------- otlp ---

/// `-- otlp`: the emitting thread's cost with Postgres and OTLP configured
/// against Postgres alone (same run, alternated), and the OTLP exporter's
/// rate into a local receiver that decodes every request.
#[cfg(feature = "otlp")]
fn otlp_section(url: &str, emitting: bool) {
    let receiver = otlp_receiver::Receiver::start_counting();
    if emitting {
        otlp_emit_ratio(url, &receiver);
    }
    otlp_rate(&receiver);
}

/// The emitting thread with Postgres and OTLP configured against Postgres alone.
#[cfg(feature = "otlp")]
fn otlp_emit_ratio(url: &str, receiver: &otlp_receiver::Receiver) {
    let sink = |otlp: bool| {
        let mut builder = RuntimeLayer::builder().database_url(url);
        if otlp {
            builder = builder.otlp_endpoint(&receiver.endpoint());
        }
        let RuntimeSink {
            layer,
            guard,
            handle,
            ..
        } = builder.build().expect("build");
        (
            Dispatch::new(tracing_subscriber::registry().with(layer)),
            guard,
            handle,
        )
    };
    println!("## Emitting thread, two exporters (Postgres + OTLP) against one (Postgres)\n");
    println!("| threads | event | one exporter, ns CPU | two exporters, ns CPU | two / one |");
    println!("| ---: | --- | ---: | ---: | ---: |");
    for threads in [1, 2] {
        for event in [Event::Short, Event::Realistic] {
            // Alternated, twice each, medians of the two: drift in the
            // machine's load hits both alike.
            let mut one = Vec::new();
            let mut two = Vec::new();
            for _ in 0..2 {
                for (otlp, into) in [(false, &mut one), (true, &mut two)] {
                    let (dispatch, guard, handle) = sink(otlp);
                    let drain = || {
                        handle.flush(Duration::from_secs(60));
                    };
                    let (cpu, _) =
                        measure(&dispatch, threads, event, SpanEntries::OnePerRound, &drain);
                    into.push(cpu);
                    let stats = guard.shutdown();
                    assert_eq!(stats.dropped(), 0, "{stats:?}");
                }
            }
            let (one, two) = (one.iter().sum::<f64>() / 2.0, two.iter().sum::<f64>() / 2.0);
            println!(
                "| {threads} | {} | {one:.1} | {two:.1} | {:.2} |",
                event.name(),
                two / one
            );
        }
    }
    println!("\n(target: two / one = 1.00 within the noise; the writer fans out, the emitting thread does not know how many exporters there are)\n");
}

/// The OTLP exporter's rate from one writer into `receiver`.
#[cfg(feature = "otlp")]
fn otlp_rate(receiver: &otlp_receiver::Receiver) {
    println!("## OTLP export rate into a local receiver (one writer, OTLP only)\n");
    println!("| event | events | seconds | events/s | exported | dropped | target |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for event in [Event::Short, Event::Realistic] {
        let before = receiver.records_seen();
        let RuntimeSink {
            layer,
            guard,
            handle,
            ..
        } = RuntimeLayer::builder()
            .otlp_endpoint(&receiver.endpoint())
            .build()
            .expect("build");
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        let (stats, secs) = max_rate_into((dispatch, guard, handle), event);
        let otlp = &stats.exporters[0];
        assert_eq!(receiver.records_seen() - before, otlp.exported as usize);
        println!(
            "| {} | {} | {secs:.2} | {:.0} | {} | {} | >= 50,000/s |",
            event.name(),
            INGEST_EVENTS,
            INGEST_EVENTS as f64 / secs,
            otlp.exported,
            otlp.dropped()
        );
    }
    println!();
}
