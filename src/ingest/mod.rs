//! The one write path: every carrier update, from a poll or a webhook, is stored here.
//!
//! For each tracking update, in one transaction: find the shipment, insert its events
//! (duplicates fall away on the unique `(shipment_id, dedupe_key)` index), re-derive the status
//! from the full event set with [`crate::domain::status::derive_status`], and, when anything the
//! mall should know changed (the status, new events, the estimated delivery), bump the
//! shipment's push sequence and write a push-outbox row. After the
//! commit the outbox rows are handed to the queue; if the process dies in between, the outbox
//! relay re-enqueues them (see [`crate::push::relay_unenqueued`]). Webhooks are ingested in
//! batches, each webhook's outcome written in the batch's transaction
//! ([`IngestReport::webhook_outcome`] decides it).

mod apply;
mod change;
mod expire;

use serde::Serialize;
use trackgate_carriers::{ParseOutcome, Problem};

use crate::live::{Live, Note};
use crate::queue::Queue;
use crate::store::states::{EventSource, WebhookOutcome};
use crate::store::{Store, StoreError};
use apply::{Origin, apply_update, stop_tracking};
pub use expire::expire;

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

/// Store a poll's parse outcome for one carrier instance and enqueue the resulting pushes: one
/// transaction per tracking update. The outcome comes from
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
    let mut report = IngestReport {
        problems: outcome.problems,
        ..Default::default()
    };
    let mut outbox_ids = Vec::new();
    for update in &outcome.updates {
        let txn = store.begin_write().await?;
        let applied = apply_update(&txn, origin, update, &mut report).await?;
        txn.commit().await?;
        outbox_ids.extend(applied);
    }
    if !outcome.stopped.is_empty() {
        let txn = store.begin_write().await?;
        stop_tracking(&txn, carrier_id, &outcome.stopped, &mut report).await?;
        txn.commit().await?;
    }
    crate::push::enqueue_new_many(store, queue, &outbox_ids).await;
    // Cloned, not taken: the caller logs which shipments the webhook moved.
    live.announce(report.notes.clone());
    Ok(report)
}

/// A stored, parsed webhook waiting to be ingested.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub inbound_id: i64,
    pub carrier_id: String,
    pub outcome: ParseOutcome,
}

/// Ingest many stored webhooks in one transaction: the events, statuses and outbox rows of
/// every update, and each webhook's outcome, commit together (one durable commit for the
/// batch). Updates are applied in (carrier, tracking number) order, so concurrent batches lock
/// shipment rows in the same order and cannot deadlock one another; updates of one shipment
/// keep their arrival order. Returns one report per webhook, in the order given. On an error
/// nothing of the batch is stored, and the caller may retry the webhooks one by one.
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
    let mut updates: Vec<(usize, &trackgate_carriers::TrackingUpdate)> = webhooks
        .iter()
        .enumerate()
        .flat_map(|(index, webhook)| webhook.outcome.updates.iter().map(move |u| (index, u)))
        .collect();
    updates.sort_by(|(a, x), (b, y)| {
        (&webhooks[*a].carrier_id, &x.tracking_number)
            .cmp(&(&webhooks[*b].carrier_id, &y.tracking_number))
    });
    let mut outbox_ids = Vec::new();
    let txn = store.begin_write().await?;
    for (index, update) in updates {
        let webhook = &webhooks[index];
        let origin = Origin {
            carrier_id: &webhook.carrier_id,
            source: EventSource::Webhook,
            inbound_webhook_id: Some(webhook.inbound_id),
        };
        outbox_ids.extend(apply_update(&txn, origin, update, &mut reports[index]).await?);
    }
    for (webhook, report) in webhooks.iter().zip(reports.iter_mut()) {
        stop_tracking(&txn, &webhook.carrier_id, &webhook.outcome.stopped, report).await?;
    }
    let mut processed = Vec::new();
    for (webhook, report) in webhooks.iter().zip(&reports) {
        match report.webhook_outcome() {
            (WebhookOutcome::Processed, _) => processed.push(webhook.inbound_id),
            (outcome, error) => {
                Store::set_webhook_outcomes(&txn, &[webhook.inbound_id], outcome, error).await?
            }
        }
    }
    Store::set_webhook_outcomes(&txn, &processed, WebhookOutcome::Processed, None).await?;
    txn.commit().await?;
    crate::push::enqueue_new_many(store, queue, &outbox_ids).await;
    live.announce(
        reports
            .iter()
            .flat_map(|r| r.notes.iter().cloned())
            .collect(),
    );
    Ok(reports)
}
