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

/// Whether our (status, sub-status) says what karrio's status says. karrio has no
/// `info_received` or `returning`/`returned` split, and names a delay as a status of its own
/// (`delivery_delayed`) where we keep the status and say `delayed` in the sub-status.
fn agrees(status: Status, sub_status: Option<&str>, theirs: &str) -> bool {
    let delayed = matches!(sub_status, Some("delayed" | "weather_delay"));
    let names: &[&str] = match status {
        Status::Pending | Status::InfoReceived => &["pending"],
        Status::PickedUp => &["picked_up"],
        Status::InTransit if delayed => &["in_transit", "delivery_delayed"],
        Status::InTransit => &["in_transit"],
        Status::OutForDelivery => &["out_for_delivery"],
        Status::AvailableForPickup => &["ready_for_pickup"],
        Status::FailedAttempt => &["delivery_failed"],
        Status::Exception if delayed => &["on_hold", "delivery_delayed"],
        Status::Exception => &["on_hold"],
        Status::Returning => &["return_to_sender", "return_initiated"],
        Status::Returned => &["return_to_sender"],
        Status::Delivered => &["delivered"],
        Status::Cancelled => &["cancelled"],
        Status::Expired | Status::Unknown => &["unknown"],
    };
    names.contains(&theirs)
}

/// Our status in karrio's words, for messages.
fn crosswalk(status: Status) -> &'static str {
    match status {
        Status::Pending | Status::InfoReceived => "pending",
        Status::AvailableForPickup => "ready_for_pickup",
        Status::FailedAttempt => "delivery_failed",
        Status::Exception => "on_hold",
        Status::Returning | Status::Returned => "return_to_sender",
        Status::Expired => "unknown",
        other => other.as_str(),
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
    // HayPost state 1 is the order's creation (its time is the order's `createDate`); nothing
    // has moved yet.
    ("hay_post", "", "in_transit", "pending"),
    // Teleship's `collected` is "collected from sender": the parcel is in the carrier's hands.
    ("teleship", "collected", "in_transit", "picked_up"),
    // Landmark's 400 is "Attempted delivery": an attempt that failed, not a delay.
    ("landmark", "400", "delivery_delayed", "delivery_failed"),
    // bpost's L00 is "BoundToRound - out_for_distribution": the parcel is on its round.
    ("bpost", "L00", "on_hold", "out_for_delivery"),
    // Sendle's `Pickup` is "Parcel picked up".
    ("sendle", "Pickup", "in_transit", "picked_up"),
    // DHL Express `PL` is "Processed at Location …" at hubs days after the pickup (`PU`).
    ("dhl_express", "PL", "picked_up", "in_transit"),
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
    // The numbers karrio asked for: a carrier whose answer does not repeat them needs them.
    let asked: Vec<&str> = trackers
        .iter()
        .filter_map(|t| t["tracking_number"].as_str())
        .collect();
    let parsed = Sample::new(kind, BodySource::Poll, response_of(case)).parse_answer(&asked);
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
        // karrio stamps some events with the time it parsed them (`__ANY__` in its tests).
        let their_minute = |e: &Value| {
            let stamp = e["timestamp"].as_str().unwrap_or("");
            stamp.get(..16).unwrap_or(stamp).to_owned()
        };
        // (and gives none for others): their times cannot be compared.
        let any_time = |e: &Value| matches!(e["timestamp"].as_str(), None | Some("__ANY__"));
        let mut their_times: Vec<String> = events.iter().map(their_minute).collect();
        if events.iter().any(any_time) {
            our_times.clear();
            their_times.clear();
        }
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
            let same_time = |e: &&trackgate_carriers::TrackingEvent| {
                any_time(event) || local_minute(e) == their_minute(event)
            };
            // Without a code from karrio, the time alone says which event it is.
            let by_code = update.events.iter().filter(same_time).find(|e| {
                code.is_empty() || e.raw_code == code || e.raw_code.rsplit('/').next() == Some(code)
            });
            // Where karrio's "code" is not the carrier's (a leg number, a barcode), the only
            // event at that time is the one.
            let at_that_time: Vec<_> = update.events.iter().filter(same_time).collect();
            let ours = by_code.or(match at_that_time.as_slice() {
                [only] => Some(*only),
                _ => None,
            });
            if ours.is_some_and(|e| agrees(e.status, e.sub_status.as_deref(), their_status)) {
                continue;
            }
            let ours = ours.map_or("missing", |e| crosswalk(e.status));
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

/// (cases, carriers) in karrio's whole corpus, from the manifest copied beside the cases.
fn corpus_size() -> (usize, usize) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(cases_dir().join("MANIFEST.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().expect("manifest lists cases");
    let carriers: BTreeSet<&str> = cases.iter().filter_map(|c| c["carrier"].as_str()).collect();
    (cases.len(), carriers.len())
}

/// The floor this suite holds: the conformance reached when declarative carriers landed.
const MIN_CASES: usize = 90;
const MIN_CARRIERS: usize = 38;

#[test]
fn supported_carriers_agree_with_karrio() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let (mut passed, mut carriers) = (0, 0);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for carrier_dir in dirs {
        let carrier = carrier_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        // Every kind that claims the carrier: a built-in adapter and a definition re-expressing
        // it are held to the same cases, side by side.
        let kinds = catalog::by_karrio_name_all(&carrier);
        assert!(
            !kinds.is_empty(),
            "fixtures for karrio's `{carrier}`, which no kind names"
        );
        let mut case_dirs: Vec<PathBuf> = std::fs::read_dir(&carrier_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        case_dirs.sort();
        let mut carrier_ok = true;
        for case in case_dirs {
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            let mut case_ok = true;
            for kind in &kinds {
                match check_case(&carrier, &case, kind) {
                    Ok(disagreements) => report.push(format!(
                        "ok   {carrier}/{name} by `{}` ({disagreements} documented disagreement(s))",
                        kind.kind
                    )),
                    Err(why) => {
                        case_ok = false;
                        failures.push(format!("FAIL {carrier}/{name} by `{}`: {why}", kind.kind));
                    }
                }
            }
            passed += usize::from(case_ok);
            carrier_ok &= case_ok;
        }
        carriers += usize::from(carrier_ok);
    }
    let (corpus_cases, corpus_carriers) = corpus_size();
    println!(
        "karrio conformance: {passed}/{corpus_cases} cases over {carriers}/{corpus_carriers} carriers\n{}",
        report.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        passed >= MIN_CASES && carriers >= MIN_CARRIERS,
        "conformance fell to {passed} cases over {carriers} carriers (floor: {MIN_CASES} over {MIN_CARRIERS})"
    );
}
