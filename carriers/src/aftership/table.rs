//! AfterShip tags and subtags in trackgate's vocabulary.
//!
//! Source: AfterShip's delivery status reference (tags and subtags, each with its meaning,
//! quoted beside its row). The tag (Pending, InfoReceived, InTransit, OutForDelivery,
//! AttemptFail, Delivered, AvailableForPickup, Exception, Expired) decides the status; a subtag
//! refines it with a sub-status, and the return subtags (Exception_010/011) and the pickup one
//! (InTransit_002) move it. The subtag is kept as the raw code either way.

use crate::Status;

pub fn map_tag(tag: &str, subtag: Option<&str>) -> (Status, Option<&'static str>) {
    let status = match tag {
        "Pending" => Status::Pending,
        "InfoReceived" => Status::InfoReceived,
        "InTransit" => Status::InTransit,
        "OutForDelivery" => Status::OutForDelivery,
        "AttemptFail" => Status::FailedAttempt,
        "Delivered" => Status::Delivered,
        "AvailableForPickup" => Status::AvailableForPickup,
        "Exception" => Status::Exception,
        "Expired" => Status::Expired,
        _ => Status::Unknown,
    };
    let sub_status = match subtag {
        // InTransit_002 "Carrier has accepted or picked up shipment from shipper."
        Some("InTransit_002") => return (Status::PickedUp, None),
        // InTransit_003 "Shipment arrived at a hub or sorting center."
        Some("InTransit_003") => Some("arrived_at_facility"),
        // InTransit_004 "Shipment arrived at the destination country/region."
        Some("InTransit_004") => Some("arrived_in_destination_country"),
        // InTransit_005 "Customs clearance completed."
        Some("InTransit_005") => Some("customs_cleared"),
        // InTransit_006 "Shipment handed over to customs for clearance."
        Some("InTransit_006") => Some("customs_clearance"),
        // InTransit_007 "Shipment departed from a facility."
        Some("InTransit_007") => Some("departed_facility"),
        // InTransit_008 "Problem resolved; the shipment is in transit again."
        Some("InTransit_008") => Some("problem_resolved"),
        // InTransit_009 "Shipment forwarded to a different delivery address."
        Some("InTransit_009") => Some("forwarded"),
        // OutForDelivery_003 "The customer is contacted before the final delivery."
        Some("OutForDelivery_003") => Some("recipient_contacted"),
        // OutForDelivery_004 "A delivery appointment is scheduled."
        Some("OutForDelivery_004") => Some("delivery_scheduled"),
        // AttemptFail_002 "The recipient is not available at the given address."
        Some("AttemptFail_002") => Some("recipient_not_home"),
        // AttemptFail_003 "The business is closed at the time of delivery."
        Some("AttemptFail_003") => Some("business_closed"),
        // Delivered_002 "Package picked up by the customer."
        Some("Delivered_002") => Some("collected_from_pickup_point"),
        // Delivered_003 "Package delivered to and signed by the customer."
        Some("Delivered_003") => Some("signed_by_recipient"),
        // Delivered_004 "Package delivered to the customer and cash collected on delivery."
        Some("Delivered_004") => Some("cash_on_delivery_collected"),
        // Exception_002 "Delivery failed: the customer relocated."
        Some("Exception_002") => Some("recipient_moved"),
        // Exception_003 "Delivery failed: the recipient refused the package."
        Some("Exception_003") => Some("consignee_refused"),
        // Exception_004 "The package is delayed for unforeseen reasons."
        Some("Exception_004") => Some("delayed"),
        // Exception_005 "The package is delayed in customs clearance."
        Some("Exception_005") => Some("customs_delay"),
        // Exception_008 "Available for pickup but not collected by the customer."
        Some("Exception_008") => Some("pickup_point_uncollected"),
        // Exception_009 "The package is damaged."
        Some("Exception_009") => Some("damaged"),
        // Exception_010 "The package is on its way back to the shipper" and Exception_011
        // "returned to the shipper": exceptions in AfterShip's tags, a return leg (then its
        // end) in ours.
        Some("Exception_010") => return (Status::Returning, None),
        Some("Exception_011") => return (Status::Returned, None),
        // Exception_012 "The package is lost."
        Some("Exception_012") => Some("lost"),
        // Every other subtag (InfoReceived_001, InTransit_001, OutForDelivery_001,
        // AttemptFail_001, Delivered_001, AvailableForPickup_001, Exception_001, Expired_001,
        // Pending_*) only restates its tag, or is one whose meaning we have not confirmed: the
        // tag decides, the subtag stays the raw code.
        _ => None,
    };
    (status, sub_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_decide_and_clear_subtags_refine() {
        assert_eq!(
            map_tag("InTransit", Some("InTransit_002")),
            (Status::PickedUp, None)
        );
        assert_eq!(
            map_tag("AttemptFail", Some("AttemptFail_002")),
            (Status::FailedAttempt, Some("recipient_not_home"))
        );
        assert_eq!(
            map_tag("Delivered", Some("Delivered_001")),
            (Status::Delivered, None)
        );
        assert_eq!(map_tag("Teleported", None), (Status::Unknown, None));
        assert_eq!(
            map_tag("Exception", Some("Exception_011")),
            (Status::Returned, None)
        );
        assert_eq!(
            map_tag("Exception", Some("Exception_010")),
            (Status::Returning, None)
        );
        assert_eq!(
            map_tag("Delivered", Some("Delivered_004")),
            (Status::Delivered, Some("cash_on_delivery_collected"))
        );
        assert_eq!(
            map_tag("InTransit", Some("InTransit_005")),
            (Status::InTransit, Some("customs_cleared"))
        );
        assert_eq!(
            map_tag("Exception", Some("Exception_012")),
            (Status::Exception, Some("lost"))
        );
        assert_eq!(
            map_tag("Exception", Some("Exception_013")),
            (Status::Exception, None),
            "a subtag not confirmed leaves the tag's status"
        );
    }
}
