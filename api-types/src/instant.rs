//! The API's timestamps in the dashboard's build (wasm32), without chrono:
//! RFC 3339 read into microseconds since the Unix epoch, and written back.
//!
//! Why: chrono's parser and calendar were 16 KB of the dashboard's WASM
//! before gzip, and going without them took 8.4 KB off the gzipped WASM
//! (README, "Size"), for a page that only orders timestamps and prints them. The server (native) keeps
//! `chrono::DateTime<Utc>`, so its code and its OpenAPI document do not
//! change. The types are named like chrono's so that each field is written
//! once, `DateTime<Utc>`, for both builds (`lib.rs` picks the one by
//! target, which cargo features could not do: they are unified across the
//! workspace). Compiled and tested on every target.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The zone of every API timestamp: UTC (a marker, as in chrono).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utc;

/// An instant to the microsecond (what PostgreSQL keeps), in JSON as
/// RFC 3339 (`2026-11-25T08:13:18.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime<Tz> {
    micros: i64,
    zone: PhantomData<Tz>,
}

impl DateTime<Utc> {
    pub fn from_timestamp_micros(micros: i64) -> Self {
        DateTime {
            micros,
            zone: PhantomData,
        }
    }

    pub fn timestamp_micros(&self) -> i64 {
        self.micros
    }

    /// Milliseconds since the epoch, rounded down (as chrono's).
    pub fn timestamp_millis(&self) -> i64 {
        self.micros.div_euclid(1_000)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `None` for anything else.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let num = |from: usize, len: usize| -> Option<i64> {
            let digits = b.get(from..from + len)?;
            digits.iter().try_fold(0_i64, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
        if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
            return None;
        }
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        // The fraction: its first six digits are microseconds.
        let mut i = 19;
        let mut micros = 0;
        if at(i, b".") {
            i += 1;
            let start = i;
            while at(i, b"0123456789") {
                if i - start < 6 {
                    micros = micros * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            for _ in (i - start)..6 {
                micros *= 10;
            }
        }
        let offset_minutes = match b.get(i..)? {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), ..] if b.len() == i + 6 && at(i + 3, b":") => {
                let minutes = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
                if *sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds =
            days * 86_400 + hour * 3_600 + (minute - offset_minutes) * 60 + second.min(59);
        Some(Self::from_timestamp_micros(seconds * 1_000_000 + micros))
    }
}

/// RFC 3339 in UTC with as many fraction digits as it needs (none, 3 or 6),
/// as chrono writes it.
impl fmt::Display for DateTime<Utc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.micros.div_euclid(1_000_000);
        let micros = self.micros.rem_euclid(1_000_000);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let of_day = seconds.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            of_day / 3_600,
            of_day % 3_600 / 60,
            of_day % 60
        )?;
        if micros % 1_000 != 0 {
            write!(f, ".{micros:06}")?;
        } else if micros != 0 {
            write!(f, ".{:03}", micros / 1_000)?;
        }
        f.write_str("Z")
    }
}

impl Serialize for DateTime<Utc> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DateTime<Utc> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Rfc3339)
    }
}

struct Rfc3339;

impl Visitor<'_> for Rfc3339 {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        DateTime::parse_rfc3339(text)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar
/// (years counted from March, so that the leap day comes last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01: `days_from_civil` undone.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The same instant as chrono reads it.
    fn chrono_micros(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("chrono parses it")
            .timestamp_micros()
    }

    #[test]
    fn reads_what_chrono_reads() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2026-11-25T08:13:18Z",
            "2026-11-25T08:13:18.5Z",
            "2026-11-25T08:13:18.123Z",
            "2026-11-25T08:13:18.123456Z",
            "2026-11-25T08:13:18.123456789Z",
            "2024-02-29T23:59:59.999999Z",
            "2000-03-01T00:00:00+02:00",
            "1969-12-31T23:59:59.000001-05:30",
            "2026-01-01t00:00:00z",
        ] {
            let ours = DateTime::parse_rfc3339(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(ours.timestamp_micros(), chrono_micros(text), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_rfc_3339() {
        for text in [
            "",
            "2026-11-25",
            "2026-11-25T08:13:18",
            "2026-13-25T08:13:18Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T08:13:18.Z",
            "2026-11-25T08:13:18+0100",
            "2026-11-25T08:13:18Zjunk",
            "２026-11-25T08:13:18Z",
        ] {
            assert_eq!(DateTime::parse_rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn writes_what_chrono_writes() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2026-11-25T08:13:18Z",
            "2026-11-25T08:13:18.120Z",
            "2026-11-25T08:13:18.123456Z",
            "1969-12-31T23:59:59.999999Z",
            "2400-02-29T12:00:00Z",
        ] {
            let ours = DateTime::parse_rfc3339(text).expect("parses");
            let theirs = chrono::DateTime::parse_from_rfc3339(text)
                .expect("chrono parses it")
                .with_timezone(&chrono::Utc);
            assert_eq!(
                serde_json::to_string(&ours).expect("serializes"),
                serde_json::to_string(&theirs).expect("chrono serializes"),
                "{text}"
            );
        }
    }

    #[test]
    fn orders_and_rounds_like_chrono() {
        let a = DateTime::parse_rfc3339("1969-12-31T23:59:59.9995Z").expect("a");
        let b = DateTime::parse_rfc3339("1970-01-01T00:00:00Z").expect("b");
        assert!(a < b);
        assert_eq!(a.timestamp_millis(), -1);
        let json: DateTime<Utc> =
            serde_json::from_str("\"2026-11-25T08:13:18.5Z\"").expect("from JSON");
        assert_eq!(
            json.timestamp_millis(),
            chrono_micros("2026-11-25T08:13:18.5Z") / 1_000
        );
        assert!(serde_json::from_str::<DateTime<Utc>>("\"yesterday\"").is_err());
    }
}
