//! The sweep: webhooks left `received` (a full hand-off queue, a process that died, a batch
//! that failed) are parsed again from the store and handed to the processing workers.
//!
//! Every `sweep_secs` (and at once at start) it takes webhooks still `received` after
//! `recover_after_secs` — or of any age after the in-memory hand-off overflowed, since then none
//! of them is in memory. Rows are taken above a watermark so rows already handed over are not
//! handed over again; when nothing is left above it, the next sweep starts from the beginning,
//! retrying whatever an earlier failure left behind (ingest is idempotent, so a webhook
//! ingested twice changes nothing).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Shared, StoredParse};

/// Rows taken per round.
const ROUND: u64 = 500;

pub(super) async fn run_sweep(shared: Arc<Shared>, shutdown: CancellationToken) {
    let recover_after = Duration::from_secs(shared.settings.recover_after_secs);
    let pause = Duration::from_secs(shared.settings.sweep_secs.max(1));
    let mut watermark = 0;
    let mut catching_up = false;
    loop {
        catching_up |= shared.take_overflow();
        let older_than = if catching_up {
            Duration::ZERO
        } else {
            recover_after
        };
        match shared
            .store
            .stale_received_webhooks(older_than, watermark, ROUND)
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
                    match shared.parse_stored(&row) {
                        Ok(webhook) => tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = shared.partition(&webhook).send(webhook) => {}
                        },
                        Err(StoredParse::CarrierGone) => {
                            tracing::warn!(inbound_id = row.id, carrier = %row.carrier_id, "carrier no longer configured; webhook left as received");
                        }
                        Err(StoredParse::Unparseable(cause)) => {
                            shared.record_failed(&row.carrier_id, row.id, &cause).await;
                        }
                    }
                }
                continue;
            }
            Err(err) => tracing::warn!(error = %err, "webhook sweep failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.wake_sweep.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
