//! `fedex`: the FedEx Track API (`POST /track/v1/trackingnumbers`, up to 30 numbers a request)
//! behind OAuth client credentials (`POST /oauth/token`, credentials in the form body).
//!
//! Each `completeTrackResults[]` item is one requested number. FedEx reuses tracking numbers, so
//! one number can come back with several `trackResults` (different `trackingNumberUniqueId`s):
//! they are different parcels, and the one whose newest scan is latest is the shipment in
//! flight — the others are ignored with a problem noted, never merged. Status comes from each
//! scan's `eventType` (`table.rs`); `latestStatusDetail.derivedCode` is the carrier's current
//! status, an observation at the time of the newest scan ([`crate::apply_current_status`]); when it says
//! `RS` (return to shipper) a newest `DL` scan is the parcel delivered back to its shipper, so
//! `returned`. Scan `date`s carry their offset; one without (FedEx sends date-only pickups as
//! `…T00:00:00`) is local at the scan location, resolved through the zone table.

mod table;
mod wire;

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::common::join_non_empty;
use crate::oauth::{self, CredentialsIn};
use crate::places::Place;
use crate::zones::local_at_place;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Problem, Status, TrackingEvent, TrackingUpdate, dedupe_key,
};

use serde_json::value::RawValue;
pub use table::{map_derived_code, map_event_type};

use crate::lenient::{ItemOf, object};
use wire::{
    Answer, CarrierError, CompleteTrackResult, FedExAddress, NumberOnly, ScanEvent, Strict,
    TrackResult,
};

#[derive(Debug, Clone, Deserialize)]
pub struct FedExConfig {
    /// The API key, FedEx's OAuth client id (may sit in the config file).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_id: Option<String>,
    /// Secret: the secret key (OAuth client secret).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_secret: Option<String>,
    /// `https://apis.fedex.com` (production) or `https://apis-sandbox.fedex.com`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(
        default = "default_batch_size",
        deserialize_with = "crate::settings::count"
    )]
    pub batch_size: usize,
}

fn default_base_url() -> String {
    "https://apis.fedex.com".into()
}
fn default_batch_size() -> usize {
    30
}

impl Default for FedExConfig {
    fn default() -> Self {
        FedExConfig {
            client_id: None,
            client_secret: None,
            base_url: default_base_url(),
            batch_size: default_batch_size(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FedExAdapter {
    config: FedExConfig,
}

impl FedExAdapter {
    pub fn new(config: FedExConfig) -> Self {
        FedExAdapter { config }
    }
}

/// A scan date: with its offset as given, or local at the scan location.
fn scan_instant(text: &str, place: Option<&FedExAddress>) -> Option<(Instant, Option<String>)> {
    if let Some(instant) = Instant::parse_rfc3339(text) {
        return Some((instant, None));
    }
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S").ok()?;
    let place = Place {
        country: place.and_then(|p| p.country_code.as_deref()),
        subdivision: place.and_then(|p| p.state_or_province_code.as_deref()),
        postal_code: place.and_then(|p| p.postal_code.as_deref()),
        locality: place.and_then(|p| p.city.as_deref()),
    };
    Some(local_at_place(naive, &place))
}

/// A date or date-time of an estimate; a naive one is read as UTC (it is a window, not a scan).
fn estimate_instant(text: &str) -> Option<DateTime<Utc>> {
    Instant::parse_rfc3339(text).map(|i| i.utc).or_else(|| {
        NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S")
            .ok()
            .map(|n| n.and_utc())
    })
}

fn parse_events<'a, E: ItemOf<'a, ScanEvent<'a>>>(
    number: &str,
    result: TrackResult<'a, E>,
    outcome: &mut ParseOutcome,
) -> Vec<TrackingEvent> {
    let mut events = Vec::with_capacity(result.scan_events.len());
    for item in result.scan_events {
        let scan = match item.item() {
            Ok(scan) => scan,
            Err(err) => {
                outcome.problem_for(number, format!("unreadable scan event: {err}"));
                continue;
            }
        };
        let Some((instant, note)) = scan_instant(&scan.date, scan.scan_location.as_ref()) else {
            outcome.problem_for(
                number,
                format!("scan date `{}` is not a date-time", scan.date),
            );
            continue;
        };
        if let Some(message) = note {
            outcome.problem_for(number, message);
        }
        let (status, sub_status) = map_event_type(&scan.event_type);
        let place = scan.scan_location.unwrap_or_default();
        let location = join_non_empty([
            place.city.as_deref(),
            place.state_or_province_code.as_deref(),
            place.postal_code.as_deref(),
            place.country_code.as_deref(),
        ]);
        let description = match scan.exception_description.trim() {
            "" => scan.event_description.trim().to_owned(),
            exception => format!("{}: {exception}", scan.event_description.trim()),
        };
        let key = dedupe_key(&[
            &instant.utc.to_rfc3339(),
            &scan.event_type,
            &scan.exception_code,
            &description,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            scan.event_type.into_owned(),
            description,
            location,
            key,
        ));
    }
    if let Some(current) = result.latest_status_detail {
        let (status, sub_status) = map_derived_code(&current.derived_code);
        let newest = events.iter_mut().max_by_key(|e| e.occurred_at);
        match newest {
            Some(newest) if newest.status == Status::Delivered && status == Status::Returning => {
                newest.status = Status::Returned;
                newest.sub_status = Some("delivered_to_shipper".into());
            }
            _ => crate::apply_current_status(&mut events, status, sub_status),
        }
    }
    events
}

fn parse_complete<'a, E: ItemOf<'a, ScanEvent<'a>>>(
    complete: CompleteTrackResult<'a, E>,
    outcome: &mut ParseOutcome,
) {
    let number = complete.tracking_number.into_owned();
    let mut candidates = Vec::new();
    for result in complete.track_results {
        if let Some(error) = &result.error {
            outcome.problem_for(&number, format!("{}: {}", error.code, error.message));
            if result.scan_events.is_empty() {
                continue;
            }
        }
        candidates.push(result);
    }
    let reused = candidates.len() > 1;
    let mut parsed: Vec<(Vec<TrackingEvent>, Option<DateTime<Utc>>)> = candidates
        .into_iter()
        .map(|result| {
            let estimate = result
                .date_and_times
                .iter()
                .find(|d| d.kind == "ESTIMATED_DELIVERY")
                .map(|d| Cow::Borrowed(d.date_time.as_ref()))
                .or_else(|| result.window_estimate())
                .and_then(|text| estimate_instant(&text));
            (parse_events(&number, result, outcome), estimate)
        })
        .collect();
    // The parcel in flight is the one with the latest scan (FedEx reuses numbers).
    parsed.sort_by_key(|(events, _)| events.iter().map(|e| e.occurred_at).max());
    let Some((events, estimated_delivery)) = parsed.pop() else {
        return;
    };
    if reused {
        outcome.problem_for(
            &number,
            format!(
                "FedEx returned {} shipments under this reused number; kept the most recent",
                parsed.len() + 1
            ),
        );
    }
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery,
        events,
    });
}

/// Parse a Track API answer, or its top-level `errors` envelope (a carrier error).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    // One pass when every part has the expected shape; else item by item, below.
    if let Ok(strict) = crate::common::json::<Strict>(body) {
        let mut outcome = ParseOutcome::default();
        for complete in strict.output.complete_track_results {
            parse_complete(complete, &mut outcome);
        }
        return Ok(outcome);
    }
    let answer: Answer = crate::lenient::answer(body)?;
    let results = answer.output.0.and_then(|o| o.complete_track_results.0);
    let Some(results) = results else {
        let errors: Vec<CarrierError> = answer
            .errors
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default();
        return Err(match errors.as_slice() {
            [] => ParseError::Body("no `output.completeTrackResults`".into()),
            errors => ParseError::CarrierError(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        });
    };
    let mut outcome = ParseOutcome::default();
    for raw in results {
        match serde_json::from_str::<CompleteTrackResult<&RawValue>>(raw.get()) {
            Ok(complete) => parse_complete(complete, &mut outcome),
            Err(err) => outcome.problems.push(Problem {
                tracking_number: object::<NumberOnly>(raw)
                    .and_then(|n| n.tracking_number)
                    .map(Cow::into_owned),
                message: format!("unreadable track result: {err}"),
            }),
        }
    }
    Ok(outcome)
}

impl CarrierAdapter for FedExAdapter {
    fn kind(&self) -> &'static str {
        "fedex"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.client_id.is_some() && self.config.client_secret.is_some(),
            poll_batch_size: self.config.batch_size.clamp(1, 30),
        }
    }

    fn token_request(&self) -> Option<HttpRequest> {
        Some(oauth::token_request(
            oauth::join(&self.config.base_url, "/oauth/token"),
            self.config.client_id.as_deref()?,
            self.config.client_secret.as_deref()?,
            CredentialsIn::FormBody,
        ))
    }

    fn parse_token_response(&self, body: &[u8]) -> Result<AccessToken, ParseError> {
        oauth::parse_token_response(body)
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let token = token.ok_or(ParseError::NotSupported("polling without a token"))?;
        let tracking_info: Vec<serde_json::Value> = targets
            .iter()
            .map(|t| serde_json::json!({"trackingNumberInfo": {"trackingNumber": t.tracking_number}}))
            .collect();
        let body = serde_json::json!({
            "includeDetailedScans": true,
            "trackingInfo": tracking_info,
        });
        Ok(HttpRequest {
            method: HttpMethod::Post,
            url: oauth::join(&self.config.base_url, "/track/v1/trackingnumbers"),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", token.token)),
                ("content-type".into(), "application/json".into()),
                ("x-locale".into(), "en_US".into()),
            ],
            body: Some(body.to_string().into_bytes()),
        })
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        parse_poll(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_flagged_current_status_turns_delivery_into_returned() {
        let body = br#"{"output":{"completeTrackResults":[{"trackingNumber":"123","trackResults":[{
            "latestStatusDetail":{"code":"DL","derivedCode":"RS"},
            "scanEvents":[{"date":"2026-11-20T10:00:00-05:00","eventType":"DL","eventDescription":"Delivered",
              "scanLocation":{"city":"X","stateOrProvinceCode":"NY","countryCode":"US"}}]}]}]}}"#;
        let event = &parse_poll(body).unwrap().updates[0].events[0];
        assert_eq!(event.status, Status::Returned);
        assert_eq!(event.raw_code, "DL");
    }

    #[test]
    fn odd_shapes_read_as_they_did_from_a_tree() {
        // Not an object at all: valid JSON answers nothing, invalid JSON is a body error.
        for body in [&b"[1]"[..], b"\"x\"", b"null"] {
            assert!(
                matches!(parse_poll(body), Err(ParseError::Body(m)) if m.contains("completeTrackResults"))
            );
        }
        assert!(matches!(parse_poll(b"{"), Err(ParseError::Body(_))));
        // A track result that cannot be read keeps its number only when the number is text.
        let body = br#"{"output":{"completeTrackResults":[
            {"trackingNumber":"1","trackResults":"nope"},
            {"trackingNumber":2,"trackResults":"nope"}]}}"#;
        let outcome = parse_poll(body).unwrap();
        let numbers: Vec<_> = outcome
            .problems
            .iter()
            .map(|p| p.tracking_number.as_deref())
            .collect();
        assert_eq!(numbers, [Some("1"), None]);
        // The window's end, else its beginning; an end that is there but null is no estimate.
        let estimate = |window: &str| {
            let body = format!(
                r#"{{"output":{{"completeTrackResults":[{{"trackingNumber":"1","trackResults":[{{
                "estimatedDeliveryTimeWindow":{window},"scanEvents":[]}}]}}]}}}}"#
            );
            parse_poll(body.as_bytes()).unwrap().updates[0].estimated_delivery
        };
        assert!(estimate(r#"{"window":{"begins":"2026-12-01T10:00:00Z"}}"#).is_some());
        assert!(estimate(r#"{"window":{"ends":null,"begins":"2026-12-01T10:00:00Z"}}"#).is_none());
        assert!(estimate(r#"[{"window":{"ends":"2026-12-01T10:00:00Z"}}]"#).is_none());
        assert!(estimate("7").is_none());
    }

    #[test]
    fn one_bad_scan_reads_item_by_item_to_the_same_events() {
        let karrio = include_str!(
            "../../../fixtures/conformance/karrio/fedex/duplicate_tracking_response/response.json"
        );
        let strict = parse_poll(karrio.as_bytes()).unwrap();
        assert!(strict.updates[0].events.len() > 3);
        // A scan FedEx sends with a number for its date fails the one-pass read.
        let spoiled = karrio.replacen("\"scanEvents\": [", "\"scanEvents\": [{\"date\": 5},", 1);
        assert_ne!(spoiled, karrio, "the fixture's layout changed");
        let tolerant = parse_poll(spoiled.as_bytes()).unwrap();
        assert_eq!(tolerant.updates, strict.updates);
        let added: Vec<_> = tolerant
            .problems
            .iter()
            .filter(|p| !strict.problems.contains(p))
            .collect();
        assert_eq!(added.len(), 1, "{added:?}");
        assert!(added[0].message.starts_with("unreadable scan event"));
    }

    #[test]
    fn the_request_lists_every_number() {
        let adapter = FedExAdapter::new(FedExConfig {
            client_id: Some("id".into()),
            client_secret: Some("secret".into()),
            ..Default::default()
        });
        let token = AccessToken {
            token: "t".into(),
            expires_in: std::time::Duration::from_secs(60),
        };
        let request = adapter
            .build_poll_request(&["1".into(), "2".into()], Some(&token))
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&request.body.unwrap()).unwrap();
        assert_eq!(
            body["trackingInfo"][1]["trackingNumberInfo"]["trackingNumber"],
            "2"
        );
        assert_eq!(adapter.capabilities().poll_batch_size, 30);
    }
}
