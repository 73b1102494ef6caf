//! One AfterShip tracking (a poll answer's item, or a webhook's `msg`): its checkpoints, each
//! checkpoint's instant (offset as given, else local at the checkpoint's location through the
//! zone table), and the tracking's tag as the current status at the newest checkpoint.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::map_tag;
use crate::common::join_non_empty;
use crate::zones::{resolve_local, zone_of};
use crate::{Instant, ParseOutcome, Problem, Status, TrackingEvent, TrackingUpdate, dedupe_key};

#[derive(Debug, Deserialize)]
struct Tracking {
    tracking_number: String,
    /// The courier's AfterShip slug (`china-post`, `fedex`).
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    subtag: Option<String>,
    #[serde(default)]
    expected_delivery: Option<String>,
    #[serde(default)]
    checkpoints: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Checkpoint {
    checkpoint_time: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    subtag: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    country_iso3: Option<String>,
}

/// A checkpoint time: offset given, or local at the checkpoint's location.
fn checkpoint_instant(checkpoint: &Checkpoint) -> Result<(Instant, Option<String>), String> {
    let text = checkpoint.checkpoint_time.trim();
    if let Some(instant) = Instant::parse_rfc3339(text) {
        return Ok((instant, None));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        })
        .map_err(|_| format!("checkpoint_time `{text}` is not a date or date-time"))?;
    match zone_of(
        checkpoint.country_iso3.as_deref(),
        checkpoint.state.as_deref(),
    ) {
        Some(zone) => resolve_local(naive, zone)
            .map(|instant| (instant, None))
            .ok_or_else(|| format!("checkpoint_time `{text}` does not exist in {zone}")),
        None => Ok((
            Instant {
                utc: naive.and_utc(),
                offset_seconds: None,
                offset_inferred: true,
            },
            Some(format!(
                "no time zone known for the checkpoint at `{text}`; taken as UTC"
            )),
        )),
    }
}

pub(super) fn parse_tracking(value: serde_json::Value, outcome: &mut ParseOutcome) {
    let hint = value
        .get("tracking_number")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let tracking: Tracking = match serde_json::from_value(value) {
        Ok(tracking) => tracking,
        Err(err) => {
            outcome.problems.push(Problem {
                tracking_number: hint,
                message: format!("unreadable tracking: {err}"),
            });
            return;
        }
    };
    let number = tracking.tracking_number.clone();
    let mut events = Vec::with_capacity(tracking.checkpoints.len());
    for value in tracking.checkpoints {
        match checkpoint_event(value) {
            Ok((event, note)) => {
                events.push(event);
                outcome.problems.extend(note.map(|message| Problem {
                    tracking_number: Some(number.clone()),
                    message,
                }));
            }
            Err(message) => outcome.problems.push(Problem {
                tracking_number: Some(number.clone()),
                message,
            }),
        }
    }
    if let Some(tag) = tracking.tag.as_deref() {
        let (status, sub) = map_tag(tag, tracking.subtag.as_deref());
        crate::apply_current_status(&mut events, status, sub.map(str::to_owned));
    }
    let estimated_delivery = tracking.expected_delivery.as_deref().and_then(|text| {
        Instant::parse_rfc3339(text).map(|i| i.utc).or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
    });
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: tracking.slug.filter(|s| !s.trim().is_empty()),
        estimated_delivery,
        events,
    });
}

/// One checkpoint as an event, with a note when its time had to be assumed; an error message
/// when it cannot be read at all.
fn checkpoint_event(value: serde_json::Value) -> Result<(TrackingEvent, Option<String>), String> {
    let checkpoint: Checkpoint =
        serde_json::from_value(value).map_err(|err| format!("unreadable checkpoint: {err}"))?;
    let (instant, note) = checkpoint_instant(&checkpoint)?;
    let (status, sub_status) = checkpoint
        .tag
        .as_deref()
        .map(|tag| map_tag(tag, checkpoint.subtag.as_deref()))
        .unwrap_or((Status::Unknown, None));
    let raw_code = checkpoint
        .subtag
        .clone()
        .or(checkpoint.tag.clone())
        .unwrap_or_default();
    let description = checkpoint.message.clone().unwrap_or_default();
    let location = checkpoint
        .location
        .clone()
        .filter(|l| !l.trim().is_empty())
        .or_else(|| {
            join_non_empty(
                [
                    &checkpoint.city,
                    &checkpoint.state,
                    &checkpoint.country_iso3,
                ]
                .map(|p| p.as_deref()),
            )
        });
    let key = dedupe_key(&[
        &checkpoint.checkpoint_time,
        &raw_code,
        &description,
        location.as_deref().unwrap_or(""),
    ]);
    let event = TrackingEvent {
        occurred_at: instant.utc,
        utc_offset_seconds: instant.offset_seconds,
        offset_inferred: instant.offset_inferred,
        status,
        sub_status: sub_status.map(str::to_owned),
        raw_code,
        description,
        location,
        dedupe_key: key,
    };
    Ok((event, note))
}
