//! One number's `track_info`, as pushes and `gettrackinfo` both carry it: the providers' events
//! merged, each event's instant, and the current status applied at the newest event.

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::{map_stage, map_sub_status};
use crate::places::Place;
use crate::zones::local_at_place;
use crate::{Instant, ParseOutcome, Status, TrackingEvent, TrackingUpdate, dedupe_key};

#[derive(Debug, Default, Deserialize)]
pub(super) struct Address {
    pub(super) country: Option<String>,
    pub(super) state: Option<String>,
    pub(super) city: Option<String>,
    #[serde(default)]
    pub(super) postal_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TimeRaw {
    pub(super) date: Option<String>,
    pub(super) time: Option<String>,
    pub(super) timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Event {
    pub(super) time_iso: Option<String>,
    pub(super) time_utc: Option<String>,
    #[serde(default)]
    pub(super) time_raw: Option<TimeRaw>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) location: Option<String>,
    #[serde(default)]
    pub(super) stage: Option<String>,
    #[serde(default)]
    pub(super) sub_status: Option<String>,
    #[serde(default)]
    pub(super) address: Option<Address>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ProviderId {
    pub(super) key: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Provider {
    #[serde(default)]
    pub(super) provider: Option<ProviderId>,
    #[serde(default)]
    pub(super) events: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct LatestStatus {
    pub(super) status: Option<String>,
    pub(super) sub_status: Option<String>,
}

/// `data` of a push, or one `accepted[]` item of a poll.
#[derive(Debug, Deserialize)]
pub(super) struct Item {
    pub(super) number: String,
    /// The carrier the number is tracked with (a 17TRACK carrier number; 0 while undetected).
    #[serde(default)]
    pub(super) carrier: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) track_info: Option<serde_json::Value>,
}

fn event_instant(event: &Event) -> Option<(Instant, Option<String>)> {
    if let Some(instant) = event.time_iso.as_deref().and_then(Instant::parse_rfc3339) {
        return Some((instant, None));
    }
    if let Some(utc) = event.time_utc.as_deref().and_then(Instant::parse_rfc3339) {
        return Some((
            Instant {
                offset_seconds: None,
                ..utc
            },
            None,
        ));
    }
    let raw = event.time_raw.as_ref()?;
    let date = NaiveDate::parse_from_str(raw.date.as_deref()?.trim(), "%Y-%m-%d").ok()?;
    let time = raw
        .time
        .as_deref()
        .and_then(|t| NaiveTime::parse_from_str(t.trim(), "%H:%M:%S").ok())
        .unwrap_or_default();
    let naive = date.and_time(time);
    if let Some(offset) = raw.timezone.as_deref().and_then(|z| {
        chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", z.trim())).ok()
    }) && let Some(instant) = Instant::parse_rfc3339(&format!(
        "{}{}",
        naive.format("%Y-%m-%dT%H:%M:%S"),
        offset.offset()
    )) {
        return Some((instant, None));
    }
    let address = event.address.as_ref();
    let place = Place {
        country: address.and_then(|a| a.country.as_deref()),
        subdivision: address.and_then(|a| a.state.as_deref()),
        postal_code: address.and_then(|a| a.postal_code.as_deref()),
        locality: address
            .and_then(|a| a.city.as_deref())
            .or(event.location.as_deref()),
    };
    Some(local_at_place(naive, &place))
}

/// `carrier` as a code: a positive number (sometimes sent as a string).
fn carrier_code(carrier: Option<&serde_json::Value>) -> Option<String> {
    let code = match carrier? {
        serde_json::Value::Number(n) => n.as_u64()?.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    (!code.is_empty() && code != "0").then_some(code)
}

pub(super) fn parse_item(item: Item, outcome: &mut ParseOutcome) {
    let number = item.number;
    let courier = carrier_code(item.carrier.as_ref());
    let info = item.track_info.unwrap_or_default();
    let providers: Vec<Provider> = info
        .pointer("/tracking/providers")
        .cloned()
        .and_then(|p| serde_json::from_value(p).ok())
        .unwrap_or_default();
    let mut events = Vec::new();
    for provider in providers {
        let id = provider.provider.unwrap_or_default();
        let provider_key = id.key.map(|k| k.to_string()).unwrap_or_default();
        for value in provider.events {
            let event: Event = match serde_json::from_value(value) {
                Ok(event) => event,
                Err(err) => {
                    outcome.problem_for(&number, format!("unreadable event: {err}"));
                    continue;
                }
            };
            let Some((instant, note)) = event_instant(&event) else {
                outcome.problem_for(&number, "event without a readable time");
                continue;
            };
            if let Some(message) = note {
                outcome.problem_for(&number, message);
            }
            let (raw_code, (status, sub_status)) = match (&event.sub_status, &event.stage) {
                (Some(sub), _) if !sub.is_empty() => (sub.clone(), map_sub_status(sub)),
                (_, Some(stage)) if !stage.is_empty() => (stage.clone(), map_stage(stage)),
                _ => (String::new(), (Status::Unknown, None)),
            };
            let description = event.description.unwrap_or_default().trim().to_owned();
            let location = event.location.filter(|l| !l.trim().is_empty()).or_else(|| {
                let a = event.address.as_ref()?;
                crate::common::join_non_empty([
                    a.city.as_deref(),
                    a.state.as_deref(),
                    a.country.as_deref(),
                ])
            });
            let key = dedupe_key(&[
                &provider_key,
                &instant.utc.to_rfc3339(),
                &raw_code,
                &description,
                location.as_deref().unwrap_or(""),
            ]);
            events.push(TrackingEvent::at(
                instant,
                (status, sub_status),
                raw_code,
                description,
                location,
                key,
            ));
        }
    }
    let latest: LatestStatus = info
        .get("latest_status")
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default();
    if let Some(code) = latest.sub_status.or(latest.status) {
        let (status, sub_status) = map_sub_status(&code);
        crate::apply_current_status(&mut events, status, sub_status);
    }
    let estimated_delivery = info
        .pointer("/time_metrics/estimated_delivery_date/to")
        .or_else(|| info.pointer("/time_metrics/estimated_delivery_date/from"))
        .and_then(|v| v.as_str())
        .and_then(Instant::parse_rfc3339)
        .map(|i| i.utc);
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier,
        estimated_delivery,
        events,
    });
}
