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

pub use sender::{MallClient, MallClientError, SendOutcome, describe_transport_error};
pub use worker::PushWorker;

use crate::queue::{Queue, Task, TaskKind};
use crate::store::Store;

/// Hand a freshly committed outbox row to the queue. A failure is logged, not returned: the
/// row stays `enqueued = false` and the relay picks it up, so the caller's write still stands.
pub async fn enqueue_new(store: &Store, queue: &Queue, outbox_id: &str) {
    let task = Task::first(TaskKind::Push, outbox_id);
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
    let tasks = first_attempts(outbox_ids);
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

/// The first-attempt push task of each outbox row.
fn first_attempts(outbox_ids: &[String]) -> Vec<Task> {
    outbox_ids
        .iter()
        .map(|id| Task::first(TaskKind::Push, id))
        .collect()
}

/// Rows relayed per round (one query, one pipelined publish, one update).
const RELAY_BATCH: u64 = 1000;

/// Enqueue pending outbox rows that are not on the queue: committed while the broker was down,
/// or the process died before the enqueue, or waiting for an earlier push whose settlement did
/// not enqueue them. Rows younger than `settle` are left to the enqueue that is probably still
/// under way. Works through the whole backlog in rounds of [`RELAY_BATCH`] at the broker's
/// speed (pipelined publishes, confirms awaited together) and returns how many it enqueued.
pub async fn relay_unenqueued(
    store: &Store,
    queue: &Queue,
    settle: std::time::Duration,
) -> Result<usize, RelayError> {
    let mut relayed = 0;
    loop {
        let ids = store.unenqueued_outbox_ids(settle, RELAY_BATCH).await?;
        if ids.is_empty() {
            return Ok(relayed);
        }
        let tasks = first_attempts(&ids);
        queue.enqueue_many(tasks).await?;
        store.mark_enqueued_many(&ids).await?;
        relayed += ids.len();
        if (ids.len() as u64) < RELAY_BATCH {
            return Ok(relayed);
        }
    }
}

pub use crate::queue::RelayError;
