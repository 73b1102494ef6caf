//! `shippo`: Shippo tracks, polled (`GET /tracks/{carrier}/{tracking_number}`, header
//! `Authorization: ShippoToken <token>`) and pushed (`track_updated` webhooks).
//!
//! Webhook signature: `Shippo-Auth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<raw body>")>`, as Shippo's webhook security documentation and client libraries compute
//! it. Timestamps older than `tolerance_secs` (default 300) are rejected against replays.
//! Shippo's poll endpoint needs the underlying carrier's token (`usps`, `ups`, …), so each
//! instance names one in `carrier`; configure one instance per underlying carrier
//! (`[carriers.shippo_usps] kind = "shippo" carrier = "usps"`). `status_date` is RFC 3339 UTC.

mod table;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::common::{Address, hmac_sha256};
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, Instant,
    ParseError, ParseOutcome, SignatureError, TrackingEvent, TrackingUpdate, Unverified, Verified,
    dedupe_key,
};

pub use table::map_status;

pub const SIGNATURE_HEADER: &str = "shippo-auth-signature";

#[derive(Debug, Clone, Deserialize)]
pub struct ShippoConfig {
    /// Secret: the live or test API token.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_token: Option<String>,
    /// Secret: the webhook signing secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub webhook_secret: Option<String>,
    /// Shippo's token of the underlying carrier, needed to poll (`usps`, `ups`, `fedex`, …).
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(
        default = "default_tolerance",
        deserialize_with = "crate::settings::count"
    )]
    pub tolerance_secs: usize,
}

fn default_base_url() -> String {
    "https://api.goshippo.com".into()
}
fn default_tolerance() -> usize {
    300
}

impl Default for ShippoConfig {
    fn default() -> Self {
        ShippoConfig {
            api_token: None,
            webhook_secret: None,
            carrier: None,
            base_url: default_base_url(),
            tolerance_secs: default_tolerance(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ShippoAdapter {
    config: ShippoConfig,
}

impl ShippoAdapter {
    pub fn new(config: ShippoConfig) -> Self {
        ShippoAdapter { config }
    }
}

/// HMAC-SHA256 of `"<timestamp>.<body>"`.
fn signed_payload_mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body])
}

/// The `Shippo-Auth-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(
            signed_payload_mac(secret, &timestamp.to_string(), body)
                .finalize()
                .into_bytes()
        )
    )
}

#[derive(Debug, Deserialize)]
struct Track {
    tracking_number: String,
    /// The courier's Shippo token (`usps`, `dhl_express`).
    #[serde(default)]
    carrier: Option<String>,
    #[serde(default)]
    eta: Option<String>,
    #[serde(default)]
    tracking_status: Option<serde_json::Value>,
    #[serde(default)]
    tracking_history: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WireStatus {
    status: String,
    #[serde(default)]
    status_details: Option<String>,
    status_date: String,
    #[serde(default)]
    substatus: Option<Substatus>,
    #[serde(default)]
    location: Option<Address>,
    #[serde(default)]
    object_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Substatus {
    code: String,
}

fn to_event(number: &str, value: serde_json::Value) -> Result<TrackingEvent, String> {
    let wire: WireStatus = serde_json::from_value(value)
        .map_err(|err| format!("unreadable tracking status: {err}"))?;
    let instant = Instant::parse_rfc3339(&wire.status_date)
        .ok_or_else(|| format!("status_date `{}` is not RFC 3339", wire.status_date))?;
    let substatus = wire.substatus.as_ref().map(|s| s.code.as_str());
    let (status, sub_status) = map_status(&wire.status, substatus);
    let raw_code = match substatus {
        Some(code) => format!("{}/{code}", wire.status),
        None => wire.status.clone(),
    };
    let description = wire.status_details.unwrap_or_default();
    let location = wire.location.unwrap_or_default().joined();
    let utc = instant.utc.to_rfc3339();
    let key = match &wire.object_id {
        Some(id) => dedupe_key(&["shippo", id]),
        None => dedupe_key(&[number, &utc, &raw_code, &description]),
    };
    Ok(TrackingEvent {
        occurred_at: instant.utc,
        utc_offset_seconds: instant.offset_seconds,
        offset_inferred: false,
        status,
        sub_status: sub_status.map(str::to_owned),
        raw_code,
        description,
        location,
        dedupe_key: key,
    })
}

/// Parse one Track object (the poll answer, and the `data` of a webhook).
fn parse_track(value: serde_json::Value) -> Result<ParseOutcome, ParseError> {
    let track: Track = serde_json::from_value(value)
        .map_err(|err| ParseError::Body(format!("not a Shippo track: {err}")))?;
    let mut outcome = ParseOutcome::default();
    let mut events = Vec::new();
    // The current status is usually also the newest history entry; the dedupe key folds them.
    for value in track
        .tracking_history
        .into_iter()
        .chain(track.tracking_status)
    {
        match to_event(&track.tracking_number, value) {
            Ok(event)
                if !events
                    .iter()
                    .any(|e: &TrackingEvent| e.dedupe_key == event.dedupe_key) =>
            {
                events.push(event)
            }
            Ok(_) => {}
            Err(message) => outcome.problem_for(&track.tracking_number, message),
        }
    }
    let estimated_delivery = track
        .eta
        .as_deref()
        .and_then(Instant::parse_rfc3339)
        .map(|i| i.utc);
    outcome.updates.push(TrackingUpdate {
        tracking_number: track.tracking_number,
        courier: track.carrier.filter(|c| !c.trim().is_empty()),
        estimated_delivery,
        events,
    });
    Ok(outcome)
}

pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let value: serde_json::Value = crate::common::json(body)?;
    if value.get("tracking_number").is_none()
        && let Some(detail) = value.get("detail").and_then(|d| d.as_str())
    {
        return Err(ParseError::CarrierError(detail.to_owned()));
    }
    parse_track(value)
}

#[derive(Debug, Deserialize)]
struct Webhook {
    event: String,
    data: serde_json::Value,
}

pub fn parse_webhook_body(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let hook: Webhook = crate::common::json(body)?;
    if hook.event != "track_updated" {
        let mut outcome = ParseOutcome::default();
        outcome.problem(format!(
            "`{}` events carry no tracking data; ignored",
            hook.event
        ));
        return Ok(outcome);
    }
    parse_track(hook.data)
}

impl CarrierAdapter for ShippoAdapter {
    fn kind(&self) -> &'static str {
        "shippo"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            poll: self.config.api_token.is_some() && self.config.carrier.is_some(),
            poll_batch_size: 1,
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
        let header = inbound
            .header(SIGNATURE_HEADER)
            .ok_or(SignatureError::Missing("Shippo-Auth-Signature"))?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => timestamp = Some(value.to_owned()),
                Some(("v1", value)) => signatures.push(
                    hex::decode(value)
                        .map_err(|_| SignatureError::Malformed("v1 is not hex".into()))?,
                ),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or_else(|| SignatureError::Malformed("no `t=`".into()))?;
        let seconds: i64 = timestamp
            .parse()
            .map_err(|_| SignatureError::Malformed("`t` is not a number".into()))?;
        if (chrono::Utc::now().timestamp() - seconds).unsigned_abs()
            > self.config.tolerance_secs as u64
        {
            return Err(SignatureError::Malformed(format!(
                "timestamp {seconds} is outside the {} s tolerance",
                self.config.tolerance_secs
            )));
        }
        let mac = signed_payload_mac(secret, &timestamp, inbound.body());
        // `verify_slice` compares in constant time; any one v1 may match (secret rotation).
        if signatures
            .iter()
            .any(|given| mac.clone().verify_slice(given).is_ok())
        {
            Ok(inbound.into_verified())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        parse_webhook_body(inbound.body())
    }

    fn build_poll_request(
        &self,
        targets: &[crate::PollTarget],

        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let token = self
            .config
            .api_token
            .as_deref()
            .ok_or(ParseError::NotSupported("polling without an api_token"))?;
        let carrier = self
            .config
            .carrier
            .as_deref()
            .ok_or(ParseError::NotSupported("polling without a carrier"))?;
        let number = targets
            .first()
            .map(|t| &t.tracking_number)
            .ok_or(ParseError::NotSupported("an empty poll"))?;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: format!(
                "{}/tracks/{}/{}",
                self.config.base_url.trim_end_matches('/'),
                encode(carrier),
                encode(number)
            ),
            headers: vec![
                ("authorization".into(), format!("ShippoToken {token}")),
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

    /// `POST /tracks/`: Shippo registers the number for `track_updated` webhooks. It needs the
    /// carrier's Shippo token: the shipment's `carrier_code`, else the instance's `carrier`.
    fn subscription_request(
        &self,
        target: &crate::PollTarget,
        _callback_url: Option<&str>,
    ) -> Result<HttpRequest, ParseError> {
        let token = self
            .config
            .api_token
            .as_deref()
            .ok_or(ParseError::NotSupported("tracks without an api_token"))?;
        let carrier = target
            .carrier_code
            .as_deref()
            .or(self.config.carrier.as_deref())
            .ok_or_else(|| {
                ParseError::CarrierError(format!(
                    "Shippo needs the carrier of `{}`: register it with `carrier_code` (e.g. `usps`) or set the instance's `carrier`",
                    target.tracking_number
                ))
            })?;
        Ok(HttpRequest::post_json(
            format!("{}/tracks/", self.config.base_url.trim_end_matches('/')),
            vec![("authorization".into(), format!("ShippoToken {token}"))],
            &serde_json::json!({ "carrier": carrier, "tracking_number": target.tracking_number }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> ShippoAdapter {
        ShippoAdapter::new(ShippoConfig {
            webhook_secret: Some("shippo-secret".into()),
            api_token: Some("shippo_test_1".into()),
            carrier: Some("usps".into()),
            ..Default::default()
        })
    }

    #[test]
    fn signature_over_timestamp_and_body_verifies_within_tolerance() {
        let body = br#"{"event":"track_updated","data":{}}"#.to_vec();
        let now = chrono::Utc::now().timestamp();
        let good = vec![(
            SIGNATURE_HEADER.to_owned(),
            sign("shippo-secret", now, &body),
        )];
        assert!(
            adapter()
                .verify_webhook(Inbound::new(good, body.clone()))
                .is_ok()
        );
        let stale = vec![(
            SIGNATURE_HEADER.to_owned(),
            sign("shippo-secret", now - 3600, &body),
        )];
        assert!(matches!(
            adapter().verify_webhook(Inbound::new(stale, body.clone())),
            Err(SignatureError::Malformed(_))
        ));
        let forged = vec![(SIGNATURE_HEADER.to_owned(), sign("other", now, &body))];
        assert_eq!(
            adapter()
                .verify_webhook(Inbound::new(forged, body))
                .unwrap_err(),
            SignatureError::Mismatch
        );
    }

    #[test]
    fn poll_request_names_the_underlying_carrier() {
        let request = adapter()
            .build_poll_request(&["9205590164917312751089".into()], None)
            .unwrap();
        assert_eq!(
            request.url,
            "https://api.goshippo.com/tracks/usps/9205590164917312751089"
        );
        assert!(
            request
                .headers
                .contains(&("authorization".into(), "ShippoToken shippo_test_1".into()))
        );
    }
}
