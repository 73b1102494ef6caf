//! API bodies: the request and response shapes of the HTTP API, separate from storage types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trackgate_carriers::Status;
use utoipa::ToSchema;

use crate::store::entities::{
    dead_letter, inbound_webhook, shipment, subscription, tracking_event,
};
use crate::store::states::{EventSource, SubscriptionState, TaskKind, WebhookOutcome};

/// `POST /v1/shipments` and each item of a batch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentIn {
    /// The carrier instance id from config (`[carriers.<id>]`); detected from the tracking
    /// number's format when absent.
    #[serde(default)]
    #[schema(max_length = 64, example = "sandbox")]
    pub carrier: Option<String>,
    /// As the shopper sees it: spaces and dashes are fine (each carrier's rule removes them).
    #[schema(min_length = 1, max_length = 64, example = "SBX-1000001")]
    pub tracking_number: String,
    #[serde(default)]
    #[schema(max_length = 128, example = "order-1001")]
    pub order_id: Option<String>,
    /// Anything the mall wants back in every push (a JSON object of at most 16 KiB).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The carrier's code at an aggregator (Kuaidi100 `com`, e.g. `shunfeng`; a 17TRACK carrier
    /// number); detected from the number when absent.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub carrier_code: Option<String>,
    /// The sender's or recipient's phone; only its last four digits are kept (SF Express via
    /// Kuaidi100 needs them).
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    /// Registrations as for `POST /v1/shipments`, 1 to 1000. Each item is checked on its own:
    /// a wrong one gets its own problem in the answer and does not fail the others.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 1000)]
    pub shipments: Vec<serde_json::Value>,
}

/// The answer to a batch: one result per item, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    pub results: Vec<BatchItemOut>,
}

/// Why one item of a batch was refused (the `code` and `detail` of the problem it would get
/// alone).
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemErrorOut {
    pub code: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItemOut {
    pub index: usize,
    /// 201 created, 200 already registered, 404/422 rejected.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemErrorOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentOut {
    pub id: String,
    pub carrier: String,
    pub carrier_kind: String,
    /// Canonical: upper-case, no spaces, no dashes where the carrier's numbers have none.
    pub tracking_number: String,
    /// As the mall sent it (absent for shipments registered before it was kept).
    pub tracking_number_as_sent: Option<String>,
    pub order_id: Option<String>,
    #[schema(value_type = crate::domain::schema::StatusName)]
    pub status: Status,
    #[schema(value_type = Option<crate::domain::schema::SubStatus>)]
    pub sub_status: Option<String>,
    pub raw_code: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub last_event_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub tracking: bool,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub carrier_code: Option<String>,
    /// "ZTO Express / 中通快递": the courier as a person names it, when we know it.
    pub courier_name: Option<String>,
    pub phone_last4: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// The carrier subscription, for carriers that need one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventOut>>,
}

/// Where a shipment's subscription with its carrier stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    pub state: SubscriptionState,
    pub attempts: i32,
    /// The carrier's refusal, or the last failure while retrying.
    pub last_error: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339")]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    #[serde(with = "crate::domain::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// The local time the carrier reported, with its offset, when known.
    pub local_time: Option<String>,
    pub offset_inferred: bool,
    #[schema(value_type = crate::domain::schema::StatusName)]
    pub status: Status,
    #[schema(value_type = Option<crate::domain::schema::SubStatus>)]
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
            .map(|offset| {
                crate::domain::time::format_local(&event.occurred_at.with_timezone(&offset))
            });
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
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterOut {
    pub id: i64,
    /// `push` (ref_id is the outbox id / webhook-id) or `poll` (ref_id is the shipment id).
    pub kind: TaskKind,
    pub ref_id: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundWebhookOut {
    pub id: i64,
    pub carrier: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub received_at: DateTime<Utc>,
    pub outcome: WebhookOutcome,
    pub error: Option<String>,
    /// Ingests the database refused.
    pub attempts: i32,
    pub body_bytes: usize,
    #[serde(with = "crate::domain::time::rfc3339_option")]
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
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct CarrierRequestsOut {
    pub ok: u64,
    pub http_errors: u64,
    pub network_errors: u64,
    pub rate_limited: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyOut {
    pub count: u64,
    pub mean: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaOut {
    pub requests_per_second: u32,
    pub requests_per_day: Option<u32>,
    pub used_today: i32,
    pub left_today: Option<i64>,
    pub paused_for_secs: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionFiguresOut {
    pub needed: bool,
    /// Subscriptions per state (`pending`, `active`, `failed`, …), across every process.
    pub by_state: std::collections::BTreeMap<String, i64>,
    pub results: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacklogOut {
    pub due: u64,
    pub oldest_overdue_secs: Option<f64>,
}

/// `GET /v1/shipments?order_id=`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentListOut {
    pub shipments: Vec<ShipmentOut>,
}

/// `GET /v1/track/{tracking_number}`: every shipment with that number, with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackByNumberOut {
    /// As asked.
    pub tracking_number: String,
    pub shipments: Vec<ShipmentOut>,
}

/// `GET /v1/track?order_id=`: every parcel of the order, with its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackByOrderOut {
    pub order_id: String,
    pub shipments: Vec<ShipmentOut>,
}

/// `POST /v1/shipments/{id}/refresh`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshOut {
    pub id: String,
    /// Always `queued`: the poll happens at the carrier instance's next tick.
    pub refresh: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersOut {
    pub dead_letters: Vec<DeadLetterOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboundWebhooksOut {
    pub webhooks: Vec<InboundWebhookOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CarriersOut {
    pub carriers: Vec<CarrierFiguresOut>,
}

/// `POST /v1/stream-tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamTokenOut {
    pub token: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
    pub order_id: Option<String>,
    pub shipment_ids: Vec<String>,
    /// Path and query of the SSE stream for this token.
    pub sse_path: String,
    /// Path and query of the WebSocket stream for this token.
    pub websocket_path: String,
}

/// `POST /v1/shipments/{id}/tracking-link`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingLinkOut {
    /// The public page to send to the shopper.
    pub url: String,
    pub token: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveOut {
    /// Always `ok`: the process answers.
    pub status: &'static str,
}

/// `GET /readyz`: `ok` or what is wrong, per dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyOut {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// `ok` or the error.
    pub database: String,
    /// `ok` or the error.
    pub queue: String,
    pub background_work: BackgroundWork,
}

/// `ok`, or per background part that keeps failing, since when and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BackgroundWork {
    /// Always `ok`.
    Ok(&'static str),
    /// Part name → "failing for N s (M failures): error".
    Failing(std::collections::BTreeMap<String, String>),
}
