//! `royalmail`: Royal Mail's Tracking API v2 (`GET /mailpieces/v2/{id}/events`, one item a
//! request, headers `X-IBM-Client-Id`, `X-IBM-Client-Secret` and `X-Accept-RMG-Terms: yes`).
//!
//! Events carry Royal Mail's `eventCode` (`EVNMI`, `EVKSP`…); only the codes below are mapped,
//! others stay `unknown` with the code kept. `summary.statusCategory` is the current status,
//! applied at the newest event. Times come with their offset. Errors (`httpCode`, `errors[]`)
//! are carrier errors.

use std::borrow::Cow;

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::lenient::RawList;

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

// The answer's types borrow from the body; a mail piece is read whole (one bad event makes the
// piece unreadable, as it always did).

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(default, borrow)]
    event_code: Cow<'a, str>,
    #[serde(default, borrow)]
    event_name: Cow<'a, str>,
    #[serde(default, borrow)]
    event_date_time: Cow<'a, str>,
    #[serde(default, borrow)]
    location_name: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    #[serde(default, borrow)]
    status_category: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Estimate<'a> {
    #[serde(borrow)]
    date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    end_of_estimated_window: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailPiece<'a> {
    #[serde(borrow)]
    mail_piece_id: Cow<'a, str>,
    #[serde(default, borrow)]
    summary: Option<Summary<'a>>,
    #[serde(default, borrow)]
    estimated_delivery: Option<Estimate<'a>>,
    #[serde(default, borrow)]
    events: Vec<Event<'a>>,
}

/// The usual answer, read in one pass.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Strict<'a> {
    #[serde(borrow)]
    mail_pieces: MailPiece<'a>,
}

/// Any other answer: a mail piece that does not read, or the error envelope.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    #[serde(default, borrow, deserialize_with = "crate::lenient::present")]
    mail_pieces: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    http_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    http_message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    errors: RawList<'a>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorText<'a> {
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    error_code: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::lenient::text_only")]
    error_description: Option<Cow<'a, str>>,
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
    let piece = match crate::common::json::<Strict>(body) {
        Ok(strict) => strict.mail_pieces,
        Err(_) => mail_piece_or_error(body)?,
    };
    let mut outcome = ParseOutcome::default();
    let number = piece.mail_piece_id.into_owned();
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
        let location = event
            .location_name
            .filter(|l| !l.trim().is_empty())
            .map(Cow::into_owned);
        let key = dedupe_key(&[
            &instant.utc.to_rfc3339(),
            &event.event_code,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            event.event_code.into_owned(),
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

/// The answer the one-pass read refused: its mail piece with the reason it does not read, or
/// the error envelope.
fn mail_piece_or_error(body: &[u8]) -> Result<MailPiece<'_>, ParseError> {
    let answer: Answer = crate::lenient::answer(body)?;
    let Some(piece) = answer.mail_pieces else {
        let text = |t: &Option<Cow<str>>| t.as_deref().unwrap_or("").to_owned();
        let details: Vec<String> = answer
            .errors
            .0
            .into_iter()
            .flatten()
            .map(|raw| crate::lenient::object::<ErrorText>(raw).unwrap_or_default())
            .map(|e| format!("{} {}", text(&e.error_code), text(&e.error_description)))
            .collect();
        return Err(ParseError::CarrierError(format!(
            "{} {}: {}",
            text(&answer.http_code),
            text(&answer.http_message),
            details.join("; ")
        )));
    };
    serde_json::from_str(piece.get())
        .map_err(|err| ParseError::Body(format!("unreadable mail piece: {err}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_other_than_a_mail_piece_read_as_they_did_from_a_tree() {
        // Only text counts as text in the envelope; an error that is not an object is blank.
        let envelope = br#"{"httpCode":400,"httpMessage":"Bad","errors":["x",{"errorCode":"E1","errorDescription":"d"}]}"#;
        assert_eq!(
            parse_poll(envelope).unwrap_err(),
            ParseError::CarrierError(" Bad:  ; E1 d".into())
        );
        // A mail piece that is there but does not read is a body error, null included.
        for piece in ["null", r#"{"events":[]}"#] {
            let body = format!(r#"{{"mailPieces":{piece}}}"#);
            assert!(matches!(
                parse_poll(body.as_bytes()),
                Err(ParseError::Body(m)) if m.starts_with("unreadable mail piece")
            ));
        }
        assert_eq!(
            parse_poll(b"[]").unwrap_err(),
            ParseError::CarrierError(" : ".into())
        );
    }
}
