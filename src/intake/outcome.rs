//! The one place that records what became of a webhook — the row's outcome where it is not
//! written by the ingest transaction itself, the log line, and `trackgate_webhooks_total`.
//!
//! Outcomes: `rejected` (bad signature, nothing stored), `failed` (stored, unparseable),
//! `processed` and `partial` (decided by [`crate::ingest::IngestReport::webhook_outcome`] and
//! written in the ingest transaction; counted here), `quarantined` (the database refused its
//! data `intake.max_attempts` times). Signature rejections are logged at a sampled rate: a flood
//! of bad signatures must not flood the log (the counter has them all).

use trackgate_carriers::{ParseError, SignatureError};

use super::Shared;
use crate::health::part;
use crate::ingest::{IngestReport, StoredWebhook};
use crate::store::StoreError;
use crate::store::states::{WebhookOutcome, label};

impl Shared {
    fn count(&self, carrier_id: &str, outcome: &str) {
        self.metrics
            .webhooks
            .with_label_values(&[carrier_id, outcome])
            .inc();
    }

    pub(super) fn record_rejected(&self, carrier_id: &str, cause: &SignatureError) {
        self.count(carrier_id, "rejected");
        if *cause != SignatureError::NotSupported {
            self.metrics
                .ops
                .signature_rejections
                .with_label_values(&[carrier_id])
                .inc();
        }
        if *cause == SignatureError::NotConfigured {
            tracing::error!(carrier = %carrier_id, "webhook refused: no webhook secret configured for this carrier instance");
        }
    }

    /// A webhook stored as `failed` on arrival (the row already says so).
    pub(super) fn record_failed_on_arrival(
        &self,
        carrier_id: &str,
        inbound_id: i64,
        cause: &ParseError,
    ) {
        self.count(carrier_id, &label(WebhookOutcome::Failed));
        tracing::warn!(carrier = %carrier_id, inbound_id, error = %cause, "webhook body kept raw: it could not be parsed");
    }

    /// A stored webhook that failed to parse again (sweep, reprocess): the row records it.
    pub(super) async fn record_failed(
        &self,
        carrier_id: &str,
        inbound_id: i64,
        cause: &ParseError,
    ) {
        let written = self
            .store
            .set_webhook_outcome(inbound_id, WebhookOutcome::Failed, Some(cause.to_string()))
            .await;
        if let Err(err) = written {
            tracing::warn!(inbound_id, error = %err, "could not record the failure; the sweep tries again");
            return;
        }
        self.record_failed_on_arrival(carrier_id, inbound_id, cause);
    }

    /// A webhook whose ingest failed on its own. A refusal of its data counts towards its
    /// quarantine; an outage of the database does not (the sweep retries it when it is back).
    pub(super) async fn record_ingest_failure(&self, webhook: &StoredWebhook, err: &StoreError) {
        let inbound_id = webhook.inbound_id;
        if !err.is_permanent() {
            self.health.failed(part::WEBHOOK_INGEST, err);
            tracing::warn!(inbound_id, error = %err, "webhook not ingested; the sweep retries it");
            return;
        }
        let limit = self.settings.max_attempts;
        match self
            .store
            .record_ingest_failure(inbound_id, err.to_string(), limit)
            .await
        {
            Ok(true) => {
                self.count(&webhook.carrier_id, &label(WebhookOutcome::Quarantined));
                tracing::error!(inbound_id, carrier = %webhook.carrier_id, error = %err, "webhook quarantined: the store refused it {limit} times");
            }
            Ok(false) => {
                tracing::warn!(inbound_id, error = %err, "the store refused the webhook; the sweep retries it")
            }
            Err(record) => {
                tracing::warn!(inbound_id, error = %err, record_error = %record, "webhook not ingested; the sweep retries it")
            }
        }
    }

    /// Webhooks the ingest transaction processed (their rows already carry the outcome).
    pub(super) fn record_ingested(&self, webhooks: &[StoredWebhook], reports: &[IngestReport]) {
        for (webhook, report) in webhooks.iter().zip(reports) {
            let (outcome, _) = report.webhook_outcome();
            self.count(&webhook.carrier_id, &label(outcome));
            // One line per webhook, for the operator following a parcel: which shipments it
            // moved (no body, no numbers beyond what the ids say).
            let shipments: Vec<&str> = report
                .notes
                .iter()
                .map(|n| n.shipment_id.as_str())
                .collect();
            tracing::info!(
                carrier = %webhook.carrier_id,
                inbound_id = webhook.inbound_id,
                outcome = %label(outcome),
                events = report.events_inserted,
                duplicates = report.duplicates,
                status_changes = report.status_changes,
                shipments = %shipments.join(","),
                "webhook ingested"
            );
            self.metrics
                .events_ingested
                .with_label_values(&[webhook.carrier_id.as_str(), "webhook"])
                .inc_by(report.events_inserted as u64);
        }
    }
}
