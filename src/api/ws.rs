//! The WebSocket stream, `GET /v1/stream`.
//!
//! Authenticated like the SSE stream (an API key header, or `?token=` minted by the mall). The
//! client may name what to watch in the query (`shipments`, `orders`, `cursor`) or send, as
//! JSON text messages:
//! - `{"type":"subscribe","shipments":[…],"orders":[…],"cursor":"…"}`: watch these (replacing
//!   what was watched), from the cursor if given;
//! - `{"type":"resume","cursor":"…"}`: the same watch, continuing from the cursor after a
//!   reconnect: the updates missed meanwhile come first, in sequence;
//! - `{"type":"ping"}`: answered `{"type":"pong"}`.
//!
//! The gateway sends the stream's messages (`update`, `snapshot`: [`StreamMessage`]), answers
//! `subscribed` with the watched shipments, reports a refused request as `{"type":"error",
//! "code","detail"}` without closing, pings every heartbeat, and closes with a reason when the
//! token expires, the client is too slow (`slow consumer`, code 1008) or stops answering pings.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use serde::Deserialize;

use super::ApiError;
use super::stream::{StreamAuth, StreamQuery, open_session};
use crate::gateway::Gateway;
use crate::live::{Next, Session, StreamMessage, WatchRequest};

/// Largest message a client may send.
const MAX_FRAME: usize = 64 * 1024;

/// Read a client's text message (public for the fuzzer).
pub fn parse_client_message(text: &str) -> Result<impl std::fmt::Debug, serde_json::Error> {
    serde_json::from_str::<ClientMessage>(text)
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientMessage {
    Subscribe {
        #[serde(default)]
        shipments: Vec<String>,
        #[serde(default)]
        orders: Vec<String>,
        #[serde(default)]
        cursor: Option<String>,
    },
    Resume {
        cursor: String,
    },
    Ping,
}

#[utoipa::path(get, path = "/v1/stream", tag = "live", security(("api_key" = []), ()),
    params(StreamQuery),
    responses((status = 101, description = "WebSocket (docs/live-updates.md)")))]
pub async fn stream(
    req: HttpRequest,
    body: web::Payload,
    gateway: web::Data<Gateway>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let auth = StreamAuth::of(&req, &gateway, query.token.as_deref()).await?;
    let asked = query.request();
    // Opened before the upgrade, so a refusal is an HTTP problem+json, not a closed socket.
    let start =
        if asked.shipments.is_empty() && asked.orders.is_empty() && matches!(auth, StreamAuth::Key)
        {
            None
        } else {
            Some(
                open_session(
                    &gateway,
                    &auth,
                    asked.clone(),
                    query.cursor.as_deref(),
                    "websocket",
                )
                .await?,
            )
        };
    let (response, ws, messages) = actix_ws::handle(&req, body)
        .map_err(|err| ApiError::BadRequest(format!("not a WebSocket upgrade: {err}")))?;
    let connection = Connection {
        gateway: gateway.into_inner(),
        auth,
        asked,
        ws,
    };
    actix_web::rt::spawn(connection.run(messages.max_frame_size(MAX_FRAME), start));
    Ok(response)
}

struct Connection {
    gateway: std::sync::Arc<Gateway>,
    auth: StreamAuth,
    asked: WatchRequest,
    ws: actix_ws::Session,
}

async fn next_of(session: &mut Option<Session>) -> Next {
    match session {
        Some(session) => session.next().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    async fn run(
        mut self,
        mut messages: actix_ws::MessageStream,
        start: Option<(Session, Vec<StreamMessage>)>,
    ) {
        let settings = self.gateway.live.settings().clone();
        let heartbeat = Duration::from_secs(settings.heartbeat_secs);
        let send_timeout = Duration::from_millis(settings.send_timeout_ms);
        let (mut session, mut pending) = match start {
            Some((session, first)) => (Some(session), first),
            None => (None, Vec::new()),
        };
        let mut last_heard = Instant::now();
        let mut idle = tokio::time::interval(heartbeat);
        loop {
            if let Some(open) = &session {
                open.sent(&pending);
            }
            for message in pending.drain(..) {
                let text = serde_json::to_string(&message).expect("messages serialize");
                match tokio::time::timeout(send_timeout, self.ws.text(text)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return, // the client left
                    Err(_) => {
                        if let Some(open) = &session {
                            open.dropped("slow_consumer");
                        }
                        return self.close(CloseCode::Policy, "slow consumer").await;
                    }
                }
            }
            tokio::select! {
                incoming = messages.recv() => {
                    last_heard = Instant::now();
                    match incoming {
                        None | Some(Err(_)) => return,
                        Some(Ok(Message::Text(text))) => {
                            if let Some((replaced, first)) = self.on_text(&text).await {
                                session = Some(replaced);
                                pending = first;
                            }
                        }
                        Some(Ok(Message::Ping(bytes))) => {
                            if self.ws.pong(&bytes).await.is_err() {
                                return;
                            }
                        }
                        Some(Ok(Message::Close(reason))) => {
                            let _ = self.ws.close(reason).await;
                            return;
                        }
                        Some(Ok(_)) => {}
                    }
                }
                next = next_of(&mut session) => match next {
                    Next::Messages(messages) => pending = messages,
                    Next::Heartbeat => {
                        if !self.ping(last_heard, heartbeat).await {
                            return;
                        }
                    }
                    Next::Close { reason, reconnect } => {
                        let code = if reconnect { CloseCode::Restart } else { CloseCode::Normal };
                        return self.close(code, reason).await;
                    }
                },
                _ = idle.tick(), if session.is_none() => {
                    if !self.ping(last_heard, heartbeat).await {
                        return;
                    }
                }
            }
        }
    }

    /// Ping, unless the client has been silent for three heartbeats (then close).
    async fn ping(&mut self, last_heard: Instant, heartbeat: Duration) -> bool {
        if last_heard.elapsed() > heartbeat * 3 {
            self.clone_close(CloseCode::Away, "no answer to pings")
                .await;
            return false;
        }
        self.ws.ping(b"").await.is_ok()
    }

    async fn clone_close(&self, code: CloseCode, reason: &str) {
        let _ = self
            .ws
            .clone()
            .close(Some(CloseReason {
                code,
                description: Some(reason.to_owned()),
            }))
            .await;
    }

    async fn close(self, code: CloseCode, reason: &str) {
        self.clone_close(code, reason).await;
    }

    /// A client message: a new watch to switch to, or nothing (answered or refused in place).
    async fn on_text(&mut self, text: &str) -> Option<(Session, Vec<StreamMessage>)> {
        let (asked, cursor) = match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Ping) => {
                let _ = self.ws.text(r#"{"type":"pong"}"#).await;
                return None;
            }
            Ok(ClientMessage::Subscribe {
                shipments,
                orders,
                cursor,
            }) => (WatchRequest { shipments, orders }, cursor),
            Ok(ClientMessage::Resume { cursor }) => {
                let mut asked = self.asked.clone();
                if asked.shipments.is_empty() && asked.orders.is_empty() {
                    // Resume what the cursor names.
                    let named = crate::live::Cursor::parse(&cursor).ok()?;
                    asked.shipments = named.0.keys().cloned().collect();
                }
                (asked, Some(cursor))
            }
            Err(err) => {
                self.refuse("bad_message", &format!("unreadable message: {err}"))
                    .await;
                return None;
            }
        };
        match open_session(
            &self.gateway,
            &self.auth,
            asked.clone(),
            cursor.as_deref(),
            "websocket",
        )
        .await
        {
            Ok((session, first)) => {
                self.asked = asked;
                let subscribed = serde_json::json!({
                    "type": "subscribed",
                    "cursor": session.watch.cursor().to_string(),
                });
                let _ = self.ws.text(subscribed.to_string()).await;
                Some((session, first))
            }
            Err(err) => {
                self.refuse(err.code(), &err.to_string()).await;
                None
            }
        }
    }

    async fn refuse(&mut self, code: &str, detail: &str) {
        let error = serde_json::json!({ "type": "error", "code": code, "detail": detail });
        let _ = self.ws.text(error.to_string()).await;
    }
}
