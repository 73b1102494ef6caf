//! A change the mall should know and its push-outbox row, written inside the transaction that
//! made it.
//!
//! Used by the update path ([`super::apply`]) and by expiry ([`super::expire`]): both bump the
//! shipment's sequence under its row lock and write the row the push worker will send.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};
use trackgate_carriers::Status;

use crate::domain::ids::new_message_id;
use crate::domain::status::DerivedStatus;
use crate::live::Note;
use crate::push::payload::{PushEvent, PushKind, PushPayload};
use crate::store::StoreError;
use crate::store::entities::{push_outbox, shipment};
use crate::store::states::OutboxState;

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
    /// The row's id (the push's `webhook-id`) when it is the shipment's earliest pending push,
    /// to be enqueued; `None` when an earlier push is still pending: this one waits for it, and
    /// that push's settlement enqueues it (the outbox relay if that fails).
    pub to_enqueue: Option<String>,
    /// What to announce to live streams.
    pub note: Note,
}

/// Write the push-outbox row of a change inside the caller's transaction.
pub(super) async fn write_outbox(
    txn: &DatabaseTransaction,
    change: StatusChange<'_>,
    now: DateTime<Utc>,
) -> Result<Written, StoreError> {
    // The shipment row is locked by the caller, so no push of it is written concurrently.
    let earlier_pending: Option<String> = push_outbox::Entity::find()
        .select_only()
        .column(push_outbox::Column::Id)
        .filter(push_outbox::Column::ShipmentId.eq(&change.shipment.id))
        .filter(push_outbox::Column::State.eq(OutboxState::Pending))
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
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
    push_outbox::ActiveModel {
        id: Set(id.clone()),
        shipment_id: Set(change.shipment.id.clone()),
        seq: Set(change.sequence),
        payload: Set(payload),
        state: Set(OutboxState::Pending),
        attempts: Set(0),
        enqueued: Set(false),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(Written {
        to_enqueue: earlier_pending.is_none().then_some(id),
        note: Note {
            shipment_id: change.shipment.id.clone(),
            order_id: change.shipment.order_id.clone(),
            sequence: change.sequence,
        },
    })
}
