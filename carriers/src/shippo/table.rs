//! Shippo tracking statuses and substatus codes in trackgate's vocabulary.
//!
//! Source: Shippo's Tracking reference: `status` is PRE_TRANSIT, TRANSIT, DELIVERED, RETURNED,
//! FAILURE or UNKNOWN; `substatus.code` refines it (information_received, package_accepted,
//! out_for_delivery, delivery_attempted, pickup_available, return_to_sender, package_damaged, …).
//! The substatus decides where it is more specific than the status (a TRANSIT event whose
//! substatus is `out_for_delivery` is out for delivery). Each row quotes Shippo's meaning.

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
        // "The carrier has received the shipment info and is about to pick up the package."
        "information_received" => (Status::InfoReceived, None),
        // "The package has been accepted by the carrier."
        "package_accepted" => (Status::PickedUp, None),
        // "The package is out for delivery."
        "out_for_delivery" => (Status::OutForDelivery, None),
        // "The package is available for pickup."
        "pickup_available" => (Status::AvailableForPickup, None),
        // "Delivery of the package was attempted."
        "delivery_attempted" => (Status::FailedAttempt, Some("delivery_attempted")),
        // "A notice was left by the carrier."
        "notice_left" => (Status::FailedAttempt, Some("notice_left")),
        // "The delivery location cannot be accessed by the carrier."
        "location_inaccessible" => (Status::FailedAttempt, Some("location_inaccessible")),
        // "The carrier indicates an issue with the address."
        "address_issue" => (Status::Exception, Some("address_issue")),
        // "Contact the carrier for more information."
        "contact_carrier" => (Status::Exception, Some("contact_carrier")),
        // "Delivery of the package is delayed."
        "delayed" => (Status::Exception, Some("delayed")),
        // "The package is being held by the carrier."
        "package_held" => (Status::Exception, Some("held")),
        // "The package was damaged."
        "package_damaged" => (Status::Exception, Some("damaged")),
        // "The package is undeliverable."
        "package_undeliverable" => (Status::Exception, Some("undeliverable")),
        // "The package was not claimed at the pickup location."
        "package_unclaimed" => (Status::Exception, Some("unclaimed")),
        // "The package has been disposed of."
        "package_disposed" => (Status::Exception, Some("disposed")),
        // "The package is lost."
        "package_lost" => (Status::Exception, Some("lost")),
        // "The package is being returned to the sender."
        "return_to_sender" => (Status::Returning, None),
        // "Delivery of the package has been rescheduled."
        "delivery_rescheduled" | "rescheduled" => (by_status, Some("delivery_rescheduled")),
        // "Contact the carrier to reschedule the delivery."
        "reschedule_delivery" => (Status::FailedAttempt, Some("reschedule_delivery")),
        // "Delivery of the package is scheduled."
        "delivery_scheduled" => (by_status, Some("delivery_scheduled")),
        // "The package has arrived at a carrier location."
        "package_arrived" => (by_status, Some("arrived_at_facility")),
        // "The package has departed from a carrier location."
        "package_departed" => (by_status, Some("departed_facility")),
        // "The package has been forwarded."
        "package_forwarded" => (by_status, Some("forwarded")),
        // "The package is being / has been processed at a carrier location."
        "package_processing" | "package_processed" => (by_status, Some("processing")),
        // Held in customs (carriers' own wording; not in Shippo's list, kept for those that send it).
        "customs_hold" | "package_customs_hold" => (Status::Exception, Some("customs_delay")),
        // "The package has been delivered": the status says it already.
        "delivered" => (Status::Delivered, None),
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
        assert_eq!(
            map_status("TRANSIT", Some("reschedule_delivery")),
            (Status::FailedAttempt, Some("reschedule_delivery"))
        );
        assert_eq!(
            map_status("TRANSIT", Some("return_to_sender")),
            (Status::Returning, None)
        );
    }
}
