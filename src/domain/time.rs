//! The one timestamp format of every answer, push and event: RFC 3339 in UTC with exactly three
//! fractional digits (`2026-11-30T13:43:32.120Z`).
//!
//! Fixed precision because clients parse with fixed patterns: PHP's `DATE_RFC3339_EXTENDED`
//! takes exactly milliseconds, and nine digits (what chrono writes by default for a database
//! timestamp) are refused by it and by `java.time`'s common formatters. Reading stays lenient:
//! any RFC 3339 instant is accepted and converted to UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The pattern every timestamp matches (published in the OpenAPI document).
pub const PATTERN: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$";

/// Whether `text` is in the wire format (checked by hand: the library has no regex engine).
pub fn is_wire_format(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && b[23] == b'Z'
}

/// `at` in the wire format.
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A local wall-clock time with its offset, at the same precision (`…T21:43:32.120+08:00`):
/// the one place an offset other than `Z` is written, because it is the carrier's local time.
pub fn format_local(at: &DateTime<chrono::FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// For `#[serde(with = "crate::domain::time::rfc3339")]` on a `DateTime<Utc>` field.
pub mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<chrono::FixedOffset>::deserialize(deserializer).map(|at| at.with_timezone(&Utc))
    }
}

/// For `#[serde(with = "crate::domain::time::rfc3339_option")]` on an `Option<DateTime<Utc>>`.
pub mod rfc3339_option {
    use super::*;

    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&format(at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<chrono::FixedOffset>>::deserialize(deserializer)
            .map(|at| at.map(|at| at.with_timezone(&Utc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_instant_is_written_with_milliseconds_and_z() {
        let whole = Utc.with_ymd_and_hms(2026, 11, 30, 13, 43, 32).unwrap();
        assert_eq!(format(&whole), "2026-11-30T13:43:32.000Z");
        let nanos = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(format(&nanos), "2026-11-30T13:43:32.123Z");
        assert!(is_wire_format(&format(&nanos)));
        assert!(!is_wire_format("2026-11-30T13:43:32.123456789Z"));
        assert!(!is_wire_format("2026-11-30T13:43:32Z"));
    }

    #[test]
    fn reading_accepts_any_offset_and_precision() {
        #[derive(serde::Deserialize)]
        struct At {
            #[serde(with = "rfc3339")]
            at: DateTime<Utc>,
            #[serde(with = "rfc3339_option", default)]
            maybe: Option<DateTime<Utc>>,
        }
        let read: At =
            serde_json::from_str(r#"{"at":"2026-11-30T21:43:32.123456789+08:00","maybe":null}"#)
                .unwrap();
        assert_eq!(format(&read.at), "2026-11-30T13:43:32.123Z");
        assert_eq!(read.maybe, None);
    }
}
