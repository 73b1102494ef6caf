//! AfterShip tags and the subtags we map more precisely.
//!
//! Source: AfterShip's delivery status reference. The tag (Pending, InfoReceived, InTransit,
//! OutForDelivery, AttemptFail, Delivered, AvailableForPickup, Exception, Expired) decides the
//! status; only subtags whose meaning is unambiguous add a sub-status. The subtag is kept as the
//! raw code either way.

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
        // "Carrier has accepted or picked up shipment from shipper."
        Some("InTransit_002") => return (Status::PickedUp, None),
        // "The package is on its way back to the shipper" / "returned to the shipper": an
        // exception in AfterShip's tags, a return leg (then its end) in ours.
        Some("Exception_010") => return (Status::Returning, None),
        Some("Exception_011") => return (Status::Returned, None),
        Some("AttemptFail_002") => Some("recipient_not_home"),
        Some("AttemptFail_003") => Some("business_closed"),
        Some("Delivered_002") => Some("collected_from_pickup_point"),
        Some("Delivered_003") => Some("signed_by_recipient"),
        // "Package delivered to the customer and cash collected on delivery."
        Some("Delivered_004") => Some("cash_on_delivery_collected"),
        Some("Exception_003") => Some("consignee_refused"),
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
    }
}
