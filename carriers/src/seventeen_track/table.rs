//! 17TRACK statuses → our vocabulary. 17TRACK already normalizes every carrier it aggregates
//! into a main status and a `sub_status` (`InTransit_CustomsReleased`, `Exception_Returning`…);
//! the sub-status is the raw code, and the part after `_` becomes our `sub_status` in snake case.
//! Events that carry only a milestone `stage` map through [`map_stage`].

use crate::Status;

/// `CustomsReleased` → `customs_released`.
fn snake(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// (status, sub_status) for a 17TRACK `sub_status` (or a bare main status).
pub fn map_sub_status(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let code = code.trim();
    let (main, detail) = code.split_once('_').unwrap_or((code, ""));
    let status = match (main, detail) {
        ("InfoReceived", _) => InfoReceived,
        ("InTransit", "PickedUp") => PickedUp,
        ("InTransit", "CustomsRequiringInformation") => Exception,
        ("InTransit", _) => InTransit,
        ("AvailableForPickup", _) => AvailableForPickup,
        ("OutForDelivery", _) => OutForDelivery,
        ("DeliveryFailure", _) => FailedAttempt,
        ("Delivered", _) => Delivered,
        ("Exception", "Returning") => Returning,
        ("Exception", "Returned") => Returned,
        ("Exception", "Cancel") => Cancelled,
        ("Exception", _) => Exception,
        ("Expired", _) => Expired,
        _ => Unknown,
    };
    let sub = match detail {
        "" | "Other" => None,
        _ if status == Unknown => None,
        // The detail that only names the status (`Exception_Cancel` is `cancelled`, and
        // `InTransit_PickedUp` is `picked_up`).
        "Cancel" | "PickedUp" | "Returning" | "Returned" => None,
        detail => Some(
            shared_sub_status(detail)
                .map(str::to_owned)
                .unwrap_or_else(|| snake(detail)),
        )
        .filter(|sub| sub != status.as_str()),
    };
    (status, sub)
}

/// 17TRACK's reasons (the part after `_` of `DeliveryFailure_*` and `Exception_*`, as its
/// status documentation lists them) in the sub-status words the other adapters use; any other
/// detail is kept in snake case (`CustomsReleased` → `customs_released`).
fn shared_sub_status(detail: &str) -> Option<&'static str> {
    Some(match detail {
        // "The recipient was not available."
        "NoBody" => "recipient_not_home",
        // "Held for a security check."
        "Security" => "security_check",
        // "The recipient refused the parcel."
        "Rejected" => "consignee_refused",
        // "The address is wrong or incomplete."
        "InvalidAddress" => "address_issue",
        // "Damaged in transit" (documented as `Damage`, sometimes sent as `Damaged`).
        "Damage" | "Damaged" => "damaged",
        "Delayed" => "delayed",
        "Lost" => "lost",
        "Destroyed" => "destroyed",
        // "Customs needs more information from the recipient."
        "CustomsRequiringInformation" => "customs_delay",
        _ => return None,
    })
}

/// (status, sub_status) for a milestone `stage`.
pub fn map_stage(stage: &str) -> (Status, Option<String>) {
    use Status::*;
    let status = match stage.trim() {
        "InfoReceived" => InfoReceived,
        "PickedUp" => PickedUp,
        "Departure" | "Arrival" => InTransit,
        "AvailableForPickup" => AvailableForPickup,
        "OutForDelivery" => OutForDelivery,
        "Delivered" => Delivered,
        "Returning" => Returning,
        "Returned" => Returned,
        _ => Unknown,
    };
    (status, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_statuses_keep_their_detail() {
        assert_eq!(
            map_sub_status("InTransit_CustomsReleased"),
            (Status::InTransit, Some("customs_released".into()))
        );
        assert_eq!(map_sub_status("Exception_Returning").0, Status::Returning);
        assert_eq!(map_sub_status("Delivered_Other"), (Status::Delivered, None));
        assert_eq!(map_sub_status("NotFound_Other"), (Status::Unknown, None));
    }

    #[test]
    fn every_documented_reason_has_its_word() {
        use Status::*;
        for (code, status, sub) in [
            (
                "DeliveryFailure_NoBody",
                FailedAttempt,
                Some("recipient_not_home"),
            ),
            (
                "DeliveryFailure_Security",
                FailedAttempt,
                Some("security_check"),
            ),
            (
                "DeliveryFailure_Rejected",
                FailedAttempt,
                Some("consignee_refused"),
            ),
            (
                "DeliveryFailure_InvalidAddress",
                FailedAttempt,
                Some("address_issue"),
            ),
            ("DeliveryFailure_Other", FailedAttempt, None),
            ("Exception_Returning", Returning, None),
            ("Exception_Returned", Returned, None),
            ("Exception_NoBody", Exception, Some("recipient_not_home")),
            ("Exception_Security", Exception, Some("security_check")),
            ("Exception_Damage", Exception, Some("damaged")),
            ("Exception_Damaged", Exception, Some("damaged")),
            ("Exception_Rejected", Exception, Some("consignee_refused")),
            ("Exception_Delayed", Exception, Some("delayed")),
            ("Exception_Lost", Exception, Some("lost")),
            ("Exception_Destroyed", Exception, Some("destroyed")),
            ("Exception_Cancel", Cancelled, None),
            ("InTransit_PickedUp", PickedUp, None),
            ("InTransit_Departure", InTransit, Some("departure")),
            ("InTransit_Arrival", InTransit, Some("arrival")),
            (
                "InTransit_CustomsProcessing",
                InTransit,
                Some("customs_processing"),
            ),
            (
                "InTransit_CustomsRequiringInformation",
                Exception,
                Some("customs_delay"),
            ),
            ("AvailableForPickup_Other", AvailableForPickup, None),
            ("OutForDelivery_Other", OutForDelivery, None),
            ("Expired_Other", Expired, None),
            ("InfoReceived", InfoReceived, None),
            ("NotFound_InvalidCode", Unknown, None),
        ] {
            assert_eq!(
                map_sub_status(code),
                (status, sub.map(str::to_owned)),
                "{code}"
            );
        }
    }
}
