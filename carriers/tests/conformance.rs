//! Conformance with karrio's test-suite: the real carrier payloads karrio tests its parsers on,
//! with the results karrio asserts (copied from `../shared/conformance/karrio/` into
//! `fixtures/conformance/karrio/<carrier>/<case>/`).
//!
//! For every case of a carrier we support: the tracking numbers, the event count and every
//! event's local time (to the minute: karrio drops the seconds UPS and USPS send) must match
//! karrio's; every event status must match through the crosswalk
//! below, except the deliberate disagreements listed in `DISAGREEMENTS` (and argued in
//! `fixtures/conformance.md`). Error cases must be errors for us too.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde_json::Value;
use support::Sample;
use trackgate_carriers::{BodySource, Status, catalog};

/// Our vocabulary in karrio's (karrio has no `info_received`, `returning`/`returned` split, etc.).
fn crosswalk(status: Status) -> &'static str {
    match status {
        Status::Pending | Status::InfoReceived => "pending",
        Status::PickedUp => "picked_up",
        Status::InTransit => "in_transit",
        Status::OutForDelivery => "out_for_delivery",
        Status::AvailableForPickup => "ready_for_pickup",
        Status::FailedAttempt => "delivery_failed",
        Status::Exception => "on_hold",
        Status::Returning | Status::Returned => "return_to_sender",
        Status::Delivered => "delivered",
        Status::Cancelled => "cancelled",
        Status::Expired | Status::Unknown => "unknown",
    }
}

/// (carrier, raw code, karrio's status, ours): disagreements we keep on purpose.
const DISAGREEMENTS: &[(&str, &str, &str, &str)] = &[
    // A label exists and the carrier has not scanned the parcel: nothing is on hold.
    ("easypost", "pre_transit", "on_hold", "pending"),
    // karrio reads DHL's free-text `status` ("DELIVERED"); the machine `statusCode` says
    // pre-transit, and a parcel is not delivered before it has moved.
    ("dhl_universal", "pre-transit", "delivered", "pending"),
    // La Poste's ET1 is "in transit on our logistics platforms"; out for delivery is MD2.
    ("laposte", "ET1", "out_for_delivery", "in_transit"),
    ("colissimo", "ET1", "out_for_delivery", "in_transit"),
    // DHL Express `PU` is "Shipment picked up": the parcel is in DHL's hands.
    ("mydhl", "PU", "pending", "picked_up"),
    // Australia Post events carry no code; karrio stamps the item's current status on every
    // event, we only on the newest (never guessing a status from the description).
    ("australiapost", "", "delivered", "unknown"),
    ("australiapost", "", "in_transit", "unknown"),
];

/// (carrier, tracking number): trackers karrio reports without their events, which we keep.
const KARRIO_DROPS_EVENTS: &[(&str, &str)] = &[
    // The item's status is "Unknown"; karrio then omits its 8 scans, we store them.
    ("australiapost", "ET123456789AU"),
];

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conformance/karrio")
}

fn response_of(case: &Path) -> Vec<u8> {
    ["response.json", "response.xml"]
        .iter()
        .map(|name| case.join(name))
        .find(|p| p.exists())
        .map(|p| std::fs::read(p).unwrap())
        .unwrap_or_else(|| panic!("{}: no response file", case.display()))
}

/// Check one case; returns the number of documented disagreements it hit.
fn check_case(carrier: &str, case: &Path, kind: &catalog::CarrierKind) -> Result<usize, String> {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(case.join("expected.json")).unwrap()).unwrap();
    let trackers = expected["trackers"].as_array().cloned().unwrap_or_default();
    let parsed = Sample::new(kind, BodySource::Poll, response_of(case)).parse();
    if trackers.is_empty() {
        return match parsed {
            Err(_) => Ok(0),
            Ok(outcome) if outcome.updates.is_empty() => Ok(0),
            Ok(outcome) => Err(format!(
                "karrio reports only errors; we parsed {} update(s)",
                outcome.updates.len()
            )),
        };
    }
    let outcome = parsed.map_err(|err| format!("karrio parses it; we fail: {err}"))?;
    let theirs: BTreeSet<&str> = trackers
        .iter()
        .filter_map(|t| t["tracking_number"].as_str())
        .collect();
    let ours: BTreeSet<&str> = outcome
        .updates
        .iter()
        .map(|u| u.tracking_number.as_str())
        .collect();
    if theirs != ours {
        return Err(format!(
            "tracking numbers: karrio {theirs:?}, ours {ours:?}"
        ));
    }
    let mut disagreements = 0;
    for tracker in &trackers {
        let number = tracker["tracking_number"].as_str().unwrap();
        let update = outcome
            .updates
            .iter()
            .find(|u| u.tracking_number == number)
            .unwrap();
        let Some(events) = tracker["events"].as_array().cloned() else {
            // karrio reported this tracker without any events at all.
            if KARRIO_DROPS_EVENTS.contains(&(carrier, number)) {
                disagreements += 1;
                continue;
            }
            return Err(format!(
                "{number}: karrio reports no events (not documented)"
            ));
        };
        if events.len() != update.events.len() {
            return Err(format!(
                "{number}: karrio has {} events, we have {}",
                events.len(),
                update.events.len()
            ));
        }
        let local_minute = |e: &trackgate_carriers::TrackingEvent| {
            let offset = FixedOffset::east_opt(e.utc_offset_seconds.unwrap_or(0)).unwrap();
            e.occurred_at
                .with_timezone(&offset)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        };
        let mut our_times: Vec<String> = update.events.iter().map(local_minute).collect();
        let their_minute = |e: &Value| e["timestamp"].as_str().unwrap_or("")[..16].to_owned();
        let mut their_times: Vec<String> = events.iter().map(their_minute).collect();
        our_times.sort();
        their_times.sort();
        if our_times != their_times {
            return Err(format!(
                "{number}: event local times differ: karrio {their_times:?}, ours {our_times:?}"
            ));
        }
        for event in &events {
            let Some(their_status) = event["status"].as_str() else {
                continue;
            };
            let code = event["code"].as_str().unwrap_or("");
            // The same event: same local minute and same code (UPS keeps `type/code`).
            let ours = update
                .events
                .iter()
                .find(|e| {
                    local_minute(e) == their_minute(event)
                        && (e.raw_code == code || e.raw_code.rsplit('/').next() == Some(code))
                })
                .map(|e| crosswalk(e.status))
                .unwrap_or("missing");
            if ours == their_status {
                continue;
            }
            if DISAGREEMENTS.contains(&(carrier, code, their_status, ours)) {
                disagreements += 1;
                continue;
            }
            return Err(format!(
                "{number}: event `{code}` at {} is {their_status} for karrio, {ours} for us (not a documented disagreement)",
                their_minute(event)
            ));
        }
    }
    Ok(disagreements)
}

#[test]
fn supported_carriers_agree_with_karrio() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let (mut cases, mut passed) = (0, 0);
    for carrier_dir in std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
    {
        let carrier = carrier_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let kind = catalog::by_karrio_name(&carrier).unwrap_or_else(|| {
            panic!("fixtures for karrio's `{carrier}`, which no catalog kind names")
        });
        for case in std::fs::read_dir(&carrier_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
        {
            cases += 1;
            match check_case(&carrier, &case, kind) {
                Ok(disagreements) => {
                    passed += 1;
                    report.push(format!(
                        "ok   {carrier}/{} ({disagreements} documented disagreement(s))",
                        case.file_name().unwrap().to_string_lossy()
                    ));
                }
                Err(why) => failures.push(format!(
                    "FAIL {carrier}/{}: {why}",
                    case.file_name().unwrap().to_string_lossy()
                )),
            }
        }
    }
    println!(
        "karrio conformance: {passed}/{cases} cases\n{}",
        report.join("\n")
    );
    assert!(cases > 0, "no conformance cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
