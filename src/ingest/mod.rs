//! The one write path: every carrier update, from a poll or a webhook, is stored here.
//!
//! For each tracking update, in one transaction: find the shipment, insert its events
//! (duplicates fall away on the unique `(shipment_id, dedupe_key)` index), re-derive the status
//! from the full event set with [`crate::domain::status::derive_status`], and, when the status or
//! sub-status changed, bump the shipment's push sequence and write a push-outbox row. After the
//! commit the outbox rows are handed to the queue; if the process dies in between, the outbox
//! relay re-enqueues them at start-up (see [`crate::push::relay_unenqueued`]).

mod apply;
mod expire;

use sea_orm::TransactionTrait;
use serde::Serialize;
use trackgate_carriers::{ParseOutcome, Problem};

use crate::queue::Queue;
use crate::store::webhooks::outcome;
use crate::store::{Store, StoreError};
use apply::{apply_update, stop_tracking};
pub use expire::expire;

/// Where an update came from (stored on each event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Poll,
    Webhook,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Poll => "poll",
            Source::Webhook => "webhook",
        }
    }
}

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
}

impl IngestReport {
    /// A one-line summary for the inbound webhook's `error` column, if anything needs a human.
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
}

/// Store a parse outcome for one carrier instance and enqueue the resulting pushes: one
/// transaction per tracking update (the poller's and `trackgate reprocess`'s path).
pub async fn ingest(
    store: &Store,
    queue: &Queue,
    carrier_id: &str,
    source: Source,
    inbound_webhook_id: Option<i64>,
    outcome: ParseOutcome,
) -> Result<IngestReport, StoreError> {
    let mut report = IngestReport {
        problems: outcome.problems,
        ..Default::default()
    };
    let mut outbox_ids = Vec::new();
    for update in outcome.updates {
        let txn = store.conn().begin().await?;
        let applied = apply_update(
            &txn,
            carrier_id,
            source,
            inbound_webhook_id,
            update,
            &mut report,
        )
        .await?;
        txn.commit().await?;
        outbox_ids.extend(applied);
    }
    if !outcome.stopped.is_empty() {
        let txn = store.conn().begin().await?;
        stop_tracking(&txn, carrier_id, &outcome.stopped, &mut report).await?;
        txn.commit().await?;
    }
    crate::push::enqueue_new_many(store, queue, &outbox_ids).await;
    Ok(report)
}

/// A stored, parsed webhook waiting to be ingested.
#[derive(Debug)]
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
    mut webhooks: Vec<StoredWebhook>,
) -> Result<Vec<IngestReport>, StoreError> {
    let mut reports = Vec::with_capacity(webhooks.len());
    let mut updates = Vec::new();
    for (index, webhook) in webhooks.iter_mut().enumerate() {
        reports.push(IngestReport {
            problems: std::mem::take(&mut webhook.outcome.problems),
            ..Default::default()
        });
        for update in std::mem::take(&mut webhook.outcome.updates) {
            updates.push((index, update));
        }
    }
    updates.sort_by(|(a, x), (b, y)| {
        (&webhooks[*a].carrier_id, &x.tracking_number)
            .cmp(&(&webhooks[*b].carrier_id, &y.tracking_number))
    });
    let mut outbox_ids = Vec::new();
    let txn = store.conn().begin().await?;
    for (index, update) in updates {
        let webhook = &webhooks[index];
        let applied = apply_update(
            &txn,
            &webhook.carrier_id,
            Source::Webhook,
            Some(webhook.inbound_id),
            update,
            &mut reports[index],
        )
        .await?;
        outbox_ids.extend(applied);
    }
    for (webhook, report) in webhooks.iter().zip(reports.iter_mut()) {
        stop_tracking(&txn, &webhook.carrier_id, &webhook.outcome.stopped, report).await?;
    }
    let mut processed = Vec::new();
    for (webhook, report) in webhooks.iter().zip(&reports) {
        match report.trouble() {
            None => processed.push(webhook.inbound_id),
            Some(trouble) => {
                Store::set_webhook_outcomes(
                    &txn,
                    &[webhook.inbound_id],
                    outcome::PARTIAL,
                    Some(trouble),
                )
                .await?
            }
        }
    }
    Store::set_webhook_outcomes(&txn, &processed, outcome::PROCESSED, None).await?;
    txn.commit().await?;
    crate::push::enqueue_new_many(store, queue, &outbox_ids).await;
    Ok(reports)
}
