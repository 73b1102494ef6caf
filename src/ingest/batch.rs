//! A batch of tracking updates applied in one transaction with a fixed number of statements.
//!
//! Read: lock the batch's shipments and learn which have a push pending (one statement), read
//! their events' keys and status facts (one). Apply every update in memory ([`super::apply`]),
//! in arrival order per shipment. Write: the new events, the changed shipments (an upsert),
//! the outbox rows and, with the embedded queue, their task rows — so a push is queued by the
//! very commit that wrote it, with no "enqueued" mark afterwards — plus the caller's webhook
//! outcomes: one statement on PostgreSQL ([`Writes`]), one each elsewhere. The statements do
//! not grow with the batch; a webhook's share of them falls as the load rises.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::DatabaseTransaction;
use trackgate_carriers::TrackingUpdate;

use super::IngestReport;
use super::apply::{Origin, Working, apply_update};
use crate::push::push_task;
use crate::queue::Task;
use crate::store::batch::Writes;
use crate::store::entities::push_outbox;
use crate::store::states::TaskKind;
use crate::store::{Store, StoreError};

/// One update of the batch: where it came from, and the report (by index) it counts into.
pub(super) struct Item<'a> {
    pub origin: Origin<'a>,
    pub update: &'a TrackingUpdate,
    pub report: usize,
}

/// Where a batch's pushes go after its commit.
#[derive(Debug, Default)]
pub(super) struct Queued {
    /// Push tasks to put on the queue now that the batch has committed (RabbitMQ); empty when
    /// the batch wrote their task rows itself (embedded queue).
    pub to_enqueue: Vec<Task>,
    /// Whether task rows were written in the transaction (wake the embedded queue's workers).
    pub wrote_tasks: bool,
}

/// Apply `items` inside `txn`: read (and lock) with two statements, apply in memory, and add
/// the writes to `writes` for the caller to send with its own (the webhooks' outcomes) before
/// it commits. `tasks_in_store`: the queue is the store's own table, so the task rows are
/// written here too. Reports get their counts and live-stream notes.
pub(super) async fn apply_batch(
    txn: &DatabaseTransaction,
    items: &[Item<'_>],
    reports: &mut [IngestReport],
    tasks_in_store: bool,
    writes: &mut Writes,
) -> Result<Queued, StoreError> {
    // Arrival order within a shipment is kept: the sort is stable.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| (items[i].origin.carrier_id, &items[i].update.tracking_number);
        key(a).cmp(&key(b))
    });
    let mut keys: Vec<(String, String)> = order
        .iter()
        .map(|&i| {
            let item = &items[i];
            (
                item.origin.carrier_id.to_owned(),
                item.update.tracking_number.clone(),
            )
        })
        .collect();
    keys.dedup();
    let locked = Store::lock_shipments(txn, &keys).await?;
    let ids: Vec<String> = locked.iter().map(|l| l.row.id.clone()).collect();
    let mut events = Store::known_events_of_shipments(txn, &ids).await?;
    let mut working: HashMap<(String, String), Working> = locked
        .into_iter()
        .map(|l| {
            let stored = events.remove(&l.row.id).unwrap_or_default();
            let key = (l.row.carrier_id.clone(), l.row.tracking_number.clone());
            (key, Working::new(l.row, stored, l.push_pending))
        })
        .collect();

    let now = Utc::now();
    let mut fresh = Vec::new();
    let mut outbox: Vec<push_outbox::Model> = Vec::new();
    let mut to_enqueue = Vec::new();
    for &i in &order {
        let item = &items[i];
        let report = &mut reports[item.report];
        let key = (
            item.origin.carrier_id.to_owned(),
            item.update.tracking_number.clone(),
        );
        let Some(shipment) = working.get_mut(&key) else {
            report.unmatched.push(item.update.tracking_number.clone());
            continue;
        };
        let effects = apply_update(shipment, item.origin, item.update, now, report)?;
        fresh.extend(effects.fresh);
        report.notes.extend(effects.note);
        outbox.extend(effects.outbox);
        to_enqueue.extend(effects.to_enqueue);
    }

    Store::insert_events(writes, fresh);
    let dirty: Vec<_> = working
        .into_values()
        .filter(|w| w.dirty)
        .map(|w| w.row)
        .collect();
    Store::write_back_shipments(writes, dirty);
    let queued: HashSet<&String> = to_enqueue.iter().collect();
    if tasks_in_store {
        // The task rows go in with the outbox rows: queued by the very commit that wrote them.
        for row in outbox.iter_mut().filter(|row| queued.contains(&row.id)) {
            row.enqueued = true;
        }
        Store::insert_outbox_rows(writes, &outbox);
        let tasks: Vec<(TaskKind, &str, u32)> = to_enqueue
            .iter()
            .map(|id| (TaskKind::Push, id.as_str(), 0))
            .collect();
        Store::insert_task_rows(writes, &tasks, now);
        return Ok(Queued {
            to_enqueue: Vec::new(),
            wrote_tasks: !tasks.is_empty(),
        });
    }
    let tasks = outbox
        .iter()
        .filter(|row| queued.contains(&row.id))
        // Only the first push of a shipment with none pending is queued here (`Effects::
        // to_enqueue`), under the shipment's lock: it is first in line.
        .map(|row| push_task(&row.id, &row.shipment_id, row.seq, &row.payload, true))
        .collect();
    Store::insert_outbox_rows(writes, &outbox);
    Ok(Queued {
        to_enqueue: tasks,
        wrote_tasks: false,
    })
}
