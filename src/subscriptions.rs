//! Carrier subscriptions as queue work: the hand-off after a registration or a stop commits, and
//! the relay for rows that never reached the queue. The work itself — the carrier request, the
//! answer, the row's new state — is done by the poller's HTTP side
//! (`poller::subscribe`), which owns the rate limits every carrier request goes through.

use std::time::Duration;

use crate::queue::{Queue, RelayError, Task, TaskKind};
use crate::store::Store;

/// Rows relayed per round.
const RELAY_BATCH: u64 = 1000;

/// Queue the subscription task of a shipment whose row was just committed. A failure is
/// logged, not returned: the row stays un-enqueued and the relay queues it.
pub async fn enqueue(store: &Store, queue: &Queue, shipment_id: &str) {
    match queue
        .enqueue(
            Task::first(TaskKind::Subscription, shipment_id),
            Duration::ZERO,
        )
        .await
    {
        Ok(()) => {
            if let Err(err) = store
                .mark_subscriptions_enqueued(&[shipment_id.to_owned()])
                .await
            {
                tracing::warn!(shipment_id, error = %err, "subscription queued but not marked; it may run twice");
            }
        }
        Err(err) => {
            tracing::warn!(shipment_id, error = %err, "subscription not queued yet; the relay will")
        }
    }
}

/// Queue every subscription row that wants work and is not on the queue (untouched for
/// `settle`), in rounds of [`RELAY_BATCH`]; returns how many.
pub async fn relay_unenqueued(
    store: &Store,
    queue: &Queue,
    settle: Duration,
) -> Result<usize, RelayError> {
    let mut relayed = 0;
    loop {
        let ids = store.unenqueued_subscriptions(settle, RELAY_BATCH).await?;
        if ids.is_empty() {
            return Ok(relayed);
        }
        queue
            .enqueue_many(
                ids.iter()
                    .map(|id| Task::first(TaskKind::Subscription, id))
                    .collect(),
            )
            .await?;
        store.mark_subscriptions_enqueued(&ids).await?;
        relayed += ids.len();
        if (ids.len() as u64) < RELAY_BATCH {
            return Ok(relayed);
        }
    }
}
