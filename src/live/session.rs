//! One open stream's life, whatever carries it: wait for a signal or the heartbeat, read what is
//! new for the watch, hand it to the transport; and the SSE transport itself.
//!
//! The subscription to signals is taken *before* the watch reads its starting point, so a push
//! committed in between is heard of and read. A stream whose signals overflowed re-reads every
//! cursor instead of failing. The client side is
//! bounded: a client that has not taken its messages within `live.send_timeout_ms`, or lets
//! `live.client_buffer` messages pile up, is closed with the reason `slow consumer`; it resumes
//! from its cursor when it reconnects.

use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::dispatch::Subscription;
use super::{Live, Signal, StreamMessage, StreamPermit, Watch};
use crate::store::Store;

/// What the session hands its transport next.
#[derive(Debug)]
pub enum Next {
    Messages(Vec<StreamMessage>),
    /// Nothing new: time for a heartbeat.
    Heartbeat,
    /// The stream ends: the reason is for the client, and whether reconnecting makes sense
    /// (not with an expired token).
    Close {
        reason: &'static str,
        reconnect: bool,
    },
}

/// An open stream: its watch, its signal receiver, its place in the counts.
pub struct Session {
    pub watch: Watch,
    live: Live,
    store: Store,
    signals: Subscription,
    heartbeat: tokio::time::Interval,
    until: Option<DateTime<Utc>>,
    transport: &'static str,
    watched: i64,
    _permit: StreamPermit,
}

impl Session {
    /// `signals` must come from [`Live::subscribe`] before the watch was opened.
    pub fn new(
        live: &Live,
        store: &Store,
        watch: Watch,
        signals: Subscription,
        permit: StreamPermit,
        transport: &'static str,
        until: Option<DateTime<Utc>>,
    ) -> Session {
        let period = Duration::from_secs(live.settings().heartbeat_secs);
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let metrics = live.metrics();
        metrics.live_streams.with_label_values(&[transport]).inc();
        let watched = watch.shipment_count() as i64;
        metrics
            .live_watched
            .with_label_values(&[transport])
            .add(watched);
        Session {
            watch,
            live: live.clone(),
            store: store.clone(),
            signals,
            heartbeat,
            until,
            transport,
            watched,
            _permit: permit,
        }
    }

    fn recount(&mut self) {
        let now = self.watch.shipment_count() as i64;
        self.live
            .metrics()
            .live_watched
            .with_label_values(&[self.transport])
            .add(now - self.watched);
        self.watched = now;
    }

    /// Count messages sent (by type).
    pub fn sent(&self, messages: &[StreamMessage]) {
        for message in messages {
            self.live
                .metrics()
                .live_messages
                .with_label_values(&[self.transport, message.kind])
                .inc();
        }
    }

    /// Count a stream the gateway closed.
    pub fn dropped(&self, reason: &str) {
        self.live
            .metrics()
            .live_dropped
            .with_label_values(&[reason])
            .inc();
    }

    /// Wait for what to send next.
    pub async fn next(&mut self) -> Next {
        loop {
            if self.until.is_some_and(|until| until <= Utc::now()) {
                self.dropped("expired");
                return Next::Close {
                    reason: "token expired",
                    reconnect: false,
                };
            }
            // A token's stream ends when the token does, not at the next heartbeat.
            let expiry = async {
                match self.until {
                    Some(until) => {
                        let left = (until - Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(left).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let only = tokio::select! {
                _ = expiry => continue,
                signal = self.signals.recv() => match signal {
                    Signal::Note(note) => {
                        if !self.watch.interested(&note) {
                            continue;
                        }
                        Some(note.shipment_id.clone())
                    }
                    Signal::Resync => None,
                    Signal::Closed => return Next::Close {
                        reason: "the gateway is stopping; reconnect to resume",
                        reconnect: true,
                    },
                },
                _ = self.heartbeat.tick() => {
                    // Also the safety net for a note lost between processes.
                    let messages = self.read(None).await;
                    return if messages.is_empty() { Next::Heartbeat } else { Next::Messages(messages) };
                }
            };
            let messages = self.read(only.as_deref()).await;
            if !messages.is_empty() {
                return Next::Messages(messages);
            }
        }
    }

    async fn read(&mut self, only: Option<&str>) -> Vec<StreamMessage> {
        let messages = match self.watch.catch_up(&self.store, only).await {
            Ok(messages) => messages,
            Err(err) => {
                // The cursor did not move: the next signal or heartbeat reads it again.
                tracing::warn!(error = %err, "live stream could not read new pushes");
                Vec::new()
            }
        };
        self.recount();
        messages
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let metrics = self.live.metrics();
        metrics
            .live_streams
            .with_label_values(&[self.transport])
            .dec();
        metrics
            .live_watched
            .with_label_values(&[self.transport])
            .sub(self.watched);
    }
}

/// How an SSE stream renders a message: the event's name and data line, or `None` to skip it.
pub type Render = fn(&StreamMessage) -> Option<(&'static str, String)>;

/// The whole message as JSON, under its type's name (the API's SSE stream).
pub fn render_full(message: &StreamMessage) -> Option<(&'static str, String)> {
    serde_json::to_string(message)
        .ok()
        .map(|json| (message.kind, json))
}

/// The body of an SSE response: `first` at once, then the session's messages, heartbeats as
/// comments, and a final `close` event with the reason when the gateway ends the stream.
pub fn sse_body(
    mut session: Session,
    first: Vec<StreamMessage>,
    render: Render,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let settings = session.live.settings().clone();
    // One place more than the buffer, held for the final `close` event, so even a client that
    // stopped reading is told why the stream ended once it reads again.
    let (sender, receiver) = mpsc::channel::<Bytes>(settings.client_buffer + 1);
    let send_timeout = Duration::from_millis(settings.send_timeout_ms);
    tokio::spawn(async move {
        let Ok(close_slot) = sender.clone().reserve_owned().await else {
            return;
        };
        let close = move |reason: &str, reconnect: bool| {
            let frame = format!(
                "event: close\ndata: {{\"reason\":\"{reason}\",\"reconnect\":{reconnect}}}\n\n"
            );
            close_slot.send(Bytes::from(frame));
        };
        // A reconnecting EventSource waits this long (ms) before it tries again.
        if sender
            .send(Bytes::from_static(b"retry: 2000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        let mut batch = first;
        loop {
            session.sent(&batch);
            for message in &batch {
                let Some((event, data)) = render(message) else {
                    continue;
                };
                let frame = format!("id: {}\nevent: {event}\ndata: {data}\n\n", message.cursor);
                match sender.send_timeout(Bytes::from(frame), send_timeout).await {
                    Ok(()) => {}
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        session.dropped("slow_consumer");
                        tracing::info!("live stream dropped: slow consumer");
                        close("slow consumer", true);
                        return;
                    }
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => return, // client left
                }
            }
            batch = match session.next().await {
                Next::Messages(messages) => messages,
                Next::Heartbeat => {
                    if sender.try_send(Bytes::from_static(b": ping\n\n")).is_err()
                        && sender.is_closed()
                    {
                        return;
                    }
                    Vec::new()
                }
                Next::Close { reason, reconnect } => {
                    close(reason, reconnect);
                    return;
                }
            };
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|bytes| (Ok(bytes), receiver))
    })
}
