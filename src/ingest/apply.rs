//! Applying one tracking update inside a transaction: the heart of the write path, shared by
//! the per-update [`super::ingest`] and the batched [`super::ingest_webhooks`].

use chrono::Utc;
use sea_orm::sea_query::Expr;
use std::collections::HashSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, NotSet, QueryFilter,
    QuerySelect, Set,
};
use trackgate_carriers::{Status, TrackingUpdate};

use super::{IngestReport, Source};
use crate::domain::ids::new_message_id;
use crate::domain::status::{DerivedStatus, derive_status};
use crate::push::payload::{PushEvent, PushPayload};
use crate::store::StoreError;
use crate::store::entities::{push_outbox, shipment, tracking_event};
use crate::store::shipments::facts;

/// Apply one tracking update inside the caller's transaction: lock the shipment, insert the
/// new events, re-derive the status and, on a change, write the outbox row. Returns the outbox
/// row's id, to enqueue once the caller has committed.
pub(super) async fn apply_update(
    txn: &DatabaseTransaction,
    carrier_id: &str,
    source: Source,
    inbound_webhook_id: Option<i64>,
    update: TrackingUpdate,
    report: &mut IngestReport,
) -> Result<Option<String>, StoreError> {
    // FOR UPDATE (PostgreSQL): concurrent updates of one shipment take turns, so each derives
    // the status from every committed event and sequences never repeat. SQLite has a single
    // writer anyway and ignores the clause.
    let Some(found) = shipment::Entity::find()
        .filter(shipment::Column::CarrierId.eq(carrier_id))
        .filter(shipment::Column::TrackingNumber.eq(&update.tracking_number))
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        report.unmatched.push(update.tracking_number);
        return Ok(None);
    };
    let now = Utc::now();
    // The shipment is locked, so the events read now are all there are until we commit: the
    // new ones are those whose key is not among them (nor earlier in this update).
    let mut events = tracking_event::Entity::find()
        .filter(tracking_event::Column::ShipmentId.eq(&found.id))
        .all(txn)
        .await?;
    let mut known: HashSet<String> = events.iter().map(|e| e.dedupe_key.clone()).collect();
    let mut fresh = Vec::new();
    for event in &update.events {
        if !known.insert(event.dedupe_key.clone()) {
            report.duplicates += 1;
            continue;
        }
        fresh.push(tracking_event::Model {
            id: 0,
            shipment_id: found.id.clone(),
            dedupe_key: event.dedupe_key.clone(),
            occurred_at: event.occurred_at,
            utc_offset_seconds: event.utc_offset_seconds,
            offset_inferred: event.offset_inferred,
            status: event.status.as_str().to_owned(),
            sub_status: event.sub_status.clone(),
            raw_code: event.raw_code.clone(),
            description: event.description.clone(),
            location: event.location.clone(),
            source: source.as_str().to_owned(),
            inbound_webhook_id,
            received_at: now,
        });
    }
    if !fresh.is_empty() {
        // One statement for all new events; the unique index stays the last line of defence.
        let rows = fresh.iter().map(|event| {
            let mut row: tracking_event::ActiveModel = event.clone().into();
            row.id = NotSet;
            row
        });
        tracking_event::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                tracking_event::Column::ShipmentId,
                tracking_event::Column::DedupeKey,
            ])
            .exec_without_returning(txn)
            .await?;
    }
    report.events_inserted += fresh.len();
    let inserted_keys: Vec<String> = fresh.iter().map(|e| e.dedupe_key.clone()).collect();
    events.extend(fresh);
    let eta_changed = update.estimated_delivery.is_some()
        && update.estimated_delivery != found.estimated_delivery;
    if !inserted_keys.is_empty() {
        report.changed.push(update.tracking_number.clone());
    }
    let webhook_at = (source == Source::Webhook).then_some(now);
    if inserted_keys.is_empty() && !eta_changed {
        if let Some(at) = webhook_at {
            // The carrier is pushing for this shipment: polls become a safety net (schedule).
            shipment::Entity::update_many()
                .col_expr(shipment::Column::LastWebhookAt, Expr::value(at))
                .filter(shipment::Column::Id.eq(&found.id))
                .exec(txn)
                .await?;
        }
        return Ok(None);
    }

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
    if let Some(at) = webhook_at {
        active.last_webhook_at = Set(Some(at));
    }

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
        outbox_id = Some(write_outbox(txn, change, now).await?);
    }
    active.update(txn).await?;
    Ok(outbox_id)
}

/// Stop polling the registered shipments a carrier said it no longer tracks, inside the
/// caller's transaction.
pub(super) async fn stop_tracking(
    txn: &DatabaseTransaction,
    carrier_id: &str,
    numbers: &[String],
    report: &mut IngestReport,
) -> Result<(), StoreError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let tracked = shipment::Entity::find()
        .filter(shipment::Column::CarrierId.eq(carrier_id))
        .filter(shipment::Column::TrackingNumber.is_in(numbers.iter().cloned()))
        .filter(shipment::Column::Tracking.eq(true))
        .all(txn)
        .await?;
    if tracked.is_empty() {
        return Ok(());
    }
    shipment::Entity::update_many()
        .col_expr(shipment::Column::Tracking, Expr::value(false))
        .col_expr(
            shipment::Column::NextPollAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(shipment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(shipment::Column::Id.is_in(tracked.iter().map(|s| s.id.clone())))
        .exec(txn)
        .await?;
    report
        .stopped
        .extend(tracked.into_iter().map(|s| s.tracking_number));
    Ok(())
}

/// A status change to push: what the outbox row's payload says.
pub(super) struct StatusChange<'a> {
    pub shipment: &'a shipment::Model,
    pub sequence: i64,
    pub previous: Status,
    pub derived: &'a DerivedStatus,
    pub estimated_delivery: Option<chrono::DateTime<Utc>>,
    pub events: Vec<PushEvent>,
}

/// Write the push-outbox row of a status change inside the caller's transaction.
pub(super) async fn write_outbox(
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
