//! EasyPost tracker statuses and status details in trackgate's vocabulary.
//!
//! Source: EasyPost's Tracker object reference (`status`: unknown, pre_transit, in_transit,
//! out_for_delivery, delivered, available_for_pickup, return_to_sender, failure, cancelled,
//! error). The `status_detail` becomes the sub-status, except the generic details that only
//! restate the status.

use crate::Status;

/// Every `status_detail` EasyPost documents, with its meaning there: what it makes of the
/// event (`None`: the tracker's `status` decides) and the sub-status it leaves.
#[rustfmt::skip]
const DETAILS: &[(&str, Option<Status>, Option<&str>)] = &[
    // "The address was corrected by the carrier."
    ("address_correction", None, Some("address_correction")),
    // "Arrived at the destination city / facility."
    ("arrived_at_destination", None, Some("arrived_at_destination")),
    ("arrived_at_facility", None, Some("arrived_at_facility")),
    // "Arrived at a location where the recipient can pick it up."
    ("arrived_at_pickup_location", Some(Status::AvailableForPickup), None),
    // "The carrier needs more information (customs, address) before it can move the parcel."
    ("awaiting_information", Some(Status::Exception), Some("awaiting_information")),
    ("cancelled", Some(Status::Cancelled), None),
    ("damaged", Some(Status::Exception), Some("damaged")),
    ("delayed", Some(Status::Exception), Some("delayed")),
    // "A delivery attempt failed" (no access, nobody home): the parcel comes again.
    ("delivery_exception", Some(Status::FailedAttempt), Some("delivery_exception")),
    ("departed_facility", None, Some("departed_facility")),
    ("departed_origin_facility", None, Some("departed_origin_facility")),
    // "The tracker stopped updating: the carrier no longer reports on it."
    ("expired", Some(Status::Expired), None),
    ("failure", None, None),
    // "Held by the carrier" (at the request of the recipient, customs or the carrier).
    ("held", Some(Status::Exception), Some("held")),
    ("in_transit", None, None),
    // "A shipping label was created; the carrier has not the parcel yet."
    ("label_created", Some(Status::InfoReceived), Some("label_created")),
    ("lost", Some(Status::Exception), Some("lost")),
    // "Sent to the wrong facility; being re-routed."
    ("missorted", None, Some("missorted")),
    ("out_for_delivery", Some(Status::OutForDelivery), None),
    ("received_at_destination_facility", None, Some("received_at_destination_facility")),
    // "The carrier has the parcel": its first scan at the origin facility.
    ("received_at_origin_facility", Some(Status::PickedUp), Some("received_at_origin_facility")),
    ("refused", Some(Status::Exception), Some("consignee_refused")),
    // "Being returned to the sender."
    ("return", Some(Status::Returning), None),
    ("status_update", None, None),
    // "Handed over to the destination country's carrier."
    ("transferred_to_destination_carrier", None, Some("transferred_to_destination_carrier")),
    ("transit_exception", Some(Status::Exception), Some("transit_exception")),
    ("unknown", None, None),
    ("weather_delay", Some(Status::Exception), Some("weather_delay")),
];

/// Map `status` (and refine with `status_detail`).
pub fn map_status(status: &str, detail: Option<&str>) -> (Status, Option<String>) {
    let by_status = match status {
        "pre_transit" => Status::InfoReceived,
        "in_transit" => Status::InTransit,
        "out_for_delivery" => Status::OutForDelivery,
        "delivered" => Status::Delivered,
        "available_for_pickup" => Status::AvailableForPickup,
        "return_to_sender" => Status::Returning,
        "failure" | "error" => Status::Exception,
        "cancelled" => Status::Cancelled,
        _ => Status::Unknown,
    };
    let Some(detail) = detail.map(str::trim).filter(|d| !d.is_empty()) else {
        return (by_status, None);
    };
    let Some((_, refined, sub)) = DETAILS.iter().find(|(name, _, _)| *name == detail) else {
        // Not in EasyPost's list (yet): kept as the sub-status, the status decides.
        return (by_status, Some(detail.to_owned()));
    };
    let status = match (by_status, *refined) {
        // The carrier's final word is not softened by a detail of it.
        (Status::Delivered | Status::Cancelled | Status::Returning, _) => by_status,
        (_, Some(refined)) => refined,
        (status, None) => status,
    };
    (status, sub.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_details_map_onto_the_vocabulary() {
        assert_eq!(
            map_status("pre_transit", Some("label_created")),
            (Status::InfoReceived, Some("label_created".into()))
        );
        assert_eq!(
            map_status("delivered", Some("status_update")),
            (Status::Delivered, None)
        );
        assert_eq!(
            map_status("failure", Some("refused")),
            (Status::Exception, Some("consignee_refused".into()))
        );
        assert_eq!(
            map_status("failure", Some("delivery_exception")),
            (Status::FailedAttempt, Some("delivery_exception".into()))
        );
        assert_eq!(
            map_status("in_transit", Some("weather_delay")),
            (Status::Exception, Some("weather_delay".into()))
        );
        assert_eq!(map_status("teleported", None), (Status::Unknown, None));
        assert_eq!(
            map_status("in_transit", Some("received_at_origin_facility")).0,
            Status::PickedUp
        );
        assert_eq!(
            map_status("return_to_sender", Some("return")),
            (Status::Returning, None)
        );
        assert_eq!(
            map_status("delivered", Some("arrived_at_pickup_location")).0,
            Status::Delivered,
            "a final status is not softened by its detail"
        );
        assert_eq!(
            map_status("in_transit", Some("a_new_detail")),
            (Status::InTransit, Some("a_new_detail".into()))
        );
    }
}
