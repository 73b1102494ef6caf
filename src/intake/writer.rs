//! Group commit: the writers that store raw webhooks before they are acknowledged.
//!
//! A writer takes every webhook waiting when it is free (up to `intake.max_batch`), stores them
//! with one multi-row `INSERT` and one commit, and answers each request with its row id. While
//! one batch commits the next fills, so batches grow with the load and stay at one row when the
//! gateway is quiet: no timer adds latency. A failed commit fails every request of the batch
//! (503: the carriers send them again).

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::StoreFailure;
use crate::config::IntakeSettings;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::webhooks::NewInbound;

/// A webhook waiting to be stored, and where its id goes.
pub(super) struct Pending {
    pub row: NewInbound,
    pub reply: oneshot::Sender<Result<i64, StoreFailure>>,
}

/// Start `intake.writers` writers; they end when the returned sender (every clone) is dropped.
pub(super) fn spawn(
    store: &Store,
    metrics: &Metrics,
    settings: &IntakeSettings,
) -> mpsc::Sender<Pending> {
    let max_batch = settings.max_batch.max(1);
    let writers = settings.writers.max(1);
    let (rows, receiver) = mpsc::channel(max_batch * writers * 2);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..writers {
        tokio::spawn(run_writer(
            store.clone(),
            receiver.clone(),
            max_batch,
            metrics.clone(),
        ));
    }
    rows
}

/// One writer: take what is waiting, store it with one commit, answer every request.
async fn run_writer(
    store: Store,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    max_batch: usize,
    metrics: Metrics,
) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            match crate::batching::recv_batch(&mut receiver, max_batch).await {
                Some(batch) => batch,
                None => return,
            }
        };
        let (rows, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.row, p.reply)).unzip();
        let writing = std::time::Instant::now();
        let stored = store.store_inbound_webhooks(rows).await;
        metrics.observe_batch("store", replies.len(), writing.elapsed());
        match stored {
            Ok(ids) => {
                for (reply, id) in replies.into_iter().zip(ids) {
                    let _ = reply.send(Ok(id));
                }
            }
            Err(err) => {
                tracing::error!(count = replies.len(), error = %err, "could not store webhooks; they are refused (503)");
                let failure = StoreFailure::Store(Arc::new(err));
                for reply in replies {
                    let _ = reply.send(Err(failure.clone()));
                }
            }
        }
    }
}
