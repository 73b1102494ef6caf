//! FedEx scan `eventType` → our vocabulary, from the Track API's event type list.
//!
//! The event type is used rather than `derivedStatusCode`: the derived code folds pickup-point
//! and delay scans into `IT` (a `HP` "ready for recipient pickup" scan arrives with derived code
//! `IT`), which would lose the one fact the recipient needs.

use crate::Status;

/// (status, sub_status) for a scan's `eventType`.
pub fn map_event_type(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match code.trim() {
        "OC" | "OX" | "EP" => (InfoReceived, None),
        "PU" | "PX" | "AP" => (PickedUp, None),
        "IT" | "IX" | "AA" | "AC" | "AF" | "AR" | "AX" | "DP" | "EA" | "EO" | "FD" | "LO"
        | "OF" | "PF" | "PL" | "PM" | "SF" | "TR" | "DS" | "CH" | "SP" => (InTransit, None),
        "CC" => (InTransit, Some("customs_cleared")),
        "CP" => (InTransit, Some("customs_clearance_in_progress")),
        "AE" => (InTransit, Some("arriving_early")),
        "AO" => (InTransit, Some("arriving_on_time")),
        "DY" | "DD" | "PD" => (InTransit, Some("delayed")),
        "OD" | "AD" | "ED" => (OutForDelivery, None),
        "DL" => (Delivered, None),
        "DE" => (FailedAttempt, None),
        "SE" => (Exception, None),
        "CD" => (Exception, Some("customs_delay")),
        "HL" => (AvailableForPickup, Some("held_at_location")),
        "HP" => (AvailableForPickup, None),
        "RS" => (Returning, Some("return_to_shipper")),
        "CA" => (Cancelled, None),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

/// (status, sub_status) for `latestStatusDetail.derivedCode`, the carrier's current status.
pub fn map_derived_code(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match code.trim() {
        "IN" => (InfoReceived, None),
        "PU" => (PickedUp, None),
        "IT" => (InTransit, None),
        "RL" | "DY" => (InTransit, Some("delayed")),
        "OD" => (OutForDelivery, None),
        "DL" => (Delivered, None),
        "DE" => (FailedAttempt, None),
        "SE" => (Exception, None),
        "HP" | "HL" => (AvailableForPickup, None),
        "RS" => (Returning, Some("return_to_shipper")),
        "CA" => (Cancelled, None),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickup_point_scans_are_available_for_pickup() {
        assert_eq!(map_event_type("HP").0, Status::AvailableForPickup);
        assert_eq!(map_event_type("ZZ"), (Status::Unknown, None));
    }
}
