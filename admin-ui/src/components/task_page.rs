//! A task's page (`pages::Page::Task`, at `{BASE}/tasks/{id}`): the task
//! (status, reason, attempts, lease; an external task, one only its events
//! know, says so instead), its provider calls with their tokens
//! and cost, its transitions with their times and who made them, and its
//! transitions and runtime events on one timeline, oldest first.
//!
//! Polled like every panel (`polled`): the story stays on screen while the
//! next one loads, and a failure (an unknown task, the server down) is
//! said in its place until a load succeeds again.

use ai_runtime_api::{
    ProviderCall, RuntimeEvent, TaskDetail, TaskSummary, TaskTransition, EXTERNAL_TASK_DAYS,
};
use leptos::either::Either;
use leptos::prelude::*;
use uuid::Uuid;

use crate::components::page_link::PageLink;
use crate::components::polled::{poll, Polled};
use crate::components::tasks::{events_of, reason_text};
use crate::components::view_link::ViewLink;
use crate::pages::Page;
use crate::time;
use crate::view_state::use_view;

#[component]
pub fn TaskPage(id: Uuid) -> impl IntoView {
    let detail = poll::<TaskDetail>(move || format!("tasks/{id}"), Vec::new);
    let view_state = use_view();
    let events_of_task = Signal::derive(move || events_of(id, view_state.state.get()));

    view! {
        <main id="task-page">
            <nav aria-label="Back">
                <PageLink page=Page::Overview attr:id="back-to-overview">"← Overview"</PageLink>
                " · "
                <ViewLink to=events_of_task section="events" attr:id="task-in-stream">
                    "This task's events in the event stream"
                </ViewLink>
            </nav>
            <h2 id="task-title">"Task " <code>{id.to_string()}</code></h2>
            <Polled data=detail what="the task" loading="Loading the task…"
                render={|d: Signal<TaskDetail>| move || view! { <Story detail=d.get() /> }} />
        </main>
    }
}

#[component]
fn Story(detail: TaskDetail) -> impl IntoView {
    let counts = format!(
        "{} transitions and {} runtime events, oldest first.",
        detail.transitions.len(),
        detail.events.len()
    );
    let truncated = detail.events_truncated.then(|| {
        view! {
            <p class="notice" id="events-truncated">
                "This task has more runtime events than a page holds: the newest are shown."
            </p>
        }
    });
    let no_transitions = detail
        .transitions
        .is_empty()
        .then(|| view! { <tr><td colspan="4" class="empty">"No transitions recorded."</td></tr> });
    let timeline = timeline(&detail.transitions, &detail.events);
    let facts = match detail.task {
        Some(task) => Either::Left(view! { <Facts task=task /> }),
        None => Either::Right(view! {
            <p id="external-task" class="notice">
                "This task is not in this queue: its worker is outside it (sending through OTLP, for instance). \
                 Its runtime events of the last "
                {EXTERNAL_TASK_DAYS}
                " days are shown."
            </p>
        }),
    };
    view! {
        <div id="task-story">
            {facts}
            <Calls calls=detail.calls />
            <section id="transitions" aria-labelledby="transitions-title">
                <h3 class="sub" id="transitions-title">"Transitions"</h3>
                <table id="transitions-table">
                    <caption>"Status changes in order, with who made them"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Time"</th>
                            <th scope="col">"Change"</th>
                            <th scope="col">"Reason code"</th>
                            <th scope="col">"By"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {detail.transitions.iter().map(|t| view! {
                            <tr class="transition">
                                <td>{time::format_utc(&t.occurred_at)}</td>
                                <td class="change">{change(t)}</td>
                                <td class="reason">{t.reason_code.clone()}</td>
                                <td class="by">{by(t)}</td>
                            </tr>
                        }).collect_view()}
                        {no_transitions}
                    </tbody>
                </table>
            </section>
            <section id="timeline" aria-labelledby="timeline-title">
                <h3 class="sub" id="timeline-title">"Timeline"</h3>
                <p class="hint">{counts}</p>
                {truncated}
                <ol class="timeline">{timeline}</ol>
            </section>
        </div>
    }
}

#[component]
fn Facts(task: TaskSummary) -> impl IntoView {
    let lease = match (&task.lease_owner, &task.lease_expires_at) {
        (Some(owner), Some(at)) => format!("{owner}, until {}", time::format_utc(at)),
        (Some(owner), None) => owner.clone(),
        (None, Some(at)) => format!("until {}", time::format_utc(at)),
        (None, None) => "none".to_owned(),
    };
    let latest = task.latest_event.as_ref().map_or("—".to_owned(), |e| {
        format!(
            "{} {} {} at {}",
            e.layer.as_str(),
            e.operation.as_str(),
            e.reason_code,
            time::format_utc(&e.occurred_at)
        )
    });
    let status = format!(
        "{}{}",
        task.status.as_str(),
        if task.stuck { " ⚠ STUCK" } else { "" }
    );
    let rows = [
        ("Status", "status", status),
        ("Reason", "reason", reason_text(&task)),
        (
            "Attempts",
            "attempts",
            format!("{} of {}", task.attempts, task.max_attempts),
        ),
        ("Lease", "lease", lease),
        ("Kind", "kind", task.kind.clone()),
        ("Persona", "persona", task.persona_id.to_string()),
        ("Created", "created", time::format_utc(&task.created_at)),
        (
            "Scheduled",
            "scheduled",
            time::format_utc(&task.scheduled_at),
        ),
        ("Updated", "updated", time::format_utc(&task.updated_at)),
        ("Latest event", "latest-event", latest),
    ];
    view! {
        <dl id="task-facts" class="facts" class:stuck=task.stuck>
            {rows.into_iter().map(|(label, class, value)| view! {
                <dt>{label}</dt>
                <dd class=class>{value}</dd>
            }).collect_view()}
        </dl>
    }
}

/// The task's provider calls: route, model, tokens, cost and duration, and
/// what they cost together.
#[component]
fn Calls(calls: Vec<ProviderCall>) -> impl IntoView {
    if calls.is_empty() {
        return Either::Left(view! {
            <section id="calls" aria-labelledby="calls-title">
                <h3 class="sub" id="calls-title">"Provider calls"</h3>
                <p class="hint">"No provider call recorded for this task."</p>
            </section>
        });
    }
    let summary = calls_summary(&calls);
    Either::Right(view! {
        <section id="calls" aria-labelledby="calls-title">
            <h3 class="sub" id="calls-title">"Provider calls"</h3>
            <p id="calls-summary">{summary}</p>
            <table id="calls-table">
                <caption>"Each provider call of the task, oldest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Route"</th>
                        <th scope="col">"Model"</th>
                        <th scope="col">"Input tokens"</th>
                        <th scope="col">"Output tokens"</th>
                        <th scope="col">"Cost"</th>
                        <th scope="col">"Duration"</th>
                        <th scope="col">"Outcome"</th>
                    </tr>
                </thead>
                <tbody>
                    {calls.into_iter().map(|c| view! {
                        <tr class="call" class:bad=c.failed data-id=c.event_id.to_string()>
                            <td>{time::format_utc(&c.occurred_at)}</td>
                            <td class="route">{c.route.clone()}</td>
                            <td class="model">{c.model.clone().unwrap_or_else(|| "—".to_owned())}</td>
                            <td class="input-tokens">{or_dash(c.input_tokens)}</td>
                            <td class="output-tokens">{or_dash(c.output_tokens)}</td>
                            <td class="cost">{c.cost_usd.map_or("unpriced".to_owned(), usd)}</td>
                            <td class="duration">{c.duration_ms.map_or("—".to_owned(), |ms| format!("{ms:.0} ms"))}</td>
                            <td class="outcome">{format!("{} {}", if c.failed { "✖" } else { "✔" }, c.reason_code)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    })
}

/// `3 calls, 1 failed; 1,200 input and 300 output tokens; $0.0042 (1 call unpriced)`.
fn calls_summary(calls: &[ProviderCall]) -> String {
    let failed = calls.iter().filter(|c| c.failed).count();
    let input: i64 = calls.iter().filter_map(|c| c.input_tokens).sum();
    let output: i64 = calls.iter().filter_map(|c| c.output_tokens).sum();
    // Folded from +0.0: an empty f64 sum is -0.0.
    let cost = calls
        .iter()
        .filter_map(|c| c.cost_usd)
        .fold(0.0, |sum, c| sum + c);
    let unpriced = calls.iter().filter(|c| c.cost_usd.is_none()).count();
    let priced = if unpriced == calls.len() {
        "no priced call".to_owned()
    } else {
        format!("{} in all", usd(cost))
    };
    let mut text = format!(
        "{} call{}, {failed} failed; {input} input and {output} output tokens; {priced}",
        calls.len(),
        if calls.len() == 1 { "" } else { "s" },
    );
    if unpriced > 0 {
        text.push_str(&format!(
            " ({unpriced} unpriced: the model's price is not known)"
        ));
    }
    text
}

/// `$0.0042`: four decimals, a provider call's cost is often below a cent.
pub fn usd(cost: f64) -> String {
    format!("${cost:.4}")
}

fn or_dash(n: Option<i64>) -> String {
    n.map_or("—".to_owned(), |n| n.to_string())
}

/// `PENDING → RUNNING`, or `created as PENDING`.
fn change(t: &TaskTransition) -> String {
    match t.from_status {
        Some(from) => format!("{} → {}", from.as_str(), t.to_status.as_str()),
        None => format!("created as {}", t.to_status.as_str()),
    }
}

/// Who made a transition: a worker, or the queue itself.
fn by(t: &TaskTransition) -> String {
    t.worker_id
        .clone()
        .unwrap_or_else(|| "the queue (no worker)".to_owned())
}

/// One item of the timeline.
enum Moment<'a> {
    Transition(&'a TaskTransition),
    Event(&'a RuntimeEvent),
}

/// Transitions and events in one list, oldest first (both come oldest
/// first: merged, not sorted). A transition goes before an event of the
/// same instant.
fn merged<'a>(transitions: &'a [TaskTransition], events: &'a [RuntimeEvent]) -> Vec<Moment<'a>> {
    let (mut t, mut e) = (transitions.iter().peekable(), events.iter().peekable());
    let mut moments = Vec::with_capacity(transitions.len() + events.len());
    loop {
        let next = match (t.peek(), e.peek()) {
            (Some(a), Some(b)) if a.occurred_at <= b.occurred_at => {
                t.next().map(Moment::Transition)
            }
            (Some(_), None) => t.next().map(Moment::Transition),
            (_, Some(_)) => e.next().map(Moment::Event),
            (None, None) => None,
        };
        match next {
            Some(moment) => moments.push(moment),
            None => return moments,
        }
    }
}

fn timeline(transitions: &[TaskTransition], events: &[RuntimeEvent]) -> impl IntoView {
    merged(transitions, events)
        .into_iter()
        .map(|moment| match moment {
            Moment::Transition(t) => Either::Left(view! {
                <li class="timeline-item transition">
                    <time>{time::format_utc(&t.occurred_at)}</time>
                    <span class="kind">"Transition"</span>
                    <span>{format!("{}: {} by {}", change(t), t.reason_code, by(t))}</span>
                </li>
            }),
            Moment::Event(e) => Either::Right(view! {
                <li class="timeline-item event" data-id=e.id.to_string()>
                    <time>{time::format_utc(&e.occurred_at)}</time>
                    <span class="kind">{format!("{} {}", e.layer.as_str(), e.operation.as_str())}</span>
                    <span class="reason">{e.reason_code.clone()}</span>
                    <span>{format!("on {} by {}", e.entity_id, e.worker_id.as_deref().unwrap_or("no worker"))}</span>
                    <code class="metadata">{e.metadata.to_string()}</code>
                </li>
            }),
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(cost_usd: Option<f64>, failed: bool) -> ProviderCall {
        ProviderCall {
            event_id: Uuid::nil(),
            occurred_at: time::at_ms(0.0),
            route: "openai/gpt-4o-mini".into(),
            model: None,
            input_tokens: Some(100),
            output_tokens: Some(20),
            cost_usd,
            duration_ms: None,
            reason_code: "PROVIDER_CALL_OK".into(),
            failed,
        }
    }

    #[test]
    fn the_calls_summary_adds_up_and_names_the_unpriced() {
        assert_eq!(
            calls_summary(&[call(Some(0.001), false), call(None, true)]),
            "2 calls, 1 failed; 200 input and 40 output tokens; $0.0010 in all \
             (1 unpriced: the model's price is not known)"
        );
        assert_eq!(
            calls_summary(&[call(None, false)]),
            "1 call, 0 failed; 100 input and 20 output tokens; no priced call \
             (1 unpriced: the model's price is not known)"
        );
    }

    #[test]
    fn costs_read_to_a_hundredth_of_a_cent() {
        assert_eq!(usd(0.004_21), "$0.0042");
        assert_eq!(usd(12.5), "$12.5000");
    }
}
