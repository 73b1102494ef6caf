//! The adapter contract: what every carrier supplies, and nothing the gateway does.
//!
//! An adapter is sans-IO. It checks webhook signatures, turns bytes into [`ParseOutcome`]s,
//! describes the HTTP requests a poll needs (and the OAuth token request when the carrier wants
//! one) and says how to acknowledge a webhook. The gateway performs the I/O, rate-limits it,
//! retries it and stores the result. Webhook-only, poll-only and both kinds of carrier fit: the
//! capabilities say which methods the gateway may call.

use std::marker::PhantomData;
use std::time::Duration;

use crate::ParseOutcome;

/// Which halves of the contract an adapter implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub webhook: bool,
    pub poll: bool,
    /// How many tracking numbers one poll request may carry.
    pub poll_batch_size: usize,
}

/// Marker: the signature of this inbound webhook has not been checked.
#[derive(Debug)]
pub struct Unverified;
/// Marker: the adapter checked the signature (or the offline tooling explicitly skipped it).
#[derive(Debug)]
pub struct Verified;

/// A webhook as received: headers (lower-case names) and the exact body bytes.
///
/// Only an `Inbound<Verified>` can be parsed, so forgetting the signature check is a type error.
#[derive(Debug)]
pub struct Inbound<State> {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    state: PhantomData<State>,
}

impl<S> Inbound<S> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    /// The headers and body, handed back once the caller is done with the inbound.
    pub fn into_parts(self) -> (Vec<(String, String)>, Vec<u8>) {
        (self.headers, self.body)
    }
}

impl Inbound<Unverified> {
    pub fn new(headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Inbound {
            headers,
            body,
            state: PhantomData,
        }
    }

    /// Called by an adapter once its signature check passed.
    pub fn into_verified(self) -> Inbound<Verified> {
        Inbound {
            headers: self.headers,
            body: self.body,
            state: PhantomData,
        }
    }

    /// For replaying a body that was verified when it arrived (`trackgate reprocess`) or for
    /// offline tooling that deliberately does not check signatures. Never call it on live traffic.
    pub fn assume_verified(self) -> Inbound<Verified> {
        self.into_verified()
    }
}

/// Why a webhook signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing signature: {0}")]
    Missing(&'static str),
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("signature does not match the body")]
    Mismatch,
    #[error("this carrier instance has no webhook secret configured")]
    NotConfigured,
    #[error("this carrier does not send webhooks")]
    NotSupported,
}

/// The payload's envelope could not be read at all (per-item trouble is a [`crate::Problem`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unreadable body: {0}")]
    Body(String),
    #[error("carrier answered with an error: {0}")]
    CarrierError(String),
    #[error("this carrier does not support {0}")]
    NotSupported(&'static str),
}

/// An HTTP request for the gateway to send on the adapter's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// A `POST` of an `application/x-www-form-urlencoded` body.
    pub fn post_form(url: String, form: String) -> Self {
        HttpRequest {
            method: HttpMethod::Post,
            url,
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(form.into_bytes()),
        }
    }

    /// A `POST` of `body` as JSON, with `headers` (the content type is added).
    pub fn post_json(
        url: String,
        mut headers: Vec<(String, String)>,
        body: &serde_json::Value,
    ) -> Self {
        headers.push(("content-type".into(), "application/json".into()));
        HttpRequest {
            method: HttpMethod::Post,
            url,
            headers,
            body: Some(body.to_string().into_bytes()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

/// A bearer token the gateway caches for an OAuth carrier until shortly before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

/// One shipment to poll: its tracking number and what some carriers need beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollTarget {
    pub tracking_number: String,
    /// The carrier's code at an aggregator (Kuaidi100 `com` such as `shunfeng`, a 17TRACK
    /// carrier number), when the mall gave it; adapters that need one detect it otherwise.
    pub carrier_code: Option<String>,
    /// The last four digits of the sender's or recipient's phone (SF Express via Kuaidi100
    /// refuses queries without them).
    pub phone_last4: Option<String>,
}

impl From<&str> for PollTarget {
    fn from(tracking_number: &str) -> Self {
        PollTarget {
            tracking_number: tracking_number.to_owned(),
            ..Default::default()
        }
    }
}

/// The tracking numbers of `targets`, in order.
pub fn tracking_numbers(targets: &[PollTarget]) -> Vec<&str> {
    targets.iter().map(|t| t.tracking_number.as_str()).collect()
}

/// The exact response a carrier expects after delivering a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAck {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// One carrier's implementation of the contract. Methods outside its capabilities keep the
/// defaults, which refuse.
pub trait CarrierAdapter: Send + Sync + std::fmt::Debug {
    /// The adapter kind, as written in config (`kind = "kuaidi100"`).
    fn kind(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Check the signature; only a verified webhook can be parsed.
    fn verify_webhook(
        &self,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, SignatureError> {
        let _ = inbound;
        Err(SignatureError::NotSupported)
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        let _ = inbound;
        Err(ParseError::NotSupported("webhooks"))
    }

    /// The acknowledgement for a webhook that is safely stored (`stored = true`), or for one the
    /// gateway could not store and wants the carrier to send again.
    fn webhook_ack(&self, stored: bool) -> WebhookAck {
        WebhookAck {
            status: if stored { 200 } else { 503 },
            content_type: "application/json",
            body: format!("{{\"ok\":{stored}}}"),
        }
    }

    /// The token request for OAuth carriers; `None` when the carrier needs no token.
    fn token_request(&self) -> Option<HttpRequest> {
        None
    }

    fn parse_token_response(&self, body: &[u8]) -> Result<AccessToken, ParseError> {
        let _ = body;
        Err(ParseError::NotSupported("oauth"))
    }

    /// The request that polls these shipments (at most `poll_batch_size` of them).
    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let _ = (targets, token);
        Err(ParseError::NotSupported("polling"))
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        let _ = body;
        Err(ParseError::NotSupported("polling"))
    }

    /// The answer to the poll of `targets`: for carriers whose answer to a one-number request
    /// does not repeat the number (declarative kinds with `number_from_request`); the others
    /// read the body alone.
    fn parse_poll_answer(
        &self,
        targets: &[PollTarget],
        body: &[u8],
    ) -> Result<ParseOutcome, ParseError> {
        let _ = targets;
        self.parse_poll_response(body)
    }

    /// For carriers that track a number only once it is registered with them (17TRACK): the
    /// request registering `targets`, sent for the numbers a poll reported as unregistered.
    fn registration_request(&self, targets: &[PollTarget]) -> Option<HttpRequest> {
        let _ = targets;
        None
    }

    /// Whether a registered shipment needs a subscription with this carrier before it pushes
    /// (or tracks) it: Kuaidi100's `poll`, AfterShip trackings, EasyPost trackers, Shippo
    /// tracks, 17TRACK registration.
    fn subscribes(&self) -> bool {
        false
    }

    /// The request that subscribes one shipment, the carrier's pushes going to `callback_url`
    /// (the gateway's webhook endpoint of this instance, where the carrier takes it per
    /// request). An `Err` is a subscription that cannot be made as configured (a missing key,
    /// a number without the code the carrier needs): a permanent failure, never retried.
    fn subscription_request(
        &self,
        target: &PollTarget,
        callback_url: Option<&str>,
    ) -> Result<HttpRequest, ParseError> {
        let _ = (target, callback_url);
        Err(ParseError::NotSupported("subscriptions"))
    }

    /// What the carrier's answer to [`Self::subscription_request`] means.
    fn parse_subscription_response(&self, status: u16, body: &[u8]) -> SubscriptionAnswer {
        SubscriptionAnswer::from_status(status, body)
    }

    /// The request that ends a shipment's subscription, where the carrier offers one.
    fn unsubscription_request(&self, target: &PollTarget) -> Option<HttpRequest> {
        let _ = target;
        None
    }
}

/// A carrier's answer to a subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionAnswer {
    /// Subscribed now, or already (a duplicate subscription is success).
    Active,
    /// Refused for good (a bad key, an unknown company, a malformed number): the carrier's
    /// message; sending it again would be refused again.
    Refused(String),
    /// Not now (5xx, 429, a timeout): worth retrying later.
    Unavailable(String),
}

impl SubscriptionAnswer {
    /// The meaning of a bare HTTP status: 2xx subscribed, 408/429/5xx unavailable, any other
    /// 4xx refused; the body's start is the message.
    pub fn from_status(status: u16, body: &[u8]) -> SubscriptionAnswer {
        let message = || {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            format!("answered {status}: {text}")
        };
        match status {
            200..=299 => SubscriptionAnswer::Active,
            408 | 429 | 500..=599 => SubscriptionAnswer::Unavailable(message()),
            _ => SubscriptionAnswer::Refused(message()),
        }
    }
}
