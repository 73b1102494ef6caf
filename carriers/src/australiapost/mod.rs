//! `australiapost`: Australia Post's Shipping and Tracking API (`GET /shipping/v1/track?
//! tracking_ids=…`, up to 10 ids, HTTP Basic with the API key and password plus an
//! `account-number` header).
//!
//! Australia Post's events carry no code, only a description: their status is `unknown` (we do
//! not guess from text) and the item's `status` — the carrier's current status — is applied at
//! the newest event. Dates come with their offset. A tracking id Australia Post rejects comes
//! back with `errors` inside its result and becomes a problem for that id.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::lenient::RawList;

use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Status, TrackingEvent, TrackingUpdate, dedupe_key,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AustraliaPostConfig {
    /// Secret: the API key (Basic user name).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    /// Secret: the API password.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub password: Option<String>,
    /// The account number (`account-number` header).
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub account_number: Option<String>,
    /// `https://digitalapi.auspost.com.au` by default.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AustraliaPostAdapter {
    config: AustraliaPostConfig,
}

impl AustraliaPostAdapter {
    pub fn new(config: AustraliaPostConfig) -> Self {
        AustraliaPostAdapter { config }
    }
}

/// (status, sub_status) for an item's `status`.
pub fn map_item_status(status: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match status.trim().to_ascii_lowercase().as_str() {
        "created" | "sealed" | "initiated" => (InfoReceived, None),
        "in transit" => (InTransit, None),
        "possible delay" => (InTransit, Some("delayed")),
        "delivered" => (Delivered, None),
        "awaiting collection" => (AvailableForPickup, None),
        "unsuccessful pickup" | "held by courier" => (Exception, None),
        "cannot be delivered" => (FailedAttempt, None),
        "article damaged" => (Exception, Some("damaged")),
        "cancelled" => (Cancelled, None),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

// The answer's types borrow from the body (text without escapes is not copied); a tracking
// result is kept raw and read on its own, so one bad result is a problem, not a refusal.

#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(default, borrow)]
    description: Cow<'a, str>,
    #[serde(default, borrow)]
    date: Cow<'a, str>,
    #[serde(default, borrow)]
    location: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    article_id: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    events: Vec<Event<'a>>,
}

/// A trackable item: its `items`, or — without them — itself the article.
#[derive(Debug, Deserialize)]
struct TrackableItem<'a> {
    #[serde(default, borrow)]
    items: Option<Vec<Item<'a>>>,
}

#[derive(Debug, Deserialize)]
struct ApiError<'a> {
    #[serde(default, borrow)]
    code: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct TrackingResult<'a> {
    #[serde(borrow)]
    tracking_id: Cow<'a, str>,
    #[serde(default, borrow)]
    trackable_items: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    errors: Vec<ApiError<'a>>,
}

/// The whole answer: `tracking_results` (each kept raw), or `errors`.
#[derive(Debug, Default, Deserialize)]
struct Answer<'a> {
    #[serde(default, borrow)]
    tracking_results: RawList<'a>,
    #[serde(default, borrow)]
    errors: Option<&'a RawValue>,
}

fn error_text(errors: &[ApiError<'_>]) -> String {
    errors
        .iter()
        .map(|e| {
            let text = e.message.as_deref().or(e.name.as_deref()).unwrap_or("");
            format!("{}: {text}", e.code)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_item(item: Item<'_>, outcome: &mut ParseOutcome) {
    let number = item.article_id.into_owned();
    let mut events = Vec::with_capacity(item.events.len());
    for event in item.events {
        let Some(instant) = Instant::parse_rfc3339(&event.date) else {
            outcome.problem_for(
                &number,
                format!("event date `{}` is not RFC 3339", event.date),
            );
            continue;
        };
        let description = event.description.trim().to_owned();
        let location = event
            .location
            .filter(|l| !l.trim().is_empty())
            .map(Cow::into_owned);
        let key = dedupe_key(&[
            &instant.utc.to_rfc3339(),
            &description,
            location.as_deref().unwrap_or(""),
        ]);
        events.push(TrackingEvent {
            occurred_at: instant.utc,
            utc_offset_seconds: instant.offset_seconds,
            offset_inferred: false,
            status: Status::Unknown,
            sub_status: None,
            raw_code: String::new(),
            description,
            location,
            dedupe_key: key,
        });
    }
    if let Some(current) = item.status.as_deref() {
        let (status, sub_status) = map_item_status(current);
        crate::apply_current_status(&mut events, status, sub_status);
    }
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery: None,
        events,
    });
}

/// A tracking result's articles; `Err` when one of its trackable items cannot be read, which
/// makes the whole result unreadable.
fn articles<'a>(result: &TrackingResult<'a>) -> Result<Vec<Item<'a>>, serde_json::Error> {
    let mut articles = Vec::new();
    for raw in &result.trackable_items {
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::custom(format!(
                "a trackable item that is not an object: {}",
                raw.get()
            )));
        }
        match serde_json::from_str::<TrackableItem>(raw.get())?.items {
            Some(items) => articles.extend(items),
            None => articles.extend(serde_json::from_str::<Item>(raw.get()).ok()),
        }
    }
    Ok(articles)
}

/// Parse a track answer, or its top-level `errors` (a carrier error).
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let answer: Answer = crate::lenient::answer(body)?;
    let Some(results) = answer.tracking_results.0 else {
        let errors: Vec<ApiError> = answer
            .errors
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default();
        return Err(match errors.as_slice() {
            [] => ParseError::Body("no `tracking_results`".into()),
            errors => ParseError::CarrierError(error_text(errors)),
        });
    };
    let mut outcome = ParseOutcome::default();
    for raw in results {
        let read = serde_json::from_str::<TrackingResult>(raw.get())
            .and_then(|result| Ok((articles(&result)?, result)));
        let (articles, result) = match read {
            Ok(read) => read,
            Err(err) => {
                outcome.problem(format!("unreadable tracking result: {err}"));
                continue;
            }
        };
        if !result.errors.is_empty() {
            outcome.problem_for(&result.tracking_id, error_text(&result.errors));
        }
        articles
            .into_iter()
            .for_each(|item| parse_item(item, &mut outcome));
    }
    Ok(outcome)
}

impl CarrierAdapter for AustraliaPostAdapter {
    fn kind(&self) -> &'static str {
        "australiapost"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.api_key.is_some() && self.config.password.is_some(),
            poll_batch_size: 10,
        }
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        _token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let (Some(key), Some(password)) = (&self.config.api_key, &self.config.password) else {
            return Err(ParseError::NotSupported(
                "polling without api_key and password",
            ));
        };
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("tracking_ids", &crate::tracking_numbers(targets).join(","))
            .finish();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{password}"));
        let mut headers = vec![
            ("authorization".to_owned(), format!("Basic {basic}")),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if let Some(account) = &self.config.account_number {
            headers.push(("account-number".into(), account.clone()));
        }
        let base = self
            .config
            .base_url
            .as_deref()
            .unwrap_or("https://digitalapi.auspost.com.au");
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: crate::oauth::join(base, &format!("/shipping/v1/track?{query}")),
            headers,
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
    fn only_the_newest_event_carries_the_item_status() {
        let body = br#"{"tracking_results":[{"tracking_id":"A1","trackable_items":[{"article_id":"A1","status":"Delivered","events":[
            {"description":"Delivered","date":"2026-11-20T11:04:27+11:00","location":"KEW VIC"},
            {"description":"Onboard for delivery","date":"2026-11-20T08:34:14+11:00"}]}]}]}"#;
        let update = &parse_poll(body).unwrap().updates[0];
        assert_eq!(update.events[0].status, Status::Delivered);
        assert_eq!(update.events[1].status, Status::Unknown);
    }

    #[test]
    fn a_result_with_an_unreadable_item_is_one_problem_and_the_others_read() {
        let body = br#"{"tracking_results":[
            {"tracking_id":"A1","trackable_items":["A1"]},
            {"tracking_id":"B2","trackable_items":[{"items":[{"status":"Delivered"}]}]},
            {"tracking_id":"C3","trackable_items":[{"items":null,"article_id":"C3","events":[]}]}]}"#;
        let outcome = parse_poll(body).unwrap();
        assert_eq!(outcome.problems.len(), 2, "{:?}", outcome.problems);
        assert!(
            outcome
                .problems
                .iter()
                .all(|p| p.message.starts_with("unreadable tracking result"))
        );
        let numbers: Vec<_> = outcome
            .updates
            .iter()
            .map(|u| u.tracking_number.as_str())
            .collect();
        assert_eq!(numbers, ["C3"]);
        for body in [&b"[]"[..], b"{}", br#"{"tracking_results":{}}"#] {
            assert!(matches!(parse_poll(body), Err(ParseError::Body(_))));
        }
    }
}
