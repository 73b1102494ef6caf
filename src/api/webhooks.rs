//! `POST /webhooks/{carrier_id}`: verify the carrier's signature, store the raw body, then
//! parse and ingest it, and answer in the carrier's own acknowledgement format.
//!
//! A bad signature is 401 and stores nothing. A verified body is parsed (pure, microseconds) and
//! stored durably through the group commit of [`crate::intake`] before the 2xx; a body we
//! cannot parse is stored too (400, with the stored id) for `trackgate reprocess`. Ingesting
//! the parsed updates happens after the answer, in batches; a crash in between loses nothing,
//! as the row stays `received` until the sweep processes it.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use trackgate_carriers::{Inbound, SignatureError};

use super::ApiError;
use crate::ingest::StoredWebhook;
use crate::startup::Gateway;
use crate::store::webhooks::{NewInbound, outcome};

/// Read the body up to `limit` bytes, refusing larger ones without buffering them.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(4096).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|err| ApiError::BadRequest(format!("reading the body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
    carrier_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let carrier = gateway
        .registry
        .get(&carrier_id)
        .ok_or_else(|| ApiError::UnknownCarrier(carrier_id.to_string()))?;
    let body = read_body(&req, payload, gateway.settings.server.body_limit_bytes).await?;
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let verified = carrier.adapter.verify_webhook(Inbound::new(headers, body)).map_err(|err| {
        gateway.metrics.webhooks.with_label_values(&[carrier.id.as_str(), "rejected"]).inc();
        match err {
            SignatureError::NotSupported => ApiError::NotFound(format!("carrier `{}` does not send webhooks", carrier.id)),
            SignatureError::NotConfigured => {
                tracing::error!(carrier = %carrier.id, "webhook refused: no webhook secret configured for this carrier instance");
                ApiError::InvalidSignature(err.to_string())
            }
            other => ApiError::InvalidSignature(other.to_string()),
        }
    })?;
    // Parsing is pure and fast, so it happens before the acknowledgement: a body we cannot
    // parse is stored as `failed` (kept for `trackgate reprocess`) and answered 400.
    let parsed = carrier.adapter.parse_webhook(&verified);
    let (headers, body) = verified.into_parts();
    let stored = NewInbound::new(&carrier.id, &headers, body).map(|mut row| {
        if let Err(err) = &parsed {
            row.outcome = outcome::FAILED;
            row.error = Some(err.to_string());
        }
        row
    });
    let inbound_id = match stored {
        Ok(row) => gateway
            .intake
            .store(row)
            .await
            .map_err(|err| err.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let inbound_id = match inbound_id {
        Ok(id) => id,
        Err(err) => {
            // Not stored, so not acknowledged: the carrier must send it again.
            tracing::error!(carrier = %carrier.id, error = %err, "could not store webhook");
            return Err(ApiError::Unavailable(
                "could not store the webhook; send it again".into(),
            ));
        }
    };
    match parsed {
        Ok(outcome) => gateway.intake.hand_off(StoredWebhook {
            inbound_id,
            carrier_id: carrier.id.clone(),
            outcome,
        }),
        Err(err) => {
            gateway
                .metrics
                .webhooks
                .with_label_values(&[carrier.id.as_str(), outcome::FAILED])
                .inc();
            tracing::warn!(carrier = %carrier.id, inbound_id, error = %err, "webhook body kept raw: it could not be parsed");
            return Err(ApiError::UnparseablePayload {
                detail: err.to_string(),
                inbound_id,
            });
        }
    }
    let ack = carrier.adapter.webhook_ack(true);
    Ok(HttpResponse::build(
        actix_web::http::StatusCode::from_u16(ack.status)
            .unwrap_or(actix_web::http::StatusCode::OK),
    )
    .content_type(ack.content_type)
    .body(ack.body))
}
