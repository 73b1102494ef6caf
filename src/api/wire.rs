//! API bodies: the request and response shapes of the HTTP API, separate from storage types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trackgate_carriers::Status;

use crate::store::entities::{
    dead_letter, inbound_webhook, shipment, subscription, tracking_event,
};
use crate::store::states::{EventSource, SubscriptionState, TaskKind, WebhookOutcome};

/// `POST /v1/shipments` and each item of a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentIn {
    /// The carrier instance id from config (`[carriers.<id>]`); detected from the tracking
    /// number's format when absent.
    #[serde(default)]
    pub carrier: Option<String>,
    pub tracking_number: String,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// The carrier's code at an aggregator (Kuaidi100 `com`, e.g. `shunfeng`; a 17TRACK carrier
    /// number); detected from the number when absent.
    #[serde(default)]
    pub carrier_code: Option<String>,
    /// The sender's or recipient's phone; only its last four digits are kept (SF Express via
    /// Kuaidi100 needs them).
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    pub shipments: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct BatchItemOut {
    pub index: usize,
    /// 201 created, 200 already registered, 404/422 rejected.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct ShipmentOut {
    pub id: String,
    pub carrier: String,
    pub carrier_kind: String,
    /// Canonical: upper-case, no spaces, no dashes where the carrier's numbers have none.
    pub tracking_number: String,
    /// As the mall sent it (absent for shipments registered before it was kept).
    pub tracking_number_as_sent: Option<String>,
    pub order_id: Option<String>,
    pub status: Status,
    pub sub_status: Option<String>,
    pub raw_code: Option<String>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub tracking: bool,
    pub metadata: Option<serde_json::Value>,
    pub carrier_code: Option<String>,
    /// "ZTO Express / 中通快递": the courier as a person names it, when we know it.
    pub courier_name: Option<String>,
    pub phone_last4: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The carrier subscription, for carriers that need one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventOut>>,
}

/// Where a shipment's subscription with its carrier stands.
#[derive(Debug, Serialize)]
pub struct SubscriptionOut {
    pub state: SubscriptionState,
    pub attempts: i32,
    /// The carrier's refusal, or the last failure while retrying.
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<subscription::Model> for SubscriptionOut {
    fn from(row: subscription::Model) -> SubscriptionOut {
        SubscriptionOut {
            state: row.state,
            attempts: row.attempts,
            last_error: row.last_error,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EventOut {
    pub occurred_at: DateTime<Utc>,
    /// The local time the carrier reported, with its offset, when known.
    pub local_time: Option<String>,
    pub offset_inferred: bool,
    pub status: Status,
    pub sub_status: Option<String>,
    pub raw_code: String,
    pub description: String,
    pub location: Option<String>,
    pub source: EventSource,
}

impl ShipmentOut {
    pub fn new(model: shipment::Model, events: Option<Vec<tracking_event::Model>>) -> ShipmentOut {
        let courier_name =
            crate::push::payload::courier_name(&model.carrier_kind, model.carrier_code.as_deref());
        ShipmentOut {
            metadata: model
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok()),
            id: model.id,
            carrier: model.carrier_id,
            carrier_kind: model.carrier_kind,
            tracking_number: model.tracking_number,
            tracking_number_as_sent: model.tracking_number_as_sent,
            order_id: model.order_id,
            courier_name,
            carrier_code: model.carrier_code,
            phone_last4: model.phone_last4,
            status: model.status.0,
            sub_status: model.sub_status,
            raw_code: model.status_raw_code,
            last_event_at: model.last_event_at,
            delivered_at: model.delivered_at,
            estimated_delivery: model.estimated_delivery,
            tracking: model.tracking,
            created_at: model.created_at,
            updated_at: model.updated_at,
            events: events.map(|list| list.into_iter().map(EventOut::from).collect()),
            subscription: None,
        }
    }

    pub fn with_subscription(mut self, row: Option<subscription::Model>) -> ShipmentOut {
        self.subscription = row.map(SubscriptionOut::from);
        self
    }

    /// Each shipment with its subscription among `rows` (one query for a whole list).
    pub fn list_with_subscriptions(
        shipments: Vec<ShipmentOut>,
        rows: Vec<subscription::Model>,
    ) -> Vec<ShipmentOut> {
        let mut rows: std::collections::HashMap<String, subscription::Model> = rows
            .into_iter()
            .map(|row| (row.shipment_id.clone(), row))
            .collect();
        shipments
            .into_iter()
            .map(|out| {
                let row = rows.remove(&out.id);
                out.with_subscription(row)
            })
            .collect()
    }
}

impl From<tracking_event::Model> for EventOut {
    fn from(event: tracking_event::Model) -> EventOut {
        let local_time = event
            .utc_offset_seconds
            .and_then(chrono::FixedOffset::east_opt)
            .map(|offset| event.occurred_at.with_timezone(&offset).to_rfc3339());
        EventOut {
            occurred_at: event.occurred_at,
            local_time,
            offset_inferred: event.offset_inferred,
            status: event.status.0,
            sub_status: event.sub_status,
            raw_code: event.raw_code,
            description: event.description,
            location: event.location,
            source: event.source,
        }
    }
}

/// A dead letter, as the admin API and `trackgate dead-letters list` show it.
#[derive(Debug, Serialize)]
pub struct DeadLetterOut {
    pub id: i64,
    /// `push` (ref_id is the outbox id / webhook-id) or `poll` (ref_id is the shipment id).
    pub kind: TaskKind,
    pub ref_id: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
}

impl From<dead_letter::Model> for DeadLetterOut {
    fn from(m: dead_letter::Model) -> Self {
        DeadLetterOut {
            id: m.id,
            kind: m.kind,
            ref_id: m.ref_id,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            replayed_at: m.replayed_at,
        }
    }
}

/// A stored inbound webhook, as the admin API lists it (the body itself is not repeated).
#[derive(Debug, Serialize)]
pub struct InboundWebhookOut {
    pub id: i64,
    pub carrier: String,
    pub received_at: DateTime<Utc>,
    pub outcome: WebhookOutcome,
    pub error: Option<String>,
    /// Ingests the database refused.
    pub attempts: i32,
    pub body_bytes: usize,
    pub processed_at: Option<DateTime<Utc>>,
}

impl From<inbound_webhook::Model> for InboundWebhookOut {
    fn from(m: inbound_webhook::Model) -> Self {
        InboundWebhookOut {
            id: m.id,
            carrier: m.carrier_id,
            received_at: m.received_at,
            outcome: m.outcome,
            error: m.error,
            attempts: m.attempts,
            body_bytes: m.body.len(),
            processed_at: m.processed_at,
        }
    }
}

/// One carrier instance's figures (`GET /v1/admin/carriers`, the console's dashboard).
#[derive(Debug, Serialize)]
pub struct CarrierFiguresOut {
    pub id: String,
    pub kind: &'static str,
    pub polls: bool,
    pub webhooks: bool,
    pub batch_size: usize,
    pub requests: CarrierRequestsOut,
    pub latency_ms: LatencyOut,
    pub quota: QuotaOut,
    pub subscriptions: SubscriptionFiguresOut,
    pub backlog: BacklogOut,
}

/// Requests to the carrier by this process since it started.
#[derive(Debug, Serialize)]
pub struct CarrierRequestsOut {
    pub ok: u64,
    pub http_errors: u64,
    pub network_errors: u64,
    pub rate_limited: u64,
}

#[derive(Debug, Serialize)]
pub struct LatencyOut {
    pub count: u64,
    pub mean: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct QuotaOut {
    pub requests_per_second: u32,
    pub requests_per_day: Option<u32>,
    pub used_today: i32,
    pub left_today: Option<i64>,
    pub paused_for_secs: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionFiguresOut {
    pub needed: bool,
    pub by_state: serde_json::Map<String, serde_json::Value>,
    pub results: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
pub struct BacklogOut {
    pub due: u64,
    pub oldest_overdue_secs: Option<f64>,
}
