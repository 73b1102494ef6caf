//! Pushing status changes to the mall: signing, sending, and what happens after a failure.
//!
//! Ingest writes an outbox row and enqueues a `push` task carrying its id. A worker reloads the
//! row, POSTs its stored payload signed per Standard Webhooks, records the attempt, and then
//! acks (2xx), stops (410), retries with [`retry::decide`]'s delay, or dead-letters the task.
//! Delivery is at least once: the mall dedupes on `webhook-id` and orders by `sequence`.

pub mod payload;
pub mod retry;
mod sender;

use std::time::Instant;

pub use sender::{MallClient, SendOutcome};

use crate::metrics::Metrics;
use crate::queue::{Delivery, Queue, Task, TaskKind};
use crate::store::{Store, StoreError};
use retry::{Decision, decide, random_jitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Delivered,
    Gone,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Gone => "gone",
            OutboxState::Dead => "dead",
        }
    }
}

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

/// Everything a push worker needs.
#[derive(Clone, Debug)]
pub struct PushWorker {
    pub store: Store,
    pub queue: Queue,
    pub client: MallClient,
    pub retry: crate::config::RetrySettings,
    pub metrics: Metrics,
}

impl PushWorker {
    /// Deliver one push task and settle it on the queue.
    pub async fn handle(&self, delivery: Delivery) -> anyhow::Result<()> {
        let outbox_id = delivery.task.ref_id.clone();
        let Some(row) = self.store.outbox_row(&outbox_id).await? else {
            tracing::warn!(outbox_id, "push task for a missing outbox row; dropping it");
            self.queue.ack(delivery).await?;
            return Ok(());
        };
        if row.state != OutboxState::Pending.as_str() {
            // Already settled (a duplicate task after a crash or a replay): nothing to do.
            self.queue.ack(delivery).await?;
            return Ok(());
        }
        let attempt = row.attempts + 1;
        let started = Instant::now();
        let outcome = self.client.send(&row).await;
        let elapsed_ms = started.elapsed().as_millis() as i64;
        self.metrics.observe_push(&outcome, started.elapsed());
        let (status, error) = (outcome.http_status(), outcome.error_text());
        let decision = match outcome {
            SendOutcome::Delivered { .. } => None,
            SendOutcome::Failed {
                failure,
                retry_after,
                ..
            } => Some(decide(
                &self.retry,
                attempt as u32,
                failure,
                retry_after,
                random_jitter(),
            )),
        };
        let new_state = match decision {
            None => OutboxState::Delivered,
            Some(Decision::RetryAfter(_)) => OutboxState::Pending,
            Some(Decision::Stop) => OutboxState::Gone,
            Some(Decision::DeadLetter) => OutboxState::Dead,
        };
        // The attempt, the new state (and a dead letter) are recorded before the queue is
        // settled: a crash in between redelivers a task whose row is already settled.
        self.store
            .record_push_attempt(&row, attempt, status, error.clone(), elapsed_ms, new_state)
            .await?;
        let shipment_id = &row.shipment_id;
        match decision {
            None => {
                tracing::info!(
                    outbox_id,
                    shipment_id,
                    seq = row.seq,
                    attempt,
                    "push delivered"
                );
                self.queue.ack(delivery).await?;
            }
            Some(Decision::RetryAfter(delay)) => {
                tracing::warn!(outbox_id, shipment_id, attempt, ?delay, error = ?error, "push failed; will retry");
                self.queue.retry(delivery, delay).await?;
            }
            Some(Decision::Stop) => {
                tracing::warn!(
                    outbox_id,
                    shipment_id,
                    "mall answered 410 Gone; not retrying"
                );
                self.queue.ack(delivery).await?;
            }
            Some(Decision::DeadLetter) => {
                self.metrics.dead_letters.with_label_values(&["push"]).inc();
                tracing::error!(outbox_id, shipment_id, attempt, error = ?error, "push dead-lettered after the last attempt");
                self.queue.dead_letter(delivery).await?;
            }
        }
        Ok(())
    }
}
