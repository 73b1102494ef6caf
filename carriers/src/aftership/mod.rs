//! `aftership`: AfterShip Tracking API v4 — polled (`GET /v4/trackings?tracking_numbers=A,B`,
//! header `aftership-api-key`) and pushed (`tracking_update` webhooks).
//!
//! Webhook signature: `aftership-hmac-sha256` = base64 of HMAC-SHA256(webhook secret, raw body),
//! as AfterShip's webhook documentation and SDKs compute it. `checkpoint_time` is the carrier's
//! time at the checkpoint: with an offset it is used as given; without one it is local time at
//! the checkpoint, resolved from `country_iso3` and `state` (flagged as inferred) — and when the
//! zone cannot be known (a multi-zone country without a state) the time is taken as UTC with
//! a problem saying so. The tracking's own tag is its current status, an observation at the time
//! of the newest checkpoint ([`crate::apply_current_status`]).

mod table;
mod tracking;

use base64::Engine as _;
use hmac::Mac;
use serde::Deserialize;

use crate::common::hmac_sha256;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, ParseError,
    ParseOutcome, SignatureError, Unverified, Verified,
};

pub use table::map_tag;
use tracking::parse_tracking;

pub const SIGNATURE_HEADER: &str = "aftership-hmac-sha256";

#[derive(Debug, Clone, Deserialize)]
pub struct AfterShipConfig {
    /// Secret: the API key.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    /// Secret: the webhook secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub webhook_secret: Option<String>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(
        default = "default_batch_size",
        deserialize_with = "crate::settings::count"
    )]
    pub batch_size: usize,
}

fn default_base_url() -> String {
    "https://api.aftership.com".into()
}
fn default_batch_size() -> usize {
    50
}

impl Default for AfterShipConfig {
    fn default() -> Self {
        AfterShipConfig {
            api_key: None,
            webhook_secret: None,
            base_url: default_base_url(),
            batch_size: default_batch_size(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AfterShipAdapter {
    config: AfterShipConfig,
}

impl AfterShipAdapter {
    pub fn new(config: AfterShipConfig) -> Self {
        AfterShipAdapter { config }
    }
}

/// The `aftership-hmac-sha256` value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), &[body]);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Debug, Deserialize)]
struct Envelope {
    meta: Meta,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    code: i64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let envelope: Envelope = crate::common::json(body)?;
    if !(200..300).contains(&envelope.meta.code) {
        return Err(ParseError::CarrierError(format!(
            "{} {}: {}",
            envelope.meta.code,
            envelope.meta.kind.unwrap_or_default(),
            envelope.meta.message.unwrap_or_default()
        )));
    }
    let data = envelope.data.unwrap_or_default();
    let mut outcome = ParseOutcome::default();
    match (
        data.get("trackings").and_then(|t| t.as_array()),
        data.get("tracking"),
    ) {
        (Some(list), _) => list
            .iter()
            .cloned()
            .for_each(|t| parse_tracking(t, &mut outcome)),
        (None, Some(one)) => parse_tracking(one.clone(), &mut outcome),
        (None, None) => return Err(ParseError::Body("`data` holds no tracking".into())),
    }
    Ok(outcome)
}

#[derive(Debug, Deserialize)]
struct Webhook {
    event: String,
    msg: serde_json::Value,
}

pub fn parse_webhook_body(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let hook: Webhook = crate::common::json(body)?;
    let mut outcome = ParseOutcome::default();
    if hook.event == "tracking_update" {
        parse_tracking(hook.msg, &mut outcome);
    } else {
        outcome.problem(format!(
            "`{}` events carry no tracking data; ignored",
            hook.event
        ));
    }
    Ok(outcome)
}

impl CarrierAdapter for AfterShipAdapter {
    fn kind(&self) -> &'static str {
        "aftership"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            poll: self.config.api_key.is_some(),
            poll_batch_size: self.config.batch_size.clamp(1, 50),
        }
    }

    fn verify_webhook(
        &self,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, SignatureError> {
        let secret = self
            .config
            .webhook_secret
            .as_deref()
            .ok_or(SignatureError::NotConfigured)?;
        let given = inbound
            .header(SIGNATURE_HEADER)
            .ok_or(SignatureError::Missing("aftership-hmac-sha256"))?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(given.trim())
            .map_err(|_| SignatureError::Malformed("not base64".into()))?;
        hmac_sha256(secret.as_bytes(), &[inbound.body()])
            .verify_slice(&given)
            .map_err(|_| SignatureError::Mismatch)?;
        Ok(inbound.into_verified())
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        parse_webhook_body(inbound.body())
    }

    fn build_poll_request(
        &self,
        targets: &[crate::PollTarget],

        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let key = self
            .config
            .api_key
            .as_deref()
            .ok_or(ParseError::NotSupported("polling without an api_key"))?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "tracking_numbers",
                &crate::tracking_numbers(targets).join(","),
            )
            .finish();
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: format!(
                "{}/v4/trackings?{query}",
                self.config.base_url.trim_end_matches('/')
            ),
            headers: vec![
                ("aftership-api-key".into(), key.to_owned()),
                ("accept".into(), "application/json".into()),
            ],
            body: None,
        })
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        parse_poll(body)
    }

    fn subscribes(&self) -> bool {
        true
    }

    /// `POST /v4/trackings`: AfterShip follows the number from then on and sends
    /// `tracking_update` webhooks to the endpoint set in its dashboard.
    fn subscription_request(
        &self,
        target: &crate::PollTarget,
        _callback_url: Option<&str>,
    ) -> Result<HttpRequest, ParseError> {
        let key = self.api_key()?;
        let mut tracking = serde_json::json!({ "tracking_number": target.tracking_number });
        if let Some(slug) = &target.carrier_code {
            tracking["slug"] = slug.clone().into();
        }
        Ok(HttpRequest::post_json(
            format!(
                "{}/v4/trackings",
                self.config.base_url.trim_end_matches('/')
            ),
            self.headers(key),
            &serde_json::json!({ "tracking": tracking }),
        ))
    }

    /// `meta.code` 4003 "tracking already exists" is success.
    fn parse_subscription_response(&self, status: u16, body: &[u8]) -> crate::SubscriptionAnswer {
        let code = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.pointer("/meta/code").and_then(serde_json::Value::as_i64));
        match code {
            Some(4003) => crate::SubscriptionAnswer::Active,
            _ => crate::SubscriptionAnswer::from_status(status, body),
        }
    }

    /// `DELETE /v4/trackings/{slug}/{number}`; without a slug AfterShip cannot tell which one.
    fn unsubscription_request(&self, target: &crate::PollTarget) -> Option<HttpRequest> {
        let key = self.api_key().ok()?;
        let slug = target.carrier_code.as_deref()?;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Some(HttpRequest {
            method: HttpMethod::Delete,
            url: format!(
                "{}/v4/trackings/{}/{}",
                self.config.base_url.trim_end_matches('/'),
                encode(slug),
                encode(&target.tracking_number)
            ),
            headers: self.headers(key),
            body: None,
        })
    }
}

impl AfterShipAdapter {
    fn api_key(&self) -> Result<&str, ParseError> {
        self.config
            .api_key
            .as_deref()
            .ok_or(ParseError::NotSupported(
                "AfterShip calls without an api_key",
            ))
    }

    fn headers(&self, key: &str) -> Vec<(String, String)> {
        vec![
            ("aftership-api-key".into(), key.to_owned()),
            ("accept".into(), "application/json".into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> AfterShipAdapter {
        AfterShipAdapter::new(AfterShipConfig {
            webhook_secret: Some("as-secret".into()),
            api_key: Some("asat_1".into()),
            ..Default::default()
        })
    }

    #[test]
    fn webhook_signed_with_base64_hmac_verifies() {
        let body = br#"{"event":"tracking_update","msg":{}}"#.to_vec();
        let good = vec![(SIGNATURE_HEADER.to_owned(), sign("as-secret", &body))];
        assert!(
            adapter()
                .verify_webhook(Inbound::new(good, body.clone()))
                .is_ok()
        );
        let bad = vec![(SIGNATURE_HEADER.to_owned(), sign("as-secret", b"{}"))];
        assert_eq!(
            adapter()
                .verify_webhook(Inbound::new(bad, body))
                .unwrap_err(),
            SignatureError::Mismatch
        );
    }

    #[test]
    fn local_checkpoint_times_resolve_in_the_checkpoint_zone() {
        let body = br#"{"meta":{"code":200},"data":{"trackings":[{"tracking_number":"1Z1","tag":"InTransit","checkpoints":[
            {"checkpoint_time":"2026-07-01T08:00:00","tag":"InTransit","subtag":"InTransit_001","country_iso3":"USA","state":"CA","message":"Departed"},
            {"checkpoint_time":"2026-07-02T08:00:00+02:00","tag":"InTransit","subtag":"InTransit_001","country_iso3":"DEU","message":"Arrived"},
            {"checkpoint_time":"2026-07-03T08:00:00","tag":"InTransit","country_iso3":"RUS","message":"Somewhere"}]}]}}"#;
        let outcome = parse_poll(body).unwrap();
        let events = &outcome.updates[0].events;
        assert_eq!(
            events[0].occurred_at.to_rfc3339(),
            "2026-07-01T15:00:00+00:00"
        );
        assert!(events[0].offset_inferred);
        assert_eq!(
            events[1].occurred_at.to_rfc3339(),
            "2026-07-02T06:00:00+00:00"
        );
        assert!(!events[1].offset_inferred);
        assert_eq!(events[2].utc_offset_seconds, None);
        assert_eq!(
            outcome.problems.len(),
            1,
            "the unresolvable zone is reported"
        );
    }

    #[test]
    fn an_error_envelope_is_a_carrier_error() {
        let err = parse_poll(br#"{"meta":{"code":401,"type":"Unauthorized","message":"Invalid API key."},"data":{}}"#).unwrap_err();
        assert_eq!(
            err,
            ParseError::CarrierError("401 Unauthorized: Invalid API key.".into())
        );
    }
}
