//! What the store can hold: carrier text without U+0000 and times within a plausible range.
//!
//! PostgreSQL refuses U+0000 in text and MySQL a `DATETIME` outside years 1000–9999; one such
//! value would fail the whole ingest batch of its webhook, every time. So every parsed outcome
//! is made storable before it is stored, field by field: U+0000 is removed from text (the raw
//! body keeps the original), an event whose time lies outside 1970–2199 is dropped, an
//! estimated delivery outside it is forgotten, and an update whose tracking number is unusable
//! is refused — each with a [`Problem`] saying so, so the webhook is `partial`, visible and
//! reprocessable, never silently altered. Cleaning is idempotent.

use chrono::{DateTime, TimeZone, Utc};
use trackgate_carriers::{ParseOutcome, Problem, TrackingEvent, TrackingUpdate};

/// The earliest and latest instants an event may carry.
fn plausible() -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
    let latest = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap();
    (earliest, latest)
}

fn in_range(at: DateTime<Utc>) -> bool {
    let (earliest, latest) = plausible();
    earliest <= at && at < latest
}

/// Remove U+0000; true when there was one.
fn strip_nul(text: &mut String) -> bool {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
        true
    } else {
        false
    }
}

fn strip_nul_opt(text: &mut Option<String>) -> bool {
    text.as_mut().is_some_and(strip_nul)
}

/// Make every field of `outcome` storable, recording a problem for each change.
pub fn make_storable(outcome: &mut ParseOutcome) {
    let mut problems = Vec::new();
    outcome
        .updates
        .retain_mut(|update| clean_update(update, &mut problems));
    for number in outcome
        .stopped
        .iter_mut()
        .chain(outcome.unregistered.iter_mut())
    {
        strip_nul(number);
    }
    outcome.stopped.retain(|n| !n.trim().is_empty());
    outcome.unregistered.retain(|n| !n.trim().is_empty());
    for problem in &mut outcome.problems {
        strip_nul(&mut problem.message);
        strip_nul_opt(&mut problem.tracking_number);
    }
    outcome.problems.extend(problems);
}

/// Clean one update; false when it must be refused as a whole.
fn clean_update(update: &mut TrackingUpdate, problems: &mut Vec<Problem>) -> bool {
    let had_nul = strip_nul(&mut update.tracking_number);
    if update.tracking_number.trim().is_empty() {
        problems.push(Problem {
            tracking_number: None,
            message: "an update without a usable tracking number was refused".into(),
        });
        return false;
    }
    let number = update.tracking_number.clone();
    let problem = |message: String| Problem {
        tracking_number: Some(number.clone()),
        message,
    };
    if had_nul {
        problems.push(problem("U+0000 removed from the tracking number".into()));
    }
    if update.estimated_delivery.is_some_and(|at| !in_range(at)) {
        update.estimated_delivery = None;
        problems.push(problem(
            "estimated delivery outside 1970–2199 ignored".into(),
        ));
    }
    let mut cleaned_text = false;
    update.events.retain_mut(|event| {
        if !in_range(event.occurred_at) {
            problems.push(problem(format!(
                "event `{}` at {} is outside 1970–2199 and was not stored",
                event.raw_code.replace('\0', ""),
                event.occurred_at
            )));
            return false;
        }
        cleaned_text |= clean_event(event);
        true
    });
    if cleaned_text {
        problems.push(problem("U+0000 removed from event text".into()));
    }
    true
}

/// Strip U+0000 from an event's text; true when anything changed.
fn clean_event(event: &mut TrackingEvent) -> bool {
    let mut changed = strip_nul(&mut event.raw_code);
    changed |= strip_nul(&mut event.description);
    changed |= strip_nul_opt(&mut event.location);
    changed |= strip_nul_opt(&mut event.sub_status);
    changed |= strip_nul(&mut event.dedupe_key);
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use trackgate_carriers::Status;

    fn event(at: DateTime<Utc>, description: &str) -> TrackingEvent {
        TrackingEvent {
            occurred_at: at,
            utc_offset_seconds: None,
            offset_inferred: false,
            status: Status::InTransit,
            sub_status: None,
            raw_code: "IT".into(),
            description: description.into(),
            location: Some("Ber\0lin".into()),
            dedupe_key: "k".into(),
        }
    }

    #[test]
    fn nul_is_removed_and_impossible_times_are_dropped_with_a_problem_each() {
        let now = Utc::now();
        let ancient = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        let mut outcome = ParseOutcome {
            updates: vec![
                TrackingUpdate {
                    tracking_number: "SBX\u{0}1".into(),
                    courier: None,
                    estimated_delivery: Some(ancient),
                    events: vec![event(now, "in\0 transit"), event(ancient, "old")],
                },
                TrackingUpdate {
                    tracking_number: "\0".into(),
                    courier: None,
                    estimated_delivery: None,
                    events: vec![event(now, "x")],
                },
            ],
            ..Default::default()
        };
        make_storable(&mut outcome);
        assert_eq!(
            outcome.updates.len(),
            1,
            "the update without a number is refused"
        );
        let update = &outcome.updates[0];
        assert_eq!(update.tracking_number, "SBX1");
        assert_eq!(update.estimated_delivery, None);
        assert_eq!(update.events.len(), 1);
        assert_eq!(update.events[0].description, "in transit");
        assert_eq!(update.events[0].location.as_deref(), Some("Berlin"));
        assert_eq!(outcome.problems.len(), 5, "{:?}", outcome.problems);
        let again = outcome.problems.len();
        make_storable(&mut outcome);
        assert_eq!(
            outcome.problems.len(),
            again,
            "cleaning twice changes nothing"
        );
    }
}
