//! The push payload: the wire contract with the mall (documented in docs/mall-integration.md).
//!
//! It is built once, at ingest time, and stored in the outbox row, so every retry sends the same
//! bytes under the same `webhook-id`; only `webhook-timestamp` and the signature change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trackgate_carriers::Status;

use crate::domain::status::DerivedStatus;
use crate::store::entities::{shipment, tracking_event};
use crate::store::states::EventSource;

/// What a push tells the mall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PushKind {
    /// The shipment's status or sub-status changed (and these events came with the change).
    #[serde(rename = "shipment.status_changed")]
    StatusChanged,
    /// New events, or a new estimated delivery, without a change of status: a late or a
    /// further scan the mall should still have. The status fields repeat the current status.
    #[serde(rename = "shipment.updated")]
    Updated,
}

/// The body of every push (`docs/push.schema.json` is generated from this type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Push)]
pub struct PushPayload {
    /// Same as the `webhook-id` header: the mall's idempotency key.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: PushKind,
    /// Per shipment, increasing by one with each status change. Pushes of a shipment arrive in
    /// this order; apply the status of a push only when its sequence is greater than the last
    /// one applied (a replayed dead letter can come later), but keep its events either way.
    pub sequence: i64,
    pub shipment_id: String,
    pub order_id: Option<String>,
    pub carrier: String,
    pub carrier_kind: String,
    /// The courier's code at an aggregator (Kuaidi100 `com`, AfterShip slug, …): the mall's,
    /// else the one the carrier's payload named.
    #[serde(default)]
    pub carrier_code: Option<String>,
    /// "ZTO Express / 中通快递": the courier as a person names it, when we know it.
    #[serde(default)]
    pub courier_name: Option<String>,
    pub tracking_number: String,
    #[schema(value_type = crate::domain::schema::StatusName)]
    pub status: Status,
    #[schema(value_type = Option<crate::domain::schema::SubStatus>)]
    pub sub_status: Option<String>,
    #[schema(value_type = crate::domain::schema::StatusName)]
    pub previous_status: Status,
    pub raw_code: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub last_event_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub estimated_delivery: Option<DateTime<Utc>>,
    /// The events this change brought in, oldest first.
    pub events: Vec<PushEvent>,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushEvent {
    /// Stable per shipment and event (the event's dedupe key): the mall keeps events by it, so
    /// events from every push are kept, even from one whose status is stale.
    pub id: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    /// The carrier's local offset in seconds, when known; `offset_inferred` when we derived it.
    pub utc_offset_seconds: Option<i32>,
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

impl PushEvent {
    pub fn from_stored(event: &tracking_event::Model) -> PushEvent {
        PushEvent {
            id: event.dedupe_key.clone(),
            occurred_at: event.occurred_at,
            utc_offset_seconds: event.utc_offset_seconds,
            offset_inferred: event.offset_inferred,
            status: event.status.0,
            sub_status: event.sub_status.clone(),
            raw_code: event.raw_code.clone(),
            description: event.description.clone(),
            location: event.location.clone(),
            source: event.source,
        }
    }
}

/// The display name of a shipment's courier ([`trackgate_carriers::couriers`]).
pub fn courier_name(carrier_kind: &str, carrier_code: Option<&str>) -> Option<String> {
    trackgate_carriers::couriers::find(carrier_kind, carrier_code).map(|c| c.display_name())
}

impl PushPayload {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        kind: PushKind,
        sequence: i64,
        shipment: &shipment::Model,
        previous_status: Status,
        derived: &DerivedStatus,
        estimated_delivery: Option<DateTime<Utc>>,
        events: Vec<PushEvent>,
        now: DateTime<Utc>,
    ) -> PushPayload {
        PushPayload {
            id: id.to_owned(),
            kind,
            sequence,
            shipment_id: shipment.id.clone(),
            order_id: shipment.order_id.clone(),
            carrier: shipment.carrier_id.clone(),
            carrier_kind: shipment.carrier_kind.clone(),
            carrier_code: shipment.carrier_code.clone(),
            courier_name: courier_name(&shipment.carrier_kind, shipment.carrier_code.as_deref()),
            tracking_number: shipment.tracking_number.clone(),
            status: derived.status,
            sub_status: derived.sub_status.clone(),
            previous_status,
            raw_code: derived.raw_code.clone(),
            last_event_at: derived.last_event_at,
            delivered_at: derived.delivered_at,
            estimated_delivery,
            events,
            created_at: now,
        }
    }
}

impl PushPayload {
    /// Fold a shipment's pending pushes, oldest first, into the newest: its status and
    /// `sequence`, every folded push's events, `previous_status` from before the first of them,
    /// and `shipment.status_changed` if any of them changed the status. The newest keeps its id.
    pub fn fold(pending: Vec<PushPayload>) -> Option<PushPayload> {
        let previous_status = pending.first()?.previous_status;
        let changed = pending.iter().any(|p| p.kind == PushKind::StatusChanged);
        let mut events = Vec::new();
        let mut newest = None;
        for mut push in pending {
            events.append(&mut push.events);
            newest = Some(push);
        }
        let mut newest = newest?;
        events.sort_by_key(|event| event.occurred_at);
        if changed {
            newest.kind = PushKind::StatusChanged;
        }
        newest.previous_status = previous_status;
        newest.events = events;
        Some(newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::states::EventSource;

    fn push(
        sequence: i64,
        kind: PushKind,
        status: Status,
        previous: Status,
        at: &str,
    ) -> PushPayload {
        let at: DateTime<Utc> = at.parse().unwrap();
        PushPayload {
            id: format!("msg_{sequence}"),
            kind,
            sequence,
            shipment_id: "shp_1".into(),
            order_id: None,
            carrier: "sandbox".into(),
            carrier_kind: "sandbox".into(),
            carrier_code: None,
            courier_name: None,
            tracking_number: "SBX1".into(),
            status,
            sub_status: None,
            previous_status: previous,
            raw_code: None,
            last_event_at: Some(at),
            delivered_at: None,
            estimated_delivery: None,
            events: vec![PushEvent {
                id: format!("e{sequence}"),
                occurred_at: at,
                utc_offset_seconds: None,
                offset_inferred: false,
                status,
                sub_status: None,
                raw_code: "X".into(),
                description: String::new(),
                location: None,
                source: EventSource::Webhook,
            }],
            created_at: at,
        }
    }

    #[test]
    fn folding_keeps_every_event_and_the_newest_status() {
        let folded = PushPayload::fold(vec![
            push(
                3,
                PushKind::StatusChanged,
                Status::InTransit,
                Status::PickedUp,
                "2026-11-20T10:00:00Z",
            ),
            push(
                4,
                PushKind::Updated,
                Status::InTransit,
                Status::InTransit,
                "2026-11-20T09:00:00Z",
            ),
            push(
                5,
                PushKind::Updated,
                Status::InTransit,
                Status::InTransit,
                "2026-11-20T11:00:00Z",
            ),
        ])
        .unwrap();
        assert_eq!(folded.id, "msg_5");
        assert_eq!(folded.sequence, 5);
        assert_eq!(folded.kind, PushKind::StatusChanged);
        assert_eq!(folded.previous_status, Status::PickedUp);
        let ids: Vec<&str> = folded.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e4", "e3", "e5"], "every event, oldest first");
        assert!(PushPayload::fold(Vec::new()).is_none());
    }
}
