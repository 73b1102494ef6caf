//! Kuaidi100's real-time `query` API (`POST /poll/query.do`), one number a request.
//!
//! The form carries `customer`, `param` (JSON: `com`, `num`, `phone`, `resultv2`) and `sign`, the
//! upper-case hex MD5 of `param` + key + customer — the order Kuaidi100's official SDKs use.
//! `com` is the company code: the one the mall registered (`carrier_code`), else the one the
//! number's format implies (SF → `shunfeng`, ZTO → `zhongtong`, …); a number that fits no known
//! format cannot be queried and fails with a message saying to register a `carrier_code`. SF
//! Express answers only with the last four digits of the sender's or recipient's phone.
//!
//! The answer has the callback's `lastResult` shape. Errors come as `{"result":false,
//! "returnCode":…}`: `500` (no result yet) and `408` (phone check failed) concern one number and
//! become problems; the others (bad sign, expired key, server trouble) are carrier errors.

use md5::{Digest, Md5};
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Kuaidi100Config, LastResult, parse_last_result};
use crate::detect::{Confidence, detect};
use crate::{HttpRequest, ParseError, ParseOutcome, PollTarget};

/// `sign` of a query: upper-case hex MD5 of `param` + `key` + `customer`.
pub fn query_sign(param: &str, key: &str, customer: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(param.as_bytes());
    hasher.update(key.as_bytes());
    hasher.update(customer.as_bytes());
    hex::encode_upper(hasher.finalize())
}

/// The Kuaidi100 company code a number's format implies, when exactly one carrier fits it.
pub fn company_code(number: &str) -> Option<&'static str> {
    let confident: Vec<&'static str> = detect(number)
        .into_iter()
        .filter(|c| c.confidence == Confidence::High)
        .map(|c| c.carrier)
        .collect();
    let code = match confident.as_slice() {
        ["SF Express"] => "shunfeng",
        ["ZTO Express"] => "zhongtong",
        ["Yunda Express"] => "yunda",
        ["YTO Express"] => "yuantong",
        ["JD Logistics"] => "jd",
        ["Cainiao"] => "cainiao",
        ["China Post / EMS"] if number.trim().to_ascii_uppercase().starts_with('E') => "ems",
        ["China Post / EMS"] => "youzhengguoji",
        _ => return None,
    };
    Some(code)
}

pub(super) fn request(
    config: &Kuaidi100Config,
    targets: &[PollTarget],
) -> Result<HttpRequest, ParseError> {
    let (Some(customer), Some(key)) = (config.customer.as_deref(), config.key.as_deref()) else {
        return Err(ParseError::NotSupported(
            "polling without `customer` and `key`",
        ));
    };
    let target = targets
        .first()
        .ok_or(ParseError::NotSupported("an empty poll"))?;
    let com = company_of(target)?;
    let mut param = serde_json::json!({
        "com": com,
        "num": target.tracking_number,
        "resultv2": "4",
    });
    if let Some(phone) = &target.phone_last4 {
        param["phone"] = phone.clone().into();
    }
    let param = param.to_string();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("customer", customer)
        .append_pair("sign", &query_sign(&param, key, customer))
        .append_pair("param", &param)
        .finish();
    Ok(HttpRequest::post_form(config.url("/poll/query.do"), body))
}

/// The Kuaidi100 company code of a shipment: the one the mall registered, else the one its
/// number's format names; an error asking for `carrier_code` otherwise.
pub(super) fn company_of(target: &PollTarget) -> Result<&str, ParseError> {
    target
        .carrier_code
        .as_deref()
        .or_else(|| company_code(&target.tracking_number))
        .ok_or_else(|| {
            ParseError::CarrierError(format!(
                "no Kuaidi100 company code for `{}`: register the shipment with `carrier_code` (e.g. `shunfeng`)",
                target.tracking_number
            ))
        })
}

/// A `query` answer: a failure (`result: false`, a code and a message) or the tracking data,
/// read in one borrowed pass (no DOM).
#[derive(Debug, Deserialize)]
struct Answer<'a> {
    #[serde(default)]
    result: Option<bool>,
    #[serde(rename = "returnCode", default, borrow)]
    return_code: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Cow<'a, str>,
    // The tracking data, `lastResult`'s shape at the top level (`flatten` would buffer it and
    // lose the borrowing, so the fields are spelled out).
    #[serde(default, borrow)]
    nu: Cow<'a, str>,
    #[serde(default, borrow)]
    com: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Vec<&'a RawValue>,
}

/// Parse a `query` answer.
pub fn parse_query(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let text = std::str::from_utf8(body).map_err(|err| ParseError::Body(err.to_string()))?;
    let answer: Answer = serde_json::from_str(text)
        .map_err(|err| ParseError::Body(format!("not a Kuaidi100 query answer: {err}")))?;
    let mut outcome = ParseOutcome::default();
    if answer.result == Some(false) {
        return match answer.return_code.as_ref() {
            "500" | "408" => {
                outcome.problem(match answer.return_code.as_ref() {
                    "408" => format!(
                        "408: {} (SF Express needs the phone's last 4 digits: register `phone`)",
                        answer.message
                    ),
                    code => format!("{code}: {} (no tracking data yet)", answer.message),
                });
                Ok(outcome)
            }
            code => Err(ParseError::CarrierError(format!(
                "{code}: {}",
                answer.message
            ))),
        };
    }
    let result = LastResult {
        nu: answer.nu,
        com: answer.com,
        state: answer.state,
        data: answer.data,
    };
    parse_last_result(result, &mut outcome)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_covers_param_key_and_customer_in_that_order() {
        // md5("abc") = 900150983cd24fb0d6963f7d28e17f72
        assert_eq!(
            query_sign("a", "b", "c"),
            "900150983CD24FB0D6963F7D28E17F72"
        );
    }

    #[test]
    fn sf_numbers_are_queried_as_shunfeng_with_the_phone() {
        let config = Kuaidi100Config {
            customer: Some("CUST".into()),
            key: Some("KEY".into()),
            ..Default::default()
        };
        let target = PollTarget {
            tracking_number: "SF1234567890123".into(),
            carrier_code: None,
            phone_last4: Some("5678".into()),
        };
        let request = request(&config, &[target]).unwrap();
        let form: Vec<(String, String)> = form_urlencoded::parse(&request.body.unwrap())
            .into_owned()
            .collect();
        let param = &form.iter().find(|(k, _)| k == "param").unwrap().1;
        let param: serde_json::Value = serde_json::from_str(param).unwrap();
        assert_eq!(param["com"], "shunfeng");
        assert_eq!(param["phone"], "5678");
        let sign = &form.iter().find(|(k, _)| k == "sign").unwrap().1;
        let param_text = &form.iter().find(|(k, _)| k == "param").unwrap().1;
        assert_eq!(sign, &query_sign(param_text, "KEY", "CUST"));
    }

    #[test]
    fn no_result_yet_is_a_problem_and_a_bad_sign_an_error() {
        let outcome =
            parse_query(r#"{"result":false,"returnCode":"500","message":"查询无结果"}"#.as_bytes())
                .unwrap();
        assert!(outcome.updates.is_empty());
        assert_eq!(outcome.problems.len(), 1);
        assert!(
            parse_query(br#"{"result":false,"returnCode":"503","message":"bad sign"}"#).is_err()
        );
    }
}
