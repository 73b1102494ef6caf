//! Processing stored webhooks: workers that ingest them in batches.
//!
//! A batch is one transaction ([`crate::ingest::ingest_webhooks`]): under load a worker takes
//! every parsed webhook waiting on its channel (up to `intake.process_batch`), so commits and
//! statements per webhook fall as the rate rises. Each worker owns a share of the shipments
//! (its channel is chosen by shipment), so two workers' batches never hold the same row lock. If a batch fails, each of its webhooks is ingested on its own, so one bad
//! webhook cannot hold the others back. One that still fails stays `received` for the sweep;
//! if the database refused its data (not an outage), the refusal is counted, and after
//! `intake.max_attempts` the webhook is quarantined ([`super::outcome`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::health::part;
use crate::ingest::{StoredWebhook, ingest_webhooks};

/// One worker: take a batch, ingest it, again, until the channel closes or `shutdown` is
/// cancelled (a batch in hand is finished first).
pub(super) async fn run_worker(
    shared: Arc<Shared>,
    mut receiver: mpsc::Receiver<StoredWebhook>,
    shutdown: CancellationToken,
) {
    let max_batch = shared.settings.process_batch.max(1);
    loop {
        let next = crate::batching::recv_batch(&mut receiver, max_batch);
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return,
            batch = next => batch,
        };
        let Some(batch) = batch else { return };
        shared.process_batch(&batch).await;
    }
}

impl Shared {
    /// Ingest a batch in one transaction; on failure, each webhook on its own.
    pub(super) async fn process_batch(&self, batch: &[StoredWebhook]) {
        let started = std::time::Instant::now();
        let result = ingest_webhooks(&self.store, &self.queue, &self.live, batch).await;
        self.metrics
            .observe_batch("ingest", batch.len(), started.elapsed());
        match result {
            Ok(reports) => {
                self.health.ok(part::WEBHOOK_INGEST);
                self.record_ingested(batch, &reports);
            }
            Err(err) if batch.len() == 1 => self.record_ingest_failure(&batch[0], &err).await,
            Err(err) => {
                tracing::warn!(count = batch.len(), error = %err, "webhook batch failed; ingesting its webhooks one by one");
                for webhook in batch {
                    Box::pin(self.process_batch(std::slice::from_ref(webhook))).await;
                }
            }
        }
    }
}
