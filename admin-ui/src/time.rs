//! Timestamps and ages as people read them, and the browser's clock.

use ai_runtime_api::{DateTime, Utc};
use wasm_bindgen::JsValue;

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `2026-11-25 08:13:18 UTC`: one zone for everyone reading the same link.
pub fn format_utc(at: &DateTime<Utc>) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        date.get_utc_full_year(),
        date.get_utc_month() + 1,
        date.get_utc_date(),
        date.get_utc_hours(),
        date.get_utc_minutes(),
        date.get_utc_seconds()
    )
}

/// The time of day of a browser timestamp, in UTC.
pub fn format_clock(ms: f64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(ms));
    format!(
        "{:02}:{:02}:{:02} UTC",
        date.get_utc_hours(),
        date.get_utc_minutes(),
        date.get_utc_seconds()
    )
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

/// Seconds from `at` to now, by the browser's clock.
pub fn seconds_since(at: &DateTime<Utc>) -> f64 {
    (now_ms() - at.timestamp_millis() as f64) / 1_000.0
}

/// RFC 3339 in UTC with milliseconds (what the API's `from`/`to` take).
pub fn iso_from_ms(ms: f64) -> String {
    js_sys::Date::new(&JsValue::from_f64(ms))
        .to_iso_string()
        .into()
}

/// An `<input type="datetime-local">` value (local time) as RFC 3339 UTC.
pub fn local_input_to_iso(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let date = js_sys::Date::new(&JsValue::from_str(value));
    (!date.get_time().is_nan()).then(|| date.to_iso_string().into())
}

/// RFC 3339 as an `<input type="datetime-local">` value (local time).
pub fn iso_to_local_input(iso: &str) -> String {
    let date = js_sys::Date::new(&JsValue::from_str(iso));
    if iso.is_empty() || date.get_time().is_nan() {
        return String::new();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}
