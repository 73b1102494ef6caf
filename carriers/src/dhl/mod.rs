//! `dhl`: DHL Shipment Tracking – Unified (`GET /track/shipments?trackingNumber=…`, header
//! `DHL-API-Key`), one number a request, covering Express, Parcel, eCommerce and Freight.
//!
//! Status: the machine `statusCode` (`pre-transit`, `transit`, `delivered`, `failure`,
//! `unknown`); the free-text `status` beside it differs per DHL business unit and is kept only in
//! the description and dedupe key, never mapped. The shipment's own `status` repeats the newest
//! event: an observation at that event's time (`apply_current_status`), and an event of its own only when no
//! event list came (its timestamp format can differ from the events'). A `returnFlag` (on the status,
//! the event or the shipment `details`) marks the parcel as travelling back to its shipper:
//! `transit` becomes `returning` and `delivered` becomes `returned`, since a delivery on a return
//! leg is the parcel reaching the shipper again, not the customer.
//! Times: with an offset as given; DHL Parcel sends local times without one, which are resolved
//! at the event's country (through the zone table) and flagged as inferred.

use chrono::NaiveDateTime;
use serde::Deserialize;

use crate::places::Place;
use crate::zones::local_at_place;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Status, TrackingEvent, TrackingUpdate, dedupe_key,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DhlConfig {
    /// Secret: the API key (`DHL-API-Key`).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    /// `https://api-eu.dhl.com` by default.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DhlAdapter {
    config: DhlConfig,
}

impl DhlAdapter {
    pub fn new(config: DhlConfig) -> Self {
        DhlAdapter { config }
    }
}

/// (status, sub_status) for a `statusCode`, with the return flag applied.
pub fn map_status_code(code: &str, returning: bool) -> (Status, Option<String>) {
    let status = match (code.trim(), returning) {
        ("pre-transit", _) => Status::InfoReceived,
        ("transit", false) => Status::InTransit,
        ("transit", true) => Status::Returning,
        ("delivered", false) => Status::Delivered,
        ("delivered", true) => Status::Returned,
        ("failure", _) => Status::FailedAttempt,
        _ => Status::Unknown,
    };
    let sub =
        matches!(status, Status::Returning | Status::Returned).then(|| "return_flag".to_owned());
    (status, sub)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DhlAddress {
    country_code: Option<String>,
    postal_code: Option<String>,
    address_locality: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DhlLocation {
    #[serde(default)]
    address: Option<DhlAddress>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DhlEvent {
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    location: Option<DhlLocation>,
    #[serde(default)]
    status_code: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    return_flag: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DhlShipment {
    id: Id,
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default)]
    events: Vec<serde_json::Value>,
    #[serde(default)]
    estimated_time_of_delivery: Option<String>,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

fn event_of(
    number: &str,
    value: serde_json::Value,
    shipment_returning: bool,
    outcome: &mut ParseOutcome,
) -> Option<TrackingEvent> {
    let event: DhlEvent = match serde_json::from_value(value) {
        Ok(event) => event,
        Err(err) => {
            outcome.problem_for(number, format!("unreadable event: {err}"));
            return None;
        }
    };
    let address = event.location.and_then(|l| l.address).unwrap_or_default();
    let instant = match Instant::parse_rfc3339(&event.timestamp) {
        Some(instant) => instant,
        None => {
            let Ok(naive) =
                NaiveDateTime::parse_from_str(event.timestamp.trim(), "%Y-%m-%dT%H:%M:%S")
            else {
                outcome.problem_for(
                    number,
                    format!("event timestamp `{}` is not a date-time", event.timestamp),
                );
                return None;
            };
            let place = Place {
                country: address.country_code.as_deref(),
                postal_code: address.postal_code.as_deref(),
                locality: address.address_locality.as_deref(),
                ..Place::default()
            };
            let (instant, note) = local_at_place(naive, &place);
            if let Some(message) = note {
                outcome.problem_for(number, message);
            }
            instant
        }
    };
    let returning = event.return_flag.unwrap_or(shipment_returning);
    let (status, sub_status) = map_status_code(&event.status_code, returning);
    // DHL Express repeats the status code as its status text; only a different text says more.
    let status_text = event
        .status
        .as_deref()
        .filter(|text| !text.trim().eq_ignore_ascii_case(event.status_code.trim()));
    let description = [status_text, event.description.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let location = crate::common::join_non_empty([
        address.address_locality.as_deref(),
        address.postal_code.as_deref(),
        address.country_code.as_deref(),
    ]);
    let key = dedupe_key(&[
        &instant.utc.to_rfc3339(),
        &event.status_code,
        &description,
        location.as_deref().unwrap_or(""),
    ]);
    Some(TrackingEvent::at(
        instant,
        (status, sub_status),
        event.status_code,
        description,
        location,
        key,
    ))
}

fn flag(value: Option<&serde_json::Value>) -> bool {
    value
        .and_then(|v| v.get("returnFlag"))
        .and_then(|f| f.as_bool())
        .unwrap_or(false)
}

fn parse_shipment(shipment: DhlShipment, outcome: &mut ParseOutcome) {
    let number = match shipment.id {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    };
    let returning = flag(shipment.details.as_ref()) || flag(shipment.status.as_ref());
    let mut events: Vec<TrackingEvent> = shipment
        .events
        .into_iter()
        .filter_map(|value| event_of(&number, value, returning, outcome))
        .collect();
    // The shipment's `status` repeats its newest event; it is an event of its own only when
    // DHL sent no event list (some services do without `?service=` details).
    if let Some(current) = shipment.status {
        if events.is_empty() {
            events.extend(event_of(&number, current, returning, outcome));
        } else if let Some(code) = current.get("statusCode").and_then(|c| c.as_str()) {
            let (status, sub_status) = map_status_code(code, returning);
            crate::apply_current_status(&mut events, status, sub_status);
        }
    }
    let estimated_delivery = shipment
        .estimated_time_of_delivery
        .as_deref()
        .and_then(Instant::parse_rfc3339)
        .map(|i| i.utc);
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery,
        events,
    });
}

/// Parse an answer: `shipments[]`, or DHL's problem document (`title`, `detail`, `status`).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let value: serde_json::Value = crate::common::json(body)?;
    let Some(shipments) = value.get("shipments").and_then(|s| s.as_array()) else {
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("");
        return match (text("title"), text("detail")) {
            ("", "") => Err(ParseError::Body("no `shipments` list".into())),
            (title, detail) => Err(ParseError::CarrierError(format!("{title}: {detail}"))),
        };
    };
    let mut outcome = ParseOutcome::default();
    for value in shipments {
        match DhlShipment::deserialize(value) {
            Ok(shipment) => parse_shipment(shipment, &mut outcome),
            Err(err) => outcome.problem(format!("unreadable shipment: {err}")),
        }
    }
    Ok(outcome)
}

impl CarrierAdapter for DhlAdapter {
    fn kind(&self) -> &'static str {
        "dhl"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.api_key.is_some(),
            poll_batch_size: 1,
        }
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let key = self
            .config
            .api_key
            .as_deref()
            .ok_or(ParseError::NotSupported("polling without an api_key"))?;
        let target = targets
            .first()
            .ok_or(ParseError::NotSupported("an empty poll"))?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("trackingNumber", &target.tracking_number)
            .finish();
        let base = self
            .config
            .base_url
            .as_deref()
            .unwrap_or("https://api-eu.dhl.com");
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: crate::oauth::join(base, &format!("/track/shipments?{query}")),
            headers: vec![
                ("dhl-api-key".into(), key.to_owned()),
                ("accept".into(), "application/json".into()),
            ],
            body: None,
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
    fn a_return_flag_turns_delivered_into_returned() {
        let body = br#"{"shipments":[{"id":"JJD1","details":{"returnFlag":true},
            "status":{"timestamp":"2026-11-20T10:00:00+01:00","statusCode":"delivered","status":"DELIVERED"},
            "events":[{"timestamp":"2026-11-20T10:00:00+01:00","statusCode":"delivered","status":"DELIVERED"},
                      {"timestamp":"2026-11-19T08:00:00","statusCode":"transit","location":{"address":{"countryCode":"DE"}}}]}]}"#;
        let update = &parse_poll(body).unwrap().updates[0];
        assert_eq!(
            update.events.len(),
            2,
            "the status repeats the newest event"
        );
        assert_eq!(update.events[0].status, Status::Returned);
        assert_eq!(update.events[1].status, Status::Returning);
        assert_eq!(
            update.events[1].occurred_at.to_rfc3339(),
            "2026-11-19T07:00:00+00:00"
        );
        assert!(update.events[1].offset_inferred);
    }

    #[test]
    fn problem_documents_are_carrier_errors() {
        let err = parse_poll(br#"{"title":"No result found","status":404,"detail":"No shipment"}"#)
            .unwrap_err();
        assert_eq!(
            err,
            ParseError::CarrierError("No result found: No shipment".into())
        );
    }
}
