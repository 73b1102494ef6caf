//! UPS activity `status.type` → our vocabulary. UPS's type is its own normalized category; the
//! two-letter `code` beside it is kept as the raw code (and in the dedupe key) but not mapped:
//! UPS does not publish the code list, so guessing from it would be guessing.

use crate::Status;

/// (status, sub_status) for an activity's `status.type`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_stay_unknown() {
        assert_eq!(map_type("D").0, Status::Delivered);
        assert_eq!(map_type("ZZ"), (Status::Unknown, None));
    }
}
