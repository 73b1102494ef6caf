//! Webhook intake at peak rates: group commit for the acknowledgement, batched ingest behind it.
//!
//! A carrier's webhook is acknowledged only once its raw body is durably stored, and a commit
//! per request would cap intake at the database's commit rate. So the endpoint hands the row to
//! a *writer*, which takes every row waiting at that moment (up to `intake.max_batch`) and
//! stores them with one multi-row `INSERT` and one commit; each request gets its own row id back
//! and only then answers 2xx. While one batch commits, the next one fills up, so batches grow
//! with the load and stay at one row when the gateway is quiet: no timer adds latency.
//!
//! Parsing already happened in the request (it is pure and takes microseconds), so a body we
//! cannot parse is stored as `failed` and answered 400 as before. A parsed webhook is handed in
//! memory to the processing workers ([`process`]), which ingest them in batches, one
//! transaction per batch. The store stays the truth: a webhook whose hand-off did not fit in
//! memory, or whose process died, is still `received` in the store, and the sweep picks it up.

pub mod process;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::ingest::StoredWebhook;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::webhooks::NewInbound;

/// `[intake]`: how webhooks are stored and processed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Most webhooks stored by one commit.
    pub max_batch: usize,
    /// Batches committing at once (while one commits, the next fills).
    pub writers: usize,
    /// Workers ingesting stored webhooks, and the most webhooks one ingest transaction takes.
    pub process_workers: usize,
    pub process_batch: usize,
    /// Parsed webhooks waiting in memory for a processing worker; beyond this they wait in the
    /// store for the sweep.
    pub queue_capacity: usize,
    /// A webhook still `received` this long after it arrived is processed by the sweep, which
    /// runs every `sweep_secs` (and once at start).
    pub recover_after_secs: u64,
    pub sweep_secs: u64,
}

/// Why a webhook could not be stored: the caller answers 503 and the carrier sends it again.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("could not store the webhook: {0}")]
    Store(String),
    #[error("the intake is shut down")]
    Closed,
}

struct Pending {
    row: NewInbound,
    reply: oneshot::Sender<Result<i64, String>>,
}

/// The handle the webhook endpoint uses; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    rows: mpsc::Sender<Pending>,
    parsed: mpsc::Sender<StoredWebhook>,
    /// Taken by [`process::start`]; `None` once processing runs.
    parsed_receiver: Arc<std::sync::Mutex<Option<mpsc::Receiver<StoredWebhook>>>>,
    /// Set when a hand-off did not fit: the sweep then takes unprocessed webhooks at once
    /// instead of waiting `recover_after_secs` (memory stays bounded, latency only suffers).
    overflowed: Arc<AtomicBool>,
    /// Wakes the sweep on an overflow.
    pub(crate) wake_sweep: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

impl Intake {
    /// Start the writers. They end when every `Intake` handle is dropped.
    pub fn start(store: &Store, settings: &IntakeSettings, metrics: &Metrics) -> Intake {
        let max_batch = settings.max_batch.max(1);
        let (rows, receiver) = mpsc::channel(max_batch * settings.writers.max(1) * 2);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(run_writer(
                store.clone(),
                receiver.clone(),
                max_batch,
                metrics.clone(),
            ));
        }
        let (parsed, parsed_receiver) = mpsc::channel(settings.queue_capacity.max(1));
        Intake {
            rows,
            parsed,
            parsed_receiver: Arc::new(std::sync::Mutex::new(Some(parsed_receiver))),
            overflowed: Arc::new(AtomicBool::new(false)),
            wake_sweep: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Store one webhook durably (with whatever else is being stored at this moment) and return
    /// its id.
    pub async fn store(&self, row: NewInbound) -> Result<i64, IntakeError> {
        let (reply, answer) = oneshot::channel();
        self.rows
            .send(Pending { row, reply })
            .await
            .map_err(|_| IntakeError::Closed)?;
        answer
            .await
            .map_err(|_| IntakeError::Closed)?
            .map_err(IntakeError::Store)
    }

    /// Hand a stored, parsed webhook to the processing workers without waiting. When they are
    /// that far behind, it stays `received` in the store and the sweep processes it later.
    pub fn hand_off(&self, webhook: StoredWebhook) {
        if let Err(err) = self.parsed.try_send(webhook) {
            let inbound_id = match &err {
                mpsc::error::TrySendError::Full(w) | mpsc::error::TrySendError::Closed(w) => {
                    w.inbound_id
                }
            };
            self.overflowed.store(true, Ordering::Relaxed);
            self.wake_sweep.notify_one();
            tracing::debug!(
                inbound_id,
                "processing queue full; the sweep will process it"
            );
        }
    }

    /// Whether a hand-off overflowed since the last call (and clear the flag).
    fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::Relaxed)
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<StoredWebhook>> {
        self.parsed_receiver.lock().expect("not poisoned").take()
    }
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
            match recv_batch(&mut receiver, max_batch).await {
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
                let message = err.to_string();
                tracing::error!(count = replies.len(), error = %message, "could not store webhooks; they are refused (503)");
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

/// Wait for one item, then take every other one already waiting, up to `max`: a batch as large
/// as the backlog, never waiting for more. `None` once the channel is closed.
pub(crate) async fn recv_batch<T>(receiver: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = receiver.recv().await?;
    let mut batch = Vec::with_capacity(max.min(64));
    batch.push(first);
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}
