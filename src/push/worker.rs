//! The push worker: deliver one push task and say how to settle it.
//!
//! It reloads the outbox row (the store is the truth) and sends it only if it is its shipment's
//! earliest pending push, so a newer push never overtakes an older undelivered one; a push that
//! must wait is taken off the queue and re-enqueued when its predecessor is settled. When
//! others wait behind the head, all of them are folded into the newest, which then goes alone:
//! a backlog (after a broker or mall outage) drains as one push per shipment. After a
//! send it records the attempt and the row's new state in one transaction, and only then is
//! the task settled: a crash in between redelivers a task whose row is already settled, which
//! is acknowledged without a send. A store failure is an `Err`; the caller retries the task.

use std::time::Instant;

use super::payload::PushPayload;
use super::sender::{MallClient, SendOutcome};
use crate::domain::retry::{Decision, RetryPolicy, decide, random_jitter};
use crate::metrics::Metrics;
use crate::queue::{Queue, Settlement, Task};
use crate::store::entities::push_outbox;
use crate::store::states::{OutboxState, TaskKind, label};
use crate::store::{Store, StoreError};

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
    /// Deliver one push task; the settlement its delivery gets.
    pub async fn handle(&self, task: &Task) -> Result<Settlement, StoreError> {
        let outbox_id = task.ref_id.as_str();
        let Some(row) = self.store.outbox_row(outbox_id).await? else {
            tracing::warn!(outbox_id, "push task for a missing outbox row; dropping it");
            return Ok(Settlement::Ack);
        };
        if row.state != OutboxState::Pending {
            // Already settled (a duplicate task after a crash or a replay): nothing to do.
            return Ok(Settlement::Ack);
        }
        let pending = self.store.pending_pushes(&row.shipment_id, 2).await?;
        if let Some((head, head_seq)) = pending.first()
            && *head != row.id
        {
            // An earlier push of this shipment is not settled yet: this one goes after it.
            self.store.mark_waiting(&row.id).await?;
            tracing::debug!(
                outbox_id,
                seq = row.seq,
                waits_for = head_seq,
                "push waits for an earlier one"
            );
            return Ok(Settlement::Ack);
        }
        if pending.len() > 1 {
            // Others wait behind this one: one push carries them all (the newest status, every
            // event), and goes as its own task.
            let folded = self
                .store
                .fold_pending_pushes(&row.shipment_id, fold)
                .await?;
            if let Some(into) = folded {
                tracing::debug!(outbox_id, into, "pending pushes folded into the newest");
                super::enqueue_new(&self.store, &self.queue, &into).await;
                return Ok(Settlement::Ack);
            }
        }
        let carrier = carrier_of(&row.payload);
        let decision = self.send(&row, carrier).await?;
        let shipment_id = &row.shipment_id;
        Ok(match decision {
            None => {
                tracing::info!(
                    outbox_id,
                    shipment_id,
                    carrier,
                    seq = row.seq,
                    attempt = row.attempts + 1,
                    "push delivered"
                );
                self.release_successor(&row).await;
                Settlement::Ack
            }
            Some(Decision::RetryAfter(delay)) => Settlement::Retry(delay),
            Some(Decision::Stop) => {
                tracing::warn!(
                    outbox_id,
                    shipment_id,
                    carrier,
                    "mall answered 410 Gone; not retrying"
                );
                self.release_successor(&row).await;
                Settlement::Ack
            }
            Some(Decision::DeadLetter) => {
                self.metrics
                    .dead_letters
                    .with_label_values(&[&label(TaskKind::Push)])
                    .inc();
                tracing::error!(
                    outbox_id,
                    shipment_id,
                    carrier,
                    "push dead-lettered after the last attempt"
                );
                self.release_successor(&row).await;
                Settlement::DeadLetter
            }
        })
    }

    /// POST the row, record the attempt and the row's new state; `None` when delivered.
    async fn send(
        &self,
        row: &push_outbox::Model,
        carrier: &str,
    ) -> Result<Option<Decision>, StoreError> {
        let attempt = row.attempts + 1;
        let started = Instant::now();
        let outcome = self.client.send(row).await;
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
        if let Some(Decision::RetryAfter(delay)) = decision {
            tracing::warn!(
                outbox_id = %row.id,
                shipment_id = %row.shipment_id,
                carrier,
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = error.as_deref().unwrap_or(""),
                "push failed; will retry"
            );
        }
        // Recorded before the task is settled: a crash in between redelivers a task whose row
        // is already settled.
        self.store
            .record_push_attempt(row, attempt, status, error, elapsed_ms, new_state)
            .await?;
        Ok(decision)
    }

    /// Enqueue the shipment's next pending push now that this one is settled. A failure is only
    /// logged: that row stays off the queue and the relay sends it.
    async fn release_successor(&self, settled: &push_outbox::Model) {
        match self.store.pending_pushes(&settled.shipment_id, 1).await {
            Ok(next) => {
                if let Some((next, _)) = next.first() {
                    super::enqueue_new(&self.store, &self.queue, next).await;
                }
            }
            Err(err) => {
                tracing::warn!(shipment_id = %settled.shipment_id, error = %err, "next push not enqueued; the relay will send it")
            }
        }
    }
}

/// The carrier instance a stored payload is about, for log lines (read without parsing the
/// rest of the payload).
fn carrier_of(payload: &str) -> &str {
    #[derive(serde::Deserialize)]
    struct Carrier<'a> {
        #[serde(borrow)]
        carrier: &'a str,
    }
    serde_json::from_str::<Carrier>(payload)
        .map(|c| c.carrier)
        .unwrap_or("?")
}

/// Fold stored payloads (oldest first) into one, as stored text.
fn fold(payloads: Vec<String>) -> Result<String, StoreError> {
    let parsed = payloads
        .iter()
        .map(|text| serde_json::from_str::<PushPayload>(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| StoreError::Corrupt(format!("a stored push payload: {err}")))?;
    let folded =
        PushPayload::fold(parsed).ok_or_else(|| StoreError::Corrupt("nothing to fold".into()))?;
    serde_json::to_string(&folded).map_err(|source| StoreError::Encode {
        what: "folded push payload",
        source,
    })
}
