//! Expiry: a shipment silent for too long becomes `expired` through the same write path as a
//! carrier update (row lock, new sequence, outbox row, one transaction).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, QuerySelect, Set};
use trackgate_carriers::Status;

use super::change::{StatusChange, write_outbox};
use crate::domain::status::DerivedStatus;
use crate::live::Live;
use crate::queue::Queue;
use crate::store::entities::shipment;
use crate::store::{Store, StoreError};

/// Mark a shipment that has been silent too long `expired`, through the same write path as a
/// carrier update: under the shipment's row lock, with a new sequence and a push to the mall in
/// the same transaction. Returns false when it was already expired, terminal or gone. A later
/// carrier event re-derives the status from the events, so news revives an expired shipment.
pub async fn expire(
    store: &Store,
    queue: &Queue,
    live: &Live,
    shipment_id: &str,
) -> Result<bool, StoreError> {
    let txn = store.begin_write().await?;
    let Some(found) = shipment::Entity::find_by_id(shipment_id.to_owned())
        .lock_exclusive()
        .one(&txn)
        .await?
    else {
        txn.commit().await?;
        return Ok(false);
    };
    let previous = found.status.0;
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
        kind: crate::push::payload::PushKind::StatusChanged,
        shipment: &found,
        sequence,
        previous,
        derived: &derived,
        estimated_delivery: found.estimated_delivery,
        events: Vec::new(),
    };
    let written = write_outbox(&txn, change, now).await?;
    let mut active: shipment::ActiveModel = found.into();
    active.status = Set(Status::Expired.into());
    active.sub_status = Set(derived.sub_status.clone());
    active.push_seq = Set(sequence);
    active.next_poll_at = Set(None);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    txn.commit().await?;
    crate::push::enqueue_new_many(store, queue, written.to_enqueue.into_iter().collect()).await;
    live.announce(vec![written.note]);
    Ok(true)
}
