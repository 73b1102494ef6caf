//! EasyPost tracker statuses and status details in trackgate's vocabulary.
//!
//! Source: EasyPost's Tracker object reference (`status`: unknown, pre_transit, in_transit,
//! out_for_delivery, delivered, available_for_pickup, return_to_sender, failure, cancelled,
//! error). The `status_detail` becomes the sub-status, except the generic details that only
//! restate the status.

use crate::Status;

/// Map `status` (and refine with `status_detail`).
pub fn map_status(status: &str, detail: Option<&str>) -> (Status, Option<String>) {
    let normalized = match status {
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
    let sub_status = detail
        .filter(|d| {
            !matches!(
                *d,
                "" | "status_update"
                    | "unknown"
                    | "in_transit"
                    | "out_for_delivery"
                    | "cancelled"
                    | "failure"
            )
        })
        .map(|d| match d {
            "refused" => "consignee_refused".to_owned(),
            "label_created" => "label_created".to_owned(),
            other => other.to_owned(),
        });
    // A failure EasyPost details as a delivery exception is a failed attempt, not a lost parcel.
    let normalized = match (normalized, detail) {
        (Status::Exception, Some("delivery_exception")) => Status::FailedAttempt,
        (Status::InTransit, Some("delayed" | "weather_delay" | "transit_exception" | "held")) => {
            Status::Exception
        }
        (status, _) => status,
    };
    (normalized, sub_status)
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
    }
}
