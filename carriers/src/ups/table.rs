//! UPS activity status → our vocabulary.
//!
//! UPS's `status.type` is its coarse category and decides the status for the specific types
//! (`D`, `M`, `MV`, `P`, `RS`, …). The generic types `I` (in transit) and `X` (exception) cover
//! very different moments — UPS reports "Out For Delivery Today" as type `I` and a missed
//! delivery as type `X` — so for them the 3-digit `statusCode` from the Track API's status table
//! refines the status (and, without one, the two-letter out-for-delivery codes). Codes outside
//! these tables keep the type's status: nothing is guessed from the description.

use crate::Status;

/// (status, sub_status) for an activity's `status.type`, `statusCode` and `code`.
pub fn map_status(
    status_type: &str,
    status_code: Option<&str>,
    code: &str,
) -> (Status, Option<String>) {
    let (status, sub) = map_type(status_type);
    if matches!(status_type.trim(), "I" | "X") {
        if let Some(refined) = status_code.and_then(map_status_code) {
            return refined;
        }
        if matches!(code.trim(), "OT" | "OF" | "OD") {
            return (Status::OutForDelivery, None);
        }
    }
    (status, sub)
}

/// (status, sub_status) for the coarse `status.type`.
pub fn map_type(status_type: &str) -> (Status, Option<String>) {
    let (status, sub) = match status_type.trim() {
        "M" => (Status::InfoReceived, Some("billing_information_received")),
        "MV" => (Status::Cancelled, Some("billing_information_voided")),
        "P" => (Status::PickedUp, None),
        "I" => (Status::InTransit, None),
        "DO" => (Status::InTransit, Some("delivered_origin_cfs")),
        "DD" => (Status::InTransit, Some("delivered_destination_cfs")),
        "W" => (Status::InTransit, Some("warehousing")),
        "O" => (Status::OutForDelivery, None),
        "D" => (Status::Delivered, None),
        "X" => (Status::Exception, None),
        "RS" => (Status::Returned, Some("returned_to_shipper")),
        _ => (Status::Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

/// The Track API's 3-digit `statusCode`s that say more than their type.
fn map_status_code(code: &str) -> Option<(Status, Option<String>)> {
    use Status::*;
    let (status, sub) = match code.trim() {
        "011" => (Delivered, None),
        "012" => (InTransit, Some("customs_clearance_in_progress")),
        "014" => (InTransit, Some("customs_cleared")),
        "016" => (InTransit, Some("held_in_warehouse")),
        "017" => (AvailableForPickup, Some("held_for_customer_pickup")),
        "021" => (OutForDelivery, None),
        "022" => (FailedAttempt, Some("first_attempt")),
        "023" => (FailedAttempt, Some("second_attempt")),
        "024" => (FailedAttempt, Some("final_attempt")),
        "029" => (Exception, Some("action_required")),
        "032" | "043" => (InTransit, Some("delayed")),
        "033" | "035" | "036" | "037" => (Returning, None),
        "034" => (Returned, Some("returned_to_shipper")),
        "038" => (PickedUp, None),
        _ => return None,
    };
    Some((status, sub.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_types_are_refined_by_the_status_code() {
        assert_eq!(map_status("D", Some("011"), "FS").0, Status::Delivered);
        assert_eq!(map_status("I", Some("021"), "OT").0, Status::OutForDelivery);
        assert_eq!(map_status("I", None, "OT").0, Status::OutForDelivery);
        assert_eq!(map_status("X", Some("022"), "48").0, Status::FailedAttempt);
        assert_eq!(map_status("X", Some("003"), "SR").0, Status::Exception);
        assert_eq!(map_status("ZZ", None, "ZZ"), (Status::Unknown, None));
    }
}
