//! `POST /webhooks/{carrier_id}`: HTTP in, the webhook pipeline, the carrier's own
//! acknowledgement out.
//!
//! This handler only translates. It applies the carrier instance's rate limit, reads the body
//! (refusing oversized ones without buffering them, and slow ones after
//! `server.body_timeout_secs`), hands it to [`crate::intake`] to verify and accept, and answers:
//! the carrier's ack once the webhook is durably stored, 401 for a bad signature (nothing
//! stored), 400 with the stored id for a body that could not be parsed, 429 over the rate
//! limit, 503 when it could not be stored (send it again).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use trackgate_carriers::{Inbound, WebhookAck};

use super::ApiError;
use super::door::Door;
use crate::gateway::Gateway;

#[utoipa::path(post, path = "/webhooks/{carrier_id}", tag = "carriers",
    params(("carrier_id" = String, Path, description = "The carrier instance id from config")),
    request_body(content = String, description = "The carrier's own body (JSON, XML or a form), verified by its own signature scheme", content_type = "*/*"),
    responses((status = 200, description = "Stored durably; the carrier's own acknowledgement body")))]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
    door: web::Data<Door>,
    carrier_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let carrier = gateway
        .registry
        .get(&carrier_id)
        .ok_or_else(|| ApiError::UnknownCarrier(carrier_id.to_string()))?;
    door.limits.webhook(&carrier.id)?;
    let server = &gateway.settings.server;
    let deadline = Duration::from_secs(server.body_timeout_secs.max(1));
    let body = tokio::time::timeout(deadline, read_body(&req, payload, server.body_limit_bytes))
        .await
        .map_err(|_| ApiError::RequestTimeout(deadline.as_secs()))??;
    let inbound = Inbound::new(header_pairs(&req), body);
    let verified = gateway.intake.verify(&carrier, inbound)?;
    gateway.intake.accept(&carrier, verified).await?;
    Ok(acknowledgement(carrier.adapter.webhook_ack(true)))
}

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

/// The request headers as text pairs (lower-case names); values that are not text are left out.
fn header_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

fn acknowledgement(ack: WebhookAck) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(ack.status).unwrap_or(StatusCode::OK))
        .content_type(ack.content_type)
        .body(ack.body)
}
