//! A change the mall should know and its push-outbox row, written inside the transaction that
//! made it.
//!
//! Used by the update path ([`super::apply`], written by [`super::batch`]) and by expiry
//! ([`super::expire`]): both bump the shipment's sequence under its row lock and write the row
//! the push worker will send.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, DatabaseTransaction};
use trackgate_carriers::Status;

use crate::domain::ids::new_message_id;
use crate::domain::status::DerivedStatus;
use crate::live::Note;
use crate::push::payload::{PushEvent, PushKind, PushPayload};
use crate::push::push_task;
use crate::queue::Task;
use crate::store::entities::{push_outbox, shipment};
use crate::store::states::OutboxState;
use crate::store::{Store, StoreError};

/// A change to push: what the outbox row's payload says.
pub(super) struct StatusChange<'a> {
    pub kind: PushKind,
    pub shipment: &'a shipment::Model,
    pub sequence: i64,
    pub previous: Status,
    pub derived: &'a DerivedStatus,
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub events: Vec<PushEvent>,
}

/// A push-outbox row just written, for the caller to act on once it has committed.
pub(super) struct Written {
    /// The row's push task when it is the shipment's earliest pending push, to be enqueued;
    /// `None` when an earlier push is still pending: this one waits for it, and that push's
    /// settlement enqueues it (the outbox relay if that fails).
    pub to_enqueue: Option<Task>,
    /// What to announce to live streams.
    pub note: Note,
}

/// The push-outbox row of a change (not yet written) and what to announce to live streams.
pub(super) fn outbox_row(
    change: StatusChange<'_>,
    now: DateTime<Utc>,
) -> Result<(push_outbox::Model, Note), StoreError> {
    let id = new_message_id();
    let payload = PushPayload::new(
        &id,
        change.kind,
        change.sequence,
        change.shipment,
        change.previous,
        change.derived,
        change.estimated_delivery,
        change.events,
        now,
    );
    let payload = serde_json::to_string(&payload).map_err(|source| StoreError::Encode {
        what: "push payload",
        source,
    })?;
    let note = Note {
        shipment_id: change.shipment.id.clone(),
        order_id: change.shipment.order_id.clone(),
        sequence: change.sequence,
    };
    let row = push_outbox::Model {
        id,
        shipment_id: change.shipment.id.clone(),
        seq: change.sequence,
        payload,
        state: OutboxState::Pending,
        attempts: 0,
        enqueued: false,
        last_error: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    };
    Ok((row, note))
}

/// Write the push-outbox row of one change inside the caller's transaction (expiry's path; a
/// batch of updates writes its rows together in [`super::batch`]).
pub(super) async fn write_outbox(
    txn: &DatabaseTransaction,
    change: StatusChange<'_>,
    now: DateTime<Utc>,
) -> Result<Written, StoreError> {
    // The shipment row is locked by the caller, so no push of it is written concurrently.
    let earlier_pending = Store::shipments_with_pending_push(txn, [change.shipment.id.clone()])
        .await?
        .contains(&change.shipment.id);
    let (row, note) = outbox_row(change, now)?;
    // Queued only when none is pending, under the shipment's lock: first in line.
    let task = push_task(&row.id, &row.shipment_id, row.seq, &row.payload, true);
    push_outbox::ActiveModel::from(row).insert(txn).await?;
    Ok(Written {
        to_enqueue: (!earlier_pending).then_some(task),
        note,
    })
}
