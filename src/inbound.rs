//! Processing of stored inbound webhooks, shared by the webhook endpoint and
//! `trackgate reprocess`: parse the stored body with the carrier's adapter, ingest the updates,
//! and record the outcome on the stored row.

use trackgate_carriers::{Inbound, ParseError, Verified};

use crate::ingest::{IngestReport, Source, ingest};
use crate::registry::CarrierInstance;
use crate::startup::Gateway;
use crate::store::StoreError;
use crate::store::webhooks::outcome;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Unparseable(ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parse and ingest a stored, verified webhook; the row's outcome records what happened.
pub async fn process_inbound(
    gateway: &Gateway,
    carrier: &CarrierInstance,
    inbound_id: i64,
    verified: &Inbound<Verified>,
) -> Result<IngestReport, ProcessError> {
    let metrics = &gateway.metrics;
    let parsed = match carrier.adapter.parse_webhook(verified) {
        Ok(parsed) => parsed,
        Err(err) => {
            gateway
                .store
                .set_webhook_outcome(inbound_id, outcome::FAILED, Some(err.to_string()))
                .await?;
            metrics
                .webhooks
                .with_label_values(&[carrier.id.as_str(), outcome::FAILED])
                .inc();
            tracing::warn!(carrier = %carrier.id, inbound_id, error = %err, "webhook body kept raw: it could not be parsed");
            return Err(ProcessError::Unparseable(err));
        }
    };
    let report = ingest(
        &gateway.store,
        &gateway.queue,
        &carrier.id,
        Source::Webhook,
        Some(inbound_id),
        parsed,
    )
    .await?;
    let (result, error) = match report.trouble() {
        Some(trouble) => (outcome::PARTIAL, Some(trouble)),
        None => (outcome::PROCESSED, None),
    };
    gateway
        .store
        .set_webhook_outcome(inbound_id, result, error)
        .await?;
    metrics
        .webhooks
        .with_label_values(&[carrier.id.as_str(), result])
        .inc();
    metrics
        .events_ingested
        .with_label_values(&[carrier.id.as_str(), "webhook"])
        .inc_by(report.events_inserted as u64);
    Ok(report)
}

/// `trackgate reprocess`: run stored webhooks through their adapter again. The bodies were
/// verified when they arrived, so the signature is not checked a second time (the secret may
/// have been rotated since).
pub async fn reprocess(
    gateway: &Gateway,
    id: Option<i64>,
    include_partial: bool,
) -> anyhow::Result<String> {
    let rows = match id {
        Some(id) => vec![
            gateway
                .store
                .inbound_webhook(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no inbound webhook {id}"))?,
        ],
        None => {
            let mut outcomes = vec![outcome::FAILED, outcome::RECEIVED];
            if include_partial {
                outcomes.push(outcome::PARTIAL);
            }
            gateway
                .store
                .inbound_webhooks_in(&outcomes, 100_000)
                .await?
        }
    };
    let (mut ok, mut failed, mut events) = (0, 0, 0);
    for row in rows {
        let Some(carrier) = gateway.registry.get(&row.carrier_id) else {
            tracing::warn!(inbound_id = row.id, carrier = %row.carrier_id, "carrier no longer configured; skipped");
            failed += 1;
            continue;
        };
        let headers = crate::store::webhooks::decode_headers(&row);
        let verified = Inbound::new(headers, row.body.clone()).assume_verified();
        match process_inbound(gateway, &carrier, row.id, &verified).await {
            Ok(report) => {
                ok += 1;
                events += report.events_inserted;
            }
            Err(ProcessError::Unparseable(_)) => failed += 1,
            Err(ProcessError::Store(err)) => return Err(err.into()),
        }
    }
    Ok(format!(
        "reprocessed {ok} webhook(s), {events} new event(s); {failed} still failing"
    ))
}
