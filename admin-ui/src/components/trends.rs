//! The trends panel above the event stream, over the page's time range:
//! events per bucket stacked by layer with the failures set apart, provider
//! latency p50/p95, tokens and cost per route, and the circuit breakers'
//! open intervals per worker, all on one time axis. Each chart has a text
//! alternative (a summary it is described by).
//!
//! The event chart's buckets are buttons (one tab stop, arrow keys move
//! between them): hovering or focusing one shows its numbers, clicking it
//! (or Enter/Space) narrows the event stream and the URL to it.

use ai_runtime_api::{
    BreakerInterval, DateTime, EventLayer, RouteTrend, TrendBucket, TrendsResponse, Utc,
};
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::components::boxed::boxed_on_server;
use crate::components::polled::{poll, Polled};
use crate::components::task_page::usd;
use crate::time;
use crate::view_state::{use_view, Bucket};

/// The SVG's coordinate width; the plot starts at [`LEFT`] (room for labels).
const WIDTH: f64 = 1000.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 10.0;
/// The event chart's plot: top, baseline, and the failures' depth below it.
const TOP: f64 = 14.0;
const BASE: f64 = 150.0;
const FAIL_DEPTH: f64 = 28.0;
/// One colour per layer (in `EventLayer::ALL`'s order) and per route; the
/// layer and route names are always written beside them too.
const LAYER_COLOURS: [&str; 6] = [
    "#3b6fb6", "#7a4fb0", "#2a8c82", "#c07a1a", "#5b6b7b", "#9aa3ad",
];
const ROUTE_COLOURS: [&str; 4] = ["#1a5fd0", "#b3471d", "#2f7d32", "#7a4fb0"];

const HINT: &str = "Hover over or focus a bucket to see its numbers; click it or press Enter to show its events below (arrow keys move between buckets).";

/// Maps time (ms since the epoch) onto the plot's width.
#[derive(Clone, Copy)]
struct Axis {
    from: f64,
    to: f64,
}

impl Axis {
    fn of(t: &TrendsResponse) -> Self {
        Axis {
            from: ms(&t.from),
            to: ms(&t.to),
        }
    }

    fn x(&self, ms: f64) -> f64 {
        let span = (self.to - self.from).max(1.0);
        LEFT + ((ms - self.from) / span).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
}

/// Six time labels along the bottom of a chart, at `y`.
#[component]
fn Ticks(axis: Axis, y: f64) -> impl IntoView {
    let with_day = axis.to - axis.from > 86_400_000.0;
    (0..=5)
        .map(|i| {
            let at = axis.from + (axis.to - axis.from) * i as f64 / 5.0;
            let anchor = ["start", "middle", "middle", "middle", "middle", "end"][i];
            let label = time::format_tick(&time::at_ms(at), with_day);
            view! { <text class="tick" x=num(axis.x(at)) y=num(y) text-anchor=anchor>{label}</text> }
        })
        .collect_view()
}

fn ms(at: &DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64
}

fn total(bucket: &TrendBucket) -> i64 {
    bucket.layers.iter().map(|l| l.count).sum()
}

/// A coordinate with one decimal.
fn num(v: f64) -> String {
    format!("{v:.1}")
}

#[component]
pub fn TrendsPanel() -> impl IntoView {
    let view_state = use_view();
    let range = Memo::new(move |_| view_state.state.with(|v| v.range.clone()));
    let trends = poll::<TrendsResponse>(
        || "trends".to_owned(),
        move || {
            let (from, to) = range.get().bounds_ms(time::now_ms());
            vec![
                ("from", time::iso_from_ms(from)),
                ("to", time::iso_from_ms(to)),
            ]
        },
    );
    view! {
        <section id="trends" aria-labelledby="trends-title">
            <h2 id="trends-title">"Trends"</h2>
            <Polled data=trends what="the trends" loading="Loading trends…"
                render={|t: Signal<TrendsResponse>| move || view! { <Trends trends=t.get() /> }} />
        </section>
    }
}

#[component]
fn Trends(trends: TrendsResponse) -> impl IntoView {
    let axis = Axis::of(&trends);
    let range = format!(
        "{} to {}, in buckets of {}. All times UTC.",
        time::format_utc(&trends.from),
        time::format_utc(&trends.to),
        time::format_age(trends.bucket_seconds as f64)
    );
    let summary = events_summary(&trends);
    let legend = EventLayer::ALL
        .iter()
        .zip(LAYER_COLOURS)
        .map(|(layer, colour)| {
            view! { <li><span class="swatch" style:background=colour></span>{layer.as_str()}</li> }
        })
        .collect_view()
        .into_any();
    boxed_on_server(view! {
        <p class="hint">{range}</p>
        <EventsChart trends=trends.clone() summary=summary legend=legend />
        <div class="chart-row">
            <RouteChart routes=trends.routes.clone() axis=axis measure=Measure::Latency />
            <RouteChart routes=trends.routes.clone() axis=axis measure=Measure::Tokens />
            <RouteChart routes=trends.routes axis=axis measure=Measure::Cost />
        </div>
        <BreakerChart intervals=trends.breaker_open axis=axis />
    })
}

/// The event chart: one button per bucket, its layers stacked, its
/// failures below the axis; the readout says the numbers of the bucket
/// under the pointer or the focus.
#[component]
fn EventsChart(trends: TrendsResponse, summary: String, legend: AnyView) -> impl IntoView {
    let view_state = use_view();
    let selected = Memo::new(move |_| {
        view_state
            .state
            .with(|v| v.bucket.as_ref().and_then(Bucket::bounds_ms).map(|b| b.0))
    });
    let axis = Axis::of(&trends);
    let span_ms = trends.bucket_seconds as f64 * 1_000.0;
    let seconds = trends.bucket_seconds;
    let count = trends.buckets.len();
    let max_total = trends.buckets.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let max_failures = trends
        .buckets
        .iter()
        .map(|b| b.failures)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = (axis.x(axis.from + span_ms) - axis.x(axis.from)).max(1.0);
    let bar = (width - 1.0).max(0.5);
    // The one tab stop among the buckets (the last until one is focused),
    // and the bucket the readout describes.
    let tab_stop = RwSignal::new(count.saturating_sub(1));
    let described = RwSignal::new(None::<String>);

    let choose = move |start: f64| {
        let mut next = view_state.state.get_untracked();
        next.bucket = Some(Bucket {
            start: time::iso_from_ms(start),
            seconds,
        });
        view_state.navigate(next);
    };
    let focus = move |index: usize| {
        tab_stop.set(index);
        let bucket = document()
            .query_selector(&format!("#events-chart .bucket[data-index='{index}']"))
            .ok()
            .flatten()
            .and_then(|b| b.dyn_into::<web_sys::SvgElement>().ok());
        if let Some(bucket) = bucket {
            let _ = bucket.focus();
        }
    };

    let buckets = trends
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let start = ms(&b.start);
            let x = axis.x(start);
            let readout = readout(b, span_ms);
            let mut y = BASE;
            let segments = EventLayer::ALL
                .iter()
                .zip(LAYER_COLOURS)
                .filter_map(|(layer, colour)| {
                    let n = b.layers.iter().find(|l| l.layer == *layer)?.count;
                    let h = n as f64 / max_total * (BASE - TOP);
                    y -= h;
                    Some(view! {
                        <rect class="seg" data-layer=layer.as_str() data-count=n
                            x=num(x + 0.5) y=num(y) width=num(bar) height=num(h) fill=colour />
                    })
                })
                .collect_view();
            let failures = (b.failures > 0).then(|| {
                view! {
                    <rect class="fail" x=num(x + 0.5) y="154" width=num(bar)
                        height=num(b.failures as f64 / max_failures * FAIL_DEPTH) />
                }
            });
            let on_key = move |ev: KeyboardEvent| {
                let to = match ev.key().as_str() {
                    "Enter" | " " => {
                        ev.prevent_default();
                        return choose(start);
                    }
                    "ArrowRight" if i + 1 < count => i + 1,
                    "ArrowLeft" if i > 0 => i - 1,
                    "Home" => 0,
                    "End" => count.saturating_sub(1),
                    _ => return,
                };
                ev.prevent_default();
                focus(to);
            };
            let (shown_on_focus, shown_on_hover) = (readout.clone(), readout.clone());
            view! {
                <g class="bucket" class:selected=move || selected.get() == Some(start)
                    role="button" data-index=i data-ms=start as i64 data-start=time::iso_from_ms(start)
                    data-total=total(b) data-failures=b.failures
                    tabindex=move || if tab_stop.get() == i { 0 } else { -1 }
                    aria-pressed=move || (selected.get() == Some(start)).to_string()
                    aria-label=readout
                    on:click=move |_| choose(start)
                    on:keydown=on_key
                    on:focus=move |_| {
                        tab_stop.set(i);
                        described.set(Some(shown_on_focus.clone()));
                    }
                    on:blur=move |_| described.set(None)
                    on:mouseenter=move |_| described.set(Some(shown_on_hover.clone()))
                    on:mouseleave=move |_| described.set(None)>
                    <rect class="hit" x=num(x) y="14" width=num(width) height="168" />
                    {segments}
                    {failures}
                </g>
            }
        })
        .collect_view();

    boxed_on_server(view! {
        <figure class="chart">
            <figcaption id="events-chart-title">"Events per bucket by layer; failures below the axis"</figcaption>
            <div class="plot">
                <svg id="events-chart" viewBox="0 0 1000 206" role="group"
                    aria-labelledby="events-chart-title" aria-describedby="events-chart-summary">
                    <text class="axis-label" x="4" y="22">{format!("{} events", max_total as i64)}</text>
                    <text class="axis-label" x="4" y="172">"failures"</text>
                    <line class="baseline" x1="120" x2="990" y1="152" y2="152" />
                    {buckets}
                    <Ticks axis=axis y=196.0 />
                </svg>
            </div>
            <p id="events-chart-summary" class="chart-summary">{summary}</p>
            <p id="trend-readout" class="readout" aria-live="polite">
                {move || described.get().unwrap_or_else(|| HINT.to_owned())}
            </p>
            <ul class="legend" aria-label="Layers">
                {legend}
                <li><span class="swatch fail"></span>"failures (failure-class reason codes)"</li>
            </ul>
        </figure>
    })
}

fn events_summary(t: &TrendsResponse) -> String {
    let events: i64 = t.buckets.iter().map(total).sum();
    let failures: i64 = t.buckets.iter().map(|b| b.failures).sum();
    let busiest = t
        .buckets
        .iter()
        .max_by_key(|b| total(b))
        .filter(|b| total(b) > 0);
    format!(
        "{events} events in {} buckets, {failures} of them failures.{}",
        t.buckets.len(),
        busiest.map_or(String::new(), |b| format!(
            " The busiest bucket starts at {} with {} events.",
            time::format_clock(ms(&b.start)),
            total(b)
        ))
    )
}

/// A bucket's numbers, as the readout and its label say them.
fn readout(b: &TrendBucket, span_ms: f64) -> String {
    let start = ms(&b.start);
    let layers: Vec<String> = b
        .layers
        .iter()
        .map(|l| format!("{} {}", l.layer.as_str(), l.count))
        .collect();
    let detail = if layers.is_empty() {
        String::new()
    } else {
        format!(": {}", layers.join(", "))
    };
    format!(
        "{} to {}: {} events{detail}; {} failures",
        time::format_clock(start),
        time::format_clock(start + span_ms),
        total(b),
        b.failures
    )
}

/// What a route chart draws.
#[derive(Clone, Copy, PartialEq)]
enum Measure {
    /// p50 (solid) and p95 (dashed) latency.
    Latency,
    /// Input + output tokens.
    Tokens,
    /// What the priced calls cost, in USD.
    Cost,
}

impl Measure {
    fn id(self) -> &'static str {
        match self {
            Measure::Latency => "latency-chart",
            Measure::Tokens => "tokens-chart",
            Measure::Cost => "cost-chart",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Measure::Latency => "Provider call latency per route (solid p50, dashed p95)",
            Measure::Tokens => "Tokens per route (input + output)",
            Measure::Cost => "Cost per route (USD, priced calls)",
        }
    }

    /// `(ms, low, high)` per bucket with a value: the line's points.
    fn points(self, route: &RouteTrend) -> Vec<(f64, f64, f64)> {
        route
            .points
            .iter()
            .filter_map(|p| {
                let at = ms(&p.start);
                match self {
                    Measure::Latency => Some((at, p.p50_ms?, p.p95_ms.or(p.p50_ms)?)),
                    Measure::Tokens => {
                        let tokens = (p.input_tokens + p.output_tokens) as f64;
                        Some((at, tokens, tokens))
                    }
                    Measure::Cost => Some((at, p.cost_usd, p.cost_usd)),
                }
            })
            .collect()
    }

    /// The top of the axis, as its label says it.
    fn label(self, max: f64) -> String {
        match self {
            Measure::Latency => format!("{} ms", max.round() as i64),
            Measure::Tokens => format!("{} tokens", max.round() as i64),
            Measure::Cost => usd(max),
        }
    }

    /// One route's sentence of the chart's summary.
    fn summary(self, route: &RouteTrend, points: &[(f64, f64, f64)]) -> String {
        let count: i64 = route.points.iter().map(|p| p.calls).sum();
        let calls = format!("{count} call{}", if count == 1 { "" } else { "s" });
        let name = &route.route;
        match self {
            Measure::Tokens => {
                let tokens: i64 = route
                    .points
                    .iter()
                    .map(|p| p.input_tokens + p.output_tokens)
                    .sum();
                format!("{name}: {tokens} tokens over {calls}")
            }
            Measure::Cost => {
                let cost: f64 = route.points.iter().map(|p| p.cost_usd).sum();
                format!("{name}: {} over {calls}", usd(cost))
            }
            Measure::Latency if points.is_empty() => {
                format!("{name}: {calls}, no latency reported")
            }
            Measure::Latency => {
                let p95 = points.iter().map(|p| p.2).fold(0.0, f64::max);
                let p50 = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
                format!(
                    "{name}: {calls}, p50 from {} ms, p95 up to {} ms",
                    p50.round() as i64,
                    p95.round() as i64
                )
            }
        }
    }
}

/// One measure per route over the buckets with calls: a figure with its
/// summary and legend.
#[component]
fn RouteChart(routes: Vec<RouteTrend>, axis: Axis, measure: Measure) -> impl IntoView {
    let (id, title) = (measure.id(), measure.title());
    let (top, base) = (10.0, 120.0);
    // A route keeps its colour in every chart; one none of whose calls was
    // priced has no cost to draw.
    let routes: Vec<_> = routes
        .into_iter()
        .zip(ROUTE_COLOURS)
        .filter(|(r, _)| measure != Measure::Cost || r.points.iter().any(|p| p.cost_usd > 0.0))
        .map(|(r, colour)| {
            let points = measure.points(&r);
            (r, points, colour)
        })
        .collect();
    let max = routes
        .iter()
        .flat_map(|(_, points, _)| points.iter().map(|p| p.2))
        .fold(0.0_f64, f64::max);
    let scale = if measure == Measure::Cost {
        max.max(1e-6)
    } else {
        max.max(1.0)
    };
    let y = move |v: f64| base - v / scale * (base - top);
    let line = move |points: &[(f64, f64, f64)], pick: fn(&(f64, f64, f64)) -> f64| {
        points
            .iter()
            .map(|p| format!("{},{}", num(axis.x(p.0)), num(y(pick(p)))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let summary = if routes.is_empty() && measure == Measure::Cost {
        "No priced provider calls in this range.".to_owned()
    } else if routes.is_empty() {
        "No provider calls in this range.".to_owned()
    } else {
        routes
            .iter()
            .map(|(r, points, _)| measure.summary(r, points))
            .collect::<Vec<_>>()
            .join("; ")
            + "."
    };
    let lines = routes
        .iter()
        .map(|(r, points, colour)| {
            let colour = *colour;
            let p95 = (measure == Measure::Latency).then(
                || view! { <polyline class="p95" points=line(points, |p| p.2) stroke=colour /> },
            );
            view! {
                <g class="route" data-route=r.route.clone()>
                    <polyline class="p50" points=line(points, |p| p.1) stroke=colour />
                    {p95}
                </g>
            }
        })
        .collect_view();
    let legend = routes
        .iter()
        .map(|(r, _, colour)| {
            let colour = *colour;
            view! { <li><span class="swatch" style:background=colour></span>{r.route.clone()}</li> }
        })
        .collect_view();
    boxed_on_server(view! {
        <figure class="chart">
            <figcaption>{title}</figcaption>
            <svg id=id viewBox="0 0 1000 130" role="img" aria-label=title aria-describedby=format!("{id}-desc")>
                <text class="axis-label" x="4" y="18">{measure.label(max)}</text>
                <line class="baseline" x1="120" x2="990" y1="120" y2="120" />
                {lines}
            </svg>
            <p id=format!("{id}-desc") class="chart-summary">{summary}</p>
            <ul class="legend" aria-label="Routes">{legend}</ul>
        </figure>
    })
}

/// One row per worker, a band where its circuit breaker was open.
#[component]
fn BreakerChart(intervals: Vec<BreakerInterval>, axis: Axis) -> impl IntoView {
    // In the order they first appear (the API's).
    let mut workers: Vec<String> = Vec::new();
    for i in &intervals {
        if !workers.contains(&i.worker_id) {
            workers.push(i.worker_id.clone());
        }
    }
    let row = |worker: &str| workers.iter().position(|w| w == worker).unwrap_or(0);
    let height = 20 * workers.len().max(1) + 22;
    let labels = workers
        .iter()
        .enumerate()
        .map(|(n, w)| view! { <text class="worker-label" x="4" y=20 * n + 14>{w.clone()}</text> })
        .collect_view();
    let bands = intervals
        .iter()
        .map(|i| {
            let (x1, x2) = (
                axis.x(ms(&i.opened_at)),
                axis.x(i.closed_at.as_ref().map_or(axis.to, ms)),
            );
            view! {
                <rect class="band" data-worker=i.worker_id.clone() data-open=i.closed_at.is_none().to_string()
                    x=num(x1) y=20 * row(&i.worker_id) + 3 width=num((x2 - x1).max(2.0)) height="14" />
            }
        })
        .collect_view();
    let summary = if intervals.is_empty() {
        "No circuit breaker was open in this range.".to_owned()
    } else {
        intervals
            .iter()
            .map(breaker_sentence)
            .collect::<Vec<_>>()
            .join("; ")
            + "."
    };
    boxed_on_server(view! {
        <figure class="chart">
            <figcaption>"Circuit breakers open, per worker"</figcaption>
            <svg id="breaker-chart" viewBox=format!("0 0 1000 {height}") role="img"
                aria-label="Circuit breakers open, per worker" aria-describedby="breaker-chart-desc">
                {labels}
                {bands}
                <Ticks axis=axis y=(height - 4) as f64 />
            </svg>
            <p id="breaker-chart-desc" class="chart-summary">{summary}</p>
        </figure>
    })
}

/// `worker-b open from 10:02:40 UTC to 10:06:40 UTC (3 consecutive failures)`.
fn breaker_sentence(i: &BreakerInterval) -> String {
    format!(
        "{} open from {} {}{}",
        i.worker_id,
        time::format_clock(ms(&i.opened_at)),
        i.closed_at
            .as_ref()
            .map_or("and still open".to_owned(), |c| format!(
                "to {}",
                time::format_clock(ms(c))
            )),
        i.reason
            .as_ref()
            .map_or(String::new(), |r| format!(" ({r})"))
    )
}
