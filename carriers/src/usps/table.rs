//! USPS event codes → our vocabulary, and `statusCategory` (the carrier's current status).
//!
//! Only codes whose meaning USPS documents consistently are mapped; any other code is `unknown`
//! with its raw code kept, and the newest event then takes the `statusCategory` instead.

use crate::Status;

/// (status, sub_status) for an event's `eventCode`.
pub fn map_event_code(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match code.trim() {
        "GX" | "MA" => (InfoReceived, None),
        "03" | "OA" => (PickedUp, None),
        "SF" | "10" | "T1" | "A1" | "TL" | "L1" | "U1" => (InTransit, None),
        "07" => (InTransit, Some("arrived_at_post_office")),
        "OF" => (OutForDelivery, None),
        "01" => (Delivered, None),
        "17" => (Delivered, Some("picked_up_at_post_office")),
        "02" => (FailedAttempt, Some("notice_left")),
        "16" => (AvailableForPickup, None),
        "04" => (Exception, Some("refused")),
        "05" => (Exception, Some("undeliverable_as_addressed")),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

/// (status, sub_status) for the tracking response's `statusCategory`.
pub fn map_status_category(category: &str) -> (Status, Option<String>) {
    use Status::*;
    let status = match category.trim().to_ascii_lowercase().as_str() {
        "pre-shipment" => InfoReceived,
        "accepted" => PickedUp,
        "in transit" => InTransit,
        "out for delivery" => OutForDelivery,
        "delivered" => Delivered,
        "available for pickup" => AvailableForPickup,
        "delivery attempt" => FailedAttempt,
        "alert" => Exception,
        "return to sender" => Returning,
        _ => Unknown,
    };
    (status, None)
}
