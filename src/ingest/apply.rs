//! Applying tracking updates to a shipment in memory: the heart of the write path, with no I/O.
//!
//! [`super::batch`] reads a batch's shipments and events with a fixed number of statements,
//! then every update of the batch is applied here, in order, to its shipment's [`Working`]
//! copy: new events (dedupe by key), the status re-derived from the whole set by
//! [`derive_status`], the shipment's new columns and, when anything the mall should know
//! changed, the push-outbox row ([`super::change`]). Several updates of one shipment in one
//! batch apply one after another exactly as they would in separate transactions, so the
//! status rule and its property tests hold through the batch path unchanged. What the batch
//! then writes is what this module leaves behind: fresh events, dirty shipments, outbox rows.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use trackgate_carriers::TrackingUpdate;

use super::IngestReport;
use super::change::{StatusChange, outbox_row};
use crate::domain::status::derive_status;
use crate::live::Note;
use crate::push::payload::{PushEvent, PushKind};
use crate::store::StoreError;
use crate::store::entities::{push_outbox, shipment, tracking_event};
use crate::store::known_events::KnownEvent;
use crate::store::shipments::sort_timeline;
use crate::store::states::EventSource;

/// Where an update came from, stamped on every event it brings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin<'a> {
    pub carrier_id: &'a str,
    pub source: EventSource,
    pub inbound_webhook_id: Option<i64>,
}

/// A locked shipment as the batch changes it: its row, what the status rule needs of every
/// event it has (stored and new), and whether a push of it is pending (then a new push waits
/// for that one).
#[derive(Debug)]
pub(super) struct Working {
    pub row: shipment::Model,
    pub events: Vec<KnownEvent>,
    known: HashSet<String>,
    pub push_pending: bool,
    /// Whether the row must be written back.
    pub dirty: bool,
}

impl Working {
    pub fn new(row: shipment::Model, events: Vec<KnownEvent>, push_pending: bool) -> Self {
        let known = events.iter().map(|e| e.dedupe_key.clone()).collect();
        Working {
            row,
            events,
            known,
            push_pending,
            dirty: false,
        }
    }
}

/// What applying one update leaves for the batch to write.
#[derive(Debug, Default)]
pub(super) struct Effects {
    pub fresh: Vec<tracking_event::Model>,
    pub outbox: Option<push_outbox::Model>,
    /// The outbox row's id when it is the shipment's earliest pending push (to be queued).
    pub to_enqueue: Option<String>,
    pub note: Option<Note>,
}

/// Apply one update to its shipment's working copy: new events, status, the row's columns and,
/// when the mall should hear of it, the outbox row under the next sequence.
pub(super) fn apply_update(
    working: &mut Working,
    origin: Origin<'_>,
    update: &TrackingUpdate,
    now: DateTime<Utc>,
    report: &mut IngestReport,
) -> Result<Effects, StoreError> {
    let fresh = new_events(working, origin, update, now, report);
    report.events_inserted += fresh.len();
    let eta_changed = update.estimated_delivery.is_some()
        && update.estimated_delivery != working.row.estimated_delivery;
    let webhook_at = (origin.source == EventSource::Webhook).then_some(now);
    // The courier an aggregator names becomes the shipment's code when the mall gave none.
    if working.row.carrier_code.is_none()
        && let Some(code) = &update.courier
    {
        working.row.carrier_code = Some(code.clone());
        working.dirty = true;
    }
    if let Some(at) = webhook_at {
        // The carrier is pushing for this shipment: polls become a safety net.
        working.row.last_webhook_at = Some(at);
        working.dirty = true;
    }
    if fresh.is_empty() && !eta_changed {
        return Ok(Effects::default());
    }
    if !fresh.is_empty() {
        report.changed.push(update.tracking_number.clone());
    }
    working.events.extend(fresh.iter().map(KnownEvent::from));
    let derived = derive_status(working.events.iter().map(KnownEvent::facts));
    // The push lists the new events in timeline order.
    let mut pushed: Vec<&tracking_event::Model> = fresh.iter().collect();
    sort_timeline(&mut pushed);
    let before = working.row.clone();
    let status_changed =
        derived.status != before.status.0 || derived.sub_status != before.sub_status;
    let kind = if status_changed {
        report.status_changes += 1;
        PushKind::StatusChanged
    } else {
        PushKind::Updated
    };
    let sequence = before.push_seq + 1;
    let change = StatusChange {
        kind,
        shipment: &before,
        sequence,
        previous: before.status.0,
        derived: &derived,
        estimated_delivery: update.estimated_delivery.or(before.estimated_delivery),
        events: pushed.into_iter().map(PushEvent::from_stored).collect(),
    };
    let (outbox, note) = outbox_row(change, now)?;
    let row = &mut working.row;
    row.status = derived.status.into();
    row.sub_status = derived.sub_status;
    row.status_raw_code = derived.raw_code;
    row.last_event_at = derived.last_event_at;
    row.delivered_at = derived.delivered_at;
    if update.estimated_delivery.is_some() {
        row.estimated_delivery = update.estimated_delivery;
    }
    row.updated_at = now;
    row.push_seq = sequence;
    working.dirty = true;
    let to_enqueue = (!working.push_pending).then(|| outbox.id.clone());
    working.push_pending = true;
    Ok(Effects {
        fresh,
        outbox: Some(outbox),
        to_enqueue,
        note: Some(note),
    })
}

/// The update's events whose key is neither stored nor earlier in this batch.
fn new_events(
    working: &mut Working,
    origin: Origin<'_>,
    update: &TrackingUpdate,
    now: DateTime<Utc>,
    report: &mut IngestReport,
) -> Vec<tracking_event::Model> {
    let mut fresh = Vec::new();
    for event in &update.events {
        if !working.known.insert(event.dedupe_key.clone()) {
            report.duplicates += 1;
            continue;
        }
        fresh.push(tracking_event::Model {
            id: 0,
            shipment_id: working.row.id.clone(),
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
