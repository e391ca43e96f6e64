//! Timestamps from Postgres straight to JSON. A `timestamptz` arrives (in
//! the binary protocol) as microseconds since 2000-01-01 UTC and leaves as
//! RFC 3339 text, byte for byte what chrono's `DateTime<Utc>` serializes
//! to (the API types use chrono; a test holds the two together). Going
//! through chrono instead costs two calendar conversions and a formatter
//! that writes one char at a time: a third of the time to encode an events
//! page.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// Microseconds from the Unix epoch to Postgres' epoch (2000-01-01).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// A `timestamptz` as microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// As chrono's type (for cursors); `None` outside chrono's range.
    pub fn to_chrono(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }

    /// RFC 3339 in UTC with chrono's `AutoSi` precision: no fraction for a
    /// whole second, else 3 or 6 digits, whichever is exact. `None` for
    /// years outside 0000..=9999 (chrono then writes a sign).
    fn write_rfc3339(self, out: &mut [u8; 32]) -> Option<usize> {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND) as u32;
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;

        // YYYY-MM-DDThh:mm:ss[.fff[fff]]Z
        *out = *b"0000-00-00T00:00:00.000000Z_____";
        put_digits(&mut out[0..4], year);
        put_digits(&mut out[5..7], month);
        put_digits(&mut out[8..10], day);
        put_digits(&mut out[11..13], second_of_day / 3600);
        put_digits(&mut out[14..16], second_of_day / 60 % 60);
        put_digits(&mut out[17..19], second_of_day % 60);
        let end = match micros {
            0 => 19,
            m if m % 1000 == 0 => {
                put_digits(&mut out[20..23], m / 1000);
                23
            }
            m => {
                put_digits(&mut out[20..26], m);
                26
            }
        };
        out[end] = b'Z';
        Some(end + 1)
    }
}

impl Timestamp {
    /// Appends the timestamp as a JSON string.
    pub fn write_json(self, out: &mut Vec<u8>) {
        let mut buffer = [0u8; 32];
        match self.write_rfc3339(&mut buffer) {
            Some(len) => {
                out.push(b'"');
                out.extend_from_slice(&buffer[..len]);
                out.push(b'"');
            }
            // Beyond year 9999: chrono's text, or null past its range.
            None => {
                let _ = serde_json::to_writer(out, &self.to_chrono());
            }
        }
    }
}

/// Writes `value` as decimal digits filling `out` (zero-padded).
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian date of a day number (0 = 1970-01-01): shift
/// the year to start in March (so the leap day ends it), split into
/// 400-year eras of 146,097 days, then find the year of the era, the day
/// of the year and its month with the 153-day five-month cycle.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0u8; 32];
        match self.write_rfc3339(&mut buffer) {
            // Only ASCII digits and separators were written.
            Some(len) => {
                serializer.serialize_str(std::str::from_utf8(&buffer[..len]).unwrap_or(""))
            }
            None => match self.to_chrono() {
                Some(at) => at.serialize(serializer),
                None => Err(serde::ser::Error::custom("timestamp out of range")),
            },
        }
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => {
                let bytes: [u8; 8] = value.as_bytes()?.try_into()?;
                let since_2000 = i64::from_be_bytes(bytes);
                // `infinity` is i64::MAX / MIN: out of range, like chrono.
                let micros = since_2000
                    .checked_add(PG_EPOCH_UNIX_MICROS)
                    .filter(|_| since_2000 != i64::MAX && since_2000 != i64::MIN)
                    .ok_or("timestamp out of range")?;
                Ok(Timestamp(micros))
            }
            PgValueFormat::Text => {
                let at = <DateTime<Utc> as Decode<Postgres>>::decode(value)?;
                Ok(Timestamp(at.timestamp_micros()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_json(micros: i64) -> String {
        serde_json::to_string(&DateTime::from_timestamp_micros(micros).unwrap()).unwrap()
    }

    #[test]
    fn prints_what_chrono_prints() {
        let mut cases = vec![
            0,
            1,
            -1,
            999_000,
            1_000,
            123_456,
            1_790_000_000_123_456,
            1_790_000_000_000_000,
            1_790_000_000_120_000,
            951_782_400_000_000,     // 2000-02-29
            951_868_800_000_000,     // 2000-03-01
            4_107_542_400_000_000,   // 2100-03-01
            -62_135_596_800_000_000, // 0001-01-01
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ];
        // A deterministic spread over four centuries.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let micros = (x % 12_622_780_800_000_000) as i64 - 3_155_695_200_000_000;
            cases.push(micros);
            cases.push(micros - micros.rem_euclid(1_000_000));
            cases.push(micros - micros.rem_euclid(1_000));
        }
        for micros in cases {
            let ours = serde_json::to_string(&Timestamp(micros)).unwrap();
            assert_eq!(ours, chrono_json(micros), "{micros} µs");
        }
    }

    #[sqlx::test(migrations = false)]
    async fn decodes_what_postgres_sends(pool: sqlx::PgPool) {
        let cases = [
            "2000-01-01 00:00:00+00",
            "1999-12-31 23:59:59.999999+00",
            "1969-07-20 20:17:40.5+00",
            "2026-11-25 10:20:31.123456+00",
            "2400-02-29 12:00:00.001+00",
        ];
        for text in cases {
            let (ours, chrono): (Timestamp, DateTime<Utc>) =
                sqlx::query_as("select $1::timestamptz, $1::timestamptz")
                    .bind(text)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert_eq!(ours.to_chrono(), Some(chrono), "{text}");
        }
        let infinity: Result<(Timestamp,), _> = sqlx::query_as("select 'infinity'::timestamptz")
            .fetch_one(&pool)
            .await;
        assert!(infinity.is_err(), "infinity is out of range");
    }

    #[test]
    fn years_beyond_four_digits_fall_back_to_chrono() {
        let micros = 253_402_300_800_000_000; // 10000-01-01
        assert_eq!(
            serde_json::to_string(&Timestamp(micros)).unwrap(),
            chrono_json(micros)
        );
    }
}
