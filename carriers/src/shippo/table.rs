//! Shippo tracking statuses and substatus codes in trackgate's vocabulary.
//!
//! Source: Shippo's Tracking reference: `status` is PRE_TRANSIT, TRANSIT, DELIVERED, RETURNED,
//! FAILURE or UNKNOWN; `substatus.code` refines it (information_received, package_accepted,
//! out_for_delivery, delivery_attempted, pickup_available, return_to_sender, package_damaged, …).
//! The substatus decides where it is more specific than the status (a TRANSIT event whose
//! substatus is `out_for_delivery` is out for delivery).

use crate::Status;

pub fn map_status(status: &str, substatus: Option<&str>) -> (Status, Option<&'static str>) {
    let by_status = match status {
        "PRE_TRANSIT" => Status::InfoReceived,
        "TRANSIT" => Status::InTransit,
        "DELIVERED" => Status::Delivered,
        "RETURNED" => Status::Returned,
        "FAILURE" => Status::Exception,
        _ => Status::Unknown,
    };
    let Some(code) = substatus else {
        return (by_status, None);
    };
    let (refined, sub) = match code {
        "information_received" => (Status::InfoReceived, None),
        "package_accepted" => (Status::PickedUp, None),
        "out_for_delivery" => (Status::OutForDelivery, None),
        "pickup_available" => (Status::AvailableForPickup, None),
        "delivery_attempted" => (Status::FailedAttempt, Some("delivery_attempted")),
        "notice_left" => (Status::FailedAttempt, Some("notice_left")),
        "location_inaccessible" => (Status::FailedAttempt, Some("location_inaccessible")),
        "address_issue" => (Status::Exception, Some("address_issue")),
        "contact_carrier" => (Status::Exception, Some("contact_carrier")),
        "delayed" => (Status::Exception, Some("delayed")),
        "package_held" => (Status::Exception, Some("held")),
        "package_damaged" => (Status::Exception, Some("damaged")),
        "package_undeliverable" => (Status::Exception, Some("undeliverable")),
        "package_unclaimed" => (Status::Exception, Some("unclaimed")),
        "package_disposed" => (Status::Exception, Some("disposed")),
        "package_lost" => (Status::Exception, Some("lost")),
        "return_to_sender" => (Status::Returning, None),
        "delivery_rescheduled" | "rescheduled" => (by_status, Some("delivery_rescheduled")),
        "delivery_scheduled" => (by_status, Some("delivery_scheduled")),
        "package_arrived" => (by_status, Some("arrived_at_facility")),
        "package_departed" => (by_status, Some("departed_facility")),
        "package_forwarded" => (by_status, Some("forwarded")),
        "package_processing" | "package_processed" => (by_status, Some("processing")),
        "customs_hold" | "package_customs_hold" => (Status::Exception, Some("customs_delay")),
        _ => (by_status, None),
    };
    // The status is the carrier's word; a substatus only sharpens it within the same phase,
    // except that a delivered, returned or failed status is never softened by its substatus.
    match by_status {
        Status::Delivered | Status::Returned => (by_status, sub),
        Status::Unknown => (refined, sub),
        _ => (refined, sub),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substatus_sharpens_the_status() {
        assert_eq!(
            map_status("TRANSIT", Some("out_for_delivery")),
            (Status::OutForDelivery, None)
        );
        assert_eq!(
            map_status("FAILURE", Some("delivery_attempted")),
            (Status::FailedAttempt, Some("delivery_attempted"))
        );
        assert_eq!(
            map_status("DELIVERED", Some("package_departed")),
            (Status::Delivered, Some("departed_facility"))
        );
        assert_eq!(
            map_status("PRE_TRANSIT", None),
            (Status::InfoReceived, None)
        );
        assert_eq!(map_status("LOST_IN_SPACE", None), (Status::Unknown, None));
    }
}
