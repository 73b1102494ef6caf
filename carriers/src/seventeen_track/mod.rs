//! `17track`: the 17TRACK aggregator, API v2.2. Numbers are registered (`POST /register`) and
//! then polled (`POST /gettrackinfo`, 40 numbers a request) or pushed to us (`TRACKING_UPDATED`,
//! `TRACKING_STOPPED`). Authentication is the `17token` header.
//!
//! Push signature: header `sign` = lower-case hex SHA-256 of the raw body, `/`, and the API key —
//! what 17TRACK's documentation and sample code compute (a plain digest, not an HMAC). A poll
//! answer lists numbers 17TRACK does not know yet under `rejected` with code `-18019902`; those
//! are reported as `unregistered` so the gateway registers them, and they are polled next round.
//!
//! One number can have several providers (the origin carrier and the destination carrier of an
//! international parcel): the events of every provider are merged, each keyed by its provider.
//! Times: `time_iso` with its offset, else `time_utc`, else `time_raw` in its `timezone`, else
//! `time_raw` local at the event's address (zone table, flagged as inferred). Status: the event's `sub_status` (or milestone
//! `stage`); `latest_status` is the current status, an observation at the time of the newest event.

mod table;
mod track;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, ParseError,
    ParseOutcome, PollTarget, Problem, SignatureError, Unverified, Verified,
};

pub use table::{map_stage, map_sub_status};
use track::{Item, parse_item};

pub const SIGNATURE_HEADER: &str = "sign";
/// `rejected[].error.code` of a number that was never registered.
pub const NOT_REGISTERED: i64 = -18019902;
/// `rejected[].error.code` of a registration for a number already registered.
pub const ALREADY_REGISTERED: i64 = -18019901;

#[derive(Debug, Clone, Deserialize)]
pub struct SeventeenTrackConfig {
    /// Secret: the API key; it also signs pushes.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(
        default = "default_batch_size",
        deserialize_with = "crate::settings::count"
    )]
    pub batch_size: usize,
}

fn default_base_url() -> String {
    "https://api.17track.net/track/v2.2".into()
}
fn default_batch_size() -> usize {
    40
}

impl Default for SeventeenTrackConfig {
    fn default() -> Self {
        SeventeenTrackConfig {
            api_key: None,
            base_url: default_base_url(),
            batch_size: default_batch_size(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SeventeenTrackAdapter {
    config: SeventeenTrackConfig,
}

impl SeventeenTrackAdapter {
    pub fn new(config: SeventeenTrackConfig) -> Self {
        SeventeenTrackAdapter { config }
    }

    fn request(&self, path: &str, targets: &[PollTarget]) -> Option<HttpRequest> {
        let key = self.config.api_key.as_deref()?;
        let items: Vec<serde_json::Value> = targets
            .iter()
            .map(|t| {
                let mut item = serde_json::json!({ "number": t.tracking_number });
                // A 17TRACK carrier code is numeric; anything else is left to auto-detection.
                if let Some(code) = t
                    .carrier_code
                    .as_deref()
                    .and_then(|c| c.parse::<u64>().ok())
                {
                    item["carrier"] = code.into();
                }
                item
            })
            .collect();
        Some(HttpRequest {
            method: HttpMethod::Post,
            url: crate::oauth::join(&self.config.base_url, path),
            headers: vec![
                ("17token".into(), key.to_owned()),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(serde_json::Value::Array(items).to_string().into_bytes()),
        })
    }
}

/// The `sign` header 17TRACK sends with `body`.
pub fn sign(api_key: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(body);
    hasher.update(b"/");
    hasher.update(api_key.as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Deserialize)]
struct Push {
    event: String,
    data: serde_json::Value,
}

/// Parse a push: `TRACKING_UPDATED` carries the number's whole track; `TRACKING_STOPPED` says
/// 17TRACK no longer follows the number (`stopped`, with a problem; no events).
pub fn parse_push(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let push: Push = crate::common::json(body)?;
    let mut outcome = ParseOutcome::default();
    let number = push
        .data
        .get("number")
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    match push.event.as_str() {
        "TRACKING_UPDATED" => {
            let item: Item = serde_json::from_value(push.data)
                .map_err(|err| ParseError::Body(format!("`data`: {err}")))?;
            parse_item(item, &mut outcome);
        }
        "TRACKING_STOPPED" => {
            outcome.stopped.extend(number.clone());
            outcome.problems.push(Problem {
                tracking_number: number,
                message: "17TRACK stopped tracking this number".into(),
            });
        }
        other => outcome.problems.push(Problem {
            tracking_number: number,
            message: format!("`{other}` pushes carry no tracking data; ignored"),
        }),
    }
    Ok(outcome)
}

#[derive(Debug, Deserialize)]
struct Rejected {
    number: String,
    error: RejectedError,
}

#[derive(Debug, Deserialize)]
struct RejectedError {
    code: i64,
    #[serde(default)]
    message: String,
}

/// Parse a `gettrackinfo` answer (`code` 0, `data.accepted[]` and `data.rejected[]`).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let value: serde_json::Value = crate::common::json(body)?;
    let code = value.get("code").and_then(|c| c.as_i64());
    if code != Some(0) {
        let errors = value
            .pointer("/data/errors")
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err(ParseError::CarrierError(format!(
            "17TRACK answered code {}: {errors}",
            code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
        )));
    }
    let mut outcome = ParseOutcome::default();
    let list = |name: &str| {
        value
            .pointer(&format!("/data/{name}"))
            .and_then(|a| a.as_array())
            .cloned()
            .unwrap_or_default()
    };
    for value in list("accepted") {
        match serde_json::from_value::<Item>(value) {
            Ok(item) => parse_item(item, &mut outcome),
            Err(err) => outcome.problem(format!("unreadable accepted item: {err}")),
        }
    }
    for value in list("rejected") {
        let Ok(rejected) = serde_json::from_value::<Rejected>(value) else {
            continue;
        };
        if rejected.error.code == NOT_REGISTERED {
            outcome.unregistered.push(rejected.number.clone());
        }
        outcome.problems.push(Problem {
            tracking_number: Some(rejected.number),
            message: format!("{}: {}", rejected.error.code, rejected.error.message),
        });
    }
    Ok(outcome)
}

impl CarrierAdapter for SeventeenTrackAdapter {
    fn kind(&self) -> &'static str {
        "17track"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            poll: self.config.api_key.is_some(),
            poll_batch_size: self.config.batch_size.clamp(1, 40),
        }
    }

    fn verify_webhook(
        &self,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, SignatureError> {
        let key = self
            .config
            .api_key
            .as_deref()
            .ok_or(SignatureError::NotConfigured)?;
        let given = inbound
            .header(SIGNATURE_HEADER)
            .ok_or(SignatureError::Missing("sign"))?
            .trim()
            .to_ascii_lowercase();
        let expected = sign(key, inbound.body());
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            Ok(inbound.into_verified())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        parse_push(inbound.body())
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        self.request("/gettrackinfo", targets)
            .ok_or(ParseError::NotSupported("polling without an api_key"))
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        parse_poll(body)
    }

    fn registration_request(&self, targets: &[PollTarget]) -> Option<HttpRequest> {
        self.request("/register", targets)
    }

    fn subscribes(&self) -> bool {
        true
    }

    /// `POST /register` for one number: 17TRACK tracks it from then on (and pushes, to the
    /// webhook set in its dashboard).
    fn subscription_request(
        &self,
        target: &PollTarget,
        _callback_url: Option<&str>,
    ) -> Result<HttpRequest, ParseError> {
        self.request("/register", std::slice::from_ref(target))
            .ok_or(ParseError::NotSupported("registration without an api_key"))
    }

    /// Accepted, or rejected as already registered (`-18019901`), is success; another
    /// rejection is the carrier's refusal, a `code` other than 0 its own trouble.
    fn parse_subscription_response(&self, status: u16, body: &[u8]) -> crate::SubscriptionAnswer {
        use crate::SubscriptionAnswer::*;
        if !(200..300).contains(&status) {
            return crate::SubscriptionAnswer::from_status(status, body);
        }
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Unavailable("unreadable answer".into());
        };
        if answer["code"].as_i64() != Some(0) {
            return Unavailable(format!("17TRACK answered code {}", answer["code"]));
        }
        let rejected = answer.pointer("/data/rejected/0/error");
        match rejected {
            None => Active,
            Some(error) if error["code"].as_i64() == Some(ALREADY_REGISTERED) => Active,
            Some(error) => Refused(format!(
                "17TRACK {}: {}",
                error["code"],
                error["message"].as_str().unwrap_or("")
            )),
        }
    }

    /// `POST /stoptrack`: 17TRACK stops following the number.
    fn unsubscription_request(&self, target: &PollTarget) -> Option<HttpRequest> {
        self.request("/stoptrack", std::slice::from_ref(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_signed_with_a_plain_digest_of_body_slash_key() {
        let adapter = SeventeenTrackAdapter::new(SeventeenTrackConfig {
            api_key: Some("KEY".into()),
            ..Default::default()
        });
        let body = br#"{"event":"TRACKING_STOPPED","data":{"number":"RR1"}}"#.to_vec();
        let mut hasher = Sha256::new();
        hasher.update(b"{\"event\":\"TRACKING_STOPPED\",\"data\":{\"number\":\"RR1\"}}/KEY");
        let expected = hex::encode(hasher.finalize());
        assert_eq!(sign("KEY", &body), expected);
        let headers = vec![("Sign".to_owned(), expected.to_uppercase())];
        assert!(
            adapter
                .verify_webhook(Inbound::new(headers, body.clone()))
                .is_ok()
        );
        let wrong = vec![("sign".to_owned(), sign("OTHER", &body))];
        assert_eq!(
            adapter
                .verify_webhook(Inbound::new(wrong, body))
                .unwrap_err(),
            SignatureError::Mismatch
        );
    }

    #[test]
    fn unregistered_numbers_are_reported_for_registration() {
        let body = br#"{"code":0,"data":{"accepted":[],"rejected":[{"number":"RR1","error":{"code":-18019902,"message":"not registered"}}]}}"#;
        let outcome = parse_poll(body).unwrap();
        assert_eq!(outcome.unregistered, vec!["RR1".to_owned()]);
        let adapter = SeventeenTrackAdapter::new(SeventeenTrackConfig {
            api_key: Some("KEY".into()),
            ..Default::default()
        });
        let target = PollTarget {
            tracking_number: "RR1".into(),
            carrier_code: Some("3011".into()),
            phone_last4: None,
        };
        let request = adapter.registration_request(&[target]).unwrap();
        assert!(request.url.ends_with("/register"));
        assert_eq!(
            request.body.unwrap(),
            br#"[{"carrier":3011,"number":"RR1"}]"#
        );
    }
}
