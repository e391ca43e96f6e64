//! Daily partitions: `ai_runtime_events_pYYYYMMDD` holds `[day, day + 1)` in UTC.

use chrono::NaiveDate;

/// The events table, its default partition and the daily partitions' prefix.
pub const PARENT: &str = "ai_runtime_events";
pub const DEFAULT_PARTITION: &str = "ai_runtime_events_default";
const PREFIX: &str = "ai_runtime_events_p";

/// The partition that holds `day`'s events.
pub fn partition_name(day: NaiveDate) -> String {
    format!("{PREFIX}{}", day.format("%Y%m%d"))
}

/// The day a partition made by this crate (or by the migration) holds;
/// `None` for any other table, which maintenance leaves alone.
pub fn day_of(partition: &str) -> Option<NaiveDate> {
    let digits = partition.strip_prefix(PREFIX)?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// The day's first instant as a `timestamptz` literal, for DDL (which takes
/// no bind parameters): `'2026-11-30 00:00:00+00'`.
pub fn start_literal(day: NaiveDate) -> String {
    format!("'{} 00:00:00+00'", day.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_not_days() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        assert_eq!(partition_name(day), "ai_runtime_events_p20260203");
        assert_eq!(day_of(&partition_name(day)), Some(day));
        assert_eq!(start_literal(day), "'2026-02-03 00:00:00+00'");
        for other in [
            "ai_runtime_events_default",
            "ai_runtime_events_p2026020",
            "ai_runtime_events_p20260230",
            "ai_runtime_events_p2026020x",
            "ai_runtime_events_p202602031",
            "ai_worker_status",
        ] {
            assert_eq!(day_of(other), None, "{other}");
        }
    }
}
