//! Pushing status changes to the mall: the tail of the pipeline (intake → ingest → push).
//!
//! Ingest writes an outbox row and its `push` task: in the same transaction with the embedded
//! queue, or after its commit with RabbitMQ ([`enqueue_new_many`]). The task carries the row's
//! id, shipment, sequence and payload, so a worker ([`worker`]) only checks that the row is
//! still its shipment's earliest pending push, POSTs the payload signed per Standard Webhooks
//! ([`sender`]), records the attempt with those of the pushes finishing at the same moment
//! ([`recorder`]), and then acks (2xx), stops (410), retries with `domain::retry`'s delay, or
//! dead-letters the task. Delivery is at least once: the mall dedupes on `webhook-id` and orders by `sequence`.
//! Rows that never reached the queue are relayed ([`relay_unenqueued`]); dead letters are listed
//! and replayed through [`dead_letters`].

pub mod dead_letters;
pub mod payload;
mod recorder;
mod sender;
mod worker;

pub use sender::{MallClient, MallClientError, SendOutcome, describe_transport_error};
pub use worker::PushWorker;

use crate::queue::{PushTicket, Queue, Task, TaskKind};
use crate::store::Store;

/// Hand freshly committed outbox rows to the queue (their tasks, each carrying its payload):
/// one queue call for all, and their "enqueued" mark a moment later, only for those not
/// delivered by then ([`crate::store::marks`]). A failure is logged, not returned: the rows
/// stay `enqueued = false` and the relay picks them up, so the caller's write still stands.
/// (With the embedded queue, ingest writes the task rows in its own transaction instead.)
pub async fn enqueue_new_many(store: &Store, queue: &Queue, tasks: Vec<Task>) {
    if tasks.is_empty() {
        return;
    }
    let ids: Vec<String> = tasks.iter().map(|task| task.ref_id.clone()).collect();
    // Before the publish: whatever touches a row after this (an attempt, a wait) is newer.
    let published_at = chrono::Utc::now();
    match queue.enqueue_many(tasks).await {
        Ok(()) => store.mark_enqueued_later(ids, published_at).await,
        Err(err) => {
            tracing::warn!(count = ids.len(), error = %err, "pushes not all enqueued yet; the relay will retry")
        }
    }
}

/// The push task of a row about to be (or just) written: what the worker sends, carried along.
pub fn push_task(id: &str, shipment_id: &str, seq: i64, payload: &str, head: bool) -> Task {
    Task::push(
        id,
        PushTicket {
            shipment_id: shipment_id.to_owned(),
            seq,
            payload: payload.to_owned(),
            head,
        },
    )
}

/// The first-attempt push task of each outbox row (no ticket: the worker reads the row).
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
