//! The sandbox carrier's status codes and what they mean in trackgate's vocabulary.

use crate::Status;

/// Map a sandbox event code; anything not in the table is `unknown` with the code kept.
pub fn map_code(code: &str) -> (Status, Option<&'static str>) {
    match code {
        "CR" => (Status::InfoReceived, None),
        "PU" => (Status::PickedUp, None),
        "IT" => (Status::InTransit, None),
        "AR" => (Status::InTransit, Some("arrived_at_facility")),
        "CC" => (Status::InTransit, Some("customs_clearance")),
        "CD" => (Status::Exception, Some("customs_delay")),
        "OD" => (Status::OutForDelivery, None),
        "PP" => (Status::AvailableForPickup, None),
        "FA" => (Status::FailedAttempt, Some("recipient_not_home")),
        "RF" => (Status::Exception, Some("consignee_refused")),
        "DM" => (Status::Exception, Some("damaged")),
        "RS" => (Status::Returning, None),
        "RT" => (Status::Returned, None),
        "DL" => (Status::Delivered, None),
        "DP" => (Status::Delivered, Some("signed_by_proxy")),
        "CX" => (Status::Cancelled, None),
        _ => (Status::Unknown, None),
    }
}
