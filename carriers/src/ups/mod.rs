//! `ups`: the UPS Track API v1 (`GET /api/track/v1/details/{number}`), one number a request,
//! behind OAuth client credentials (`POST /security/v1/oauth/token`, HTTP Basic with the client id
//! and secret; the token is cached by the gateway and refreshed on a 401).
//!
//! Status comes from each activity's `status.type`, refined by its 3-digit `statusCode` for the
//! generic types (see `table.rs`); the raw code kept is `type/code` so both survive. Times: `gmtDate`/`gmtTime` (with `gmtOffset` for the local offset)
//! when present; otherwise `date`/`time` are local at the activity's address, resolved through
//! the zone table and flagged as inferred. `deliveryDate` entries of type `SDD`/`RDD` (scheduled
//! and rescheduled) give the estimated delivery. A shipment answered only with warnings
//! (`TW0001` not found) or an `errors` envelope produces problems, never an update.

mod table;
mod wire;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::Deserialize;

use crate::common::join_non_empty;
use crate::oauth::{self, CredentialsIn};
use crate::places::Place;
use crate::zones::local_at_place;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Problem, TrackingEvent, TrackingUpdate, dedupe_key,
};

pub use table::{map_status, map_type};
use wire::{Activity, Answer, ErrorResponse, Package, Shipment, TrackResponse};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpsConfig {
    /// The OAuth client id (not secret on its own; may sit in the config file).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_id: Option<String>,
    /// Secret: the OAuth client secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_secret: Option<String>,
    /// `https://onlinetools.ups.com` (production) or `https://wwwcie.ups.com` (test).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UpsAdapter {
    config: UpsConfig,
}

impl UpsAdapter {
    pub fn new(config: UpsConfig) -> Self {
        UpsAdapter { config }
    }
    fn base_url(&self) -> &str {
        self.config
            .base_url
            .as_deref()
            .unwrap_or("https://onlinetools.ups.com")
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y%m%d").ok()
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H%M%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .ok()
}

/// `-05:00` → offset.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", text.trim()))
        .ok()
        .map(|d| *d.offset())
}

/// The instant of an activity, and a note when its zone could not be known.
fn activity_instant(activity: &Activity) -> Result<(Instant, Option<String>), String> {
    let address = activity.location.as_ref().and_then(|l| l.address.as_ref());
    if let (Some(date), Some(time)) = (
        activity.gmt_date.as_deref().and_then(parse_date),
        activity.gmt_time.as_deref().and_then(parse_time),
    ) {
        let utc = Utc.from_utc_datetime(&date.and_time(time));
        let offset = activity.gmt_offset.as_deref().and_then(parse_offset);
        return Ok((
            Instant {
                utc,
                offset_seconds: offset.map(|o| o.local_minus_utc()),
                offset_inferred: false,
            },
            None,
        ));
    }
    let date = parse_date(&activity.date)
        .ok_or_else(|| format!("activity date `{}` is not YYYYMMDD", activity.date))?;
    let time = parse_time(&activity.time)
        .ok_or_else(|| format!("activity time `{}` is not HHMMSS", activity.time))?;
    let naive = NaiveDateTime::new(date, time);
    let place = Place {
        country: address.and_then(|a| a.country_code.as_deref().or(a.country.as_deref())),
        subdivision: address.and_then(|a| a.state_province.as_deref()),
        postal_code: address.and_then(|a| a.postal_code.as_deref()),
        locality: address.and_then(|a| a.city.as_deref()),
    };
    Ok(local_at_place(naive, &place))
}

fn parse_package(package: Package<'_>, fallback_number: Option<&str>, outcome: &mut ParseOutcome) {
    let Some(number) = package
        .tracking_number
        .as_deref()
        .or(fallback_number)
        .map(str::to_owned)
    else {
        outcome.problem("package without a tracking number");
        return;
    };
    let mut events = Vec::with_capacity(package.activity.len());
    for raw in package.activity {
        let activity: Activity = match serde_json::from_str(raw.get()) {
            Ok(activity) => activity,
            Err(err) => {
                outcome.problem_for(&number, format!("unreadable activity: {err}"));
                continue;
            }
        };
        let (instant, note) = match activity_instant(&activity) {
            Ok(found) => found,
            Err(message) => {
                outcome.problem_for(&number, message);
                continue;
            }
        };
        if let Some(message) = note {
            outcome.problem_for(&number, message);
        }
        let (status, sub_status) = map_status(
            &activity.status.kind,
            activity.status.status_code.as_deref(),
            &activity.status.code,
        );
        let raw_code = format!("{}/{}", activity.status.kind, activity.status.code);
        let address = activity
            .location
            .and_then(|l| l.address)
            .unwrap_or_default();
        let location = join_non_empty([
            address.city.as_deref(),
            address.state_province.as_deref(),
            address.postal_code.as_deref(),
            address
                .country_code
                .as_deref()
                .or(address.country.as_deref()),
        ]);
        let description = activity.status.description.trim().to_owned();
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
    // The scheduled date, or the rescheduled one when UPS moved it; a date without a time of day
    // is taken as the end of that day in UTC, the latest it can mean.
    let estimated_delivery = package
        .delivery_date
        .iter()
        .filter(|d| d.kind == "SDD" || d.kind == "RDD")
        .max_by_key(|d| (d.kind == "RDD", d.date.clone()))
        .and_then(|d| parse_date(&d.date))
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|d| d.and_utc());
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery,
        events,
    });
}

/// Parse a Track API answer: `trackResponse.shipment[].package[]`, or the `response.errors`
/// envelope (a carrier error).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let answer: Answer = crate::common::json(body)?;
    if let Some(envelope) = answer
        .response
        .and_then(|raw| serde_json::from_str::<ErrorResponse>(raw.get()).ok())
    {
        let messages: Vec<String> = envelope
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect();
        return Err(ParseError::CarrierError(messages.join("; ")));
    }
    let shipments = answer
        .track_response
        .and_then(|raw| serde_json::from_str::<TrackResponse>(raw.get()).ok())
        .ok_or_else(|| ParseError::Body("no `trackResponse.shipment` list".into()))?
        .shipment;
    let mut outcome = ParseOutcome::default();
    for raw in shipments {
        let shipment = match serde_json::from_str::<Shipment>(raw.get()) {
            Ok(shipment) => shipment,
            Err(err) => {
                outcome.problem(format!("unreadable shipment: {err}"));
                continue;
            }
        };
        for warning in &shipment.warnings {
            outcome.problems.push(Problem {
                tracking_number: shipment.inquiry_number.as_deref().map(str::to_owned),
                message: format!("{}: {}", warning.code, warning.message),
            });
        }
        for package in shipment.package {
            parse_package(package, shipment.inquiry_number.as_deref(), &mut outcome);
        }
    }
    Ok(outcome)
}

impl CarrierAdapter for UpsAdapter {
    fn kind(&self) -> &'static str {
        "ups"
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
            oauth::join(self.base_url(), "/security/v1/oauth/token"),
            self.config.client_id.as_deref()?,
            self.config.client_secret.as_deref()?,
            CredentialsIn::BasicHeader,
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
                &format!("/api/track/v1/details/{number}?locale=en_US&returnSignature=false"),
            ),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", token.token)),
                // UPS requires a per-request transaction id and a source name.
                (
                    "transid".into(),
                    dedupe_key(&[&number, &Utc::now().to_rfc3339()]),
                ),
                ("transactionsrc".into(), "trackgate".into()),
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
    fn gmt_times_win_over_local_ones() {
        let body = br#"{"trackResponse":{"shipment":[{"inquiryNumber":"1Z","package":[{"trackingNumber":"1Z","activity":[
            {"date":"20261120","time":"070000","gmtDate":"20261120","gmtTime":"12:00:00","gmtOffset":"-05:00",
             "location":{"address":{"city":"Wayne","stateProvince":"NJ","countryCode":"US"}},
             "status":{"type":"D","code":"FS","description":"Delivered"}}]}]}]}}"#;
        let outcome = parse_poll(body).unwrap();
        let event = &outcome.updates[0].events[0];
        assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-20T12:00:00+00:00");
        assert_eq!(event.utc_offset_seconds, Some(-5 * 3600));
        assert!(!event.offset_inferred);
        assert_eq!(event.status, Status::Delivered);
        assert_eq!(event.raw_code, "D/FS");
    }

    #[test]
    fn local_times_resolve_at_the_activity_location() {
        let body = br#"{"trackResponse":{"shipment":[{"package":[{"trackingNumber":"1Z","activity":[
            {"date":"20260710","time":"093000","location":{"address":{"stateProvince":"CA","countryCode":"US"}},
             "status":{"type":"I","code":"AR","description":"Arrived"}}]}]}]}}"#;
        let event = &parse_poll(body).unwrap().updates[0].events[0];
        assert_eq!(event.occurred_at.to_rfc3339(), "2026-07-10T16:30:00+00:00");
        assert!(event.offset_inferred);
    }

    #[test]
    fn error_envelopes_are_carrier_errors() {
        let err = parse_poll(
            br#"{"response":{"errors":[{"code":"TV1002","message":"Invalid inquiry number"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ParseError::CarrierError("TV1002: Invalid inquiry number".into())
        );
    }
}
