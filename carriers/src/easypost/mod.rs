//! `easypost`: EasyPost trackers, polled (`GET /v2/trackers?tracking_codes[]=…`, HTTP Basic with
//! the API key as user name) and pushed (`tracker.updated` / `tracker.created` events).
//!
//! Webhook signature: `X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(key, raw body)>`,
//! where the key is the webhook secret normalized to Unicode NFKD — what EasyPost's official
//! client libraries do in `validate_webhook`. Times (`datetime`) arrive as RFC 3339 in UTC and are
//! used as given. The tracker's own `status` is its current status, an observation at the time of
//! its newest event ([`crate::apply_current_status`]).

mod table;

use base64::Engine as _;
use hmac::Mac;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

use crate::common::{Address, hmac_sha256};
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, Instant,
    ParseError, ParseOutcome, Problem, SignatureError, TrackingEvent, TrackingUpdate, Unverified,
    Verified, dedupe_key,
};

pub use table::map_status;

pub const SIGNATURE_HEADER: &str = "x-hmac-signature";

#[derive(Debug, Clone, Deserialize)]
pub struct EasyPostConfig {
    /// Secret: the API key (HTTP Basic user name).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    /// Secret: the webhook's HMAC secret.
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
    "https://api.easypost.com".into()
}
fn default_batch_size() -> usize {
    50
}

impl Default for EasyPostConfig {
    fn default() -> Self {
        EasyPostConfig {
            api_key: None,
            webhook_secret: None,
            base_url: default_base_url(),
            batch_size: default_batch_size(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EasyPostAdapter {
    config: EasyPostConfig,
}

impl EasyPostAdapter {
    pub fn new(config: EasyPostConfig) -> Self {
        EasyPostAdapter { config }
    }
}

/// The `X-Hmac-Signature` value EasyPost sends for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key: String = secret.nfkd().collect();
    let mac = hmac_sha256(key.as_bytes(), &[body]);
    format!(
        "hmac-sha256-hex={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[derive(Debug, Deserialize)]
struct Tracker {
    tracking_code: String,
    /// The courier, as EasyPost names it (`USPS`, `FedEx`, `DHLExpress`).
    #[serde(default)]
    carrier: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    status_detail: Option<String>,
    #[serde(default)]
    est_delivery_date: Option<String>,
    #[serde(default)]
    tracking_details: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    status_detail: Option<String>,
    datetime: String,
    #[serde(default)]
    tracking_location: Option<Address>,
}

fn parse_tracker(value: serde_json::Value, outcome: &mut ParseOutcome) {
    let hint = value
        .get("tracking_code")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let tracker: Tracker = match serde_json::from_value(value) {
        Ok(tracker) => tracker,
        Err(err) => {
            outcome.problems.push(Problem {
                tracking_number: hint,
                message: format!("unreadable tracker: {err}"),
            });
            return;
        }
    };
    let number = tracker.tracking_code.clone();
    let mut events = Vec::with_capacity(tracker.tracking_details.len());
    for value in tracker.tracking_details {
        let detail: Detail = match serde_json::from_value(value) {
            Ok(detail) => detail,
            Err(err) => {
                outcome.problem_for(&number, format!("unreadable tracking detail: {err}"));
                continue;
            }
        };
        let Some(instant) = Instant::parse_rfc3339(&detail.datetime) else {
            outcome.problem_for(
                &number,
                format!("datetime `{}` is not RFC 3339", detail.datetime),
            );
            continue;
        };
        let raw_status = detail.status.clone().unwrap_or_default();
        let (status, sub_status) = map_status(&raw_status, detail.status_detail.as_deref());
        let description = detail.message.or(detail.description).unwrap_or_default();
        let location = detail.tracking_location.unwrap_or_default().joined();
        let utc = instant.utc.to_rfc3339();
        let key = dedupe_key(&[
            &utc,
            &raw_status,
            detail.status_detail.as_deref().unwrap_or(""),
            &description,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            raw_status,
            description,
            location,
            key,
        ));
    }
    if let Some(current) = tracker.status.as_deref() {
        let (status, sub_status) = map_status(current, tracker.status_detail.as_deref());
        crate::apply_current_status(&mut events, status, sub_status);
    }
    let estimated_delivery = tracker
        .est_delivery_date
        .as_deref()
        .and_then(Instant::parse_rfc3339)
        .map(|i| i.utc);
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: tracker.carrier.filter(|c| !c.trim().is_empty()),
        estimated_delivery,
        events,
    });
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Parse a poll answer: a tracker list, a single tracker, or EasyPost's error envelope.
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let value: serde_json::Value = crate::common::json(body)?;
    if let Ok(error) = ErrorBody::deserialize(&value) {
        return Err(ParseError::CarrierError(format!(
            "{}: {}",
            error.error.code, error.error.message
        )));
    }
    let mut outcome = ParseOutcome::default();
    match value.get("trackers").and_then(|t| t.as_array()) {
        Some(trackers) => trackers
            .iter()
            .cloned()
            .for_each(|t| parse_tracker(t, &mut outcome)),
        None if value.get("object").and_then(|o| o.as_str()) == Some("Tracker") => {
            parse_tracker(value, &mut outcome)
        }
        None => {
            return Err(ParseError::Body(
                "neither a tracker nor a tracker list".into(),
            ));
        }
    }
    Ok(outcome)
}

#[derive(Debug, Deserialize)]
struct Event {
    description: String,
    result: serde_json::Value,
}

/// Parse a webhook Event; only `tracker.*` events carry tracking data.
pub fn parse_event(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let event: Event = crate::common::json(body)?;
    let mut outcome = ParseOutcome::default();
    if event.description.starts_with("tracker.") {
        parse_tracker(event.result, &mut outcome);
    } else {
        outcome.problem(format!(
            "`{}` events carry no tracking data; ignored",
            event.description
        ));
    }
    Ok(outcome)
}

impl CarrierAdapter for EasyPostAdapter {
    fn kind(&self) -> &'static str {
        "easypost"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            poll: self.config.api_key.is_some(),
            poll_batch_size: self.config.batch_size.clamp(1, 100),
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
            .ok_or(SignatureError::Missing("X-Hmac-Signature"))?;
        let expected = sign(secret, inbound.body());
        if bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
            Ok(inbound.into_verified())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        parse_event(inbound.body())
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
        let mut query = form_urlencoded::Serializer::new(String::new());
        for target in targets {
            query.append_pair("tracking_codes[]", &target.tracking_number);
        }
        query.append_pair("page_size", &targets.len().max(1).to_string());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: format!(
                "{}/v2/trackers?{}",
                self.config.base_url.trim_end_matches('/'),
                query.finish()
            ),
            headers: vec![
                ("authorization".into(), format!("Basic {basic}")),
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

    /// `POST /v2/trackers`: EasyPost follows the number and posts `tracker.updated` events to
    /// the webhook set in its dashboard. Creating a tracker for a number it already follows
    /// returns that tracker, so a repeat is harmless.
    fn subscription_request(
        &self,
        target: &crate::PollTarget,
        _callback_url: Option<&str>,
    ) -> Result<HttpRequest, ParseError> {
        let key = self
            .config
            .api_key
            .as_deref()
            .ok_or(ParseError::NotSupported("trackers without an api_key"))?;
        let mut tracker = serde_json::json!({ "tracking_code": target.tracking_number });
        if let Some(carrier) = &target.carrier_code {
            tracker["carrier"] = carrier.clone().into();
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
        Ok(HttpRequest::post_json(
            format!("{}/v2/trackers", self.config.base_url.trim_end_matches('/')),
            vec![("authorization".into(), format!("Basic {basic}"))],
            &serde_json::json!({ "tracker": tracker }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> EasyPostAdapter {
        EasyPostAdapter::new(EasyPostConfig {
            api_key: Some("EZTK123".into()),
            webhook_secret: Some("sécret".into()),
            ..Default::default()
        })
    }

    #[test]
    fn webhook_signed_with_the_nfkd_normalized_secret_verifies() {
        let body = br#"{"description":"tracker.updated","result":{}}"#.to_vec();
        // "é" precomposed in the config and decomposed (NFKD) by the signer: same key.
        let signature = sign("se\u{301}cret", &body);
        let headers = vec![("X-Hmac-Signature".to_owned(), signature)];
        assert!(
            adapter()
                .verify_webhook(Inbound::new(headers, body.clone()))
                .is_ok()
        );
        let tampered = vec![("x-hmac-signature".to_owned(), sign("sécret", b"{}"))];
        assert_eq!(
            adapter()
                .verify_webhook(Inbound::new(tampered, body))
                .unwrap_err(),
            SignatureError::Mismatch
        );
    }

    #[test]
    fn poll_request_lists_tracking_codes_with_basic_auth() {
        let request = adapter()
            .build_poll_request(&["EZ1000000001".into(), "EZ2000000002".into()], None)
            .unwrap();
        assert_eq!(
            request.url,
            "https://api.easypost.com/v2/trackers?tracking_codes%5B%5D=EZ1000000001&tracking_codes%5B%5D=EZ2000000002&page_size=2"
        );
        assert!(
            request
                .headers
                .contains(&("authorization".into(), "Basic RVpUSzEyMzo=".into()))
        );
    }

    #[test]
    fn the_error_envelope_is_a_carrier_error() {
        let err = parse_poll(
            br#"{"error":{"code":"TRACKER.CREATE.ERROR","message":"nope","errors":[]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ParseError::CarrierError("TRACKER.CREATE.ERROR: nope".into())
        );
    }
}
