//! Processing stored webhooks: workers that ingest them in batches, and the sweep that finds
//! the ones left `received` (a full hand-off queue, a process that died, a failed batch).
//!
//! A batch is one transaction ([`crate::ingest::ingest_webhooks`]): under load a worker takes
//! every parsed webhook waiting (up to `intake.process_batch`), so commits per webhook fall as
//! the rate rises. If a batch fails, each of its webhooks is processed on its own from the
//! stored row, so one bad webhook cannot hold the others back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use trackgate_carriers::Inbound;

use crate::inbound::{ProcessError, process_inbound};
use crate::ingest::{StoredWebhook, ingest_webhooks};
use crate::startup::{Gateway, Shutdown};
use crate::store::webhooks::{decode_headers, outcome};

/// Start the processing workers and the sweep; they stop when `shutdown` fires, each after
/// the batch it holds. Returns their handles (empty if processing already runs).
pub fn start(gateway: &Gateway, shutdown: &Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(receiver) = gateway.intake.take_receiver() else {
        return Vec::new();
    };
    let settings = &gateway.settings.intake;
    let receiver = Arc::new(Mutex::new(receiver));
    let mut handles = Vec::new();
    for _ in 0..settings.process_workers.max(1) {
        handles.push(tokio::spawn(run_worker(
            gateway.clone(),
            receiver.clone(),
            settings.process_batch.max(1),
            shutdown.clone(),
        )));
    }
    handles.push(tokio::spawn(run_sweep(gateway.clone(), shutdown.clone())));
    handles
}

async fn run_worker(
    gateway: Gateway,
    receiver: Arc<Mutex<mpsc::Receiver<StoredWebhook>>>,
    max_batch: usize,
    shutdown: Shutdown,
) {
    loop {
        let batch = {
            let mut receiver = tokio::select! {
                _ = shutdown.wait() => return,
                receiver = receiver.lock() => receiver,
            };
            let batch = tokio::select! {
                _ = shutdown.wait() => return,
                batch = super::recv_batch(&mut receiver, max_batch) => batch,
            };
            let Some(batch) = batch else { return };
            batch
        };
        process_batch(&gateway, batch).await;
    }
}

/// Ingest a batch in one transaction; on failure, each webhook on its own.
pub async fn process_batch(gateway: &Gateway, batch: Vec<StoredWebhook>) {
    let labels: Vec<(i64, String)> = batch
        .iter()
        .map(|w| (w.inbound_id, w.carrier_id.clone()))
        .collect();
    let started = std::time::Instant::now();
    let result = ingest_webhooks(&gateway.store, &gateway.queue, batch).await;
    gateway
        .metrics
        .observe_batch("ingest", labels.len(), started.elapsed());
    match result {
        Ok(reports) => {
            for ((_, carrier_id), report) in labels.iter().zip(&reports) {
                let result = if report.trouble().is_some() {
                    outcome::PARTIAL
                } else {
                    outcome::PROCESSED
                };
                let metrics = &gateway.metrics;
                metrics
                    .webhooks
                    .with_label_values(&[carrier_id.as_str(), result])
                    .inc();
                metrics
                    .events_ingested
                    .with_label_values(&[carrier_id.as_str(), "webhook"])
                    .inc_by(report.events_inserted as u64);
            }
        }
        Err(err) => {
            tracing::warn!(count = labels.len(), error = %err, "webhook batch failed; processing its webhooks one by one");
            for (inbound_id, _) in labels {
                process_stored(gateway, inbound_id).await;
            }
        }
    }
}

/// Process one stored webhook from its row (the fallback and the sweep's slow path).
async fn process_stored(gateway: &Gateway, inbound_id: i64) {
    let row = match gateway.store.inbound_webhook(inbound_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(inbound_id, error = %err, "stored webhook not readable now; the sweep retries it");
            return;
        }
    };
    let Some(carrier) = gateway.registry.get(&row.carrier_id) else {
        tracing::warn!(inbound_id, carrier = %row.carrier_id, "carrier no longer configured; webhook left as received");
        return;
    };
    let verified = Inbound::new(decode_headers(&row), row.body).assume_verified();
    match process_inbound(gateway, &carrier, inbound_id, &verified).await {
        Ok(_) | Err(ProcessError::Unparseable(_)) => {}
        Err(ProcessError::Store(err)) => {
            tracing::warn!(inbound_id, error = %err, "webhook not processed; the sweep retries it")
        }
    }
}

/// Every `sweep_secs` (and at once at start): parse and hand to the workers the webhooks still
/// `received` after `recover_after_secs` — or of any age after the in-memory hand-off
/// overflowed. Rows are taken above a watermark so rows already
/// handed over are not handed over again; when nothing is left above it, the next sweep starts
/// from the beginning, retrying whatever an earlier failure left behind (processing is
/// idempotent, so a webhook processed twice changes nothing).
async fn run_sweep(gateway: Gateway, shutdown: Shutdown) {
    let settings = gateway.settings.intake.clone();
    let recover_after = Duration::from_secs(settings.recover_after_secs);
    let mut watermark = 0;
    let mut catching_up = false;
    loop {
        // After an overflow, unprocessed webhooks of any age are taken (none is in memory).
        catching_up |= gateway.intake.take_overflow();
        let older_than = if catching_up {
            Duration::ZERO
        } else {
            recover_after
        };
        match gateway
            .store
            .stale_received_webhooks(older_than, watermark, 500)
            .await
        {
            Ok(rows) if rows.is_empty() => {
                watermark = 0;
                catching_up = false;
            }
            Ok(rows) => {
                tracing::info!(count = rows.len(), "processing webhooks left unprocessed");
                for row in rows {
                    watermark = watermark.max(row.id);
                    let Some(carrier) = gateway.registry.get(&row.carrier_id) else {
                        continue;
                    };
                    let verified =
                        Inbound::new(decode_headers(&row), row.body.clone()).assume_verified();
                    match carrier.adapter.parse_webhook(&verified) {
                        Ok(parsed) => {
                            let webhook = StoredWebhook {
                                inbound_id: row.id,
                                carrier_id: row.carrier_id.clone(),
                                outcome: parsed,
                            };
                            tokio::select! {
                                _ = shutdown.wait() => return,
                                _ = gateway.intake.parsed.send(webhook) => {}
                            }
                        }
                        // Records the failure on the row.
                        Err(_) => process_stored(&gateway, row.id).await,
                    }
                }
                continue;
            }
            Err(err) => tracing::warn!(error = %err, "webhook sweep failed"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = gateway.intake.wake_sweep.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(settings.sweep_secs.max(1))) => {}
        }
    }
}
