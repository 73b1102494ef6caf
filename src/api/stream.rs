//! Live updates over HTTP: stream tokens and tracking links minted for the mall, and the
//! Server-Sent Events stream (`GET /v1/stream/sse`). The WebSocket stream is in [`super::ws`].
//!
//! A stream is opened with an API key (`Authorization: Bearer`, any scope: the mall's backend,
//! support tools) or with a stream token the mall minted for a browser (`?token=`; browsers
//! cannot set headers on an EventSource or a WebSocket), which limits it to one order or a few
//! shipments until it expires. Resuming: SSE clients send `Last-Event-ID` (EventSource does it
//! by itself) or `?cursor=`.

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::wire::{StreamTokenOut, TrackingLinkOut};
use super::{ApiError, Caller};
use crate::domain::tokens::{LinkClaims, Purpose, StreamClaims};
use crate::gateway::Gateway;
use crate::live::{Cursor, Session, Watch, WatchRequest, render_full, sse_body};
use crate::store::states::Scope;

/// `POST /v1/stream-tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamTokenIn {
    /// One order: every parcel of it, present and future.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Or up to `live.max_shipments_per_stream` shipments.
    #[serde(default)]
    pub shipment_ids: Vec<String>,
    /// Lifetime (default `web.stream_token_secs`, at most `web.max_stream_token_secs`).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub ttl_secs: Option<u64>,
}

/// Mint a token a browser can open a stream with: one order, or up to
/// `live.max_shipments_per_stream` shipments, for `ttl_secs` (default `web.stream_token_secs`).
#[utoipa::path(post, path = "/v1/stream-tokens", tag = "live", security(("api_key" = ["mall"])),
    request_body = StreamTokenIn,
    responses((status = 201, description = "A token for one order or a few shipments", body = StreamTokenOut)))]
pub async fn mint_stream_token(
    caller: Caller,
    gateway: web::Data<Gateway>,
    body: super::json::JsonObject<StreamTokenIn>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    let body = body.into_inner();
    let web = &gateway.settings.web;
    let order_id = body.order_id.filter(|o| !o.trim().is_empty());
    if order_id.is_none() && body.shipment_ids.is_empty() {
        return Err(ApiError::Validation(
            "name an `order_id` or at least one of `shipment_ids`".into(),
        ));
    }
    let max = gateway.settings.live.max_shipments_per_stream;
    if body.shipment_ids.len() > max {
        return Err(ApiError::Validation(format!(
            "`shipment_ids` may name at most {max} shipments"
        )));
    }
    for id in &body.shipment_ids {
        if gateway.store.get_shipment(id).await?.is_none() {
            return Err(ApiError::NotFound(format!("no shipment `{id}`")));
        }
    }
    let ttl = body.ttl_secs.unwrap_or(web.stream_token_secs);
    if ttl == 0 || ttl > web.max_stream_token_secs {
        return Err(ApiError::Validation(format!(
            "`ttl_secs` must be between 1 and {}",
            web.max_stream_token_secs
        )));
    }
    let claims = StreamClaims {
        order_id,
        shipment_ids: body.shipment_ids,
        exp: Utc::now() + Duration::seconds(ttl as i64),
    };
    let token = gateway.tokens.sign(Purpose::Stream, &claims);
    Ok(HttpResponse::Created().json(StreamTokenOut {
        sse_path: format!("/v1/stream/sse?token={token}"),
        websocket_path: format!("/v1/stream?token={token}"),
        token,
        expires_at: claims.exp,
        order_id: claims.order_id,
        shipment_ids: claims.shipment_ids,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingLinkIn {
    /// Lifetime (default `web.tracking_link_days`, at most `web.max_tracking_link_days`).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub ttl_days: Option<u64>,
}

/// `POST /v1/shipments/{id}/tracking-link`: a public, read-only page for this shipment, to put
/// in the shopper's e-mails.
#[utoipa::path(post, path = "/v1/shipments/{id}/tracking-link", tag = "live", security(("api_key" = ["mall"])),
    params(("id" = String, Path, description = "The shipment id")),
    request_body(content = Option<TrackingLinkIn>, description = "Optional"),
    responses((status = 201, description = "A public page for the shopper", body = TrackingLinkOut)))]
pub async fn mint_tracking_link(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    body: web::Bytes,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    let web = &gateway.settings.web;
    // The body is optional; when there is one, it must be right.
    let input: TrackingLinkIn = if body.iter().all(u8::is_ascii_whitespace) {
        TrackingLinkIn::default()
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|err| ApiError::MalformedJson(err.to_string()))?;
        super::json::from_object(value)?
    };
    let days = input.ttl_days.unwrap_or(web.tracking_link_days);
    if days == 0 || days > web.max_tracking_link_days {
        return Err(ApiError::Validation(format!(
            "`ttl_days` must be between 1 and {}",
            web.max_tracking_link_days
        )));
    }
    let shipment = gateway
        .store
        .get_shipment(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no shipment `{id}`")))?;
    let claims = LinkClaims {
        shipment_id: shipment.id,
        exp: Utc::now() + Duration::days(days as i64),
    };
    let token = gateway.tokens.sign(Purpose::Tracking, &claims);
    let base = match gateway.settings.server.public_url.as_deref() {
        Some(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    Ok(HttpResponse::Created().json(TrackingLinkOut {
        url: format!("{base}/t/{token}"),
        token,
        expires_at: claims.exp,
    }))
}

/// The query of both stream endpoints.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// A stream token (for browsers, which cannot send headers); else send an API key.
    #[serde(default)]
    pub token: Option<String>,
    /// Comma-separated shipment ids.
    #[serde(default)]
    pub shipments: Option<String>,
    /// Comma-separated order ids.
    #[serde(default)]
    pub orders: Option<String>,
    /// Where to resume (a message's `cursor`).
    #[serde(default)]
    pub cursor: Option<String>,
}

fn list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl StreamQuery {
    pub fn request(&self) -> WatchRequest {
        WatchRequest {
            shipments: list(self.shipments.as_deref()),
            orders: list(self.orders.as_deref()),
        }
    }
}

/// Who opened a stream.
#[derive(Debug, Clone)]
pub enum StreamAuth {
    Key,
    Token(StreamClaims),
}

impl StreamAuth {
    /// An API key in the Authorization header, else the `token` parameter.
    pub async fn of(
        req: &HttpRequest,
        gateway: &Gateway,
        token: Option<&str>,
    ) -> Result<StreamAuth, ApiError> {
        if req.headers().contains_key("authorization") {
            Caller::extract(req).await?;
            return Ok(StreamAuth::Key);
        }
        let token = token.ok_or(ApiError::Unauthorized)?;
        let claims = gateway
            .tokens
            .verify::<StreamClaims>(Purpose::Stream, token, Utc::now())?;
        Ok(StreamAuth::Token(claims))
    }

    pub fn until(&self) -> Option<chrono::DateTime<Utc>> {
        match self {
            StreamAuth::Key => None,
            StreamAuth::Token(claims) => Some(claims.exp),
        }
    }

    /// What this caller may watch of `asked`: everything with a key; with a token, its own
    /// scope when nothing is named, else only what the token covers.
    pub async fn allowed(
        &self,
        gateway: &Gateway,
        asked: WatchRequest,
    ) -> Result<WatchRequest, ApiError> {
        let StreamAuth::Token(claims) = self else {
            return Ok(asked);
        };
        if asked.shipments.is_empty() && asked.orders.is_empty() {
            return Ok(WatchRequest {
                shipments: claims.shipment_ids.clone(),
                orders: claims.order_id.iter().cloned().collect(),
            });
        }
        if let Some(order) = asked
            .orders
            .iter()
            .find(|o| claims.order_id.as_ref() != Some(*o))
        {
            return Err(ApiError::OutsideTokenScope(format!(
                "this token does not cover order `{order}`"
            )));
        }
        for id in &asked.shipments {
            if claims.shipment_ids.contains(id) {
                continue;
            }
            let in_order = match &claims.order_id {
                Some(order) => gateway
                    .store
                    .get_shipment(id)
                    .await?
                    .is_some_and(|s| s.order_id.as_ref() == Some(order)),
                None => false,
            };
            if !in_order {
                return Err(ApiError::OutsideTokenScope(format!(
                    "this token does not cover shipment `{id}`"
                )));
            }
        }
        Ok(asked)
    }
}

/// Open a session for `auth` on what it asked for, from `cursor` if resuming: the session and
/// the messages to send first.
pub async fn open_session(
    gateway: &Gateway,
    auth: &StreamAuth,
    asked: WatchRequest,
    cursor: Option<&str>,
    transport: &'static str,
) -> Result<(Session, Vec<crate::live::StreamMessage>), ApiError> {
    let request = auth.allowed(gateway, asked).await?;
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .map(Cursor::parse)
        .transpose()?;
    let live = &gateway.live;
    let permit = live
        .admit()
        .ok_or(ApiError::TooManyStreams(live.settings().max_streams))?;
    // Subscribed before the watch reads its start, so nothing committed in between is missed.
    let signals = live.subscribe(&request.shipments, &request.orders);
    let max = live.settings().max_shipments_per_stream;
    let (watch, first) = Watch::open(&gateway.store, &request, cursor.as_ref(), max).await?;
    let session = Session::new(
        live,
        &gateway.store,
        watch,
        signals,
        permit,
        transport,
        auth.until(),
    );
    Ok((session, first))
}

/// `GET /v1/stream/sse`: Server-Sent Events, one event per update (`update`, `snapshot`), its
/// id the cursor to resume from.
#[utoipa::path(get, path = "/v1/stream/sse", tag = "live", security(("api_key" = []), ()),
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "The cursor to resume from (EventSource sends it by itself)")),
    responses((status = 200, description = "Server-Sent Events: `snapshot`, `update`, `close` (docs/live-updates.md)", content_type = "text/event-stream", body = String)))]
pub async fn sse(
    req: HttpRequest,
    gateway: web::Data<Gateway>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let auth = StreamAuth::of(&req, &gateway, query.token.as_deref()).await?;
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cursor = last_event_id.or(query.cursor.clone());
    let (session, first) =
        open_session(&gateway, &auth, query.request(), cursor.as_deref(), "sse").await?;
    Ok(sse_response(sse_body(session, first, render_full)))
}

/// An SSE response: never cached, not buffered by nginx.
pub fn sse_response(
    body: impl futures_util::Stream<Item = Result<actix_web::web::Bytes, std::convert::Infallible>>
    + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}
