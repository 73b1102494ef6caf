//! The one write path: every carrier update, from a poll or a webhook, is stored here.
//!
//! For each tracking update, in one transaction: find the shipment, insert its events
//! (duplicates fall away on the unique `(shipment_id, dedupe_key)` index), re-derive the status
//! from the full event set with [`crate::domain::status::derive_status`], and, when the status or
//! sub-status changed, bump the shipment's push sequence and write a push-outbox row. After the
//! commit the outbox rows are handed to the queue; if the process dies in between, the outbox
//! relay re-enqueues them at start-up (see [`crate::push::relay_unenqueued`]).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use trackgate_carriers::{ParseOutcome, Problem, Status, TrackingUpdate};

use crate::domain::ids::new_message_id;
use crate::domain::status::derive_status;
use crate::push::payload::{PushEvent, PushPayload};
use crate::queue::Queue;
use crate::store::entities::{push_outbox, shipment, tracking_event};
use crate::store::shipments::facts;
use crate::store::{Store, StoreError};

/// Where an update came from (stored on each event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Poll,
    Webhook,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Poll => "poll",
            Source::Webhook => "webhook",
        }
    }
}

/// What one ingest did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestReport {
    pub events_inserted: usize,
    pub duplicates: usize,
    pub status_changes: usize,
    /// Tracking numbers the payload mentioned that are not registered for this carrier.
    pub unmatched: Vec<String>,
    /// Registered shipments the carrier stopped tracking; they are no longer polled.
    pub stopped: Vec<String>,
    pub problems: Vec<Problem>,
}

impl IngestReport {
    /// A one-line summary for the inbound webhook's `error` column, if anything needs a human.
    pub fn trouble(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| match &p.tracking_number {
                Some(number) => format!("{number}: {}", p.message),
                None => p.message.clone(),
            })
            .collect();
        if !self.unmatched.is_empty() {
            parts.push(format!("not registered: {}", self.unmatched.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Store a parse outcome for one carrier instance and enqueue the resulting pushes.
pub async fn ingest(
    store: &Store,
    queue: &Queue,
    carrier_id: &str,
    source: Source,
    inbound_webhook_id: Option<i64>,
    outcome: ParseOutcome,
) -> Result<IngestReport, StoreError> {
    let mut report = IngestReport {
        problems: outcome.problems,
        ..Default::default()
    };
    let mut outbox_ids = Vec::new();
    for update in outcome.updates {
        match ingest_one(
            store,
            carrier_id,
            source,
            inbound_webhook_id,
            update,
            &mut report,
        )
        .await?
        {
            Some(outbox_id) => outbox_ids.push(outbox_id),
            None => continue,
        }
    }
    for number in outcome.stopped {
        if let Some(found) = store.find_shipment(carrier_id, &number).await?
            && found.tracking
        {
            store.stop_tracking(&found.id).await?;
            report.stopped.push(number);
        }
    }
    for outbox_id in outbox_ids {
        crate::push::enqueue_new(store, queue, &outbox_id).await;
    }
    Ok(report)
}

async fn ingest_one(
    store: &Store,
    carrier_id: &str,
    source: Source,
    inbound_webhook_id: Option<i64>,
    update: TrackingUpdate,
    report: &mut IngestReport,
) -> Result<Option<String>, StoreError> {
    let txn = store.conn().begin().await?;
    // FOR UPDATE (PostgreSQL): concurrent updates of one shipment take turns, so each derives
    // the status from every committed event and sequences never repeat. SQLite has a single
    // writer anyway and ignores the clause.
    let Some(found) = shipment::Entity::find()
        .filter(shipment::Column::CarrierId.eq(carrier_id))
        .filter(shipment::Column::TrackingNumber.eq(&update.tracking_number))
        .lock_exclusive()
        .one(&txn)
        .await?
    else {
        report.unmatched.push(update.tracking_number);
        return Ok(None);
    };
    let now = Utc::now();
    let mut inserted_keys = Vec::new();
    for event in &update.events {
        let row = tracking_event::ActiveModel {
            shipment_id: Set(found.id.clone()),
            dedupe_key: Set(event.dedupe_key.clone()),
            occurred_at: Set(event.occurred_at),
            utc_offset_seconds: Set(event.utc_offset_seconds),
            offset_inferred: Set(event.offset_inferred),
            status: Set(event.status.as_str().to_owned()),
            sub_status: Set(event.sub_status.clone()),
            raw_code: Set(event.raw_code.clone()),
            description: Set(event.description.clone()),
            location: Set(event.location.clone()),
            source: Set(source.as_str().to_owned()),
            inbound_webhook_id: Set(inbound_webhook_id),
            received_at: Set(now),
            ..Default::default()
        };
        let result = tracking_event::Entity::insert(row)
            .on_conflict_do_nothing_on([
                tracking_event::Column::ShipmentId,
                tracking_event::Column::DedupeKey,
            ])
            .exec_without_returning(&txn)
            .await?;
        if crate::store::inserted_rows(result) > 0 {
            report.events_inserted += 1;
            inserted_keys.push(event.dedupe_key.clone());
        } else {
            report.duplicates += 1;
        }
    }
    let eta_changed = update.estimated_delivery.is_some()
        && update.estimated_delivery != found.estimated_delivery;
    if inserted_keys.is_empty() && !eta_changed {
        txn.commit().await?;
        return Ok(None);
    }

    let mut events = tracking_event::Entity::find()
        .filter(tracking_event::Column::ShipmentId.eq(&found.id))
        .all(&txn)
        .await?;
    crate::store::shipments::sort_timeline(&mut events);
    let derived = derive_status(events.iter().map(facts));
    let status_changed =
        derived.status.as_str() != found.status || derived.sub_status != found.sub_status;

    let previous_status = found.status.clone();
    let mut active: shipment::ActiveModel = found.clone().into();
    active.status = Set(derived.status.as_str().to_owned());
    active.sub_status = Set(derived.sub_status.clone());
    active.status_raw_code = Set(derived.raw_code.clone());
    active.last_event_at = Set(derived.last_event_at);
    active.delivered_at = Set(derived.delivered_at);
    if update.estimated_delivery.is_some() {
        active.estimated_delivery = Set(update.estimated_delivery);
    }
    active.updated_at = Set(now);

    let mut outbox_id = None;
    if status_changed {
        report.status_changes += 1;
        let seq = found.push_seq + 1;
        active.push_seq = Set(seq);
        let id = new_message_id();
        let new_events: Vec<PushEvent> = events
            .iter()
            .filter(|e| inserted_keys.contains(&e.dedupe_key))
            .map(PushEvent::from_stored)
            .collect();
        let payload = PushPayload::status_changed(
            &id,
            seq,
            &found,
            previous_status.parse().unwrap_or(Status::Unknown),
            &derived,
            update.estimated_delivery.or(found.estimated_delivery),
            new_events,
            now,
        );
        let payload = serde_json::to_string(&payload)
            .map_err(|err| StoreError::Corrupt(format!("push payload: {err}")))?;
        push_outbox::ActiveModel {
            id: Set(id.clone()),
            shipment_id: Set(found.id.clone()),
            seq: Set(seq),
            payload: Set(payload),
            state: Set(crate::push::OutboxState::Pending.as_str().to_owned()),
            attempts: Set(0),
            enqueued: Set(false),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            delivered_at: Set(None),
        }
        .insert(&txn)
        .await?;
        outbox_id = Some(id);
    }
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(outbox_id)
}
