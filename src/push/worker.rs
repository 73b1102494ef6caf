//! The push worker: deliver one push task and settle it on the queue.
//!
//! It reloads the outbox row (the store is the truth), sends it, records the attempt and the
//! row's new state in one transaction, and only then settles the task: a crash in between
//! redelivers a task whose row is already settled, which is acknowledged without a send.

use std::time::Instant;

use super::sender::{MallClient, SendOutcome};
use crate::domain::retry::{Decision, RetryPolicy, decide, random_jitter};
use crate::metrics::Metrics;
use crate::queue::{Delivery, Queue};
use crate::store::Store;
use crate::store::states::{OutboxState, TaskKind, label};

/// Everything a push worker needs.
#[derive(Clone, Debug)]
pub struct PushWorker {
    pub store: Store,
    pub queue: Queue,
    pub client: MallClient,
    pub retry: RetryPolicy,
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
        if row.state != OutboxState::Pending {
            // Already settled (a duplicate task after a crash or a replay): nothing to do.
            self.queue.ack(delivery).await?;
            return Ok(());
        }
        let attempt = row.attempts + 1;
        let started = Instant::now();
        let outcome = self.client.send(&row).await;
        let elapsed_ms = started.elapsed().as_millis() as i64;
        self.metrics
            .observe_push(outcome.is_delivered(), started.elapsed());
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
                self.metrics
                    .dead_letters
                    .with_label_values(&[&label(TaskKind::Push)])
                    .inc();
                tracing::error!(outbox_id, shipment_id, attempt, error = ?error, "push dead-lettered after the last attempt");
                self.queue.dead_letter(delivery).await?;
            }
        }
        Ok(())
    }
}
