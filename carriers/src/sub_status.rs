//! The sub-status vocabulary: every sub-status code the adapters' status tables emit, with what
//! it means in English and Chinese. It is a contract with the mall (the `sub_status` of pushes
//! and answers), published in the OpenAPI document and in `docs/sub-statuses.md`.
//!
//! The vocabulary is open at one edge: an aggregator's detail code we have no entry for yet
//! (17TRACK adds them) passes through in snake_case rather than being dropped, so clients must
//! accept a code outside this table and show it as text.

/// (code, English, Chinese), sorted by code (looked up by binary search; a test keeps the order).
pub const SUB_STATUSES: &[(&str, &str, &str)] = &[
    (
        "a_new_detail",
        "New detail from the carrier",
        "承运商有新信息",
    ),
    ("action_required", "Action required", "需要处理"),
    (
        "address_correction",
        "Address being corrected",
        "地址更正中",
    ),
    ("address_issue", "Address problem", "地址有误"),
    ("arrival", "Arrived", "已到达"),
    (
        "arrived_at_destination",
        "Arrived at destination",
        "已到达目的地",
    ),
    (
        "arrived_at_destination_city",
        "Arrived in destination city",
        "已到达目的城市",
    ),
    (
        "arrived_at_facility",
        "Arrived at a facility",
        "已到达转运中心",
    ),
    (
        "arrived_at_pickup_location",
        "Arrived at pickup point",
        "已到达自提点",
    ),
    (
        "arrived_at_post_office",
        "Arrived at post office",
        "已到达邮局",
    ),
    (
        "arrived_in_destination_country",
        "Arrived in destination country",
        "已到达目的国",
    ),
    ("arriving_early", "Arriving early", "预计提前送达"),
    ("arriving_on_time", "Arriving on time", "预计按时送达"),
    (
        "at_delivery_office",
        "At the delivery office",
        "已到达派送网点",
    ),
    ("awaiting_information", "Awaiting information", "等待信息"),
    (
        "awaiting_pickup",
        "Awaiting pickup by the carrier",
        "等待揽收",
    ),
    (
        "billing_information_received",
        "Shipping information received",
        "已收到运单信息",
    ),
    (
        "billing_information_voided",
        "Shipping information voided",
        "运单信息已作废",
    ),
    ("business_closed", "Business closed", "收件单位已关门"),
    (
        "cash_on_delivery_collected",
        "Cash on delivery collected",
        "已代收货款",
    ),
    (
        "collected_from_pickup_point",
        "Collected from pickup point",
        "已从自提点取件",
    ),
    ("consignee_refused", "Refused by recipient", "收件人拒收"),
    (
        "consignee_unreachable",
        "Recipient unreachable",
        "联系不上收件人",
    ),
    ("contact_carrier", "Contact the carrier", "请联系承运商"),
    ("customs_clearance", "Customs clearance", "清关中"),
    (
        "customs_clearance_in_progress",
        "Customs clearance in progress",
        "正在清关",
    ),
    ("customs_cleared", "Cleared customs", "已清关"),
    ("customs_delay", "Customs delay", "清关延误"),
    ("customs_entered", "Entered customs", "已进入海关"),
    ("customs_held", "Held by customs", "海关扣留"),
    ("customs_in_progress", "Customs in progress", "清关处理中"),
    ("customs_pending", "Awaiting customs", "等待清关"),
    ("customs_processing", "Customs processing", "海关处理中"),
    ("damaged", "Damaged", "包裹破损"),
    ("delayed", "Delayed", "延误"),
    (
        "delivered_destination_cfs",
        "Delivered to destination freight station",
        "已送达目的地货运站",
    ),
    (
        "delivered_origin_cfs",
        "Delivered to origin freight station",
        "已送达始发地货运站",
    ),
    (
        "delivered_to_locker_or_station",
        "Delivered to locker or station",
        "已投递至快递柜或驿站",
    ),
    (
        "delivered_to_sender",
        "Delivered back to sender",
        "已退回寄件人",
    ),
    ("delivery_attempted", "Delivery attempted", "已尝试派送"),
    ("delivery_exception", "Delivery exception", "派送异常"),
    ("delivery_rescheduled", "Delivery rescheduled", "派送已改期"),
    ("delivery_scheduled", "Delivery scheduled", "已安排派送"),
    ("departed_facility", "Left a facility", "已离开转运中心"),
    (
        "departed_origin_facility",
        "Left origin facility",
        "已离开始发转运中心",
    ),
    ("departure", "Departed", "已发出"),
    ("destroyed", "Destroyed", "已销毁"),
    ("disposed", "Disposed of", "已处置"),
    ("final_attempt", "Final delivery attempt", "最后一次派送"),
    ("first_attempt", "First delivery attempt", "第一次派送"),
    ("forwarded", "Forwarded", "已转寄"),
    ("held", "Held", "暂扣"),
    ("held_at_location", "Held at location", "在网点暂存"),
    (
        "held_for_customer_pickup",
        "Held for pickup",
        "待收件人自提",
    ),
    ("held_in_warehouse", "Held in warehouse", "仓库暂存"),
    ("label_created", "Label created", "已生成运单"),
    ("line_haul", "Line haul", "干线运输中"),
    (
        "location_inaccessible",
        "Location inaccessible",
        "地址无法进入",
    ),
    ("lost", "Lost", "包裹丢失"),
    (
        "mis_sort_forwarded",
        "Missorted, forwarded",
        "分拣错误，已转发",
    ),
    ("missorted", "Missorted", "分拣错误"),
    ("no_update_in_time", "No update in time", "长时间未更新"),
    (
        "no_updates",
        "No updates for a long time",
        "长时间无物流更新",
    ),
    ("not_signed_in_time", "Not signed for in time", "未及时签收"),
    ("notice_left", "Notice left", "已留派送通知"),
    ("order_placed", "Order placed", "已下单"),
    ("out_for_delivery", "Out for delivery", "派送中"),
    (
        "outside_service_area",
        "Outside service area",
        "超出服务范围",
    ),
    ("package_departed", "Package departed", "包裹已发出"),
    (
        "picked_up_at_post_office",
        "Collected at post office",
        "已在邮局取件",
    ),
    (
        "pickup_point_uncollected",
        "Not collected from pickup point",
        "自提点超时未取",
    ),
    ("problem_resolved", "Problem resolved", "问题已解决"),
    ("processing", "Processing", "处理中"),
    (
        "received_at_destination_facility",
        "At destination facility",
        "已到达目的转运中心",
    ),
    (
        "received_at_origin_facility",
        "At origin facility",
        "已到达始发转运中心",
    ),
    ("recipient_contacted", "Recipient contacted", "已联系收件人"),
    ("recipient_moved", "Recipient moved", "收件人已搬迁"),
    ("recipient_not_home", "Recipient not home", "收件人不在"),
    ("refused", "Refused", "拒收"),
    (
        "rerouted_to_other_carrier",
        "Handed to another carrier",
        "已转交其他承运商",
    ),
    (
        "reschedule_delivery",
        "Delivery to be rescheduled",
        "需重新安排派送",
    ),
    ("return", "Return", "退件"),
    ("return_to_sender", "Returning to sender", "退回寄件人"),
    ("return_to_shipper", "Returning to shipper", "退回发货人"),
    ("returned_to_shipper", "Returned to shipper", "已退回发货人"),
    ("second_attempt", "Second delivery attempt", "第二次派送"),
    ("security_check", "Security check", "安检中"),
    (
        "signed_after_exception",
        "Signed for after an exception",
        "异常后签收",
    ),
    ("signed_by_consignee", "Signed for by recipient", "本人签收"),
    ("signed_by_proxy", "Signed for by someone else", "他人代签"),
    (
        "signed_by_recipient",
        "Signed for by recipient",
        "收件人签收",
    ),
    ("status_update", "Status update", "状态更新"),
    ("transferred", "Transferred", "已转运"),
    (
        "transferred_to_destination_carrier",
        "Handed to destination carrier",
        "已交由目的地承运商",
    ),
    ("transit_exception", "Transit exception", "运输异常"),
    ("unclaimed", "Unclaimed", "无人认领"),
    ("undeliverable", "Undeliverable", "无法投递"),
    (
        "undeliverable_as_addressed",
        "Undeliverable as addressed",
        "地址无法投递",
    ),
    ("warehousing", "In warehouse", "仓储中"),
    ("weather_delay", "Weather delay", "天气原因延误"),
];

/// (English, Chinese) for a sub-status code, if it is in the vocabulary.
pub fn words(code: &str) -> Option<(&'static str, &'static str)> {
    SUB_STATUSES
        .binary_search_by(|(known, _, _)| known.cmp(&code))
        .ok()
        .map(|i| (SUB_STATUSES[i].1, SUB_STATUSES[i].2))
}

/// `docs/sub-statuses.md`: the vocabulary as a table (a test keeps the file current).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Sub-statuses\n\n\
         Generated from `carriers/src/sub_status.rs` (`trackgate openapi --sub-statuses`); do not \
         edit by hand.\n\n\
         `sub_status` says what happened more finely than `status`, in the same words for every \
         carrier. It is `null` when the carrier said nothing finer. The vocabulary is open at one \
         edge: an aggregator's detail code we have no entry for yet passes through in snake_case \
         (17TRACK adds codes), so show an unknown code as text rather than refusing it.\n\n\
         | code | meaning | 中文 |\n|---|---|---|\n",
    );
    for (code, english, chinese) in SUB_STATUSES {
        out.push_str(&format!("| `{code}` | {english} | {chinese} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        for pair in SUB_STATUSES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
    }

    /// Every sub-status written in an adapter's status table (`Some("…")` in a `table.rs`) has
    /// English and Chinese words here.
    #[test]
    fn every_sub_status_the_adapters_emit_has_words() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        let mut seen = 0;
        for entry in std::fs::read_dir(root).unwrap().flatten() {
            let table = entry.path().join("table.rs");
            let Ok(text) = std::fs::read_to_string(&table) else {
                continue;
            };
            for piece in text.split("Some(\"").skip(1) {
                let code: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if code.is_empty() || !piece[code.len()..].starts_with("\")") {
                    continue;
                }
                seen += 1;
                if words(&code).is_none() {
                    missing.push(format!("{}: {code}", table.display()));
                }
            }
        }
        assert!(seen > 50, "the scan found only {seen} sub-statuses");
        assert!(missing.is_empty(), "no words for: {missing:#?}");
    }
}
