//! The push worker: deliver one push task and say how to settle it.
//!
//! The task carries what it sends (the payload as stored, its shipment and sequence); the
//! worker reads only the shipment's pending pushes (one small query: the store is the truth)
//! and sends only if this one is the earliest, so a newer push never overtakes an older
//! undelivered one. A task ingest queued as first in line (`PushTicket::head`) skips that read
//! on its first delivery — nothing can be ahead of it or have settled it — which is most pushes
//! at a steady rate; a retried or redelivered one reads like any other; a push that must wait is taken off the queue and re-enqueued when its
//! predecessor is settled. When others wait behind the head, all of them are folded into the
//! newest, which then goes alone: a backlog (after a broker or mall outage) drains as one push
//! per shipment. After a send the attempt and the row's new state are recorded — together with
//! the other pushes finishing at that moment ([`super::recorder`]) — and only then is the task
//! settled: a crash in between redelivers a task whose row is already settled, which is
//! acknowledged without a send. The record answers with the shipment's next pending push, which
//! is queued at once. A store failure is an `Err`; the caller retries the task.

use std::time::Instant;

use chrono::Utc;

use super::payload::PushPayload;
use super::recorder::Recorder;
use super::sender::{MallClient, SendOutcome};
use crate::domain::retry::{Decision, RetryPolicy, decide, random_jitter};
use crate::metrics::Metrics;
use crate::queue::{PushTicket, Queue, Settlement, Task};
use crate::store::attempts::{AttemptRecord, NextPush};
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
    pub recorder: Recorder,
}

impl PushWorker {
    /// A worker recording its attempts through a recorder of its own (started here).
    pub fn new(
        store: Store,
        queue: Queue,
        client: MallClient,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> PushWorker {
        PushWorker {
            recorder: Recorder::start(store.clone()),
            store,
            queue,
            client,
            retry,
            metrics,
        }
    }

    /// Deliver one push task; the settlement its delivery gets.
    /// `redelivered`: the queue handed it out before (see [`crate::queue::Delivery`]).
    pub async fn handle(&self, task: &Task, redelivered: bool) -> Result<Settlement, StoreError> {
        let outbox_id = task.ref_id.as_str();
        let ticket = match &task.push {
            Some(ticket) => ticket.clone(),
            // An embedded-queue task, or one from an older version: the row has the rest.
            None => match self.store.outbox_row(outbox_id).await? {
                Some(row) => PushTicket {
                    shipment_id: row.shipment_id,
                    seq: row.seq,
                    payload: row.payload,
                    head: false,
                },
                None => {
                    tracing::warn!(outbox_id, "push task for a missing outbox row; dropping it");
                    return Ok(Settlement::Ack);
                }
            },
        };
        let attempt = if ticket.head && task.attempt == 0 && !redelivered {
            // First in line when it was queued, and never handed out before: nothing is ahead
            // of it and nothing has settled it, so the shipment's pending pushes need no read.
            // (Pushes written behind it since wait; the record releases the next one.)
            1
        } else {
            match self.turn(outbox_id, &ticket).await? {
                Turn::Send { attempt } => attempt,
                Turn::Done(settlement) => return Ok(settlement),
            }
        };
        let carrier = carrier_of(&ticket.payload);
        let (decision, next) = self.send(outbox_id, &ticket, attempt, carrier).await?;
        let shipment_id = &ticket.shipment_id;
        if let Some(next) = next {
            self.enqueue(next).await;
        }
        Ok(match decision {
            None => {
                tracing::info!(
                    outbox_id,
                    shipment_id,
                    carrier,
                    seq = ticket.seq,
                    attempt,
                    "push delivered"
                );
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
                Settlement::DeadLetter
            }
        })
    }

    /// Whether this push goes now: one read of the shipment's pending pushes. Not when it is
    /// settled already, or waits behind an earlier one, or is folded with those behind it.
    async fn turn(&self, outbox_id: &str, ticket: &PushTicket) -> Result<Turn, StoreError> {
        let pending = self
            .store
            .pending_of_shipment(&ticket.shipment_id, 2)
            .await?;
        let Some(mine) = pending.iter().find(|p| p.id == outbox_id) else {
            // Already settled (a duplicate task after a crash or a replay), or folded away.
            return Ok(Turn::Done(Settlement::Ack));
        };
        if pending[0].id != outbox_id {
            // An earlier push of this shipment is not settled yet: this one goes after it.
            self.store.mark_waiting(outbox_id).await?;
            tracing::debug!(
                outbox_id,
                seq = ticket.seq,
                waits_for = pending[0].seq,
                "push waits for an earlier one"
            );
            return Ok(Turn::Done(Settlement::Ack));
        }
        if pending.len() > 1 {
            // Others wait behind this one: one push carries them all (the newest status, every
            // event), and goes as its own task.
            let folded = self
                .store
                .fold_pending_pushes(&ticket.shipment_id, fold)
                .await?;
            if let Some(into) = folded {
                tracing::debug!(outbox_id, into = %into.id, "pending pushes folded into the newest");
                self.enqueue(into).await;
                return Ok(Turn::Done(Settlement::Ack));
            }
        }
        Ok(Turn::Send {
            attempt: mine.attempts + 1,
        })
    }

    /// POST the push, record the attempt and the row's new state. Returns the decision (`None`
    /// when delivered) and, once this push is settled, its shipment's next pending push.
    async fn send(
        &self,
        outbox_id: &str,
        ticket: &PushTicket,
        attempt: i32,
        carrier: &str,
    ) -> Result<(Option<Decision>, Option<NextPush>), StoreError> {
        let started = Instant::now();
        let outcome = self.client.send(outbox_id, ticket).await;
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
        let state = match decision {
            None => OutboxState::Delivered,
            Some(Decision::RetryAfter(_)) => OutboxState::Pending,
            Some(Decision::Stop) => OutboxState::Gone,
            Some(Decision::DeadLetter) => OutboxState::Dead,
        };
        if let Some(Decision::RetryAfter(delay)) = decision {
            tracing::warn!(
                outbox_id,
                shipment_id = %ticket.shipment_id,
                carrier,
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = error.as_deref().unwrap_or(""),
                "push failed; will retry"
            );
        }
        let record = AttemptRecord {
            outbox_id: outbox_id.to_owned(),
            attempt,
            http_status: status.map(i32::from),
            error,
            duration_ms: elapsed_ms,
            state,
            at: Utc::now(),
        };
        // Recorded before the task is settled: a crash in between redelivers a task whose row
        // is already settled.
        let next = if state == OutboxState::Dead {
            self.store.record_dead_push(&record).await?;
            self.next_pending(&ticket.shipment_id).await
        } else {
            self.recorder
                .record(record)
                .await
                .map_err(|err| StoreError::Db(sea_orm::DbErr::Custom(err.to_string())))?
        };
        // A push still pending (to be retried) keeps its turn: nothing after it is released.
        let next = next.filter(|_| state != OutboxState::Pending);
        Ok((decision, next))
    }

    /// The shipment's earliest pending push, after a settlement recorded on its own. A failure
    /// is only logged: that row stays off the queue and the relay sends it.
    async fn next_pending(&self, shipment_id: &str) -> Option<NextPush> {
        match self.store.pending_of_shipment(shipment_id, 1).await {
            Ok(next) => {
                let next = next.into_iter().next()?;
                match self.store.outbox_row(&next.id).await {
                    Ok(Some(row)) => Some(NextPush {
                        id: row.id,
                        shipment_id: row.shipment_id,
                        seq: row.seq,
                        payload: row.payload,
                    }),
                    _ => None,
                }
            }
            Err(err) => {
                tracing::warn!(shipment_id, error = %err, "next push not enqueued; the relay will send it");
                None
            }
        }
    }

    /// Queue a shipment's next push, carrying its payload. A failure is only logged: the row
    /// stays off the queue and the relay sends it.
    async fn enqueue(&self, next: NextPush) {
        // Not `head`: others may wait behind it, and its worker folds them.
        let task = super::push_task(&next.id, &next.shipment_id, next.seq, &next.payload, false);
        super::enqueue_new_many(&self.store, &self.queue, vec![task]).await;
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
/// What the read of a shipment's pending pushes decided for one push.
enum Turn {
    /// Send it now, as this attempt.
    Send { attempt: i32 },
    /// Nothing to send: settle the task so.
    Done(Settlement),
}

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
