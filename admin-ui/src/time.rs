//! Timestamps and ages as people read them, through `chrono`; the browser's
//! clock and time zone only where the page needs them (now, and the local
//! time of the custom range's inputs). While the server renders, its clock
//! is chrono's and the inputs' time zone is UTC: the browser's values take
//! over once it has hydrated the page.

//!
//! Dates are written from chrono's fields rather than its strftime
//! strings: the strftime engine would add about 8 KB of brotli-compressed
//! WASM (measured with `build_ui`) for four fixed layouts.

use ai_runtime_api::{DateTime, Utc};
use chrono::{Datelike, SecondsFormat, Timelike};

/// Now (ms since the epoch), by the browser's clock.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Now (ms since the epoch), by the server's clock.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    Utc::now().timestamp_millis() as f64
}

/// `2026-11-25 08:13:18 UTC`: one zone for everyone reading the same link.
pub fn format_utc(at: &DateTime<Utc>) -> String {
    format!("{} {}", date(at), time_of_day(at))
}

/// The time of day of `ms` (since the epoch), in UTC: `08:13:18 UTC`.
pub fn format_clock(ms: f64) -> String {
    time_of_day(&at_ms(ms))
}

/// A chart's time label: `11-25 08:13` when its axis spans days, else `08:13`.
pub fn format_tick(at: &DateTime<Utc>, with_day: bool) -> String {
    let minute = format!("{:02}:{:02}", at.hour(), at.minute());
    if with_day {
        format!("{:02}-{:02} {minute}", at.month(), at.day())
    } else {
        minute
    }
}

/// `2026-11-25`.
fn date(at: &DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", at.year(), at.month(), at.day())
}

/// `08:13:18 UTC`.
fn time_of_day(at: &DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second())
}

/// `45 s`, `12 min`, `3 h`, `2 d`.
pub fn format_age(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

/// Seconds from `at` to `now_ms`.
pub fn seconds_between(at: &DateTime<Utc>, now_ms: f64) -> f64 {
    (now_ms - at.timestamp_millis() as f64) / 1_000.0
}

/// Seconds from `at` to now, by the browser's clock.
pub fn seconds_since(at: &DateTime<Utc>) -> f64 {
    seconds_between(at, now_ms())
}

/// `ms` since the epoch as a timestamp (clamped to chrono's range).
pub fn at_ms(ms: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
}

/// RFC 3339 in UTC with milliseconds (what the API's `from`/`to` take).
pub fn iso_from_ms(ms: f64) -> String {
    at_ms(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 as ms since the epoch, `None` when it is not RFC 3339.
pub fn ms_from_iso(iso: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(iso)
        .ok()
        .map(|at| at.timestamp_millis() as f64)
}

/// An `<input type="datetime-local">` value (the browser's local time) as
/// RFC 3339 UTC.
#[cfg(target_arch = "wasm32")]
pub fn local_input_to_iso(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let ms = js_sys::Date::new(&value.into()).get_time();
    ms.is_finite().then(|| iso_from_ms(ms))
}

/// RFC 3339 as an `<input type="datetime-local">` value (the browser's local time).
#[cfg(target_arch = "wasm32")]
pub fn iso_to_local_input(iso: &str) -> String {
    let Some(ms) = ms_from_iso(iso) else {
        return String::new();
    };
    let date = js_sys::Date::new(&ms.into());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}

/// The server renders the inputs in UTC (it does not know the browser's zone).
#[cfg(not(target_arch = "wasm32"))]
pub fn local_input_to_iso(value: &str) -> Option<String> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|at| iso_from_ms(at.and_utc().timestamp_millis() as f64))
}

#[cfg(not(target_arch = "wasm32"))]
pub fn iso_to_local_input(iso: &str) -> String {
    ms_from_iso(iso).map_or_else(String::new, |ms| {
        at_ms(ms).format("%Y-%m-%dT%H:%M").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_in_utc_to_the_second() {
        let at = ms_from_iso("2026-11-25T08:13:18.250+01:00").unwrap();
        assert_eq!(format_utc(&at_ms(at)), "2026-11-25 07:13:18 UTC");
        assert_eq!(format_clock(at), "07:13:18 UTC");
        assert_eq!(iso_from_ms(at), "2026-11-25T07:13:18.250Z");
        assert_eq!(format_utc(&at_ms(0.0)), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn chart_ticks_name_the_day_only_when_the_axis_spans_days() {
        let at = at_ms(ms_from_iso("2026-03-05T08:07:00Z").unwrap());
        assert_eq!(format_tick(&at, false), "08:07");
        assert_eq!(format_tick(&at, true), "03-05 08:07");
    }

    #[test]
    fn what_is_no_rfc_3339_is_no_instant() {
        assert_eq!(ms_from_iso(""), None);
        assert_eq!(ms_from_iso("yesterday"), None);
        assert_eq!(ms_from_iso("2026-11-25 08:13"), None);
    }

    #[test]
    fn ages_switch_unit_where_people_do() {
        assert_eq!(format_age(-3.0), "0 s");
        assert_eq!(format_age(119.4), "119 s");
        assert_eq!(format_age(120.0), "2 min");
        assert_eq!(format_age(7_199.0), "119 min");
        assert_eq!(format_age(7_200.0), "2 h");
        assert_eq!(format_age(172_800.0), "2 d");
    }

    #[test]
    fn the_server_renders_the_custom_range_in_utc() {
        assert_eq!(
            local_input_to_iso("2026-11-25T08:13").as_deref(),
            Some("2026-11-25T08:13:00.000Z")
        );
        assert_eq!(
            iso_to_local_input("2026-11-25T08:13:18.250+01:00"),
            "2026-11-25T07:13"
        );
        assert_eq!(local_input_to_iso(""), None);
        assert_eq!(iso_to_local_input("soon"), "");
    }

    #[test]
    fn seconds_between_counts_from_the_timestamp() {
        let at = at_ms(1_000_000.0);
        assert_eq!(seconds_between(&at, 1_045_000.0), 45.0);
    }
}
