//! The trends panel above the event stream, over the page's time range:
//! events per bucket stacked by layer with the failures set apart, provider
//! latency p50/p95 and tokens per route, and the circuit breakers' open
//! intervals per worker, all on one time axis. Each chart has a text
//! alternative (a summary it is described by).
//!
//! The charts' SVG is written as markup by the functions below and set as
//! the inner HTML of the component's element: the typed views Leptos builds
//! for each element and attribute cost about 45 KB of gzipped WASM for these
//! few hundred shapes, the markup a few (README, "Dashboard").
//!
//! The event chart's buckets are buttons (one tab stop, arrow keys move
//! between them): hovering or focusing one shows its numbers, clicking it
//! (or Enter/Space) narrows the event stream and the URL to it. Its events
//! are delegated to the chart's element.

use std::fmt::Write;

use ai_runtime_api::{BreakerInterval, EventLayer, RouteTrend, TrendBucket, TrendsResponse};
use leptos::ev::{FocusEvent, KeyboardEvent, MouseEvent};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

use crate::components::loader::{ErrorBanner, Loader};
use crate::markup::esc;
use crate::session::use_session;
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

/// Maps time (ms since the epoch) onto the plot's width.
#[derive(Clone, Copy)]
struct Axis {
    from: f64,
    to: f64,
}

impl Axis {
    fn x(&self, ms: f64) -> f64 {
        let span = (self.to - self.from).max(1.0);
        LEFT + ((ms - self.from) / span).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    /// Six time labels along the bottom of a chart, at `y`.
    fn ticks(&self, svg: &mut String, y: f64) {
        let with_day = self.to - self.from > 86_400_000.0;
        for i in 0..=5 {
            let at = self.from + (self.to - self.from) * i as f64 / 5.0;
            let anchor = ["start", "middle", "middle", "middle", "middle", "end"][i];
            let clock = time::format_clock(at);
            let mut label = clock.get(..5).unwrap_or(&clock).to_owned();
            if with_day {
                let iso = time::iso_from_ms(at);
                label = format!("{} {label}", iso.get(5..10).unwrap_or_default());
            }
            let _ = write!(
                svg,
                r#"<text class="tick" x="{}" y="{}" text-anchor="{anchor}">{label}</text>"#,
                num(self.x(at)),
                num(y)
            );
        }
    }
}

fn ms(at: &ai_runtime_api::DateTime<ai_runtime_api::Utc>) -> f64 {
    at.timestamp_millis() as f64
}

fn total(bucket: &TrendBucket) -> i64 {
    bucket.layers.iter().map(|l| l.count).sum()
}

/// A coordinate with one decimal, written without the float formatting of
/// `core::fmt` (about 20 KB of WASM the dashboard otherwise does without).
fn num(v: f64) -> String {
    let tenths = (v * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
}

#[component]
pub fn TrendsPanel() -> impl IntoView {
    let session = use_session();
    let view_state = use_view();
    let range = Memo::new(move |_| view_state.state.with(|v| v.range.clone()));
    let selected = Memo::new(move |_| {
        view_state
            .state
            .with(|v| v.bucket.as_ref().and_then(Bucket::bounds_ms).map(|b| b.0))
    });
    let trends = RwSignal::new(None::<TrendsResponse>);
    let loader = Loader::new(session, RwSignal::new(None));
    Effect::new(move |_| {
        session.tick.track();
        let (from, to) = range.get().bounds_ms(time::now_ms());
        let query = vec![
            ("from", time::iso_from_ms(from)),
            ("to", time::iso_from_ms(to)),
        ];
        loader.load("trends", query, move |t: TrendsResponse| {
            trends.set(Some(t))
        });
    });
    // The one tab stop among the buckets, kept across redraws.
    let focus_at = StoredValue::new(None::<usize>);
    let plot = NodeRef::<leptos::html::Div>::new();
    // Set when a redraw replaces the bucket that had the focus.
    let refocus = StoredValue::new(false);
    let markup = move || {
        if let (Some(plot), Some(active)) = (plot.get_untracked(), document().active_element()) {
            refocus.set_value(plot.contains(Some(&active)));
        }
        let chosen = selected.get();
        trends.with(|t| match t {
            None => r#"<p class="loading">Loading trends…</p>"#.to_owned(),
            Some(t) => panel(t, focus_at.get_value(), chosen),
        })
    };
    let focus_bucket = move |index: usize| {
        let Some(plot) = plot.get_untracked() else {
            return;
        };
        let Ok(buckets) = plot.query_selector_all(".bucket") else {
            return;
        };
        for n in 0..buckets.length() {
            if let Some(el) = buckets.item(n).and_then(|b| b.dyn_into::<Element>().ok()) {
                let _ = el.set_attribute("tabindex", if n as usize == index { "0" } else { "-1" });
            }
        }
        if let Some(el) = buckets.item(index as u32) {
            let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
        }
    };
    Effect::new(move |_| {
        trends.track();
        selected.track();
        if refocus.get_value() {
            refocus.set_value(false);
            if let Some(i) = focus_at.get_value() {
                request_animation_frame(move || focus_bucket(i));
            }
        }
    });
    let choose = move |index: usize| {
        let Some((start, seconds)) = trends.with_untracked(|t| {
            let t = t.as_ref()?;
            Some((ms(&t.buckets.get(index)?.start), t.bucket_seconds))
        }) else {
            return;
        };
        let mut next = view_state.state.get_untracked();
        next.bucket = Some(Bucket {
            start: time::iso_from_ms(start),
            seconds,
        });
        view_state.navigate(next);
    };
    // The readout says the numbers of the bucket under the pointer or the focus.
    let show = move |index: Option<usize>| {
        let text = trends.with_untracked(|t| {
            let t = t.as_ref()?;
            let b = t.buckets.get(index?)?;
            Some(readout(b, t.bucket_seconds as f64 * 1_000.0))
        });
        if let Some(p) = document().get_element_by_id("trend-readout") {
            p.set_text_content(Some(text.as_deref().unwrap_or(HINT)));
        }
    };
    let on_key = move |ev: KeyboardEvent| {
        let Some((_, i)) = bucket_of(ev.target()) else {
            return;
        };
        let count = trends.with_untracked(|t| t.as_ref().map_or(0, |t| t.buckets.len()));
        let to = match ev.key().as_str() {
            "Enter" | " " => {
                ev.prevent_default();
                return choose(i);
            }
            "ArrowRight" if i + 1 < count => i + 1,
            "ArrowLeft" if i > 0 => i - 1,
            "Home" => 0,
            "End" => count.saturating_sub(1),
            _ => return,
        };
        ev.prevent_default();
        focus_bucket(to);
    };
    let on_focus = move |ev: FocusEvent| {
        if let Some((_, i)) = bucket_of(ev.target()) {
            focus_at.set_value(Some(i));
            show(Some(i));
        }
    };
    view! {
        <section id="trends" aria-labelledby="trends-title">
            <h2 id="trends-title">"Trends"</h2>
            <ErrorBanner error=loader.error what="the trends" />
            <div
                node_ref=plot
                inner_html=markup
                on:click=move |ev: MouseEvent| {
                    if let Some((_, i)) = bucket_of(ev.target()) {
                        choose(i)
                    }
                }
                on:keydown=on_key
                on:focusin=on_focus
                on:focusout=move |_| show(None)
                on:mouseover=move |ev: MouseEvent| show(bucket_of(ev.target()).map(|(_, i)| i))
                on:mouseleave=move |_| show(None)
            ></div>
        </section>
    }
}

const HINT: &str = "Hover over or focus a bucket to see its numbers; click it or press Enter to show its events below (arrow keys move between buckets).";

/// The whole panel: the range, the event chart with its summary, readout
/// and legend, the route charts and the breaker bands.
fn panel(t: &TrendsResponse, focus_at: Option<usize>, selected: Option<f64>) -> String {
    let axis = axis_of(t);
    format!(
        r#"<p class="hint">{}</p><figure class="chart"><figcaption id="events-chart-title">Events per bucket by layer; failures below the axis</figcaption><div class="plot">{}</div><p id="events-chart-summary" class="chart-summary">{}</p><p id="trend-readout" class="readout" aria-live="polite">{HINT}</p><ul class="legend" aria-label="Layers">{}</ul></figure><div class="chart-pair">{}{}</div>{}"#,
        range_text(t),
        events_chart(t, focus_at, selected),
        events_summary(t),
        legend(),
        route_chart(&t.routes, axis, true),
        route_chart(&t.routes, axis, false),
        breaker_chart(&t.breaker_open, axis)
    )
}

fn axis_of(t: &TrendsResponse) -> Axis {
    Axis {
        from: ms(&t.from),
        to: ms(&t.to),
    }
}

fn range_text(t: &TrendsResponse) -> String {
    format!(
        "{} to {}, in buckets of {}. All times UTC.",
        time::format_utc(&t.from),
        time::format_utc(&t.to),
        time::format_age(t.bucket_seconds as f64)
    )
}

/// The bucket under an event's target, by its index.
fn bucket_of(target: Option<web_sys::EventTarget>) -> Option<(Element, usize)> {
    let element = target?
        .dyn_into::<Element>()
        .ok()?
        .closest(".bucket")
        .ok()??;
    let index = element.get_attribute("data-index")?.parse().ok()?;
    Some((element, index))
}

fn legend() -> String {
    let mut html = String::new();
    for (c, layer) in EventLayer::ALL.iter().enumerate() {
        let _ = write!(
            html,
            r#"<li><span class="swatch" style="background:{}"></span>{}</li>"#,
            LAYER_COLOURS[c],
            layer.as_str()
        );
    }
    html + r#"<li><span class="swatch fail"></span>failures (failure-class reason codes)</li>"#
}

/// The event chart's SVG: one button per bucket (the tab stop at `focus_at`,
/// else the last), its layers stacked, its failures below the axis.
fn events_chart(t: &TrendsResponse, focus_at: Option<usize>, selected: Option<f64>) -> String {
    let axis = axis_of(t);
    let span_ms = t.bucket_seconds as f64 * 1_000.0;
    let max_total = t.buckets.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let max_failures = t
        .buckets
        .iter()
        .map(|b| b.failures)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = (axis.x(axis.from + span_ms) - axis.x(axis.from)).max(1.0);
    let bar = (width - 1.0).max(0.5);
    let tab_stop = focus_at
        .filter(|i| *i < t.buckets.len())
        .unwrap_or(t.buckets.len().saturating_sub(1));
    let mut svg = format!(
        r#"<svg id="events-chart" viewBox="0 0 1000 206" role="group" aria-labelledby="events-chart-title" aria-describedby="events-chart-summary"><text class="axis-label" x="4" y="22">{} events</text><text class="axis-label" x="4" y="172">failures</text><line class="baseline" x1="120" x2="990" y1="152" y2="152"/>"#,
        max_total as i64
    );
    for (i, b) in t.buckets.iter().enumerate() {
        let start = ms(&b.start);
        let x = axis.x(start);
        let pressed = selected == Some(start);
        let _ = write!(
            svg,
            r#"<g class="bucket{}" role="button" data-index="{i}" data-ms="{}" data-start="{}" data-total="{}" data-failures="{}" tabindex="{}" aria-pressed="{pressed}" aria-label="{}"><rect class="hit" x="{}" y="14" width="{}" height="168"/>"#,
            if pressed { " selected" } else { "" },
            start as i64,
            time::iso_from_ms(start),
            total(b),
            b.failures,
            if i == tab_stop { 0 } else { -1 },
            esc(&readout(b, span_ms)),
            num(x),
            num(width),
        );
        let mut y = BASE;
        for (c, layer) in EventLayer::ALL.iter().enumerate() {
            let Some(n) = b.layers.iter().find(|l| l.layer == *layer).map(|l| l.count) else {
                continue;
            };
            let h = n as f64 / max_total * (BASE - TOP);
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="seg" data-layer="{}" data-count="{n}" x="{}" y="{}" width="{}" height="{}" fill="{}"/>"#,
                layer.as_str(),
                num(x + 0.5),
                num(y),
                num(bar),
                num(h),
                LAYER_COLOURS[c]
            );
        }
        if b.failures > 0 {
            let _ = write!(
                svg,
                r#"<rect class="fail" x="{}" y="154" width="{}" height="{}"/>"#,
                num(x + 0.5),
                num(bar),
                num(b.failures as f64 / max_failures * FAIL_DEPTH)
            );
        }
        svg.push_str("</g>");
    }
    axis.ticks(&mut svg, 196.0);
    svg + "</svg>"
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

/// Latency p50 (solid) and p95 (dashed) per route, or tokens (input +
/// output) per route, over the buckets with calls: a figure with its
/// summary and legend.
fn route_chart(routes: &[RouteTrend], axis: Axis, latency: bool) -> String {
    let (id, title, unit) = if latency {
        (
            "latency-chart",
            "Provider call latency per route (solid p50, dashed p95)",
            "ms",
        )
    } else {
        (
            "tokens-chart",
            "Tokens per route (input + output)",
            "tokens",
        )
    };
    let (top, base) = (10.0, 120.0);
    let values = |r: &RouteTrend| -> Vec<(f64, f64, f64)> {
        r.points
            .iter()
            .filter_map(|p| {
                let x = ms(&p.start);
                if latency {
                    Some((x, p.p50_ms?, p.p95_ms.or(p.p50_ms)?))
                } else {
                    let tokens = (p.input_tokens + p.output_tokens) as f64;
                    Some((x, tokens, tokens))
                }
            })
            .collect()
    };
    let max = routes
        .iter()
        .flat_map(|r| values(r).into_iter().map(|v| v.2))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let y = |v: f64| base - v / max * (base - top);
    let mut svg = format!(
        r#"<svg id="{id}" viewBox="0 0 1000 130" role="img" aria-label="{title}" aria-describedby="{id}-desc"><text class="axis-label" x="4" y="18">{} {unit}</text><line class="baseline" x1="120" x2="990" y1="120" y2="120"/>"#,
        max.round() as i64
    );
    let mut summary = Vec::new();
    let mut legend = String::new();
    for (c, r) in routes.iter().take(ROUTE_COLOURS.len()).enumerate() {
        let points = values(r);
        let path = |pick: fn(&(f64, f64, f64)) -> f64| {
            points
                .iter()
                .map(|p| format!("{},{}", num(axis.x(p.0)), num(y(pick(p)))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let route = esc(&r.route);
        let colour = ROUTE_COLOURS[c];
        let _ = write!(
            svg,
            r#"<g class="route" data-route="{route}"><polyline class="p50" points="{}" stroke="{colour}"/>"#,
            path(|p| p.1)
        );
        if latency {
            let _ = write!(
                svg,
                r#"<polyline class="p95" points="{}" stroke="{colour}"/>"#,
                path(|p| p.2)
            );
        }
        svg.push_str("</g>");
        let _ = write!(
            legend,
            r#"<li><span class="swatch" style="background:{colour}"></span>{route}</li>"#
        );
        let calls: i64 = r.points.iter().map(|p| p.calls).sum();
        summary.push(if !latency {
            let tokens: i64 = r
                .points
                .iter()
                .map(|p| p.input_tokens + p.output_tokens)
                .sum();
            format!("{route}: {tokens} tokens over {calls} calls")
        } else if points.is_empty() {
            format!("{route}: {calls} calls, no latency reported")
        } else {
            let p95 = points.iter().map(|p| p.2).fold(0.0, f64::max);
            let p50 = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
            format!(
                "{route}: {calls} calls, p50 from {} ms, p95 up to {} ms",
                p50.round() as i64,
                p95.round() as i64
            )
        });
    }
    let summary = if summary.is_empty() {
        "No provider calls in this range.".to_owned()
    } else {
        summary.join("; ") + "."
    };
    format!(
        r#"<figure class="chart"><figcaption>{title}</figcaption>{svg}</svg><p id="{id}-desc" class="chart-summary">{summary}</p><ul class="legend" aria-label="Routes">{legend}</ul></figure>"#
    )
}

/// One row per worker, a band where its circuit breaker was open.
fn breaker_chart(intervals: &[BreakerInterval], axis: Axis) -> String {
    // In the order they first appear (the API's).
    let mut workers: Vec<&str> = Vec::new();
    for i in intervals {
        if !workers.contains(&i.worker_id.as_str()) {
            workers.push(&i.worker_id);
        }
    }
    let height = 20 * workers.len().max(1) as i64 + 22;
    let mut svg = format!(
        r#"<svg id="breaker-chart" viewBox="0 0 1000 {height}" role="img" aria-label="Circuit breakers open, per worker" aria-describedby="breaker-chart-desc">"#
    );
    for (n, w) in workers.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text class="worker-label" x="4" y="{}">{}</text>"#,
            20 * n + 14,
            esc(w)
        );
    }
    let mut summary = Vec::new();
    for i in intervals {
        let n = workers.iter().position(|w| *w == i.worker_id).unwrap_or(0);
        let opened = ms(&i.opened_at);
        let closed = i.closed_at.as_ref().map_or(axis.to, ms);
        let (x1, x2) = (axis.x(opened), axis.x(closed));
        let worker = esc(&i.worker_id);
        let _ = write!(
            svg,
            r#"<rect class="band" data-worker="{worker}" data-open="{}" x="{}" y="{}" width="{}" height="14"/>"#,
            i.closed_at.is_none(),
            num(x1),
            20 * n + 3,
            num((x2 - x1).max(2.0))
        );
        summary.push(format!(
            "{worker} open from {} {}{}",
            time::format_clock(opened),
            i.closed_at
                .as_ref()
                .map_or("and still open".to_owned(), |c| format!(
                    "to {}",
                    time::format_clock(ms(c))
                )),
            i.reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({})", esc(r)))
        ));
    }
    axis.ticks(&mut svg, (height - 4) as f64);
    let summary = if summary.is_empty() {
        "No circuit breaker was open in this range.".to_owned()
    } else {
        summary.join("; ") + "."
    };
    format!(
        r#"<figure class="chart"><figcaption>Circuit breakers open, per worker</figcaption>{svg}</svg><p id="breaker-chart-desc" class="chart-summary">{summary}</p></figure>"#
    )
}
