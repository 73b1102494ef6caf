//! `laposte`: La Poste's Suivi v2 API (`GET /suivi/v2/idships/{ids}`, header `X-Okapi-Key`, up
//! to 10 comma-separated numbers), one API for Colissimo, Chronopost-delivered Colissimo and
//! letters (karrio's `laposte` and `colissimo` carriers both speak it).
//!
//! Each `event[]` has a La Poste code (`DR1`, `PC1`, `ET1`…`ET4`, `MD2`, `DI1`…) mapped in the
//! table below, a label and an RFC 3339 date with its offset. One number answers with an
//! object; several with an array; a number La Poste cannot find answers with its own
//! `returnCode`/`returnMessage`, which becomes a problem for that number.

use serde::Deserialize;

use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Instant, ParseError,
    ParseOutcome, PollTarget, Problem, Status, TrackingEvent, TrackingUpdate, dedupe_key,
};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LaPosteConfig {
    /// Secret: the Okapi API key.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub api_key: Option<String>,
    /// `https://api.laposte.fr` by default.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub base_url: Option<String>,
    /// `en_GB` or `fr_FR` labels.
    #[serde(default, deserialize_with = "crate::settings::optional_string")]
    pub lang: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LaPosteAdapter {
    config: LaPosteConfig,
}

impl LaPosteAdapter {
    pub fn new(config: LaPosteConfig) -> Self {
        LaPosteAdapter { config }
    }
}

/// (status, sub_status) for a La Poste event code.
pub fn map_code(code: &str) -> (Status, Option<String>) {
    use Status::*;
    let (status, sub) = match code.trim() {
        "DR1" => (InfoReceived, None),
        "PC1" | "PC2" => (PickedUp, None),
        "ET1" | "ET2" | "ET3" | "ET4" | "EP1" => (InTransit, None),
        "DO1" => (InTransit, Some("customs_entered")),
        "DO2" => (InTransit, Some("customs_cleared")),
        "DO3" => (Exception, Some("customs_held")),
        "PB1" | "PB2" => (Exception, None),
        "ND1" => (Exception, Some("undeliverable")),
        "MD2" => (OutForDelivery, None),
        "AG1" => (AvailableForPickup, None),
        "RE1" => (Returning, None),
        "DI1" => (Delivered, None),
        "DI2" => (Returned, Some("delivered_to_sender")),
        _ => (Unknown, None),
    };
    (status, sub.map(str::to_owned))
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(default)]
    code: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    date: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shipment {
    id_ship: String,
    #[serde(default)]
    event: Vec<Event>,
    #[serde(default)]
    estim_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    return_code: Option<u16>,
    #[serde(default)]
    return_message: Option<String>,
    #[serde(default)]
    id_ship: Option<String>,
    #[serde(default)]
    shipment: Option<Shipment>,
}

fn parse_answer(answer: Answer, outcome: &mut ParseOutcome) {
    let Some(shipment) = answer.shipment else {
        outcome.problems.push(Problem {
            tracking_number: answer.id_ship,
            message: format!(
                "{}: {}",
                answer.return_code.unwrap_or_default(),
                answer.return_message.unwrap_or_default()
            ),
        });
        return;
    };
    let number = shipment.id_ship;
    let mut events = Vec::with_capacity(shipment.event.len());
    for event in shipment.event {
        let Some(instant) = Instant::parse_rfc3339(&event.date) else {
            outcome.problem_for(
                &number,
                format!("event date `{}` is not RFC 3339", event.date),
            );
            continue;
        };
        let (status, sub_status) = map_code(&event.code);
        let description = event.label.trim().to_owned();
        let key = dedupe_key(&[&instant.utc.to_rfc3339(), &event.code, &description]);
        events.push(TrackingEvent::at(
            instant,
            (status, sub_status),
            event.code,
            description,
            None,
            key,
        ));
    }
    outcome.updates.push(TrackingUpdate {
        tracking_number: number,
        courier: None,
        estimated_delivery: shipment
            .estim_date
            .as_deref()
            .and_then(Instant::parse_rfc3339)
            .map(|i| i.utc),
        events,
    });
}

/// Parse an answer: one object, or an array of them for several numbers.
pub fn parse_poll(body: &[u8]) -> Result<ParseOutcome, ParseError> {
    let value: serde_json::Value = crate::common::json(body)?;
    let answers = match value {
        serde_json::Value::Array(items) => items,
        single => vec![single],
    };
    let mut outcome = ParseOutcome::default();
    for value in answers {
        match serde_json::from_value::<Answer>(value) {
            Ok(answer) => parse_answer(answer, &mut outcome),
            Err(err) => outcome.problem(format!("unreadable La Poste answer: {err}")),
        }
    }
    Ok(outcome)
}

impl CarrierAdapter for LaPosteAdapter {
    fn kind(&self) -> &'static str {
        "laposte"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: false,
            poll: self.config.api_key.is_some(),
            poll_batch_size: 10,
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
        let ids: Vec<String> = targets
            .iter()
            .map(|t| form_urlencoded::byte_serialize(t.tracking_number.as_bytes()).collect())
            .collect();
        let base = self
            .config
            .base_url
            .as_deref()
            .unwrap_or("https://api.laposte.fr");
        let lang = self.config.lang.as_deref().unwrap_or("en_GB");
        Ok(HttpRequest {
            method: HttpMethod::Get,
            url: crate::oauth::join(
                base,
                &format!("/suivi/v2/idships/{}?lang={lang}", ids.join(",")),
            ),
            headers: vec![
                ("x-okapi-key".into(), key.to_owned()),
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
    fn an_unknown_number_is_a_problem_for_that_number() {
        let outcome = parse_poll(
            br#"{"returnCode":404,"returnMessage":"Numero non trouve","idShip":"XX123"}"#,
        )
        .unwrap();
        assert!(outcome.updates.is_empty());
        assert_eq!(
            outcome.problems[0].tracking_number.as_deref(),
            Some("XX123")
        );
    }

    #[test]
    fn several_numbers_travel_comma_separated() {
        let adapter = LaPosteAdapter::new(LaPosteConfig {
            api_key: Some("okapi".into()),
            ..Default::default()
        });
        let request = adapter
            .build_poll_request(&["6A1".into(), "EW2".into()], None)
            .unwrap();
        assert_eq!(
            request.url,
            "https://api.laposte.fr/suivi/v2/idships/6A1,EW2?lang=en_GB"
        );
    }
}
