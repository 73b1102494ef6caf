//! The normalized update: the one type that crosses from `carriers/` into the gateway.
//!
//! A parser turns carrier bytes into a [`ParseOutcome`]: updates for the tracking numbers it
//! understood plus a problem per item it could not, so one bad entry never sinks a batch.
//! Instants are always UTC; the carrier's own offset is kept beside them, with a flag when the
//! offset was inferred from the carrier's conventions rather than given in the payload.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Status;

/// One carrier scan or milestone, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    /// When it happened, in UTC.
    pub occurred_at: DateTime<Utc>,
    /// The offset from UTC, in seconds, of the local time the carrier reported.
    pub utc_offset_seconds: Option<i32>,
    /// True when the offset was not in the payload but inferred (a carrier's home zone).
    pub offset_inferred: bool,
    pub status: Status,
    pub sub_status: Option<String>,
    /// The carrier's own code, exactly as sent (kept even when it maps to `unknown`).
    pub raw_code: String,
    pub description: String,
    pub location: Option<String>,
    /// Stable across repeated deliveries of the same carrier event; see [`dedupe_key`].
    pub dedupe_key: String,
}

impl TrackingEvent {
    /// An event at `instant`: its UTC time, the offset it carried and whether that offset was
    /// inferred all come from the instant.
    pub fn at(
        instant: Instant,
        (status, sub_status): (Status, Option<String>),
        raw_code: String,
        description: String,
        location: Option<String>,
        dedupe_key: String,
    ) -> TrackingEvent {
        TrackingEvent {
            occurred_at: instant.utc,
            utc_offset_seconds: instant.offset_seconds,
            offset_inferred: instant.offset_inferred,
            status,
            sub_status,
            raw_code,
            description,
            location,
            dedupe_key,
        }
    }
}

/// Everything one payload said about one tracking number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingUpdate {
    pub tracking_number: String,
    /// The courier behind an aggregator's update, in the aggregator's code (Kuaidi100 `com`,
    /// AfterShip `slug`, 17TRACK carrier number, EasyPost/Shippo `carrier`), when the payload
    /// names it; see [`crate::couriers`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courier: Option<String>,
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub events: Vec<TrackingEvent>,
}

/// An item of a payload the parser could not use, kept so nothing disappears silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub tracking_number: Option<String>,
    pub message: String,
}

/// What a parser made of a payload: it never fails as a whole once the envelope is readable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseOutcome {
    pub updates: Vec<TrackingUpdate>,
    pub problems: Vec<Problem>,
    /// Numbers the carrier will not answer for until they are registered with it (17TRACK):
    /// the poller sends the adapter's `registration_request` for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unregistered: Vec<String>,
    /// Numbers the carrier says it no longer follows (17TRACK `TRACKING_STOPPED`, a Kuaidi100
    /// `abort`): the gateway stops polling them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
}

impl ParseOutcome {
    /// Note a problem with one tracking number's data.
    pub fn problem_for(&mut self, tracking_number: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            tracking_number: Some(tracking_number.to_owned()),
            message: message.into(),
        });
    }

    /// Note a problem that concerns no particular tracking number.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(Problem {
            tracking_number: None,
            message: message.into(),
        });
    }
}

/// A dedupe key from the fields that identify a carrier event: a SHA-256 over the parts, each
/// length-prefixed so `("ab", "c")` and `("a", "bc")` differ.
pub fn dedupe_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    // By hand: `hex::encode` goes a char at a time through an iterator, 1 % of a parse.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(32);
    for byte in &hasher.finalize()[..16] {
        key.push(DIGITS[usize::from(byte >> 4)] as char);
        key.push(DIGITS[usize::from(byte & 15)] as char);
    }
    key
}

/// The carrier's own current status ("the parcel is delivered"), taken as an observation at
/// the time of the newest event, as the shipment rule treats it: it becomes that event's status
/// when the event's own is unknown or loses to it at that instant (a terminal status first, then
/// the higher progress rank). The raw code stays the event's. A weaker current status (a
/// carrier summarizing `HP` "ready for pickup" as in transit) changes nothing.
pub fn apply_current_status(
    events: &mut [TrackingEvent],
    status: Status,
    sub_status: Option<String>,
) {
    if status == Status::Unknown {
        return;
    }
    let Some(newest) = events.iter_mut().max_by_key(|e| e.occurred_at) else {
        return;
    };
    let wins = |s: Status| (s.is_terminal(), s.rank());
    if newest.status == Status::Unknown || wins(status) > wins(newest.status) {
        newest.status = status;
        newest.sub_status = sub_status;
    }
}

/// A parsed instant with the offset it carried, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub utc: DateTime<Utc>,
    pub offset_seconds: Option<i32>,
    pub offset_inferred: bool,
}

impl Instant {
    /// RFC 3339 with an explicit offset: used as given.
    pub fn parse_rfc3339(text: &str) -> Option<Instant> {
        let parsed = DateTime::parse_from_rfc3339(text.trim()).ok()?;
        Some(Instant {
            utc: parsed.with_timezone(&Utc),
            offset_seconds: Some(parsed.offset().local_minus_utc()),
            offset_inferred: false,
        })
    }

    /// A local wall-clock time without an offset, interpreted in `offset` (the carrier's
    /// documented home zone), and flagged as inferred.
    pub fn from_local(naive: NaiveDateTime, offset: FixedOffset) -> Option<Instant> {
        let local = offset.from_local_datetime(&naive).single()?;
        Some(Instant {
            utc: local.with_timezone(&Utc),
            offset_seconds: Some(offset.local_minus_utc()),
            offset_inferred: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_key_separates_parts_unambiguously() {
        assert_ne!(dedupe_key(&["ab", "c"]), dedupe_key(&["a", "bc"]));
        assert_eq!(dedupe_key(&["x", "y"]), dedupe_key(&["x", "y"]));
        assert_eq!(dedupe_key(&["x"]).len(), 32);
    }

    fn event(minute: u32, status: Status) -> TrackingEvent {
        TrackingEvent {
            occurred_at: DateTime::parse_from_rfc3339(&format!("2026-11-20T10:{minute:02}:00Z"))
                .unwrap()
                .with_timezone(&Utc),
            utc_offset_seconds: Some(0),
            offset_inferred: false,
            status,
            sub_status: None,
            raw_code: "X".into(),
            description: String::new(),
            location: None,
            dedupe_key: minute.to_string(),
        }
    }

    #[test]
    fn the_current_status_applies_at_the_newest_event_only_when_it_wins_there() {
        let mut events = vec![
            event(1, Status::InTransit),
            event(2, Status::OutForDelivery),
        ];
        apply_current_status(&mut events, Status::InTransit, None);
        assert_eq!(
            events[1].status,
            Status::OutForDelivery,
            "a weaker summary changes nothing"
        );
        apply_current_status(&mut events, Status::Delivered, Some("front_door".into()));
        assert_eq!(events[1].status, Status::Delivered);
        assert_eq!(events[1].sub_status.as_deref(), Some("front_door"));
        assert_eq!(
            events[0].status,
            Status::InTransit,
            "older events are untouched"
        );
        assert_eq!(events[1].raw_code, "X", "the raw code stays the event's");
    }

    #[test]
    fn rfc3339_keeps_the_offset_it_was_given() {
        let instant = Instant::parse_rfc3339("2026-11-20T10:00:00+08:00").unwrap();
        assert_eq!(instant.utc.to_rfc3339(), "2026-11-20T02:00:00+00:00");
        assert_eq!(instant.offset_seconds, Some(8 * 3600));
        assert!(!instant.offset_inferred);
    }
}
