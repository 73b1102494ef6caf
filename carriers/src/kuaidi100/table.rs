//! Kuaidi100 state codes (0–14) and advanced sub-states (`resultv2=4`) in trackgate's vocabulary.
//!
//! Source: Kuaidi100's API documentation, "快递状态" and "高级物流状态". The top-level codes
//! are: 0 在途 in transit, 1 揽收 picked up, 2 疑难 problem, 3 签收 signed, 4 退签 returned and
//! signed by the sender, 5 派件 out for delivery, 6 退回 on its way back, 7 转投 re-routed to
//! another carrier, 8 清关 customs, 10–13 the customs sub-states, 14 拒签 refused.

use crate::Status;

/// Map a numeric state or advanced sub-state; unknown codes are `unknown`, never guessed.
pub fn map_state(code: &str) -> (Status, Option<&'static str>) {
    match code.trim() {
        "0" => (Status::InTransit, None),
        "1001" => (Status::InTransit, Some("arrived_at_destination_city")),
        "1002" => (Status::InTransit, Some("line_haul")),
        "1003" => (Status::InTransit, Some("transferred")),
        "1" => (Status::PickedUp, None),
        "101" => (Status::InfoReceived, Some("order_placed")),
        "102" => (Status::InfoReceived, Some("awaiting_pickup")),
        "103" => (Status::PickedUp, None),
        "2" => (Status::Exception, None),
        "201" => (Status::Exception, Some("not_signed_in_time")),
        "202" => (Status::Exception, Some("no_update_in_time")),
        "203" => (Status::Returning, Some("consignee_refused")),
        "204" => (Status::FailedAttempt, Some("delivery_exception")),
        "205" => (Status::Exception, Some("pickup_point_uncollected")),
        "206" => (Status::FailedAttempt, Some("consignee_unreachable")),
        "207" => (Status::Exception, Some("outside_service_area")),
        "208" => (Status::Exception, Some("held")),
        "209" => (Status::Exception, Some("damaged")),
        "210" => (Status::Cancelled, None),
        "3" => (Status::Delivered, None),
        "301" => (Status::Delivered, Some("signed_by_consignee")),
        "302" => (Status::Delivered, Some("signed_after_exception")),
        "303" => (Status::Delivered, Some("signed_by_proxy")),
        "304" => (Status::Delivered, Some("collected_from_pickup_point")),
        "4" => (Status::Returned, None),
        "401" => (Status::Cancelled, None),
        "5" => (Status::OutForDelivery, None),
        "501" => (
            Status::AvailableForPickup,
            Some("delivered_to_locker_or_station"),
        ),
        "6" => (Status::Returning, None),
        "7" => (Status::InTransit, Some("rerouted_to_other_carrier")),
        "8" => (Status::InTransit, Some("customs_clearance")),
        "10" => (Status::InTransit, Some("customs_pending")),
        "11" => (Status::InTransit, Some("customs_in_progress")),
        "12" => (Status::InTransit, Some("customs_cleared")),
        "13" => (Status::Exception, Some("customs_delay")),
        "14" => (Status::Exception, Some("consignee_refused")),
        _ => (Status::Unknown, None),
    }
}

/// Map the state names Kuaidi100 puts in `data[].status` (a closed list, not free text).
pub fn map_state_name(name: &str) -> (Status, Option<&'static str>) {
    let code = match name.trim() {
        "在途" => "0",
        "揽收" => "1",
        "疑难" => "2",
        "签收" => "3",
        "退签" => "4",
        "派件" => "5",
        "退回" => "6",
        "转投" => "7",
        "清关" => "8",
        "待清关" => "10",
        "清关中" => "11",
        "已清关" => "12",
        "清关异常" => "13",
        "拒签" => "14",
        _ => return (Status::Unknown, None),
    };
    map_state(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_state_from_0_to_14_but_9_is_mapped() {
        for code in (0..=14).filter(|c| *c != 9) {
            let (status, _) = map_state(&code.to_string());
            assert_ne!(status, Status::Unknown, "state {code}");
        }
        assert_eq!(map_state("9"), (Status::Unknown, None));
        assert_eq!(map_state("999"), (Status::Unknown, None));
    }
}
