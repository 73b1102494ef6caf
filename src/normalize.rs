//! `trackgate normalize`: what an adapter makes of one raw carrier body, without a server.
//!
//! The body is parsed exactly as the gateway would parse it (signatures are not checked: this
//! is for inspecting payloads), updates for the same tracking number are merged, events are
//! deduplicated by their dedupe key and sorted oldest first, and each shipment's status follows
//! the same rule the store applies ([`crate::domain::status::derive_status`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use trackgate_carriers::{BodySource, CarrierKind, ParseError, ParseOutcome, TrackingEvent};

use crate::domain::status::{EventFacts, derive_status, timeline_cmp};

#[derive(Debug, Serialize)]
pub struct Normalized {
    pub shipments: Vec<NormalizedShipment>,
    pub problems: Vec<NormalizedProblem>,
}

#[derive(Debug, Serialize)]
pub struct NormalizedShipment {
    pub tracking_number: String,
    pub carrier: String,
    pub status: String,
    pub sub_status: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub events: Vec<NormalizedEvent>,
}

#[derive(Debug, Serialize)]
pub struct NormalizedEvent {
    #[serde(with = "crate::domain::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    pub status: String,
    pub sub_status: Option<String>,
    pub raw_code: String,
    pub description: String,
    pub location: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NormalizedProblem {
    pub tracking_number: Option<String>,
    pub message: String,
}

fn facts(event: &TrackingEvent) -> EventFacts<'_> {
    EventFacts {
        occurred_at: event.occurred_at,
        status: event.status,
        sub_status: event.sub_status.as_deref(),
        raw_code: &event.raw_code,
        dedupe_key: &event.dedupe_key,
    }
}

/// Parse `body` with the kind's adapter (`source` picks the webhook or the poll parser; by
/// default the webhook parser when the carrier sends webhooks) and summarize it per shipment.
pub fn normalize(
    kind: &CarrierKind,
    source: Option<BodySource>,
    body: &[u8],
) -> Result<Normalized, ParseError> {
    let source = source.unwrap_or(if kind.webhook.is_some() {
        BodySource::Webhook
    } else {
        BodySource::Poll
    });
    let adapter = kind.unconfigured();
    let mut outcome = match kind.parse_unverified(adapter.as_ref(), source, body) {
        Ok(outcome) => outcome,
        Err(ParseError::CarrierError(message)) if source == BodySource::Poll => {
            // The carrier's own error answer is a body we understood: it is reported, not a
            // failure of the tool (the poller, by contrast, retries it).
            ParseOutcome {
                problems: vec![trackgate_carriers::Problem {
                    tracking_number: None,
                    message: format!("carrier answered with an error: {message}"),
                }],
                ..Default::default()
            }
        }
        Err(err) => return Err(err),
    };
    // Numbers as the gateway keeps them (what a lookup or a registration matches).
    kind.numbers.canonicalize_outcome(&mut outcome);
    Ok(summarize(kind.kind, outcome))
}

fn summarize(kind: &str, outcome: ParseOutcome) -> Normalized {
    let mut merged: BTreeMap<String, (Option<DateTime<Utc>>, Vec<TrackingEvent>)> = BTreeMap::new();
    let mut order = Vec::new();
    for update in outcome.updates {
        let entry = merged
            .entry(update.tracking_number.clone())
            .or_insert_with(|| {
                order.push(update.tracking_number.clone());
                (None, Vec::new())
            });
        entry.0 = update.estimated_delivery.or(entry.0);
        for event in update.events {
            if !entry.1.iter().any(|e| e.dedupe_key == event.dedupe_key) {
                entry.1.push(event);
            }
        }
    }
    let shipments = order
        .into_iter()
        .map(|number| {
            let (estimated_delivery, mut events) =
                merged.remove(&number).expect("every number was merged");
            events.sort_by(|a, b| timeline_cmp(&facts(a), &facts(b)));
            let derived = derive_status(events.iter().map(facts));
            NormalizedShipment {
                tracking_number: number,
                carrier: kind.to_owned(),
                status: derived.status.as_str().to_owned(),
                sub_status: derived.sub_status,
                delivered_at: derived.delivered_at,
                estimated_delivery,
                events: events
                    .into_iter()
                    .map(|e| NormalizedEvent {
                        occurred_at: e.occurred_at,
                        status: e.status.as_str().to_owned(),
                        sub_status: e.sub_status,
                        raw_code: e.raw_code,
                        description: e.description,
                        location: e.location,
                    })
                    .collect(),
            }
        })
        .collect();
    let problems = outcome
        .problems
        .into_iter()
        .map(|p| NormalizedProblem {
            tracking_number: p.tracking_number,
            message: p.message,
        })
        .collect();
    Normalized {
        shipments,
        problems,
    }
}
