//! Pushing status changes to the mall: the tail of the pipeline (intake → ingest → push).
//!
//! Ingest writes an outbox row and, after its commit, hands it here ([`enqueue_new_many`]): a
//! `push` task carrying the row's id goes on the queue. A worker ([`worker`]) reloads the row,
//! POSTs its stored payload signed per Standard Webhooks ([`sender`]), records the attempt,
//! and then acks (2xx), stops (410), retries with `domain::retry`'s delay, or dead-letters the
//! task. Delivery is at least once: the mall dedupes on `webhook-id` and orders by `sequence`.
//! Rows that never reached the queue are relayed ([`relay_unenqueued`]); dead letters are listed
//! and replayed through [`dead_letters`].

pub mod dead_letters;
pub mod payload;
mod sender;
mod worker;

pub use sender::{MallClient, MallClientError, SendOutcome};
pub use worker::PushWorker;

use crate::queue::{Queue, Task, TaskKind};
use crate::store::{Store, StoreError};

/// Hand a freshly committed outbox row to the queue. A failure is logged, not returned: the
/// row stays `enqueued = false` and the relay picks it up, so the caller's write still stands.
pub async fn enqueue_new(store: &Store, queue: &Queue, outbox_id: &str) {
    let task = Task {
        kind: TaskKind::Push,
        ref_id: outbox_id.to_owned(),
        attempt: 0,
    };
    match queue.enqueue(task, std::time::Duration::ZERO).await {
        Ok(()) => {
            if let Err(err) = store.mark_enqueued(outbox_id).await {
                tracing::warn!(outbox_id, error = %err, "push enqueued but not marked; it may be sent twice");
            }
        }
        Err(err) => {
            tracing::warn!(outbox_id, error = %err, "push not enqueued yet; the relay will retry")
        }
    }
}

/// [`enqueue_new`] for many rows at once: one queue call and one store update for all.
pub async fn enqueue_new_many(store: &Store, queue: &Queue, outbox_ids: &[String]) {
    match outbox_ids {
        [] => return,
        [one] => return enqueue_new(store, queue, one).await,
        _ => {}
    }
    let tasks = outbox_ids
        .iter()
        .map(|id| Task {
            kind: TaskKind::Push,
            ref_id: id.clone(),
            attempt: 0,
        })
        .collect();
    match queue.enqueue_many(tasks).await {
        Ok(()) => {
            if let Err(err) = store.mark_enqueued_many(outbox_ids).await {
                tracing::warn!(count = outbox_ids.len(), error = %err, "pushes enqueued but not marked; they may be sent twice");
            }
        }
        Err(err) => {
            tracing::warn!(count = outbox_ids.len(), error = %err, "pushes not all enqueued yet; the relay will retry")
        }
    }
}

/// Enqueue pending outbox rows that never reached the queue (committed, then the process died
/// before the enqueue). Runs at start-up and every 10 s; rows younger than 15 s are left to the
/// enqueue that is probably still under way.
pub async fn relay_unenqueued(store: &Store, queue: &Queue) -> Result<usize, StoreError> {
    let ids = store
        .unenqueued_outbox_ids(std::time::Duration::from_secs(15), 500)
        .await?;
    for id in &ids {
        enqueue_new(store, queue, id).await;
    }
    Ok(ids.len())
}
