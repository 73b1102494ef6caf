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
use crate::domain::status::{DerivedStatus, derive_status};
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
    /// Tracking numbers that got at least one new event.
    pub changed: Vec<String>,
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
    if source == Source::Webhook {
        // The carrier is pushing for this shipment: polls become a safety net (see schedule).
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::LastWebhookAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(shipment::Column::Id.eq(&found.id))
            .exec(&txn)
            .await?;
    }
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
    if !inserted_keys.is_empty() {
        report.changed.push(update.tracking_number.clone());
    }
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
        let new_events: Vec<PushEvent> = events
            .iter()
            .filter(|e| inserted_keys.contains(&e.dedupe_key))
            .map(PushEvent::from_stored)
            .collect();
        let change = StatusChange {
            shipment: &found,
            sequence: seq,
            previous: previous_status.parse().unwrap_or(Status::Unknown),
            derived: &derived,
            estimated_delivery: update.estimated_delivery.or(found.estimated_delivery),
            events: new_events,
        };
        outbox_id = Some(write_outbox(&txn, change, now).await?);
    }
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(outbox_id)
}

/// A status change to push: what the outbox row's payload says.
struct StatusChange<'a> {
    shipment: &'a shipment::Model,
    sequence: i64,
    previous: Status,
    derived: &'a DerivedStatus,
    estimated_delivery: Option<chrono::DateTime<Utc>>,
    events: Vec<PushEvent>,
}

/// Write the push-outbox row of a status change inside the caller's transaction.
async fn write_outbox(
    txn: &sea_orm::DatabaseTransaction,
    change: StatusChange<'_>,
    now: chrono::DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = new_message_id();
    let payload = PushPayload::status_changed(
        &id,
        change.sequence,
        change.shipment,
        change.previous,
        change.derived,
        change.estimated_delivery,
        change.events,
        now,
    );
    let payload = serde_json::to_string(&payload)
        .map_err(|err| StoreError::Corrupt(format!("push payload: {err}")))?;
    push_outbox::ActiveModel {
        id: Set(id.clone()),
        shipment_id: Set(change.shipment.id.clone()),
        seq: Set(change.sequence),
        payload: Set(payload),
        state: Set(crate::push::OutboxState::Pending.as_str().to_owned()),
        attempts: Set(0),
        enqueued: Set(false),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(id)
}

/// Mark a shipment that has been silent too long `expired`, through the same write path as a
/// carrier update: under the shipment's row lock, with a new sequence and a push to the mall in
/// the same transaction. Returns false when it was already expired, terminal or gone. A later
/// carrier event re-derives the status from the events, so news revives an expired shipment.
pub async fn expire(store: &Store, queue: &Queue, shipment_id: &str) -> Result<bool, StoreError> {
    let txn = store.conn().begin().await?;
    let Some(found) = shipment::Entity::find_by_id(shipment_id.to_owned())
        .lock_exclusive()
        .one(&txn)
        .await?
    else {
        txn.commit().await?;
        return Ok(false);
    };
    let previous: Status = found.status.parse().unwrap_or(Status::Unknown);
    if previous == Status::Expired || previous.is_terminal() {
        txn.commit().await?;
        return Ok(false);
    }
    let now = Utc::now();
    let derived = DerivedStatus {
        status: Status::Expired,
        sub_status: Some("no_updates".into()),
        raw_code: found.status_raw_code.clone(),
        last_event_at: found.last_event_at,
        delivered_at: None,
    };
    let sequence = found.push_seq + 1;
    let change = StatusChange {
        shipment: &found,
        sequence,
        previous,
        derived: &derived,
        estimated_delivery: found.estimated_delivery,
        events: Vec::new(),
    };
    let outbox_id = write_outbox(&txn, change, now).await?;
    let mut active: shipment::ActiveModel = found.into();
    active.status = Set(Status::Expired.as_str().to_owned());
    active.sub_status = Set(derived.sub_status.clone());
    active.push_seq = Set(sequence);
    active.next_poll_at = Set(None);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    txn.commit().await?;
    crate::push::enqueue_new(store, queue, &outbox_id).await;
    Ok(true)
}
