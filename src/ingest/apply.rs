//! Applying one tracking update inside a transaction: the heart of the write path, shared by
//! the per-update [`super::ingest_polled`] and the batched [`super::ingest_webhooks`].
//!
//! The steps: lock the shipment, read its events once, insert the new ones with one statement,
//! re-derive the status from the whole set, and write the outbox row of what changed
//! ([`super::change`]): a status change, or new events without one.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, NotSet, QueryFilter,
    QuerySelect, Set,
};
use trackgate_carriers::TrackingUpdate;

use super::IngestReport;
use super::change::{StatusChange, write_outbox};
use crate::domain::status::derive_status;
use crate::push::payload::{PushEvent, PushKind};
use crate::store::StoreError;
use crate::store::entities::{shipment, tracking_event};
use crate::store::shipments::facts;
use crate::store::states::EventSource;

/// Where an update came from, stamped on every event it brings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin<'a> {
    pub carrier_id: &'a str,
    pub source: EventSource,
    pub inbound_webhook_id: Option<i64>,
}

/// Apply one tracking update inside the caller's transaction: lock the shipment, insert the
/// new events, re-derive the status and, on a change, write the outbox row. Returns the outbox
/// row's id when it is to be enqueued once the caller has committed (it is the shipment's
/// earliest pending push).
pub(super) async fn apply_update(
    txn: &DatabaseTransaction,
    origin: Origin<'_>,
    update: &TrackingUpdate,
    report: &mut IngestReport,
) -> Result<Option<String>, StoreError> {
    let Some(found) = lock_shipment(txn, origin.carrier_id, &update.tracking_number).await? else {
        report.unmatched.push(update.tracking_number.clone());
        return Ok(None);
    };
    let now = Utc::now();
    // The shipment is locked, so the events read now are all there are until we commit.
    let mut events = tracking_event::Entity::find()
        .filter(tracking_event::Column::ShipmentId.eq(&found.id))
        .all(txn)
        .await?;
    let fresh = new_events(&found, origin, update, &events, now, report);
    insert_events(txn, &fresh).await?;
    report.events_inserted += fresh.len();
    let eta_changed = update.estimated_delivery.is_some()
        && update.estimated_delivery != found.estimated_delivery;
    let webhook_at = (origin.source == EventSource::Webhook).then_some(now);
    // The courier an aggregator names becomes the shipment's code when the mall gave none.
    let learned_carrier_code = match (&found.carrier_code, &update.courier) {
        (None, Some(code)) => Some(code.clone()),
        _ => None,
    };
    if fresh.is_empty() && !eta_changed {
        if webhook_at.is_some() || learned_carrier_code.is_some() {
            let mut quiet = shipment::Entity::update_many();
            if let Some(at) = webhook_at {
                // The carrier is pushing for this shipment: polls become a safety net.
                quiet = quiet.col_expr(shipment::Column::LastWebhookAt, Expr::value(at));
            }
            if let Some(code) = learned_carrier_code {
                quiet = quiet.col_expr(shipment::Column::CarrierCode, Expr::value(code));
            }
            quiet
                .filter(shipment::Column::Id.eq(&found.id))
                .exec(txn)
                .await?;
        }
        return Ok(None);
    }
    if !fresh.is_empty() {
        report.changed.push(update.tracking_number.clone());
    }
    let inserted: HashSet<String> = fresh.iter().map(|e| e.dedupe_key.clone()).collect();
    events.extend(fresh);
    let advance = Advance {
        learned_carrier_code,
        estimated_delivery: update.estimated_delivery,
        inserted,
        webhook_at,
        now,
    };
    advance_shipment(txn, found, events, advance, report).await
}

/// Lock the shipment row: concurrent updates of one shipment take turns, so each derives the
/// status from every committed event and sequences never repeat (`FOR UPDATE` on PostgreSQL
/// and MySQL; SQLite has a single writer anyway and ignores the clause).
async fn lock_shipment(
    txn: &DatabaseTransaction,
    carrier_id: &str,
    tracking_number: &str,
) -> Result<Option<shipment::Model>, StoreError> {
    Ok(shipment::Entity::find()
        .filter(shipment::Column::CarrierId.eq(carrier_id))
        .filter(shipment::Column::TrackingNumber.eq(tracking_number))
        .lock_exclusive()
        .one(txn)
        .await?)
}

/// The update's events whose key is neither stored nor earlier in this update.
fn new_events(
    found: &shipment::Model,
    origin: Origin<'_>,
    update: &TrackingUpdate,
    stored: &[tracking_event::Model],
    now: DateTime<Utc>,
    report: &mut IngestReport,
) -> Vec<tracking_event::Model> {
    let mut known: HashSet<&str> = stored.iter().map(|e| e.dedupe_key.as_str()).collect();
    let mut fresh = Vec::new();
    for event in &update.events {
        if !known.insert(event.dedupe_key.as_str()) {
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
            status: event.status.into(),
            sub_status: event.sub_status.clone(),
            raw_code: event.raw_code.clone(),
            description: event.description.clone(),
            location: event.location.clone(),
            source: origin.source,
            inbound_webhook_id: origin.inbound_webhook_id,
            received_at: now,
        });
    }
    fresh
}

/// One statement for all new events; the unique index stays the last line of defence.
async fn insert_events(
    txn: &DatabaseTransaction,
    fresh: &[tracking_event::Model],
) -> Result<(), StoreError> {
    if fresh.is_empty() {
        return Ok(());
    }
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
    Ok(())
}

/// What moved a shipment, besides its events.
struct Advance {
    /// The courier's code, when this update names it and the shipment had none.
    learned_carrier_code: Option<String>,
    estimated_delivery: Option<DateTime<Utc>>,
    /// Dedupe keys of the events this update inserted (what a push carries).
    inserted: HashSet<String>,
    webhook_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

/// Re-derive the shipment's status from all its events, update the row, and write the outbox
/// row under the next sequence: a status change, or — new events (a late scan, a further scan
/// of the same status) or a new estimated delivery without one — an update, so the mall ends
/// with every event.
async fn advance_shipment(
    txn: &DatabaseTransaction,
    mut found: shipment::Model,
    mut events: Vec<tracking_event::Model>,
    advance: Advance,
    report: &mut IngestReport,
) -> Result<Option<String>, StoreError> {
    // Set before the push is written, so the push names the courier too.
    if let Some(code) = &advance.learned_carrier_code {
        found.carrier_code = Some(code.clone());
    }
    crate::store::shipments::sort_timeline(&mut events);
    let derived = derive_status(events.iter().map(facts));
    let status_changed = derived.status != found.status.0 || derived.sub_status != found.sub_status;
    let mut active: shipment::ActiveModel = found.clone().into();
    if advance.learned_carrier_code.is_some() {
        active.carrier_code = Set(found.carrier_code.clone());
    }
    active.status = Set(derived.status.into());
    active.sub_status = Set(derived.sub_status.clone());
    active.status_raw_code = Set(derived.raw_code.clone());
    active.last_event_at = Set(derived.last_event_at);
    active.delivered_at = Set(derived.delivered_at);
    if advance.estimated_delivery.is_some() {
        active.estimated_delivery = Set(advance.estimated_delivery);
    }
    active.updated_at = Set(advance.now);
    if let Some(at) = advance.webhook_at {
        active.last_webhook_at = Set(Some(at));
    }
    let kind = if status_changed {
        report.status_changes += 1;
        PushKind::StatusChanged
    } else {
        PushKind::Updated
    };
    let to_enqueue = {
        let sequence = found.push_seq + 1;
        active.push_seq = Set(sequence);
        let change = StatusChange {
            kind,
            shipment: &found,
            sequence,
            previous: found.status.0,
            derived: &derived,
            estimated_delivery: advance.estimated_delivery.or(found.estimated_delivery),
            events: events
                .iter()
                .filter(|e| advance.inserted.contains(&e.dedupe_key))
                .map(PushEvent::from_stored)
                .collect(),
        };
        let written = write_outbox(txn, change, advance.now).await?;
        report.notes.push(written.note);
        written.to_enqueue
    };
    active.update(txn).await?;
    Ok(to_enqueue)
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
            Expr::value(Option::<DateTime<Utc>>::None),
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
