//! `royalmail`: Royal Mail's Tracking API v2 (`GET /mailpieces/v2/{id}/events`, one item a
//! request, headers `X-IBM-Client-Id`, `X-IBM-Client-Secret` and `X-Accept-RMG-Terms: yes`).
//!
//! Events carry Royal Mail's `eventCode` (`EVNMI`, `EVKSP`…); only the codes below are mapped,
//! others stay `unknown` with the code kept. `summary.statusCategory` is the current status,
//! applied at the newest event. Times come with their offset. Errors (`httpCode`, `errors[]`)
//! are carrier errors.

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Status, TrackingEvent, TrackingUpdate, dedupe_key,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoyalMailConfig {
    /// The IBM client id.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_id: Option<String>,
    /// Secret: the IBM client secret.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub client_secret: Option<String>,
    /// `https://api.royalmail.net` by default.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RoyalMailAdapter {
    config: RoyalMailConfig,
}

impl RoyalMailAdapter {
    pub fn new(config: RoyalMailConfig) -> Self {
        RoyalMailAdapter { config }
    }
}

/// (status, sub_status) for an `eventCode`.
pub fn map_event_code(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match code.trim() {
        "EVAIP" | "EVAIE" => (PickedUp, None),
        "EVNMI" => (InTransit, Some("mis_sort_forwarded")),
        "EVDAV" | "EVDAC" => (InTransit, Some("at_delivery_office")),
        "EVKOP" => (OutForDelivery, None),
        "EVKSP" | "EVKSF" | "EVKLS" => (Delivered, None),
        "EVNRT" => (Returning, None),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

/// (status, sub_status) for `summary.statusCategory`.
pub fn map_status_category(category: &str) -> (Status, Option<String>) {
    let status = match category.trim().to_ascii_uppercase().as_str() {
        "IN TRANSIT" => Status::InTransit,
        "DELIVERED" => Status::Delivered,
        "AWAITING COLLECTION" | "READY FOR COLLECTION" => Status::AvailableForPickup,
        "RETURNED" | "RETURN TO SENDER" => Status::Returning,
        _ => Status::Unknown,
    };
    (status, None)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(default)]
    event_code: String,
    #[serde(default)]
    event_name: String,
    #[serde(default)]
    event_date_time: String,
    #[serde(default)]
    location_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    #[serde(default)]
    status_category: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Estimate {
    date: Option<String>,
    end_of_estimated_window: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailPiece {
    mail_piece_id: String,
    #[serde(default)]
    summary: Option<Summary>,
    #[serde(default)]
    estimated_delivery: Option<Estimate>,
    #[serde(default)]
    events: Vec<Event>,
}

/// The end of the estimated window (`date` + `endOfEstimatedWindow` with its offset), or the
/// end of that day in UTC when no window is given.
fn estimate(estimate: &Estimate) -> Option<chrono::DateTime<chrono::Utc>> {
    let date = NaiveDate::parse_from_str(estimate.date.as_deref()?.trim(), "%Y-%m-%d").ok()?;
    if let Some(end) = estimate.end_of_estimated_window.as_deref()
        && let Some(instant) = Instant::parse_rfc3339(&format!("{date}T{}", end.trim()))
    {
        return Some(instant.utc);
    }
    Some(
        date.and_time(NaiveTime::from_hms_opt(23, 59, 59)?)
            .and_utc(),
    )
}

/// Parse an events answer, or Royal Mail's error envelope (a carrier error).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let value: serde_json::Value = crate::common::json(body)?;
    let Some(piece) = value.get("mailPieces").cloned() else {
        let text = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned()
        };
        let details: Vec<String> = value
            .get("errors")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
            .map(|e| format!("{} {}", text(e, "errorCode"), text(e, "errorDescription")))
            .collect();
        return Err(ParseError::CarrierError(format!(
            "{} {}: {}",
            text(&value, "httpCode"),
            text(&value, "httpMessage"),
            details.join("; ")
        )));
    };
    let piece: MailPiece = serde_json::from_value(piece)
        .map_err(|err| ParseError::Body(format!("unreadable mail piece: {err}")))?;
    let mut outcome = ParseOutcome::default();
    let number = piece.mail_piece_id;
    let mut events = Vec::with_capacity(piece.events.len());
    for event in piece.events {
        let Some(instant) = Instant::parse_rfc3339(&event.event_date_time) else {
            outcome.problem_for(
                &number,
                format!("eventDateTime `{}` is not RFC 3339", event.event_date_time),
            );
            continue;
        };
        let (status, sub_status) = map_event_code(&event.event_code);
        let location = event.location_name.filter(|l| !l.trim().is_empty());
        let key = dedupe_key(&[
            &instant.utc.to_rfc3339(),
            &event.event_code,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            event.event_code,
            event.event_name.trim().to_owned(),
            location,
            key,
        ));
    }
    if let Some(category) = piece.summary.and_then(|s| s.status_category) {
        let (status, sub_status) = map_status_category(&category);
        crate::apply_current_status(&mut events, status, sub_status);
    }
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery: piece.estimated_delivery.as_ref().and_then(estimate),
        events,
    });
    Ok(outcome)
}

impl CarrierAdapter for RoyalMailAdapter {
    fn kind(&self) -> &'static str {
        "royalmail"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.client_id.is_some() && self.config.client_secret.is_some(),
            poll_batch_size: 1,
        }
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let (Some(id), Some(secret)) = (&self.config.client_id, &self.config.client_secret) else {
            return Err(ParseError::NotSupported(
                "polling without client_id and client_secret",
            ));
        };
        let number = crate::common::single_number_in_path(targets)?;
        let base = self
            .config
            .base_url
            .as_deref()
            .unwrap_or("https://api.royalmail.net");
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: crate::oauth::join(base, &format!("/mailpieces/v2/{number}/events")),
            headers: vec![
                ("x-ibm-client-id".into(), id.clone()),
                ("x-ibm-client-secret".into(), secret.clone()),
                ("x-accept-rmg-terms".into(), "yes".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: None,
        })
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        parse_poll(body)
    }
}
