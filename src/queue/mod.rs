//! The retry queue behind one facade: `embedded` (rows in the store) or `rabbitmq` (lapin).
//!
//! Tasks carry only an id and an attempt count; the worker reloads the outbox row or shipment
//! it refers to, because the store is the truth. Both backends are durable: a task accepted by
//! [`Queue::enqueue`] survives a crash of the process, and a task handed out by
//! [`Queue::next`] comes back if the process dies before it is acknowledged.

mod embedded;
mod rabbitmq;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest a worker holds a delivery it could not retry before handing it back.
const REQUEUE_PAUSE: Duration = Duration::from_secs(5);

pub use embedded::EmbeddedQueue;
pub use rabbitmq::RabbitQueue;

use crate::config::{QueueKind, QueueSettings};
use crate::health::Health;
use crate::store::Store;
pub use crate::store::states::TaskKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub kind: TaskKind,
    pub ref_id: String,
    /// Attempts already made (0 for a fresh task).
    pub attempt: u32,
    /// A push task's copy of what it sends, so the worker does not read the outbox row again.
    /// Absent from embedded-queue tasks (their rows hold ids only) and from tasks published by
    /// older versions: the worker then reads the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushTicket>,
}

/// What a push needs besides its outbox id: the shipment (to keep its pushes in order), the
/// sequence and the payload exactly as stored (its bytes are what is signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushTicket {
    pub shipment_id: String,
    pub seq: i64,
    pub payload: String,
    /// First in line when the task was made: ingest wrote the row, under the shipment's lock,
    /// while no other push of the shipment was pending. A first delivery of such a task is sent
    /// without reading the shipment's pending pushes (nothing can be ahead of it, and nothing
    /// has settled it). Absent (false) from older messages and from every other task.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub head: bool,
}

impl Task {
    /// A fresh task: no attempt made yet.
    pub fn first(kind: TaskKind, ref_id: &str) -> Task {
        Task {
            kind,
            ref_id: ref_id.to_owned(),
            attempt: 0,
            push: None,
        }
    }

    /// A fresh push task of outbox row `outbox_id`, carrying what the push sends.
    pub fn push(outbox_id: &str, ticket: PushTicket) -> Task {
        Task {
            push: Some(ticket),
            ..Task::first(TaskKind::Push, outbox_id)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("embedded queue: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("rabbitmq did not confirm the publish")]
    NotConfirmed,
    #[error("queue is shutting down")]
    Closed,
}

/// How a handled task is settled. Every task handed out ends in exactly one of these, errors
/// included: a handler that fails is retried later, never left holding its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Done: delivered, stopped for good, or nothing (left) to do.
    Ack,
    /// Run again after the delay, the task's attempt count advanced.
    Retry(Duration),
    /// Out of attempts: the handler has recorded the dead letter in the store.
    DeadLetter,
}

/// A task handed to a worker; it must be settled with [`Queue::settle`].
#[derive(Debug)]
pub struct Delivery {
    pub task: Task,
    /// Delivered before, to a consumer that went away without settling it: it may have been
    /// done already.
    pub redelivered: bool,
    handle: DeliveryHandle,
}

#[derive(Debug)]
enum DeliveryHandle {
    Embedded(i64),
    Rabbit(lapin::Acker),
}

#[derive(Clone, Debug)]
pub enum Queue {
    Embedded(EmbeddedQueue),
    Rabbit(RabbitQueue),
}

impl Queue {
    pub async fn open(
        settings: &QueueSettings,
        store: &Store,
        health: &Health,
    ) -> Result<Queue, QueueError> {
        Ok(match settings.kind {
            QueueKind::Embedded => {
                Queue::Embedded(EmbeddedQueue::new(store.clone(), settings, health))
            }
            QueueKind::Rabbitmq => Queue::Rabbit(RabbitQueue::connect(settings, health).await?),
        })
    }

    pub fn kind(&self) -> QueueKind {
        match self {
            Queue::Embedded(_) => QueueKind::Embedded,
            Queue::Rabbit(_) => QueueKind::Rabbitmq,
        }
    }

    /// Whether tasks are rows of the store (the embedded queue): then a writer puts them in its
    /// own transaction ([`crate::store::Store::insert_task_rows`]) and calls [`Queue::wake`].
    pub fn tasks_in_store(&self) -> bool {
        matches!(self, Queue::Embedded(_))
    }

    /// Tell this process's embedded-queue workers that task rows were just committed (other
    /// processes see them on their next idle poll). Nothing to do for RabbitMQ.
    pub fn wake(&self) {
        if let Queue::Embedded(q) = self {
            q.wake();
        }
    }

    /// Accept a task durably, to run after `delay`.
    pub async fn enqueue(&self, task: Task, delay: Duration) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.enqueue(&task, delay).await,
            Queue::Rabbit(q) => q.publish(&task, delay).await,
        }
    }

    /// Accept many tasks to run now: one multi-row insert (embedded) or publishes pipelined on
    /// one channel, their confirms awaited together (RabbitMQ). An error means some may not be
    /// queued (the callers' rows stay un-enqueued, and the relay sends them again).
    pub async fn enqueue_many(&self, tasks: Vec<Task>) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.enqueue_many(&tasks).await,
            Queue::Rabbit(q) => {
                let publishes = tasks.iter().map(|task| q.publish(task, Duration::ZERO));
                futures_util::future::join_all(publishes)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<()>, QueueError>>()
                    .map(|_| ())
            }
        }
    }

    /// Wait for the next due task.
    pub async fn next(&self) -> Result<Delivery, QueueError> {
        match self {
            Queue::Embedded(q) => q.next().await,
            Queue::Rabbit(q) => q.next().await,
        }
    }

    /// Settle a delivery as its handler decided.
    pub async fn settle(
        &self,
        delivery: Delivery,
        settlement: Settlement,
    ) -> Result<(), QueueError> {
        match settlement {
            Settlement::Ack => self.ack(delivery).await,
            Settlement::Retry(delay) => self.retry(delivery, delay).await,
            Settlement::DeadLetter => self.dead_letter(delivery).await,
        }
    }

    pub async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        match (self, delivery.handle) {
            (Queue::Embedded(q), DeliveryHandle::Embedded(id)) => q.delete(id).await,
            (Queue::Rabbit(_), DeliveryHandle::Rabbit(acker)) => {
                acker.ack(Default::default()).await?;
                Ok(())
            }
            _ => unreachable!("a delivery is settled by the queue that produced it"),
        }
    }

    /// Run the task again after `delay`, with its attempt count advanced.
    pub async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<(), QueueError> {
        let next = Task {
            attempt: delivery.task.attempt + 1,
            ..delivery.task.clone()
        };
        match (self, delivery.handle) {
            (Queue::Embedded(q), DeliveryHandle::Embedded(id)) => {
                q.reschedule(id, next.attempt, delay).await
            }
            (Queue::Rabbit(q), DeliveryHandle::Rabbit(acker)) => {
                // Publish (confirmed) before acking: a crash in between duplicates, never loses.
                match q.publish(&next, delay).await {
                    Ok(()) => {
                        acker.ack(Default::default()).await?;
                    }
                    Err(err) => {
                        // The broker took no delayed copy: give the delivery back to the work
                        // queue instead, after a pause so a refusing broker does not make it
                        // spin. Either way it is never left unsettled on a live channel.
                        tracing::warn!(error = %err, kind = ?next.kind, ref_id = %next.ref_id, "retry not published; requeueing the task");
                        tokio::time::sleep(delay.min(REQUEUE_PAUSE)).await;
                        let requeue = lapin::options::BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        };
                        acker.nack(requeue).await?;
                    }
                };
                Ok(())
            }
            _ => unreachable!("a delivery is settled by the queue that produced it"),
        }
    }

    /// Give up on the task: the caller has recorded the dead letter in the store (the broker's
    /// dead queue only gets a copy for operators, so failing to publish it loses nothing).
    pub async fn dead_letter(&self, delivery: Delivery) -> Result<(), QueueError> {
        match (self, delivery.handle) {
            (Queue::Embedded(q), DeliveryHandle::Embedded(id)) => q.delete(id).await,
            (Queue::Rabbit(q), DeliveryHandle::Rabbit(acker)) => {
                if let Err(err) = q.publish_dead(&delivery.task).await {
                    tracing::warn!(error = %err, ref_id = %delivery.task.ref_id, "dead letter not copied to the broker's dead queue (it is in the store)");
                }
                acker.ack(Default::default()).await?;
                Ok(())
            }
            _ => unreachable!("a delivery is settled by the queue that produced it"),
        }
    }

    /// Readiness: is the backend reachable right now?
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.ping().await,
            Queue::Rabbit(q) => q.ping().await,
        }
    }

    /// Stop handing out tasks (in-flight ones may still be settled).
    pub fn close(&self) {
        match self {
            Queue::Embedded(q) => q.close(),
            Queue::Rabbit(q) => q.close(),
        }
    }
}

/// Why a relay round (rows of the store that are not on the queue yet) stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_task_carries_its_ticket_and_older_messages_still_read() {
        let task = Task::push(
            "msg_1",
            PushTicket {
                shipment_id: "shp_1".into(),
                seq: 3,
                payload: r#"{"a":1}"#.into(),
                head: true,
            },
        );
        let wire = serde_json::to_string(&task).unwrap();
        assert_eq!(serde_json::from_str::<Task>(&wire).unwrap(), task);
        // A ticket written before `head` existed is not first in line: the worker reads.
        let before_head: Task = serde_json::from_str(
            r#"{"kind":"push","ref_id":"msg_1","attempt":0,"push":{"shipment_id":"shp_1","seq":3,"payload":"{}"}}"#,
        )
        .unwrap();
        assert!(!before_head.push.unwrap().head);
        // A message published by a version without tickets: the worker reads the row instead.
        let older: Task =
            serde_json::from_str(r#"{"kind":"push","ref_id":"msg_1","attempt":2}"#).unwrap();
        assert_eq!(older.push, None);
        assert_eq!(older.attempt, 2);
        // A poll task stays as small as before.
        let poll = serde_json::to_string(&Task::first(TaskKind::Poll, "shp_1")).unwrap();
        assert!(!poll.contains("push"), "{poll}");
    }
}
