//! Live updates: the hub that tells open streams (WebSocket, SSE, the console and customer pages)
//! that a shipment has new pushes, in this process and in every other one.
//!
//! After an ingest commits, it announces one [`Note`] per push it wrote: the shipment, its order
//! and the sequence. The note goes at once to this process's streams that watch that shipment or
//! order ([`dispatch`]), and to the other processes through the [`fanout`] backend: a RabbitMQ fanout exchange, PostgreSQL
//! `LISTEN/NOTIFY`, or a look at the store every half second. A note carries no content: a stream
//! that hears of its shipment reads the pushes after its own cursor from the store ([`watch`]),
//! so a note lost on the way (a broker restart) delays an update but never leaves a gap, and a
//! note heard twice sends nothing twice. When a backend reconnects it broadcasts
//! [`Signal::Resync`], and every stream also re-reads its cursors at each heartbeat, so even a
//! note lost without a trace is made good within one heartbeat.

pub mod dispatch;
mod fanout;
pub mod session;
pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::{LiveBackend, LiveSettings, QueueKind, QueueSettings};
use crate::metrics::Metrics;
use crate::store::Store;
pub use session::{Next, Session, render_full, sse_body};
pub use watch::{Cursor, StreamMessage, Watch, WatchError, WatchRequest};

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
    /// The gateway is stopping: end the stream (clients reconnect elsewhere and resume).
    Closed,
}

/// Publishes to other processes in flight at once; beyond, a note is dropped (the streams'
/// heartbeat re-read covers it) rather than making ingest wait on a slow broker.
const PUBLISHES_IN_FLIGHT: usize = 64;

#[derive(Debug)]
struct Inner {
    local: dispatch::Dispatch,
    remote: Arc<fanout::Remote>,
    publishing: Arc<tokio::sync::Semaphore>,
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
        let local = dispatch::Dispatch::default();
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
        Live::new(settings.clone(), local, remote, metrics, shutdown)
    }

    /// A hub for this process only, with `config.toml`'s `[live]` defaults (tools and tests that
    /// run a poller or an ingest without a gateway).
    pub fn detached(metrics: Metrics) -> Live {
        let defaults = crate::config::Settings::with_overrides(&[])
            .expect("the embedded defaults are valid")
            .live;
        let settings = LiveSettings {
            backend: LiveBackend::Local,
            ..defaults
        };
        Live::new(
            settings,
            dispatch::Dispatch::default(),
            fanout::Remote::None,
            metrics,
            CancellationToken::new(),
        )
    }

    fn new(
        settings: LiveSettings,
        local: dispatch::Dispatch,
        remote: fanout::Remote,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Live {
        Live {
            inner: Arc::new(Inner {
                local,
                remote: Arc::new(remote),
                publishing: Arc::new(tokio::sync::Semaphore::new(PUBLISHES_IN_FLIGHT)),
                streams: AtomicUsize::new(0),
                settings,
                metrics,
                shutdown,
            }),
        }
    }

    /// End every stream and stop the backend's listener.
    pub fn close(&self) {
        self.inner.local.close();
        self.inner.shutdown.cancel();
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.inner.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Tell every stream, here and in the other processes, about pushes just committed. Never
    /// fails and never waits on the broker or the database: the publish to other processes runs
    /// on its own task (at most [`PUBLISHES_IN_FLIGHT`] at once), and the streams' periodic
    /// re-read covers a note that is lost or dropped.
    pub fn announce(&self, notes: Vec<Note>) {
        if notes.is_empty() {
            return;
        }
        self.inner.local.deliver_all(&notes);
        if matches!(*self.inner.remote, fanout::Remote::None) {
            return;
        }
        self.inner
            .metrics
            .live_announcements
            .with_label_values(&["sent"])
            .inc_by(notes.len() as u64);
        let Ok(permit) = self.inner.publishing.clone().try_acquire_owned() else {
            tracing::debug!("live fanout busy; notes left to the streams' heartbeat");
            return;
        };
        let remote = self.inner.remote.clone();
        tokio::spawn(async move {
            remote.publish(notes).await;
            drop(permit);
        });
    }

    /// Signals for a stream watching these shipments and orders, from now on (take it before
    /// reading the stream's starting point).
    pub fn subscribe(&self, shipments: &[String], orders: &[String]) -> dispatch::Subscription {
        self.inner.local.subscribe(shipments, orders)
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
