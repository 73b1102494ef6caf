//! Live updates: the hub that tells open streams (WebSocket, SSE, the console and customer pages)
//! that a shipment has new pushes, in this process and in every other one.
//!
//! After an ingest commits, it announces one [`Note`] per push it wrote: the shipment, its order
//! and the sequence. The note goes to this process's streams at once (a broadcast channel) and to
//! the other processes through the [`fanout`] backend: a RabbitMQ fanout exchange, PostgreSQL
//! `LISTEN/NOTIFY`, or a look at the store every half second. A note carries no content: a stream
//! that hears of its shipment reads the pushes after its own cursor from the store ([`watch`]),
//! so a note lost on the way (a broker restart) delays an update but never leaves a gap, and a
//! note heard twice sends nothing twice. When a backend reconnects it broadcasts
//! [`Signal::Resync`], and every stream also re-reads its cursors at each heartbeat, so even a
//! note lost without a trace is made good within one heartbeat.

mod fanout;
pub mod session;
pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::{LiveBackend, LiveSettings, QueueKind, QueueSettings};
use crate::metrics::Metrics;
use crate::store::Store;
pub use session::{Next, Session, render_full, sse_body};
pub use watch::{Cursor, StreamMessage, Watch, WatchError, WatchRequest};

/// Notes waiting for a slow stream task before it lags (and resyncs from the store).
const LOCAL_CAPACITY: usize = 4096;

/// A shipment has pushes up to `sequence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    #[serde(rename = "s")]
    pub shipment_id: String,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(rename = "q")]
    pub sequence: i64,
}

/// What a stream hears.
#[derive(Debug, Clone)]
pub enum Signal {
    Note(Arc<Note>),
    /// Notes may have been missed (a backend reconnected): re-read every cursor.
    Resync,
}

#[derive(Debug)]
struct Inner {
    local: broadcast::Sender<Signal>,
    remote: fanout::Remote,
    streams: AtomicUsize,
    settings: LiveSettings,
    metrics: Metrics,
    shutdown: CancellationToken,
}

/// The hub; cheap to clone.
#[derive(Debug, Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

/// A place in the count of open streams; dropping it frees the place.
#[derive(Debug)]
pub struct StreamPermit {
    inner: Arc<Inner>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.inner.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Live {
    /// The hub with the configured backend, its listener running until [`Live::close`].
    pub fn start(
        settings: &LiveSettings,
        queue: &QueueSettings,
        store: &Store,
        metrics: Metrics,
    ) -> Live {
        let shutdown = CancellationToken::new();
        let (local, _) = broadcast::channel(LOCAL_CAPACITY);
        let backend = resolve(settings.backend, queue, store);
        let remote = fanout::Remote::start(
            backend,
            fanout::Context {
                queue: queue.clone(),
                store: store.clone(),
                local: local.clone(),
                metrics: metrics.clone(),
                store_poll: std::time::Duration::from_millis(settings.store_poll_ms),
                shutdown: shutdown.clone(),
            },
        );
        tracing::info!(backend = ?backend, "live updates");
        Live {
            inner: Arc::new(Inner {
                local,
                remote,
                streams: AtomicUsize::new(0),
                settings: settings.clone(),
                metrics,
                shutdown,
            }),
        }
    }

    /// A hub for this process only, with default limits (tools and tests that run a poller or
    /// an ingest without a gateway).
    pub fn detached(metrics: Metrics) -> Live {
        let (local, _) = broadcast::channel(LOCAL_CAPACITY);
        Live {
            inner: Arc::new(Inner {
                local,
                remote: fanout::Remote::None,
                streams: AtomicUsize::new(0),
                settings: LiveSettings {
                    backend: LiveBackend::Local,
                    heartbeat_secs: 15,
                    max_streams: 10_000,
                    max_shipments_per_stream: 50,
                    send_timeout_ms: 5000,
                    client_buffer: 256,
                    store_poll_ms: 500,
                },
                metrics,
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// Stop the backend's listener.
    pub fn close(&self) {
        self.inner.shutdown.cancel();
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.inner.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Tell every stream, here and in the other processes, about pushes just committed. Never
    /// fails: the fanout is best effort, the streams' periodic re-read covers a lost note.
    pub async fn announce(&self, notes: Vec<Note>) {
        if notes.is_empty() {
            return;
        }
        for note in &notes {
            // No receiver (no stream open) is not an error.
            let _ = self.inner.local.send(Signal::Note(Arc::new(note.clone())));
        }
        self.inner
            .metrics
            .live_announcements
            .with_label_values(&["sent"])
            .inc_by(notes.len() as u64);
        self.inner.remote.publish(notes).await;
    }

    /// A receiver of every signal from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.inner.local.subscribe()
    }

    /// A place for one more stream, unless `live.max_streams` are open.
    pub fn admit(&self) -> Option<StreamPermit> {
        let max = self.inner.settings.max_streams;
        let taken = self
            .inner
            .streams
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                (open < max).then_some(open + 1)
            });
        taken.ok().map(|_| StreamPermit {
            inner: self.inner.clone(),
        })
    }
}

/// The backend `auto` means for this deployment.
fn resolve(backend: LiveBackend, queue: &QueueSettings, store: &Store) -> LiveBackend {
    match backend {
        LiveBackend::Auto if queue.kind == QueueKind::Rabbitmq => LiveBackend::Rabbitmq,
        LiveBackend::Auto => match store.backend() {
            sea_orm::DbBackend::Postgres => LiveBackend::Postgres,
            sea_orm::DbBackend::MySql => LiveBackend::Store,
            _ => LiveBackend::Local,
        },
        LiveBackend::Postgres if store.backend() != sea_orm::DbBackend::Postgres => {
            tracing::warn!(
                "live.backend = \"postgres\" needs a PostgreSQL database; polling the store instead"
            );
            LiveBackend::Store
        }
        other => other,
    }
}
