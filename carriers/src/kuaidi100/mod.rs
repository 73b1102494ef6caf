//! `kuaidi100`: the Kuaidi100 (快递100) subscription callback.
//!
//! Kuaidi100 POSTs `application/x-www-form-urlencoded` with `param` (a JSON document) and `sign`,
//! the upper-case hex MD5 of `param` + the salt given when subscribing. We verify `sign` over the
//! percent-decoded `param` exactly as sent, as Kuaidi100's official SDKs do. It expects the JSON
//! acknowledgement `{"result":true,"returnCode":"200","message":"成功"}`; anything else makes it
//! retry. Times come as `yyyy-MM-dd HH:mm:ss` in China Standard Time without an offset, so the
//! offset is inferred as +08:00 (China has one zone and no DST) and flagged as inferred.
//!
//! Status: each `data[]` item carries `statusCode` when the subscription asked for advanced
//! states (`resultv2=4`), else the state name in `status`. `lastResult.state` is the carrier's
//! current status: an observation at the time of the newest event, so the shipment reflects it
//! at the time of that event ([`crate::apply_current_status`]).
//!
//! Polls use the real-time `query` API (`query.rs`).

mod query;
mod subscribe;
mod table;

use std::borrow::Cow;

use chrono::{FixedOffset, NaiveDateTime};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::value::RawValue;
use subtle::ConstantTimeEq;

use crate::{
    Capabilities, CarrierAdapter, Inbound, Instant, ParseError, ParseOutcome, Problem,
    SignatureError, Status, TrackingEvent, TrackingUpdate, Unverified, Verified, WebhookAck,
    dedupe_key,
};

pub use query::{company_code, parse_query, query_sign};
pub use table::{map_state, map_state_name};

/// Settings of one Kuaidi100 instance.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Kuaidi100Config {
    /// The subscription salt (secret: from the environment only).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub salt: Option<String>,
    /// The account's `customer` id, for `query` polls.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub customer: Option<String>,
    /// The account's authorization `key`, which signs `query` polls (secret).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub key: Option<String>,
    /// `https://poll.kuaidi100.com` by default.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

impl Kuaidi100Config {
    /// `path` on the configured API host (`https://poll.kuaidi100.com` by default).
    fn url(&self, path: &str) -> String {
        let base = self.base_url.as_deref();
        crate::oauth::join(base.unwrap_or("https://poll.kuaidi100.com"), path)
    }
}

#[derive(Debug, Clone)]
pub struct Kuaidi100Adapter {
    config: Kuaidi100Config,
}

impl Kuaidi100Adapter {
    pub fn new(config: Kuaidi100Config) -> Self {
        Kuaidi100Adapter { config }
    }
}

/// `sign` for a callback: upper-case hex MD5 of `param` followed by the salt.
pub fn sign(param: &str, salt: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(param.as_bytes());
    hasher.update(salt.as_bytes());
    hex::encode_upper(hasher.finalize())
}

/// The decoded form fields of a callback.
fn form_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let mut param = None;
    let mut sign = None;
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "param" => param = Some(value.into_owned()),
            "sign" => sign = Some(value.into_owned()),
            _ => {}
        }
    }
    (param, sign)
}

// The wire types borrow from the decoded `param` (no DOM, no copy of unescaped text); each
// event is kept raw and read on its own, so one unreadable event is a problem, not a refusal.
#[derive(Debug, Deserialize)]
struct Callback<'a> {
    #[serde(default, borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Cow<'a, str>,
    #[serde(rename = "lastResult", borrow)]
    last_result: Option<LastResult<'a>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LastResult<'a> {
    #[serde(default, borrow)]
    pub(super) nu: Cow<'a, str>,
    /// The company code (`zhongtong`), possibly corrected by Kuaidi100's auto-check.
    #[serde(default, borrow)]
    pub(super) com: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(super) data: Vec<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct WireEvent<'a> {
    #[serde(default, borrow)]
    context: Cow<'a, str>,
    #[serde(default, borrow)]
    time: Cow<'a, str>,
    #[serde(default, borrow)]
    ftime: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "statusCode", default, borrow)]
    status_code: Option<Cow<'a, str>>,
    #[serde(rename = "areaName", default, borrow)]
    area_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    location: Option<Cow<'a, str>>,
}

fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Parse a callback body (the whole form). Signature checks are the adapter's job, not this one's.
pub fn parse(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let (param, _) = form_fields(body);
    let param = param.ok_or_else(|| ParseError::Body("form field `param` is missing".into()))?;
    let callback: Callback = serde_json::from_str(&param)
        .map_err(|err| ParseError::Body(format!("`param` is not a Kuaidi100 callback: {err}")))?;
    let mut outcome = ParseOutcome::default();
    if callback.status == "abort" {
        let number = callback
            .last_result
            .as_ref()
            .map(|r| r.nu.to_string())
            .filter(|n| !n.is_empty());
        outcome.stopped.extend(number.clone());
        outcome.problems.push(Problem {
            tracking_number: number,
            message: format!("kuaidi100 stopped tracking (abort): {}", callback.message),
        });
    }
    let Some(result) = callback.last_result else {
        if outcome.problems.is_empty() {
            return Err(ParseError::Body("`lastResult` is missing".into()));
        }
        return Ok(outcome);
    };
    parse_last_result(result, &mut outcome)?;
    Ok(outcome)
}

/// The tracking data of a callback's `lastResult`, or of a `query` answer (the same shape).
pub(super) fn parse_last_result(
    result: LastResult<'_>,
    outcome: &mut ParseOutcome,
) -> Result<(), ParseError> {
    if result.nu.is_empty() {
        return Err(ParseError::Body(
            "`lastResult.nu` (tracking number) is empty".into(),
        ));
    }
    let mut events = Vec::with_capacity(result.data.len());
    for raw in result.data {
        match serde_json::from_str::<WireEvent>(raw.get()) {
            Ok(wire) => match normalize_event(wire) {
                Ok(event) => events.push(event),
                Err(message) => outcome.problem_for(&result.nu, message),
            },
            Err(err) => outcome.problem_for(&result.nu, format!("unreadable event: {err}")),
        }
    }
    apply_current_state(&mut events, result.state.as_deref());
    outcome.updates.push(TrackingUpdate {
        tracking_number: result.nu.into_owned(),
        courier: result
            .com
            .filter(|c| !c.trim().is_empty())
            .map(Cow::into_owned),
        estimated_delivery: None,
        events,
    });
    Ok(())
}

fn normalize_event(wire: WireEvent<'_>) -> Result<TrackingEvent, String> {
    let text = if wire.ftime.is_empty() {
        &wire.time
    } else {
        &wire.ftime
    };
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
        .map_err(|_| format!("event time `{text}` is not `yyyy-MM-dd HH:mm:ss`"))?;
    let instant = Instant::from_local(naive, china_standard_time())
        .ok_or_else(|| format!("event time `{text}` does not exist"))?;
    let (status, sub_status, raw_code) = match (&wire.status_code, &wire.status) {
        (Some(code), _) if !code.is_empty() => {
            let (status, sub) = map_state(code);
            (status, sub, code.to_string())
        }
        (_, Some(name)) if !name.is_empty() => {
            let (status, sub) = map_state_name(name);
            (status, sub, name.to_string())
        }
        _ => (Status::Unknown, None, String::new()),
    };
    let utc = instant.utc.to_rfc3339();
    let location = wire
        .location
        .filter(|l| !l.trim().is_empty())
        .or(wire.area_name.filter(|a| !a.trim().is_empty()))
        .map(Cow::into_owned);
    Ok(TrackingEvent {
        occurred_at: instant.utc,
        utc_offset_seconds: instant.offset_seconds,
        offset_inferred: instant.offset_inferred,
        status,
        sub_status: sub_status.map(str::to_owned),
        raw_code,
        // Kuaidi100 pads contexts with trailing spaces inconsistently between pushes.
        description: wire.context.trim().to_owned(),
        location,
        dedupe_key: dedupe_key(&["kuaidi100", &utc, wire.context.trim()]),
    })
}

/// `lastResult.state` is the current status: an observation at the time of the newest event
/// ([`crate::apply_current_status`]); a newest event without a code of its own keeps the state
/// as its raw code.
fn apply_current_state(events: &mut [TrackingEvent], state: Option<&str>) {
    let Some(state) = state.filter(|s| !s.is_empty()) else {
        return;
    };
    let (status, sub_status) = map_state(state);
    crate::apply_current_status(events, status, sub_status.map(str::to_owned));
    if status != Status::Unknown
        && let Some(newest) = events.iter_mut().max_by_key(|e| e.occurred_at)
        && newest.raw_code.is_empty()
    {
        newest.raw_code = state.to_owned();
    }
}

impl CarrierAdapter for Kuaidi100Adapter {
    fn kind(&self) -> &'static str {
        "kuaidi100"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            poll: self.config.customer.is_some() && self.config.key.is_some(),
            poll_batch_size: 1,
        }
    }

    fn build_poll_request(
        &self,
        targets: &[crate::PollTarget],
        _token: Option<&crate::AccessToken>,
    ) -> Result<crate::HttpRequest, ParseError> {
        query::request(&self.config, targets)
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        parse_query(body)
    }

    fn subscribes(&self) -> bool {
        true
    }

    fn subscription_request(
        &self,
        target: &crate::PollTarget,
        callback_url: Option<&str>,
    ) -> Result<crate::HttpRequest, ParseError> {
        subscribe::request(&self.config, target, callback_url)
    }

    fn parse_subscription_response(&self, status: u16, body: &[u8]) -> crate::SubscriptionAnswer {
        subscribe::parse_answer(status, body)
    }

    fn verify_webhook(
        &self,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, SignatureError> {
        let salt = self
            .config
            .salt
            .as_deref()
            .ok_or(SignatureError::NotConfigured)?;
        let (param, given) = form_fields(inbound.body());
        let given = given.ok_or(SignatureError::Missing("form field `sign`"))?;
        let param = param.ok_or(SignatureError::Malformed(
            "form field `param` is missing".into(),
        ))?;
        let expected = sign(&param, salt);
        // Accept lower-case hex too: some proxies re-encode; compare in constant time.
        let given = given.trim().to_ascii_uppercase();
        if expected.as_bytes().ct_eq(given.as_bytes()).into() {
            Ok(inbound.into_verified())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        parse(inbound.body())
    }

    fn webhook_ack(&self, stored: bool) -> WebhookAck {
        let body = if stored {
            r#"{"result":true,"returnCode":"200","message":"成功"}"#
        } else {
            r#"{"result":false,"returnCode":"500","message":"失败"}"#
        };
        WebhookAck {
            status: 200,
            content_type: "application/json;charset=UTF-8",
            body: body.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(param: &str, sign: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("param", param)
            .append_pair("sign", sign)
            .finish()
            .into_bytes()
    }

    fn adapter() -> Kuaidi100Adapter {
        Kuaidi100Adapter::new(Kuaidi100Config {
            salt: Some("salty".into()),
            ..Default::default()
        })
    }

    #[test]
    fn callback_signed_with_the_salt_verifies() {
        let param = r#"{"status":"polling"}"#;
        let body = form(param, &sign(param, "salty"));
        assert!(adapter().verify_webhook(Inbound::new(vec![], body)).is_ok());
    }

    #[test]
    fn callback_signed_with_another_salt_is_rejected() {
        let param = r#"{"status":"polling"}"#;
        let body = form(param, &sign(param, "pepper"));
        let err = adapter()
            .verify_webhook(Inbound::new(vec![], body))
            .unwrap_err();
        assert_eq!(err, SignatureError::Mismatch);
    }

    #[test]
    fn sign_is_upper_case_md5_of_param_and_salt() {
        // md5("abc") = 900150983cd24fb0d6963f7d28e17f72
        assert_eq!(sign("ab", "c"), "900150983CD24FB0D6963F7D28E17F72");
    }

    #[test]
    fn times_are_china_standard_time_flagged_as_inferred() {
        let param = r#"{"status":"polling","lastResult":{"nu":"YT1","state":"0","data":[
            {"context":"到达","time":"2026-11-20 08:00:00","ftime":"2026-11-20 08:00:00"}]}}"#;
        let outcome = parse(&form(param, "x")).unwrap();
        let event = &outcome.updates[0].events[0];
        assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-20T00:00:00+00:00");
        assert_eq!(event.utc_offset_seconds, Some(28800));
        assert!(event.offset_inferred);
        // No code on the event: the current state applies to the newest one.
        assert_eq!(event.status, Status::InTransit);
        assert_eq!(event.raw_code, "0");
    }
}
