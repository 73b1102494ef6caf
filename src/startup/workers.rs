//! The background loops the application runs: queue workers (push and poll tasks), the outbox
//! relay and the poll loop. Each stops when the shutdown token is cancelled.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::retry::{random_jitter, stall_delay};
use crate::health::{Health, part};
use crate::poller::Poller;
use crate::push::{PushWorker, relay_unenqueued};
use crate::queue::{Queue, QueueError, Settlement, TaskKind};
use crate::store::Store;

/// How often the relay looks for outbox rows that are not on the queue, when it found none;
/// after a round that found some (a broker just came back) it looks again after [`RELAY_BUSY`].
const RELAY_EVERY: Duration = Duration::from_secs(10);
const RELAY_BUSY: Duration = Duration::from_secs(1);
/// A row committed this recently is probably being enqueued right now by its own writer.
const RELAY_SETTLE: Duration = Duration::from_secs(15);
// A published push's write-behind mark lands (or is given up) before the relay would publish
// its row a second time.
const _: () = assert!(RELAY_SETTLE.as_secs() > crate::store::marks::MARK_GIVE_UP.as_secs());

/// The parts a queue worker needs.
#[derive(Clone)]
pub(super) struct QueueWorker {
    pub queue: Queue,
    pub pusher: PushWorker,
    pub poller: Poller,
    pub health: Health,
}

/// Take tasks from the queue and run them until shutdown. Every task is settled: as its handler
/// decided, or — when the handler failed on our own infrastructure (the store, the broker) —
/// retried after a short capped delay ([`stall_delay`]). A settlement the queue cannot take is
/// safe too: the embedded queue's lease runs out and RabbitMQ redelivers when the channel
/// closes.
pub(super) async fn run_queue_worker(worker: QueueWorker, shutdown: CancellationToken) {
    let QueueWorker {
        queue,
        pusher,
        poller,
        health,
    } = worker;
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = queue.next() => next,
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(QueueError::Closed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "queue unavailable; retrying shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let task = delivery.task.clone();
        let handled = match task.kind {
            TaskKind::Push => pusher.handle(&task, delivery.redelivered).await,
            TaskKind::Poll => poller.handle(&task).await,
            TaskKind::Subscription => poller.handle_subscription(&task).await,
        };
        let settlement = match handled {
            Ok(settlement) => {
                health.ok(part::QUEUE_WORKERS);
                settlement
            }
            Err(err) => {
                let delay = stall_delay(task.attempt, random_jitter());
                health.failed(part::QUEUE_WORKERS, &err);
                tracing::warn!(kind = ?task.kind, ref_id = %task.ref_id, error = %err, ?delay, "task failed on the store; retrying it");
                Settlement::Retry(delay)
            }
        };
        if let Err(err) = queue.settle(delivery, settlement).await {
            health.failed(part::QUEUE_WORKERS, &err);
            tracing::warn!(kind = ?task.kind, ref_id = %task.ref_id, error = %err, "task not settled; the queue hands it out again");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Enqueue outbox rows that are not on the queue, at start and then every [`RELAY_EVERY`] —
/// or every [`RELAY_BUSY`] while there is a backlog to work through.
pub(super) async fn run_relay(
    store: Store,
    queue: Queue,
    health: Health,
    shutdown: CancellationToken,
) {
    loop {
        let relayed = match relay_unenqueued(&store, &queue, RELAY_SETTLE).await {
            Ok(pushes) => crate::subscriptions::relay_unenqueued(&store, &queue, RELAY_SETTLE)
                .await
                .map(|subscriptions| pushes + subscriptions),
            Err(err) => Err(err),
        };
        let pause = match relayed {
            Ok(0) => {
                health.ok(part::OUTBOX_RELAY);
                RELAY_EVERY
            }
            Ok(n) => {
                health.ok(part::OUTBOX_RELAY);
                tracing::info!(
                    count = n,
                    "queued pushes and subscriptions that were not on the queue"
                );
                RELAY_BUSY
            }
            Err(err) => {
                health.failed(part::OUTBOX_RELAY, &err);
                tracing::warn!(error = %err, "outbox relay failed");
                RELAY_BUSY
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Poll every tick until shutdown; then stop claiming and give the leases back, so another
/// process takes the work over at once instead of after the lease.
pub(super) async fn run_poller(poller: Poller, tick: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            // A round in flight finishes its batch (claimed rows are rescheduled and released);
            // a round still waiting on the pacer is abandoned, its leases released below.
            _ = shutdown.cancelled() => break,
            result = poller.poll_due() => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "poll round failed");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    poller.release_leases().await;
}
