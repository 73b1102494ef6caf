//! Wiring, the top of the crate: connect the gateway, start the HTTP server, the queue workers,
//! the webhook processing, the poller and the outbox relay, and stop them all on shutdown.
//!
//! [`Application::build`] binds the listener first, so tests and the demo can use port 0 and
//! read the real port before anything runs. Background work runs on one
//! [`TaskTracker`](tokio_util::task::TaskTracker) and stops on one
//! [`CancellationToken`](tokio_util::sync::CancellationToken).

mod workers;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Surface;
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::poller::Poller;
use crate::push::{MallClient, PushWorker};

/// How long stopping waits for background work to finish what it holds.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Process-wide set-up that must happen once: the TLS crypto provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A gateway bound to its port, not yet serving.
pub struct Application {
    pub gateway: Gateway,
    port: u16,
    server: actix_web::dev::Server,
    /// The admin listener's server and port (`server.admin_listen`).
    admin: Option<(actix_web::dev::Server, u16)>,
    mall: MallClient,
}

/// A running application: its port, and the handles to stop it.
pub struct Running {
    pub port: u16,
    /// The admin listener's port, when `server.admin_listen` is set.
    pub admin_port: Option<u16>,
    admin_server: Option<(ServerHandle, JoinHandle<std::io::Result<()>>)>,
    pub gateway: Gateway,
    server: ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        install_crypto_provider();
        let mall = MallClient::new(&settings.mall)?;
        let gateway = Gateway::connect(settings).await?;
        let listener = TcpListener::bind(gateway.settings.server.listen)?;
        let port = listener.local_addr()?.port();
        let (surface, admin) = match gateway.settings.server.admin_listen {
            Some(address) => {
                let listener = TcpListener::bind(address)?;
                let admin_port = listener.local_addr()?.port();
                let no_pages: fn(&mut actix_web::web::ServiceConfig) = |_| {};
                let server =
                    crate::api::server(gateway.clone(), listener, Surface::Admin, no_pages)?;
                (Surface::Public, Some((server, admin_port)))
            }
            None => (Surface::All, None),
        };
        let server = crate::api::server(gateway.clone(), listener, surface, crate::web::routes)?;
        Ok(Application {
            gateway,
            port,
            server,
            admin,
            mall,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when `server.admin_listen` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(_, port)| *port)
    }

    pub fn settings(&self) -> &crate::config::Settings {
        &self.gateway.settings
    }

    /// Start the server and the background work.
    pub async fn start(self) -> anyhow::Result<Running> {
        let Application {
            gateway,
            port,
            server,
            admin,
            mall,
        } = self;
        let admin_port = admin.as_ref().map(|(_, port)| *port);
        let admin_server = admin.map(|(server, _)| (server.handle(), tokio::spawn(server)));
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let settings = &gateway.settings;
        let mut poller = Poller::new(
            gateway.store.clone(),
            gateway.queue.clone(),
            gateway.registry.clone(),
            http,
            settings.poll.clone(),
            settings.retry,
            gateway.metrics.clone(),
        );
        poller.live = gateway.live.clone();
        poller.callback_base = settings
            .server
            .public_url
            .clone()
            .filter(|url| !url.is_empty());
        let pusher = PushWorker::new(
            gateway.store.clone(),
            gateway.queue.clone(),
            mall,
            settings.retry,
            gateway.metrics.clone(),
        );
        let worker = workers::QueueWorker {
            queue: gateway.queue.clone(),
            pusher,
            poller: poller.clone(),
            health: gateway.health.clone(),
        };
        for _ in 0..settings.queue.prefetch {
            tracker.spawn(workers::run_queue_worker(worker.clone(), shutdown.clone()));
        }
        tracker.spawn(workers::run_relay(
            gateway.store.clone(),
            gateway.queue.clone(),
            gateway.health.clone(),
            shutdown.clone(),
        ));
        gateway.intake.start_processing(&shutdown, &tracker);
        if settings.poll.enabled {
            let tick = Duration::from_secs(settings.poll.tick_secs.max(1));
            tracker.spawn(workers::run_poller(poller, tick, shutdown.clone()));
        }
        tracker.spawn(sample_metrics(gateway.metrics.clone(), shutdown.clone()));
        let alerts = crate::alerts::Alerts::new(
            gateway.settings.alerts.clone(),
            gateway.store.clone(),
            gateway.queue.clone(),
            gateway.registry.clone(),
            gateway.metrics.clone(),
        )?;
        tracker.spawn(alerts.run(shutdown.clone()));
        tracker.close();
        tracing::info!(port, queue = ?gateway.queue.kind(), carriers = ?gateway.registry.ids(), "trackgate is serving");
        Ok(Running {
            port,
            admin_port,
            admin_server,
            gateway,
            server: handle,
            server_task,
            tracker,
            shutdown,
        })
    }
}

impl Running {
    /// Stop accepting requests, let background work finish what it holds, and return.
    pub async fn stop(self) {
        // Streams never finish by themselves: end them first, or the graceful stop waits for
        // them until actix's shutdown timeout.
        self.gateway.live.close();
        self.server.stop(true).await;
        let _ = self.server_task.await;
        if let Some((handle, task)) = self.admin_server {
            handle.stop(true).await;
            let _ = task.await;
        }
        self.shutdown.cancel();
        self.gateway.queue.close();
        if tokio::time::timeout(STOP_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("background work did not stop within {STOP_GRACE:?}; leaving it");
        }
        // Pushes published in the last moments get their "enqueued" mark now, or the relay
        // would queue them a second time after the restart.
        if tokio::time::timeout(
            Duration::from_secs(5),
            self.gateway.store.flush_enqueued_marks(),
        )
        .await
        .is_err()
        {
            tracing::warn!(
                "pushes on the queue not marked in time; the relay may queue them again"
            );
        }
    }

    /// Serve until SIGINT or SIGTERM arrives on `signals`, then stop gracefully.
    pub async fn until(self, signals: ShutdownSignals) {
        signals.recv().await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

/// SIGINT and SIGTERM handlers, installed before the server starts so that a signal arriving
/// at any moment after start-up is a graceful stop, never the default abrupt exit.
pub struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub fn install() -> std::io::Result<ShutdownSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The console dashboard's history: the counters read every ten seconds.
async fn sample_metrics(metrics: crate::metrics::Metrics, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => metrics.sample(),
        }
    }
}
