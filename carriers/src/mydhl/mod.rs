//! `mydhl`: the DHL Express MyDHL API (`GET /mydhlapi/shipments/{number}/tracking`, one number a
//! request, HTTP Basic with the API key and secret) — DHL Express's own detailed checkpoints,
//! where the unified `dhl` adapter gets DHL's cross-division summary.
//!
//! Checkpoints carry a `typeCode` (`PU`, `PL`, `DF`, `AF`, `AR`, `WC`, `OK`…) mapped below, and a
//! local `date` + `time` with the service area's `GMTOffset` when DHL sends it. Without one the
//! time is local in the service area's country (`Paris-FR`), resolved through the zone table and
//! flagged as inferred; where no zone can be known without guessing (`New York, NY`, or a
//! multi-zone country) it is taken as UTC with a problem saying so. Errors come as problem
//! documents (`title`, `detail`).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::lenient::RawList;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Status, TrackingEvent, TrackingUpdate, dedupe_key,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MyDhlConfig {
    /// Secret: the API key (Basic user name).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    /// Secret: the API secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_secret: Option<String>,
    /// `https://express.api.dhl.com/mydhlapi` by default.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MyDhlAdapter {
    config: MyDhlConfig,
}

impl MyDhlAdapter {
    pub fn new(config: MyDhlConfig) -> Self {
        MyDhlAdapter { config }
    }
}

/// (status, sub_status) for a checkpoint `typeCode`.
pub fn map_type_code(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match code.trim() {
        "SA" => (InfoReceived, None),
        "PU" => (PickedUp, None),
        "PL" | "DF" | "AF" | "AR" | "TR" | "CR" | "RR" => (InTransit, None),
        "CC" | "OH" | "HP" | "CD" => (Exception, None),
        "WC" => (OutForDelivery, None),
        "NH" | "CA" | "BA" | "RD" => (FailedAttempt, None),
        "OK" | "DD" => (Delivered, None),
        "RT" => (Returning, None),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

// The answer's types borrow from the body; it is read in one pass, and only when that fails
// shipment by shipment (each kept raw), so one bad shipment is a problem, not a refusal.

#[derive(Debug, Deserialize)]
struct ServiceArea<'a> {
    #[serde(default, borrow)]
    description: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkpoint<'a> {
    #[serde(default, borrow)]
    date: Cow<'a, str>,
    #[serde(default, borrow)]
    time: Cow<'a, str>,
    #[serde(rename = "GMTOffset", default, borrow)]
    gmt_offset: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    type_code: Cow<'a, str>,
    #[serde(default, borrow)]
    description: Cow<'a, str>,
    #[serde(default, borrow)]
    service_area: Vec<ServiceArea<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shipment<'a> {
    #[serde(borrow)]
    shipment_tracking_number: Cow<'a, str>,
    #[serde(default, borrow)]
    estimated_time_of_delivery: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    events: Vec<Checkpoint<'a>>,
}

/// The usual answer, in one pass.
#[derive(Deserialize)]
struct Strict<'a> {
    #[serde(borrow)]
    shipments: Vec<Shipment<'a>>,
}

/// Any other answer: shipments kept raw, or a problem document.
#[derive(Default, Deserialize)]
struct Answer<'a> {
    #[serde(default, borrow)]
    shipments: RawList<'a>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    title: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    detail: Option<Cow<'a, str>>,
}

fn checkpoint_instant(checkpoint: &Checkpoint<'_>) -> Option<(Instant, Option<String>)> {
    let date = NaiveDate::parse_from_str(checkpoint.date.trim(), "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(checkpoint.time.trim(), "%H:%M:%S").ok()?;
    let naive = date.and_time(time);
    if let Some(offset) = checkpoint.gmt_offset.as_deref().and_then(|o| {
        DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", o.trim())).ok()
    }) && let Some(instant) = Instant::parse_rfc3339(&format!(
        "{}{}",
        naive.format("%Y-%m-%dT%H:%M:%S"),
        offset.offset()
    )) {
        return Some((instant, None));
    }
    // Service areas read "City-CC": the ISO country after the last dash locates the zone.
    let country = checkpoint
        .service_area
        .first()
        .and_then(|a| a.description.as_deref())
        .and_then(|d| d.rsplit_once('-'))
        .map(|(_, cc)| cc.trim())
        .filter(|cc| cc.len() == 2 && cc.chars().all(|c| c.is_ascii_alphabetic()));
    Some(crate::zones::local_at(naive, country, None))
}

/// Parse a tracking answer, or DHL's problem document (a carrier error).
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
        return Err(ParseError::CarrierError(format!(
            "{}: {}",
            answer.title.as_deref().unwrap_or(""),
            answer.detail.as_deref().unwrap_or("")
        )));
    };
    for raw in shipments {
        match serde_json::from_str::<Shipment>(raw.get()) {
            Ok(shipment) => parse_shipment(shipment, &mut outcome),
            Err(err) => outcome.problem(format!("unreadable shipment: {err}")),
        }
    }
    Ok(outcome)
}

fn parse_shipment(shipment: Shipment<'_>, outcome: &mut ParseOutcome) {
    let number = shipment.shipment_tracking_number.into_owned();
    let mut events = Vec::with_capacity(shipment.events.len());
    for checkpoint in shipment.events {
        let Some((instant, note)) = checkpoint_instant(&checkpoint) else {
            outcome.problem_for(
                &number,
                format!(
                    "checkpoint time `{} {}` is unreadable",
                    checkpoint.date, checkpoint.time
                ),
            );
            continue;
        };
        if let Some(message) = note {
            outcome.problem_for(&number, message);
        }
        let (status, sub_status) = map_type_code(&checkpoint.type_code);
        let location = checkpoint
            .service_area
            .first()
            .and_then(|a| a.description.as_deref())
            .filter(|d| !d.trim().is_empty())
            .map(str::to_owned);
        let description = checkpoint.description.trim().to_owned();
        let key = dedupe_key(&[
            &instant.utc.to_rfc3339(),
            &checkpoint.type_code,
            &description,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            checkpoint.type_code.into_owned(),
            description,
            location,
            key,
        ));
    }
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery: shipment
            .estimated_time_of_delivery
            .as_deref()
            .and_then(|t| {
                Instant::parse_rfc3339(t).map(|i| i.utc).or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
                        .ok()
                        .map(|n| n.and_utc())
                })
            }),
        events,
    });
}

impl CarrierAdapter for MyDhlAdapter {
    fn kind(&self) -> &'static str {
        "mydhl"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.api_key.is_some() && self.config.api_secret.is_some(),
            poll_batch_size: 1,
        }
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        use base64::Engine as _;
        let (Some(key), Some(secret)) = (&self.config.api_key, &self.config.api_secret) else {
            return Err(ParseError::NotSupported(
                "polling without api_key and api_secret",
            ));
        };
        let number = crate::common::single_number_in_path(targets)?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
        let base = self
            .config
            .base_url
            .as_deref()
            .unwrap_or("https://express.api.dhl.com/mydhlapi");
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: crate::oauth::join(
                base,
                &format!(
                    "/shipments/{number}/tracking?trackingView=all-checkpoints&levelOfDetail=all"
                ),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_shipment_is_one_problem_and_the_others_read() {
        let body = br#"{"shipments":[
            {"events":[]},
            {"shipmentTrackingNumber":"123","events":[{"date":"2026-11-20","time":"10:00:00",
              "GMTOffset":"+01:00","typeCode":"OK","description":"Delivered"}]}]}"#;
        let outcome = parse_poll(body).unwrap();
        assert_eq!(outcome.updates.len(), 1);
        assert_eq!(outcome.updates[0].events[0].status, Status::Delivered);
        assert_eq!(outcome.problems.len(), 1);
        assert!(
            outcome.problems[0]
                .message
                .starts_with("unreadable shipment")
        );
        // A problem document: only text counts.
        let problem = br#"{"title":404,"detail":"No shipment found"}"#;
        assert_eq!(
            parse_poll(problem).unwrap_err(),
            ParseError::CarrierError(": No shipment found".into())
        );
    }
}
