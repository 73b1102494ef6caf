//! Plain words for the status vocabulary, in English and Chinese: the 14 statuses here, the
//! sub-statuses from [`trackgate_carriers::sub_status`] (whose test fails on a sub-status an
//! adapter emits without words). Unknown sub-statuses fall back to their code with underscores
//! as spaces.

use trackgate_carriers::Status;

use crate::config::Language;

/// (English, Chinese) for a status.
pub fn status(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Pending => ("Pending", "待处理"),
        Status::InfoReceived => ("Label created", "已下单，待揽收"),
        Status::PickedUp => ("Picked up", "已揽收"),
        Status::InTransit => ("In transit", "运输中"),
        Status::OutForDelivery => ("Out for delivery", "派送中"),
        Status::AvailableForPickup => ("Ready for pickup", "待自提"),
        Status::FailedAttempt => ("Delivery attempt failed", "派送未成功"),
        Status::Exception => ("Exception", "异常"),
        Status::Returning => ("Returning to sender", "退回中"),
        Status::Returned => ("Returned to sender", "已退回"),
        Status::Delivered => ("Delivered", "已签收"),
        Status::Cancelled => ("Cancelled", "已取消"),
        Status::Expired => ("No recent updates", "长时间无更新"),
        Status::Unknown => ("Unknown", "未知"),
    }
}

pub fn status_in(status_of: Status, language: Language) -> &'static str {
    let (en, zh) = status(status_of);
    match language {
        Language::En => en,
        Language::Zh => zh,
    }
}

/// (English, Chinese) for a sub-status code, if we have words for it.
pub fn sub_status(code: &str) -> Option<(&'static str, &'static str)> {
    trackgate_carriers::sub_status::words(code)
}

/// The words for a sub-status in `language`, or the code made readable.
pub fn sub_status_in(code: &str, language: Language) -> String {
    match (sub_status(code), language) {
        (Some((en, _)), Language::En) => en.to_owned(),
        (Some((_, zh)), Language::Zh) => zh.to_owned(),
        (None, _) => code.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_words_in_both_languages() {
        for s in Status::ALL {
            let (en, zh) = status(s);
            assert!(!en.is_empty() && !zh.is_empty() && en != zh);
        }
    }
}
