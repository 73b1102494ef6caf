//! `trackgate reprocess` and `POST /v1/admin/webhooks/{id}/reprocess`: run stored webhooks
//! through their adapter and the write path again, after a fix — the failed, quarantined and
//! never-processed ones, optionally the partial ones, or one by id. The same steps as live
//! traffic, one webhook per transaction; one the store still refuses is counted as failing.

use std::fmt;

use super::{Intake, StoredParse};
use crate::store::StoreError;
use crate::store::states::WebhookOutcome;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReprocessSummary {
    pub reprocessed: usize,
    pub new_events: usize,
    pub still_failing: usize,
}

impl fmt::Display for ReprocessSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reprocessed {} webhook(s), {} new event(s); {} still failing",
            self.reprocessed, self.new_events, self.still_failing
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReprocessError {
    #[error("no inbound webhook {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Intake {
    /// Reprocess stored webhooks. Their signatures were checked when they arrived, so they are
    /// not checked again (the secret may have been rotated since).
    pub async fn reprocess(
        &self,
        id: Option<i64>,
        include_partial: bool,
    ) -> Result<ReprocessSummary, ReprocessError> {
        let shared = &self.shared;
        let rows = match id {
            Some(id) => vec![
                shared
                    .store
                    .inbound_webhook(id)
                    .await?
                    .ok_or(ReprocessError::NotFound(id))?,
            ],
            None => {
                let mut outcomes = vec![
                    WebhookOutcome::Failed,
                    WebhookOutcome::Received,
                    WebhookOutcome::Quarantined,
                ];
                if include_partial {
                    outcomes.push(WebhookOutcome::Partial);
                }
                shared.store.inbound_webhooks_in(&outcomes, 100_000).await?
            }
        };
        let mut summary = ReprocessSummary::default();
        for row in rows {
            let webhook = match shared.parse_stored(&row) {
                Ok(webhook) => webhook,
                Err(StoredParse::CarrierGone) => {
                    tracing::warn!(inbound_id = row.id, carrier = %row.carrier_id, "carrier no longer configured; skipped");
                    summary.still_failing += 1;
                    continue;
                }
                Err(StoredParse::Unparseable(cause)) => {
                    shared.record_failed(&row.carrier_id, row.id, &cause).await;
                    summary.still_failing += 1;
                    continue;
                }
            };
            let batch = [webhook];
            let reports =
                crate::ingest::ingest_webhooks(&shared.store, &shared.queue, &shared.live, &batch)
                    .await?;
            shared.record_ingested(&batch, &reports);
            summary.reprocessed += 1;
            summary.new_events += reports.iter().map(|r| r.events_inserted).sum::<usize>();
        }
        Ok(summary)
    }
}
