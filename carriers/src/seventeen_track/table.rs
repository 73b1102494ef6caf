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
        detail => Some(snake(detail)).filter(|sub| sub != status.as_str()),
    };
    (status, sub)
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
}
