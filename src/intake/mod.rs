//! The webhook pipeline, whole: verify, parse, store (group commit), hand off, ingest in batches,
//! sweep what was left, reprocess on demand — and one place that records each webhook's outcome.
//!
//! The HTTP endpoint only translates: it calls [`Intake::verify`] and [`Intake::accept`] and
//! maps their errors to answers. `accept` parses the verified body (pure, microseconds), stores
//! the raw webhook through a *writer* ([`writer`]) that commits every webhook waiting at that
//! moment with one multi-row `INSERT` (so a 2xx always means "durably stored", at far more than
//! the database's commit rate), and hands the parsed outcome in memory to the processing
//! workers ([`process`]), which ingest batches in one transaction each. A body we cannot parse
//! is stored as `failed` and refused (400), so nothing verified is ever lost.
//!
//! The store stays the truth: a webhook whose hand-off did not fit in memory, or whose process
//! died, is still `received`, and the sweep ([`sweep`]) picks it up. `trackgate reprocess`
//! ([`reprocess`]) runs stored webhooks through the same path after a parser fix. Every outcome
//! — rejected, failed, processed, partial — is recorded by [`outcome`], with its metrics.

mod outcome;
mod process;
mod reprocess;
mod sweep;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trackgate_carriers::{Inbound, ParseError, SignatureError, Unverified, Verified};

use crate::config::IntakeSettings;
use crate::health::Health;
use crate::ingest::StoredWebhook;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::registry::{CarrierInstance, Registry};
use crate::store::entities::inbound_webhook;
use crate::store::states::WebhookOutcome;
use crate::store::webhooks::{NewInbound, decode_headers};
use crate::store::{Store, StoreError};
pub use reprocess::{ReprocessError, ReprocessSummary};

/// A webhook whose signature did not verify: nothing was stored.
#[derive(Debug, thiserror::Error)]
#[error("webhook for carrier instance `{carrier_id}` refused")]
pub struct Rejected {
    pub carrier_id: String,
    #[source]
    pub cause: SignatureError,
}

/// Why a verified webhook was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Stored as `failed` (kept for `trackgate reprocess`), but its body could not be parsed.
    #[error("the webhook body could not be parsed; it is stored as inbound webhook {inbound_id}")]
    Unparseable {
        inbound_id: i64,
        #[source]
        cause: ParseError,
    },
    /// Not stored, so not acknowledged: the carrier must send it again.
    #[error("the webhook could not be stored")]
    NotStored(#[source] StoreFailure),
}

/// Why the group commit did not store a webhook.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreFailure {
    #[error("its batch failed to commit")]
    Store(#[source] Arc<StoreError>),
    #[error("the intake is shut down")]
    Closed,
}

/// The webhook pipeline's handle; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    shared: Arc<Shared>,
}

/// What every part of the pipeline shares.
struct Shared {
    store: Store,
    queue: Queue,
    live: Live,
    registry: Registry,
    metrics: Metrics,
    health: Health,
    settings: IntakeSettings,
    /// To the group-commit writers.
    rows: mpsc::Sender<writer::Pending>,
    /// Parsed webhooks for the processing workers: one channel per worker, a shipment always
    /// on the same one ([`Shared::partition`]), so concurrent batches never wait for each
    /// other's row locks.
    parsed: Vec<mpsc::Sender<StoredWebhook>>,
    /// Taken by [`Intake::start_processing`]; `None` once processing runs.
    parsed_receivers: std::sync::Mutex<Option<Vec<mpsc::Receiver<StoredWebhook>>>>,
    /// Set when a hand-off did not fit: the sweep then takes unprocessed webhooks at once
    /// instead of waiting `recover_after_secs` (memory stays bounded, latency only suffers).
    overflowed: AtomicBool,
    wake_sweep: Notify,
    /// Small ingest batches committing at once, across the workers ([`process::run_worker`]).
    small_batch_turns: Semaphore,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

impl Intake {
    /// Start the group-commit writers (they end when every `Intake` handle is dropped).
    /// Processing starts separately ([`Intake::start_processing`]), so a command such as
    /// `trackgate reprocess` can use the pipeline without running workers.
    pub fn start(
        store: Store,
        queue: Queue,
        live: Live,
        registry: Registry,
        metrics: Metrics,
        health: Health,
        settings: IntakeSettings,
    ) -> Intake {
        let rows = writer::spawn(&store, &metrics, &settings);
        let workers = settings.process_workers.max(1);
        let (parsed, parsed_receivers): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| mpsc::channel((settings.queue_capacity / workers).max(1)))
            .unzip();
        Intake {
            shared: Arc::new(Shared {
                store,
                queue,
                live,
                registry,
                metrics,
                health,
                settings,
                rows,
                parsed,
                parsed_receivers: std::sync::Mutex::new(Some(parsed_receivers)),
                overflowed: AtomicBool::new(false),
                wake_sweep: Notify::new(),
                small_batch_turns: Semaphore::new(process::SMALL_BATCH_TURNS),
            }),
        }
    }

    /// Check the webhook's signature with its carrier instance's adapter.
    pub fn verify(
        &self,
        carrier: &CarrierInstance,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, Rejected> {
        // During a rotation's grace period a copy is kept, for the previous secret's check.
        let previous = carrier.previous_in_grace().map(|adapter| {
            let copy = Inbound::new(inbound.headers().to_vec(), inbound.body().to_vec());
            (adapter, copy)
        });
        let cause = match carrier.adapter.verify_webhook(inbound) {
            Ok(verified) => return Ok(verified),
            Err(cause) => cause,
        };
        let rotatable = matches!(
            cause,
            SignatureError::Mismatch | SignatureError::Missing(_) | SignatureError::Malformed(_)
        );
        if let Some((adapter, copy)) = previous
            && rotatable
            && let Ok(verified) = adapter.verify_webhook(copy)
        {
            self.shared
                .metrics
                .ops
                .previous_secret_accepted
                .with_label_values(&[carrier.id.as_str()])
                .inc();
            return Ok(verified);
        }
        self.shared.record_rejected(&carrier.id, &cause);
        Err(Rejected {
            carrier_id: carrier.id.clone(),
            cause,
        })
    }

    /// Parse, store durably (with whatever else is being stored at this moment) and hand off a
    /// verified webhook. `Ok(id)` means stored: the caller may acknowledge it. What the store
    /// cannot hold (U+0000, impossible dates) is cleaned from the parsed outcome before the
    /// answer, each change a problem on the webhook; the raw body is kept as it came.
    pub async fn accept(
        &self,
        carrier: &CarrierInstance,
        verified: Inbound<Verified>,
    ) -> Result<i64, AcceptError> {
        let parsed = carrier.parse_webhook(&verified);
        let (headers, body) = verified.into_parts();
        let mut row = NewInbound::new(&carrier.id, &headers, body)
            .map_err(|err| AcceptError::NotStored(StoreFailure::Store(Arc::new(err))))?;
        if let Err(cause) = &parsed {
            row.outcome = WebhookOutcome::Failed;
            row.error = Some(cause.to_string());
        }
        let inbound_id = self.store(row).await.map_err(|failure| {
            tracing::error!(carrier = %carrier.id, error = %failure, "could not store webhook; refused so the carrier sends it again");
            AcceptError::NotStored(failure)
        })?;
        match parsed {
            Ok(outcome) => {
                self.shared.hand_off(StoredWebhook {
                    inbound_id,
                    carrier_id: carrier.id.clone(),
                    outcome,
                });
                Ok(inbound_id)
            }
            Err(cause) => {
                self.shared
                    .record_failed_on_arrival(&carrier.id, inbound_id, &cause);
                Err(AcceptError::Unparseable { inbound_id, cause })
            }
        }
    }

    /// Store one webhook through the group commit and return its id.
    async fn store(&self, row: NewInbound) -> Result<i64, StoreFailure> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .rows
            .send(writer::Pending { row, reply })
            .await
            .map_err(|_| StoreFailure::Closed)?;
        answer.await.map_err(|_| StoreFailure::Closed)?
    }

    /// Start the processing workers and the sweep on `tracker`; they stop when `shutdown` is
    /// cancelled, each after the batch it holds. Does nothing if processing already runs.
    pub fn start_processing(&self, shutdown: &CancellationToken, tracker: &TaskTracker) {
        let receivers = self
            .shared
            .parsed_receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(receivers) = receivers else { return };
        for receiver in receivers {
            let worker = process::run_worker(self.shared.clone(), receiver, shutdown.clone());
            tracker.spawn(worker);
        }
        tracker.spawn(sweep::run_sweep(self.shared.clone(), shutdown.clone()));
    }
}

/// Why a stored webhook could not become a parsed one.
enum StoredParse {
    /// Its carrier instance is no longer configured: left as it is.
    CarrierGone,
    Unparseable(ParseError),
}

impl Shared {
    /// Hand a stored, parsed webhook to the processing workers without waiting. When they are
    /// that far behind, it stays `received` in the store and the sweep processes it later.
    fn hand_off(&self, webhook: StoredWebhook) {
        if let Err(err) = self.partition(&webhook).try_send(webhook) {
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

    /// The processing channel of a webhook: chosen by its first update's shipment (carrier
    /// instance and number), so all webhooks of one shipment go to one worker, in order.
    fn partition(&self, webhook: &StoredWebhook) -> &mpsc::Sender<StoredWebhook> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        webhook.carrier_id.hash(&mut hasher);
        if let Some(update) = webhook.outcome.updates.first() {
            update.tracking_number.hash(&mut hasher);
        }
        &self.parsed[hasher.finish() as usize % self.parsed.len()]
    }

    /// Whether a hand-off overflowed since the last call (and clear the flag).
    fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::Relaxed)
    }

    /// Parse a stored webhook again: the one place a verified webhook is rebuilt from its row.
    /// Its signature was checked when it arrived, and the secret may have been rotated since.
    fn parse_stored(&self, row: &inbound_webhook::Model) -> Result<StoredWebhook, StoredParse> {
        let carrier = self
            .registry
            .get(&row.carrier_id)
            .ok_or(StoredParse::CarrierGone)?;
        let verified = Inbound::new(decode_headers(row), row.body.clone()).assume_verified();
        let outcome = carrier
            .parse_webhook(&verified)
            .map_err(StoredParse::Unparseable)?;
        Ok(StoredWebhook {
            inbound_id: row.id,
            carrier_id: row.carrier_id.clone(),
            outcome,
        })
    }
}
