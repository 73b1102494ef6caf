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

pub use embedded::EmbeddedQueue;
pub use rabbitmq::RabbitQueue;

use crate::config::{QueueKind, QueueSettings};
use crate::store::Store;
pub use crate::store::states::TaskKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub kind: TaskKind,
    pub ref_id: String,
    /// Attempts already made (0 for a fresh task).
    pub attempt: u32,
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

/// A task handed to a worker; it must be settled with [`Queue::ack`], [`Queue::retry`] or
/// [`Queue::dead_letter`].
#[derive(Debug)]
pub struct Delivery {
    pub task: Task,
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
    pub async fn open(settings: &QueueSettings, store: &Store) -> Result<Queue, QueueError> {
        Ok(match settings.kind {
            QueueKind::Embedded => Queue::Embedded(EmbeddedQueue::new(store.clone(), settings)),
            QueueKind::Rabbitmq => Queue::Rabbit(RabbitQueue::connect(settings).await?),
        })
    }

    pub fn kind(&self) -> QueueKind {
        match self {
            Queue::Embedded(_) => QueueKind::Embedded,
            Queue::Rabbit(_) => QueueKind::Rabbitmq,
        }
    }

    /// Accept a task durably, to run after `delay`.
    pub async fn enqueue(&self, task: Task, delay: Duration) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.enqueue(&task, delay).await,
            Queue::Rabbit(q) => q.publish(&task, delay).await,
        }
    }

    /// Accept many tasks to run now: one multi-row insert (embedded) or publishes whose
    /// confirms are awaited together (RabbitMQ). An error means some may not be queued.
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
                q.publish(&next, delay).await?;
                acker.ack(Default::default()).await?;
                Ok(())
            }
            _ => unreachable!("a delivery is settled by the queue that produced it"),
        }
    }

    /// Give up on the task: the caller has recorded the dead letter in the store.
    pub async fn dead_letter(&self, delivery: Delivery) -> Result<(), QueueError> {
        match (self, delivery.handle) {
            (Queue::Embedded(q), DeliveryHandle::Embedded(id)) => q.delete(id).await,
            (Queue::Rabbit(q), DeliveryHandle::Rabbit(acker)) => {
                q.publish_dead(&delivery.task).await?;
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
