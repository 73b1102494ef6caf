//! The one write path: every carrier update, from a poll or a webhook, is stored here.
//!
//! Updates are applied in batches (a poll's answer, or every webhook a worker took at once), each
//! in one transaction with a fixed number of statements ([`batch`]): lock the shipments, read
//! their events, apply each update in memory ([`apply`]: new events by dedupe key, the status
//! re-derived from the full set with [`crate::domain::status::derive_status`], and — when
//! anything the mall should know changed — the next push sequence and a push-outbox row), then
//! write events, shipments, outbox rows and each webhook's outcome
//! ([`IngestReport::webhook_outcome`] decides it) with one statement each. With the embedded
//! queue the push tasks are rows of the same transaction; with RabbitMQ they are published after
//! the commit, and if the process dies in between the outbox relay publishes them
//! (see [`crate::push::relay_unenqueued`]).

mod apply;
mod batch;
mod change;
mod expire;
mod stop;

use serde::Serialize;
use trackgate_carriers::{ParseOutcome, Problem};

use crate::live::{Live, Note};
use crate::queue::Queue;
use crate::store::batch::Writes;
use crate::store::states::{EventSource, WebhookOutcome};
use crate::store::{Store, StoreError};
use apply::Origin;
use batch::{Item, Queued, apply_batch};
pub use expire::expire;
use stop::stop_tracking;

/// What one ingest did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestReport {
    pub events_inserted: usize,
    pub duplicates: usize,
    pub status_changes: usize,
    /// Tracking numbers the payload mentioned that are not registered for this carrier.
    pub unmatched: Vec<String>,
    /// Registered shipments the carrier stopped tracking; they are no longer polled.
    pub stopped: Vec<String>,
    /// Tracking numbers that got at least one new event.
    pub changed: Vec<String>,
    pub problems: Vec<Problem>,
    /// The pushes written, announced to live streams once the transaction has committed.
    #[serde(skip)]
    pub notes: Vec<Note>,
}

impl IngestReport {
    /// A one-line summary of what needs a human, if anything.
    pub fn trouble(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .problems
            .iter()
            .map(|p| match &p.tracking_number {
                Some(number) => format!("{number}: {}", p.message),
                None => p.message.clone(),
            })
            .collect();
        if !self.unmatched.is_empty() {
            parts.push(format!("not registered: {}", self.unmatched.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// The outcome of the webhook this report is about, and the row's `error`: `partial` when
    /// anything needs a human, else `processed`. The one place that decides it.
    pub fn webhook_outcome(&self) -> (WebhookOutcome, Option<String>) {
        match self.trouble() {
            Some(trouble) => (WebhookOutcome::Partial, Some(trouble)),
            None => (WebhookOutcome::Processed, None),
        }
    }
}

/// Store a poll's parse outcome for one carrier instance and enqueue the resulting pushes: all
/// its updates in one batch transaction ([`batch`]). The outcome comes from
/// [`crate::registry::CarrierInstance::parse_poll_response`]: storable, numbers canonical.
pub async fn ingest_polled(
    store: &Store,
    queue: &Queue,
    live: &Live,
    carrier_id: &str,
    outcome: ParseOutcome,
) -> Result<IngestReport, StoreError> {
    let origin = Origin {
        carrier_id,
        source: EventSource::Poll,
        inbound_webhook_id: None,
    };
    let mut reports = vec![IngestReport {
        problems: outcome.problems,
        ..Default::default()
    }];
    let items: Vec<Item> = outcome
        .updates
        .iter()
        .map(|update| Item {
            origin,
            update,
            report: 0,
        })
        .collect();
    let stopped = [(carrier_id, outcome.stopped.as_slice())];
    ingest_batch(store, queue, live, &items, &mut reports, &stopped, None).await?;
    Ok(reports.pop().unwrap_or_default())
}

/// A stored, parsed webhook waiting to be ingested.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub inbound_id: i64,
    pub carrier_id: String,
    pub outcome: ParseOutcome,
}

/// Ingest many stored webhooks in one transaction with a fixed number of statements
/// ([`batch`]): the events, statuses and outbox rows of every update, and each webhook's
/// outcome, commit together (one durable commit for the batch). Shipments are locked in id
/// order, so concurrent batches cannot deadlock one another; updates of one shipment keep their
/// arrival order. Returns one report per webhook, in the order given. On an error nothing of
/// the batch is stored, and the caller may retry the webhooks one by one.
pub async fn ingest_webhooks(
    store: &Store,
    queue: &Queue,
    live: &Live,
    webhooks: &[StoredWebhook],
) -> Result<Vec<IngestReport>, StoreError> {
    let mut reports: Vec<IngestReport> = webhooks
        .iter()
        .map(|webhook| IngestReport {
            problems: webhook.outcome.problems.clone(),
            ..Default::default()
        })
        .collect();
    let items: Vec<Item> = webhooks
        .iter()
        .enumerate()
        .flat_map(|(report, webhook)| {
            let origin = Origin {
                carrier_id: &webhook.carrier_id,
                source: EventSource::Webhook,
                inbound_webhook_id: Some(webhook.inbound_id),
            };
            webhook.outcome.updates.iter().map(move |update| Item {
                origin,
                update,
                report,
            })
        })
        .collect();
    let stopped: Vec<(&str, &[String])> = webhooks
        .iter()
        .map(|w| (w.carrier_id.as_str(), w.outcome.stopped.as_slice()))
        .collect();
    let ids: Vec<i64> = webhooks.iter().map(|w| w.inbound_id).collect();
    ingest_batch(
        store,
        queue,
        live,
        &items,
        &mut reports,
        &stopped,
        Some(&ids),
    )
    .await?;
    Ok(reports)
}

/// One batch in one transaction: apply the items, stop tracking what each report's carrier gave
/// up (`stopped[i]` for `reports[i]`), write each webhook's outcome when the reports are about
/// stored webhooks (`webhook_ids[i]` for `reports[i]`), commit, then [`after_commit`].
async fn ingest_batch(
    store: &Store,
    queue: &Queue,
    live: &Live,
    items: &[Item<'_>],
    reports: &mut [IngestReport],
    stopped: &[(&str, &[String])],
    webhook_ids: Option<&[i64]>,
) -> Result<(), StoreError> {
    let txn = store.begin_write().await?;
    let mut writes = Writes::new(store.backend());
    let queued = apply_batch(&txn, items, reports, queue.tasks_in_store(), &mut writes).await?;
    for ((carrier_id, numbers), report) in stopped.iter().zip(reports.iter_mut()) {
        stop_tracking(&txn, carrier_id, numbers, report).await?;
    }
    if let Some(ids) = webhook_ids {
        let outcomes: Vec<_> = ids
            .iter()
            .zip(reports.iter())
            .map(|(id, report)| {
                let (outcome, error) = report.webhook_outcome();
                (*id, outcome, error)
            })
            .collect();
        Store::set_each_webhook_outcome(&mut writes, &outcomes);
    }
    writes.execute(&txn).await?;
    txn.commit().await?;
    after_commit(store, queue, live, queued, reports).await;
    Ok(())
}

/// What follows a batch's commit: its pushes onto the queue (or the embedded queue's workers
/// woken: the rows are already there), and its changes announced to live streams.
async fn after_commit(
    store: &Store,
    queue: &Queue,
    live: &Live,
    queued: Queued,
    reports: &[IngestReport],
) {
    if queued.wrote_tasks {
        queue.wake();
    }
    if !queued.to_enqueue.is_empty() {
        // Published (and confirmed) beside the next batch, not before it: the worker goes on
        // ingesting while the broker confirms. The rows are marked a moment later, those not
        // delivered by then; if this process dies first, the relay publishes them again.
        let (store, queue) = (store.clone(), queue.clone());
        tokio::spawn(async move {
            crate::push::enqueue_new_many(&store, &queue, queued.to_enqueue).await;
        });
    }
    // Cloned, not taken: the caller logs which shipments the webhook moved.
    live.announce(
        reports
            .iter()
            .flat_map(|r| r.notes.iter().cloned())
            .collect(),
    );
}
