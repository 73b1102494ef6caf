//! Dead letters: pushes and polls that ran out of attempts. Replay, shared by the admin API and
//! `trackgate dead-letters replay`.
//!
//! A replay gives the call a fresh attempt budget: a push keeps its outbox row, so it is sent
//! again under the same `webhook-id` (the mall dedupes); a poll polls its shipment again.

use crate::queue::{Queue, QueueError, Task, TaskKind};
use crate::store::entities::dead_letter;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no dead letter {0}")]
    NotFound(i64),
    #[error("dead letter {0} was already replayed")]
    AlreadyReplayed(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Send a dead letter again: a fresh task with a fresh attempt budget, same `webhook-id`.
/// Returns the dead letter as it is now (marked replayed).
pub async fn replay(
    store: &Store,
    queue: &Queue,
    id: i64,
) -> Result<dead_letter::Model, ReplayError> {
    let letter = store
        .dead_letter(id)
        .await?
        .ok_or(ReplayError::NotFound(id))?;
    if letter.replayed_at.is_some() {
        return Err(ReplayError::AlreadyReplayed(id));
    }
    store.reopen_dead_letter(&letter).await?;
    if letter.kind == TaskKind::Subscription
        && let Some(row) = store.subscription(&letter.ref_id).await?
    {
        // The row is `failed` after its last attempt: it wants the subscription again.
        store
            .want_subscribed_again(&letter.ref_id, &row.carrier_id)
            .await?;
    }
    let task = Task::first(letter.kind, &letter.ref_id);
    queue.enqueue(task, std::time::Duration::ZERO).await?;
    match letter.kind {
        TaskKind::Push => store.mark_enqueued(&letter.ref_id).await?,
        TaskKind::Subscription => {
            store
                .mark_subscriptions_enqueued(std::slice::from_ref(&letter.ref_id))
                .await?
        }
        TaskKind::Poll => {}
    }
    tracing::info!(dead_letter = id, kind = ?letter.kind, ref_id = %letter.ref_id, "dead letter replayed");
    store
        .dead_letter(id)
        .await?
        .ok_or(ReplayError::NotFound(id))
}
