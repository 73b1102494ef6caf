//! Kuaidi100's `poll` subscription: ask Kuaidi100 to push a number's updates to our callback.
//!
//! `POST {base}/poll` with the form `schema=json&param=…`; `param` carries `company` (the
//! shipment's `carrier_code`, else detected from the number), `number`, the account `key`, and
//! `parameters`: `callbackurl` (this instance's webhook endpoint), `salt` (Kuaidi100 then signs
//! each callback, which is how we verify them), `resultv2: "4"` (the advanced per-event status
//! codes, without which callbacks carry text only and most events map to `unknown`) and `phone`
//! where SF Express needs it. The answer's `returnCode`: `200` subscribed, `501` already
//! subscribed (also success), `500`/`502` Kuaidi100's own trouble (retried), anything else — `600`
//! /`601` the key, `700`–`703` the company, number or callback — refused for good.

use serde::Deserialize;

use super::Kuaidi100Config;
use crate::{HttpRequest, ParseError, PollTarget, SubscriptionAnswer};

pub(super) fn request(
    config: &Kuaidi100Config,
    target: &PollTarget,
    callback_url: Option<&str>,
) -> Result<HttpRequest, ParseError> {
    let key = config.key.as_deref().ok_or(ParseError::NotSupported(
        "subscriptions without `key` (set TRACKGATE__CARRIERS__<ID>__KEY)",
    ))?;
    let callback_url = callback_url.ok_or(ParseError::NotSupported(
        "subscriptions without `server.public_url` (Kuaidi100 needs the callback address)",
    ))?;
    let company = super::query::company_of(target)?;
    let mut parameters = serde_json::json!({
        "callbackurl": callback_url,
        "resultv2": "4",
    });
    if let Some(salt) = &config.salt {
        parameters["salt"] = salt.clone().into();
    }
    if let Some(phone) = &target.phone_last4 {
        parameters["phone"] = phone.clone().into();
    }
    let param = serde_json::json!({
        "company": company,
        "number": target.tracking_number,
        "key": key,
        "parameters": parameters,
    })
    .to_string();
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("schema", "json")
        .append_pair("param", &param)
        .finish();
    Ok(HttpRequest::post_form(config.url("/poll"), body))
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(rename = "returnCode", default)]
    return_code: String,
    #[serde(default)]
    message: String,
}

pub(super) fn parse_answer(status: u16, body: &[u8]) -> SubscriptionAnswer {
    if !(200..300).contains(&status) {
        return SubscriptionAnswer::from_status(status, body);
    }
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else {
        return SubscriptionAnswer::Unavailable(format!(
            "unreadable answer: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    };
    let said = format!("Kuaidi100 {}: {}", answer.return_code, answer.message);
    match answer.return_code.as_str() {
        "200" | "501" => SubscriptionAnswer::Active,
        "500" | "502" => SubscriptionAnswer::Unavailable(said),
        _ => SubscriptionAnswer::Refused(said),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Kuaidi100Config {
        Kuaidi100Config {
            salt: Some("salty".into()),
            customer: Some("C1".into()),
            key: Some("k3y".into()),
            base_url: Some("http://127.0.0.1:9".into()),
        }
    }

    fn param_of(request: &HttpRequest) -> serde_json::Value {
        let body = request.body.as_deref().unwrap();
        let (_, param) = form_urlencoded::parse(body)
            .find(|(name, _)| name == "param")
            .unwrap();
        serde_json::from_str(&param).unwrap()
    }

    #[test]
    fn the_subscription_names_company_number_callback_salt_and_advanced_status() {
        let target = PollTarget {
            tracking_number: "SF1400123456789".into(),
            carrier_code: None,
            phone_last4: Some("5678".into()),
        };
        let request =
            request(&config(), &target, Some("https://gw.example/webhooks/k100")).unwrap();
        assert_eq!(request.url, "http://127.0.0.1:9/poll");
        let param = param_of(&request);
        assert_eq!(param["company"], "shunfeng");
        assert_eq!(param["number"], "SF1400123456789");
        assert_eq!(param["key"], "k3y");
        assert_eq!(
            param["parameters"]["callbackurl"],
            "https://gw.example/webhooks/k100"
        );
        assert_eq!(param["parameters"]["salt"], "salty");
        assert_eq!(param["parameters"]["resultv2"], "4");
        assert_eq!(param["parameters"]["phone"], "5678");
    }

    #[test]
    fn what_cannot_be_subscribed_is_an_error_not_a_request() {
        let target = PollTarget::from("SF1400123456789");
        assert!(
            request(&config(), &target, None).is_err(),
            "no callback address"
        );
        let keyless = Kuaidi100Config {
            key: None,
            ..config()
        };
        assert!(request(&keyless, &target, Some("https://x")).is_err());
        let unknown = PollTarget::from("?");
        assert!(request(&config(), &unknown, Some("https://x")).is_err());
    }

    #[test]
    fn answers() {
        let ok = r#"{"result":true,"returnCode":"200","message":"提交成功"}"#.as_bytes();
        assert_eq!(parse_answer(200, ok), SubscriptionAnswer::Active);
        let again = r#"{"result":false,"returnCode":"501","message":"重复订阅"}"#.as_bytes();
        assert_eq!(parse_answer(200, again), SubscriptionAnswer::Active);
        let busy = r#"{"result":false,"returnCode":"500","message":"服务器错误"}"#.as_bytes();
        assert!(matches!(
            parse_answer(200, busy),
            SubscriptionAnswer::Unavailable(_)
        ));
        let bad_key =
            r#"{"result":false,"returnCode":"600","message":"您不是合法的订阅者"}"#.as_bytes();
        let SubscriptionAnswer::Refused(message) = parse_answer(200, bad_key) else {
            panic!("a bad key is refused for good");
        };
        assert!(
            message.contains("600") && message.contains("合法"),
            "{message}"
        );
        assert!(matches!(
            parse_answer(503, b""),
            SubscriptionAnswer::Unavailable(_)
        ));
    }
}
