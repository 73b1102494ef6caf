//! The background loops the application runs: queue workers (push and poll tasks), the outbox
//! relay and the poll loop. Each stops when the shutdown token is cancelled.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::poller::Poller;
use crate::push::{PushWorker, relay_unenqueued};
use crate::queue::{Queue, QueueError, TaskKind};
use crate::store::Store;

/// How often the relay looks for outbox rows that never reached the queue.
const RELAY_EVERY: Duration = Duration::from_secs(10);

/// Take tasks from the queue and run them until shutdown.
pub(super) async fn run_queue_worker(
    queue: Queue,
    pusher: PushWorker,
    poller: Poller,
    shutdown: CancellationToken,
) {
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
        let result = match task.kind {
            TaskKind::Push => pusher.handle(delivery).await,
            TaskKind::Poll => poller.handle(delivery).await,
        };
        if let Err(err) = result {
            // The delivery was not settled: the queue hands it out again (lease expiry or
            // broker redelivery), so nothing is lost.
            tracing::error!(kind = ?task.kind, ref_id = %task.ref_id, error = %err, "task failed; it will be redelivered");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Re-enqueue outbox rows that were committed but never queued, at start and every
/// [`RELAY_EVERY`].
pub(super) async fn run_relay(store: Store, queue: Queue, shutdown: CancellationToken) {
    loop {
        match relay_unenqueued(&store, &queue).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "re-enqueued pushes that never reached the queue"),
            Err(err) => tracing::warn!(error = %err, "outbox relay failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RELAY_EVERY) => {}
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
