//! `usps`: the USPS Tracking API v3 (`GET /tracking/v3/tracking/{number}?expand=DETAIL`), one
//! number a request, behind OAuth client credentials (`POST /oauth2/v3/token`, JSON body).
//!
//! Status comes from each event's `eventCode` (`table.rs`); `statusCategory` is the carrier's
//! current status, an observation at the time of the newest event. Times: `GMTTimestamp`
//! is the instant (with `GMTOffset` as the local offset); without it, `eventTimestamp` is local
//! at the event's state (USPS events without a country are domestic), resolved through the zone
//! table and flagged as inferred. Both error shapes USPS sends (`{"error":{code,message}}` and
//! the OAuth `{"error":"invalid_client",…}`) are carrier errors.

mod table;

use chrono::{DateTime, NaiveDateTime};
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::common::join_non_empty;
use crate::oauth::{self, CredentialsIn};
use crate::places::Place;
use crate::zones::local_at_place;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, TrackingEvent, TrackingUpdate, dedupe_key,
};

pub use table::{map_event_code, map_status_category};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UspsConfig {
    /// The consumer key, the OAuth client id (may sit in the config file).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_id: Option<String>,
    /// Secret: the consumer secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_secret: Option<String>,
    /// `https://apis.usps.com` by default (`https://apis-tem.usps.com` for testing).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UspsAdapter {
    config: UspsConfig,
}

impl UspsAdapter {
    pub fn new(config: UspsConfig) -> Self {
        UspsAdapter { config }
    }
    fn base_url(&self) -> &str {
        self.config
            .base_url
            .as_deref()
            .unwrap_or("https://apis.usps.com")
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UspsEvent<'a> {
    #[serde(default, borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "GMTTimestamp", default, borrow)]
    gmt_timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "GMTOffset", default, borrow)]
    gmt_offset: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_country: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_city: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_state: Option<Cow<'a, str>>,
    #[serde(rename = "eventZIP", default, borrow)]
    event_zip: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_code: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UspsTracking<'a> {
    #[serde(borrow)]
    tracking_number: Cow<'a, str>,
    #[serde(default, borrow)]
    status_category: Option<Cow<'a, str>>,
    #[serde(default, borrow, alias = "expectedDeliveryTimeStamp")]
    expected_delivery_timestamp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    expected_delivery_date: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tracking_events: Vec<&'a RawValue>,
}

fn event_instant(event: &UspsEvent<'_>) -> Option<(Instant, Option<String>)> {
    if let Some(gmt) = event
        .gmt_timestamp
        .as_deref()
        .and_then(Instant::parse_rfc3339)
    {
        let offset = event.gmt_offset.as_deref().and_then(|o| {
            DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", o.trim())).ok()
        });
        return Some((
            Instant {
                utc: gmt.utc,
                offset_seconds: offset.map(|o| o.offset().local_minus_utc()),
                offset_inferred: false,
            },
            None,
        ));
    }
    let text = event.event_timestamp.as_deref()?.trim();
    if let Some(instant) = Instant::parse_rfc3339(text) {
        return Some((instant, None));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()?;
    let country = event.event_country.as_deref().filter(|c| !c.is_empty());
    let place = Place {
        country: Some(country.unwrap_or("US")),
        subdivision: event.event_state.as_deref(),
        postal_code: event.event_zip.as_deref(),
        locality: event.event_city.as_deref(),
    };
    Some(local_at_place(naive, &place))
}

fn parse_tracking(tracking: UspsTracking<'_>, outcome: &mut ParseOutcome) {
    let number = tracking.tracking_number.into_owned();
    let mut events = Vec::with_capacity(tracking.tracking_events.len());
    for raw in tracking.tracking_events {
        let event: UspsEvent = match serde_json::from_str(raw.get()) {
            Ok(event) => event,
            Err(err) => {
                outcome.problem_for(&number, format!("unreadable tracking event: {err}"));
                continue;
            }
        };
        let Some((instant, note)) = event_instant(&event) else {
            outcome.problem_for(&number, "tracking event without a readable timestamp");
            continue;
        };
        if let Some(message) = note {
            outcome.problem_for(&number, message);
        }
        let raw_code = event.event_code.as_deref().unwrap_or_default().to_owned();
        let (status, sub_status) = map_event_code(&raw_code);
        let description = event
            .event_type
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let location = join_non_empty([
            event.event_city.as_deref(),
            event.event_state.as_deref(),
            event.event_zip.as_deref(),
            event.event_country.as_deref(),
        ]);
        let key = dedupe_key(&[
            &instant.utc.to_rfc3339(),
            &raw_code,
            &description,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            raw_code,
            description,
            location,
            key,
        ));
    }
    if let Some(category) = tracking.status_category.as_deref() {
        let (status, sub_status) = map_status_category(category);
        crate::apply_current_status(&mut events, status, sub_status);
    }
    // A date without a time is the end of that day in UTC, the latest it can mean.
    let estimated_delivery = tracking
        .expected_delivery_timestamp
        .as_deref()
        .and_then(Instant::parse_rfc3339)
        .map(|i| i.utc)
        .or_else(|| {
            let date = tracking.expected_delivery_date.as_deref()?.get(..10)?;
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(23, 59, 59)
                .map(|d| d.and_utc())
        });
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery,
        events,
    });
}

/// Parse a tracking answer, or either of USPS's error shapes (a carrier error).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    // Two borrowed passes over the bytes, no tree: is it one of the error shapes, then the
    // tracking answer itself.
    // (serde reads a struct from an array too, positionally: only an object is probed.)
    let probe: ErrorProbe = if body.trim_ascii_start().starts_with(b"{") {
        crate::common::json(body)?
    } else {
        ErrorProbe::default()
    };
    if let Some(error) = probe.error {
        if error.get().starts_with('{') {
            let error: ErrorObject = serde_json::from_str(error.get()).unwrap_or_default();
            return Err(ParseError::CarrierError(format!(
                "{}: {}",
                error.code.as_deref().unwrap_or(""),
                error.message.as_deref().unwrap_or("")
            )));
        }
        if let Some(code) = crate::common::borrowed_text(error) {
            let description = probe.error_description.as_deref().unwrap_or("");
            return Err(ParseError::CarrierError(format!("{code}: {description}")));
        }
    }
    let tracking: UspsTracking = crate::common::json(body).map_err(|err| match err {
        ParseError::Body(err) => ParseError::Body(format!("not a USPS tracking response: {err}")),
        other => other,
    })?;
    let mut outcome = ParseOutcome::default();
    parse_tracking(tracking, &mut outcome);
    Ok(outcome)
}

/// USPS's two error shapes: `{"error": {"code", "message"}}` and
/// `{"error": "code", "error_description": "…"}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorProbe<'a> {
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    error_description: Option<Cow<'a, str>>,
}

/// Each field read as text if it is text (a number or anything else reads as empty).
#[derive(Debug, Default, Deserialize)]
struct ErrorObject<'a> {
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    message: Option<Cow<'a, str>>,
}

impl CarrierAdapter for UspsAdapter {
    fn kind(&self) -> &'static str {
        "usps"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.client_id.is_some() && self.config.client_secret.is_some(),
            poll_batch_size: 1,
        }
    }

    fn token_request(&self) -> Option<HttpRequest> {
        Some(oauth::token_request(
            oauth::join(self.base_url(), "/oauth2/v3/token"),
            self.config.client_id.as_deref()?,
            self.config.client_secret.as_deref()?,
            CredentialsIn::JsonBody,
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
        let number = crate::common::single_number_in_path(targets)?;
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: oauth::join(
                self.base_url(),
                &format!("/tracking/v3/tracking/{number}?expand=DETAIL"),
            ),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", token.token)),
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
    use crate::Status;

    #[test]
    fn the_category_fills_an_unknown_newest_event() {
        let body = br#"{"trackingNumber":"9400","statusCategory":"Delivered","trackingEvents":[
            {"eventType":"Delivered, Front Door","eventTimestamp":"2026-11-20T13:58:00","eventState":"FL","eventCode":"ZZ"}]}"#;
        let event = &parse_poll(body).unwrap().updates[0].events[0];
        assert_eq!(event.status, Status::Delivered);
        assert_eq!(event.raw_code, "ZZ");
        assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-20T18:58:00+00:00");
        assert!(event.offset_inferred);
    }

    #[test]
    fn oauth_errors_are_carrier_errors() {
        let err = parse_poll(
            br#"{"error":"invalid_client","error_description":"Client authentication failed."}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ParseError::CarrierError("invalid_client: Client authentication failed.".into())
        );
    }
}

#[cfg(test)]
mod error_shape_tests {
    use super::*;

    #[test]
    fn both_error_shapes_are_carrier_errors_and_odd_bodies_are_not() {
        let err = |body: &str| parse_poll(body.as_bytes()).unwrap_err().to_string();
        assert!(
            err(r#"{"error": {"code": "404", "message": "not found"}}"#).contains("404: not found")
        );
        // A code that is not text reads as empty, as it always did.
        assert!(err(r#"{"error": {"code": 404, "message": "gone"}}"#).contains(": gone"));
        assert!(
            err(r#"{"error": "invalid_token", "error_description": "expired"}"#)
                .contains("invalid_token: expired")
        );
        // An array is not probed for an error (serde would read a struct from it by position).
        assert!(matches!(
            parse_poll(br#"[{"code": "1"}, "x"]"#),
            Err(ParseError::Body(_))
        ));
        assert!(matches!(parse_poll(b"not json"), Err(ParseError::Body(_))));
    }
}
