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

use std::borrow::Cow;

use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::lenient::{ItemOf, RawList, Ready};

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

// The answer's types borrow from the body. It is read strictly in one pass (events `Ready`);
// only when that fails is it read again shipment by shipment and event by event (raw), so one
// bad event is a problem for its number, not a refusal.

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DhlAddress<'a> {
    #[serde(borrow)]
    country_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    postal_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    address_locality: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct DhlLocation<'a> {
    #[serde(default, borrow)]
    address: Option<DhlAddress<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DhlEvent<'a> {
    #[serde(default, borrow)]
    timestamp: Cow<'a, str>,
    #[serde(default, borrow)]
    location: Option<DhlLocation<'a>>,
    #[serde(default, borrow)]
    status_code: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(default)]
    return_flag: Option<bool>,
}

/// A shipment id: text, or a number as DHL sometimes sends it.
#[derive(Debug)]
enum Id<'a> {
    Text(Cow<'a, str>),
    Number(serde_json::Number),
}

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        if let Some(text) = crate::common::borrowed_text(raw) {
            return Ok(Id::Text(text));
        }
        serde_json::from_str(raw.get())
            .map(Id::Number)
            .map_err(|_| {
                serde::de::Error::custom("data did not match any variant of untagged enum Id")
            })
    }
}

/// A shipment; its events `E` read in the same pass ([`Ready`]) or kept raw.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DhlShipment<'a, E> {
    #[serde(borrow)]
    id: Id<'a>,
    /// The newest event again (any shape: read on its own when needed).
    #[serde(default, borrow)]
    status: Option<&'a RawValue>,
    #[serde(default = "Vec::new")]
    events: Vec<E>,
    #[serde(default, borrow)]
    estimated_time_of_delivery: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    details: Option<&'a RawValue>,
}

/// What `status` and `details` are read for, whatever else they hold.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Flags<'a> {
    #[serde(default, deserialize_with = "crate::lenient::bool_only")]
    return_flag: Option<bool>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    status_code: Option<Cow<'a, str>>,
}

fn flags(raw: Option<&RawValue>) -> Option<Flags<'_>> {
    raw.and_then(crate::lenient::object)
}

/// The answer read strictly, in one pass.
#[derive(Deserialize)]
struct Strict<'a> {
    #[serde(borrow)]
    shipments: Vec<DhlShipment<'a, Ready<DhlEvent<'a>>>>,
}

/// The answer read tolerantly: `shipments` (each kept raw), or a problem document.
#[derive(Default, Deserialize)]
struct Answer<'a> {
    #[serde(default, borrow)]
    shipments: RawList<'a>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    title: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    detail: Option<Cow<'a, str>>,
}

fn event_of(
    number: &str,
    read: Result<DhlEvent<'_>, serde_json::Error>,
    shipment_returning: bool,
    outcome: &mut ParseOutcome,
) -> Option<TrackingEvent> {
    let event = match read {
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
        event.status_code.into_owned(),
        description,
        location,
        key,
    ))
}

fn parse_shipment<'a, E: ItemOf<'a, DhlEvent<'a>>>(
    shipment: DhlShipment<'a, E>,
    outcome: &mut ParseOutcome,
) {
    let number = match shipment.id {
        Id::Text(text) => text.into_owned(),
        Id::Number(number) => number.to_string(),
    };
    let returned = |raw| flags(raw).and_then(|f| f.return_flag).unwrap_or(false);
    let returning = returned(shipment.details) || returned(shipment.status);
    let mut events: Vec<TrackingEvent> = shipment
        .events
        .into_iter()
        .filter_map(|item| event_of(&number, item.item(), returning, outcome))
        .collect();
    // The shipment's `status` repeats its newest event; it is an event of its own only when
    // DHL sent no event list (some services do without `?service=` details).
    if let Some(current) = shipment.status {
        if events.is_empty() {
            events.extend(event_of(&number, current.item(), returning, outcome));
        } else if let Some(code) = flags(Some(current)).and_then(|f| f.status_code) {
            let (status, sub_status) = map_status_code(&code, returning);
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
    let mut outcome = ParseOutcome::default();
    if let Ok(strict) = crate::common::json::<Strict>(body) {
        for shipment in strict.shipments {
            parse_shipment(shipment, &mut outcome);
        }
        return Ok(outcome);
    }
    let answer: Answer = crate::lenient::answer(body)?;
    let Some(shipments) = answer.shipments.0 else {
        let title = answer.title.as_deref().unwrap_or("");
        let detail = answer.detail.as_deref().unwrap_or("");
        return match (title, detail) {
            ("", "") => Err(ParseError::Body("no `shipments` list".into())),
            (title, detail) => Err(ParseError::CarrierError(format!("{title}: {detail}"))),
        };
    };
    for raw in shipments {
        match serde_json::from_str::<DhlShipment<&RawValue>>(raw.get()) {
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
    fn one_bad_event_reads_shipment_by_shipment_to_the_same_events() {
        let good = br#"{"shipments":[{"id":7,"events":[
            {"timestamp":"2026-11-20T10:00:00+01:00","statusCode":"delivered"},
            {"timestamp":"2026-11-19T10:00:00+01:00","statusCode":"transit"}]},
            {"id":"JJD2","events":[]}]}"#;
        let strict = parse_poll(good).unwrap();
        assert_eq!(strict.updates[0].tracking_number, "7");
        assert_eq!(strict.updates[0].events.len(), 2);
        let spoiled = String::from_utf8(good.to_vec())
            .unwrap()
            .replacen(r#""events":["#, r#""events":[{"statusCode":5},"#, 1)
            .replace(r#"{"id":"JJD2""#, r#"{"id":true},{"id":"JJD2""#);
        let tolerant = parse_poll(spoiled.as_bytes()).unwrap();
        assert_eq!(tolerant.updates, strict.updates);
        let messages: Vec<_> = tolerant
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("unreadable event"));
        assert!(messages[1].starts_with("unreadable shipment") && messages[1].contains("enum Id"));
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
