//! `sandbox`: a simulated carrier with a small JSON format, driven by the demo and the tests.
//!
//! It exercises every part of the contract a real carrier does: webhooks signed with
//! `x-sandbox-signature: sha256=<hex HMAC-SHA256(secret, body)>`, batch polls
//! (`GET {base_url}/v1/track?numbers=A,B` with an `x-api-key` header), per-item problems, offsets
//! given with every time, and a status table with sub-statuses. Webhook bodies and poll responses
//! share one shape:
//! `{"shipments":[{"tracking_number":"SBX1","estimated_delivery":null,"events":[{"id":"e1",
//! "time":"2026-11-20T10:00:00+01:00","code":"PU","description":"Picked up","location":"Berlin, DE"}]}]}`.

mod table;

use hmac::Mac;
use serde::Deserialize;

use crate::common::hmac_sha256;
use crate::{
    Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, Instant, ParseError,
    ParseOutcome, Problem, SignatureError, TrackingEvent, TrackingUpdate, Unverified, Verified,
    dedupe_key,
};

pub use table::map_code;

pub const SIGNATURE_HEADER: &str = "x-sandbox-signature";

/// Settings of one sandbox carrier instance.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SandboxConfig {
    /// HMAC key for webhooks (secret: from the environment only).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub webhook_secret: Option<String>,
    /// Where the simulated tracking API listens; polling is off without it.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Sent as `x-api-key` on polls (secret).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    #[serde(
        default = "default_batch_size",
        deserialize_with = "crate::settings::count"
    )]
    pub batch_size: usize,
    /// OAuth client-credentials token endpoint; polls use no token without it.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_id: Option<String>,
    /// Secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_secret: Option<String>,
}

fn default_batch_size() -> usize {
    50
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3600
}

#[derive(Debug, Clone)]
pub struct SandboxAdapter {
    config: SandboxConfig,
}

impl SandboxAdapter {
    pub fn new(config: SandboxConfig) -> Self {
        SandboxAdapter { config }
    }
}

/// Sign a body the way the sandbox carrier does (used by the demo and the tests).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), &[body]);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Deserialize)]
struct Envelope {
    shipments: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct WireShipment {
    tracking_number: String,
    #[serde(default)]
    estimated_delivery: Option<String>,
    #[serde(default)]
    events: Vec<WireEvent>,
}

#[derive(Debug, Deserialize)]
struct WireEvent {
    #[serde(default)]
    id: Option<String>,
    time: String,
    code: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: Option<String>,
}

/// Parse the shared webhook/poll shape.
pub fn parse(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let envelope: Envelope = crate::common::json(body)?;
    let mut outcome = ParseOutcome::default();
    for value in envelope.shipments {
        let number_hint = value
            .get("tracking_number")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        match serde_json::from_value::<WireShipment>(value) {
            Ok(shipment) => parse_shipment(shipment, &mut outcome),
            Err(err) => outcome.problems.push(Problem {
                tracking_number: number_hint,
                message: format!("unreadable shipment: {err}"),
            }),
        }
    }
    Ok(outcome)
}

fn parse_shipment(shipment: WireShipment, outcome: &mut ParseOutcome) {
    let mut events = Vec::with_capacity(shipment.events.len());
    for event in shipment.events {
        let Some(instant) = Instant::parse_rfc3339(&event.time) else {
            outcome.problem_for(
                &shipment.tracking_number,
                format!("event time `{}` is not RFC 3339 with an offset", event.time),
            );
            continue;
        };
        let (status, sub_status) = map_code(&event.code);
        let utc = instant.utc.to_rfc3339();
        let key = match &event.id {
            Some(id) => dedupe_key(&["sandbox-id", id]),
            None => dedupe_key(&[&utc, &event.code, event.location.as_deref().unwrap_or("")]),
        };
        events.push(TrackingEvent {
            occurred_at: instant.utc,
            utc_offset_seconds: instant.offset_seconds,
            offset_inferred: false,
            status,
            sub_status: sub_status.map(str::to_owned),
            raw_code: event.code,
            description: event.description,
            location: event.location,
            dedupe_key: key,
        });
    }
    let estimated_delivery = match shipment.estimated_delivery.as_deref() {
        None => None,
        Some(text) => match Instant::parse_rfc3339(text) {
            Some(instant) => Some(instant.utc),
            None => {
                outcome.problem_for(
                    &shipment.tracking_number,
                    format!("estimated_delivery `{text}` is not RFC 3339"),
                );
                None
            }
        },
    };
    outcome.updates.push(TrackingUpdate {
        tracking_number: shipment.tracking_number,
        courier: None,
        estimated_delivery,
        events,
    });
}

impl CarrierAdapter for SandboxAdapter {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            poll: self.config.base_url.is_some(),
            poll_batch_size: self.config.batch_size.max(1),
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
            .ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
        let hex_part = given
            .strip_prefix("sha256=")
            .ok_or_else(|| SignatureError::Malformed("expected `sha256=<hex>`".into()))?;
        let given_bytes =
            hex::decode(hex_part).map_err(|_| SignatureError::Malformed("not hex".into()))?;
        // `verify_slice` compares in constant time.
        hmac_sha256(secret.as_bytes(), &[inbound.body()])
            .verify_slice(&given_bytes)
            .map_err(|_| SignatureError::Mismatch)?;
        Ok(inbound.into_verified())
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        parse(inbound.body())
    }

    fn build_poll_request(
        &self,
        targets: &[crate::PollTarget],

        token: Option<&crate::AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let base = self
            .config
            .base_url
            .as_deref()
            .ok_or(ParseError::NotSupported("polling"))?;
        let numbers: Vec<String> = targets
            .iter()
            .map(|t| &t.tracking_number)
            .map(|n| form_urlencoded::byte_serialize(n.as_bytes()).collect())
            .collect();
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        if let Some(key) = &self.config.api_key {
            headers.push(("x-api-key".to_owned(), key.clone()));
        }
        if let Some(token) = token {
            headers.push((
                "authorization".to_owned(),
                format!("Bearer {}", token.token),
            ));
        }
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: format!(
                "{}/v1/track?numbers={}",
                base.trim_end_matches('/'),
                numbers.join(",")
            ),
            headers,
            body: None,
        })
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        parse(body)
    }

    fn token_request(&self) -> Option<HttpRequest> {
        let url = self.config.token_url.clone()?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", self.config.client_id.as_deref().unwrap_or(""))
            .append_pair(
                "client_secret",
                self.config.client_secret.as_deref().unwrap_or(""),
            )
            .finish();
        Some(HttpRequest::post_form(url, body))
    }

    fn parse_token_response(&self, body: &[u8]) -> Result<crate::AccessToken, ParseError> {
        let token: TokenResponse = serde_json::from_slice(body)
            .map_err(|err| ParseError::Body(format!("token response: {err}")))?;
        Ok(crate::AccessToken {
            token: token.access_token,
            expires_in: std::time::Duration::from_secs(token.expires_in),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> SandboxAdapter {
        SandboxAdapter::new(SandboxConfig {
            webhook_secret: Some("s3cret".into()),
            base_url: Some("http://127.0.0.1:9/".into()),
            api_key: Some("k".into()),
            batch_size: 2,
            ..Default::default()
        })
    }

    #[test]
    fn webhook_signed_with_the_secret_verifies() {
        let body = br#"{"shipments":[]}"#.to_vec();
        let headers = vec![(SIGNATURE_HEADER.to_owned(), sign("s3cret", &body))];
        assert!(
            adapter()
                .verify_webhook(Inbound::new(headers, body))
                .is_ok()
        );
    }

    #[test]
    fn webhook_with_tampered_body_is_rejected() {
        let headers = vec![(SIGNATURE_HEADER.to_owned(), sign("s3cret", b"{}"))];
        let err = adapter()
            .verify_webhook(Inbound::new(headers, b"{ }".to_vec()))
            .unwrap_err();
        assert_eq!(err, SignatureError::Mismatch);
    }

    #[test]
    fn webhook_without_signature_is_rejected() {
        let err = adapter()
            .verify_webhook(Inbound::new(vec![], b"{}".to_vec()))
            .unwrap_err();
        assert_eq!(err, SignatureError::Missing(SIGNATURE_HEADER));
    }

    #[test]
    fn poll_request_lists_the_numbers_and_the_key() {
        let request = adapter()
            .build_poll_request(&["A 1".into(), "B2".into()], None)
            .unwrap();
        assert_eq!(request.url, "http://127.0.0.1:9/v1/track?numbers=A+1,B2");
        assert!(request.headers.contains(&("x-api-key".into(), "k".into())));
    }
}
