//! Building and running the gateway: connect the store and queue, build the carrier registry,
//! start the HTTP server, the queue workers, the poller and the outbox relay, and stop them all
//! on shutdown.
//!
//! [`Application::build`] binds the listener first, so tests and the demo can use port 0 and
//! read the real port before anything runs.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;
pub use tokio_util_shutdown::Shutdown;

use crate::api;
use crate::config::Settings;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::poller::Poller;
use crate::push::{MallClient, PushWorker, relay_unenqueued};
use crate::queue::{Queue, QueueError, TaskKind};
use crate::registry::Registry;
use crate::store::Store;

/// The shared state every handler and worker sees.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub queue: Queue,
    pub registry: Registry,
    pub metrics: Metrics,
    pub intake: Intake,
    pub api_keys: crate::api::auth::KeyCache,
}

impl Gateway {
    /// Connect to the store (migrating if configured) and the queue; build the registry.
    pub async fn connect(settings: Settings) -> anyhow::Result<Gateway> {
        let store = Store::connect(&settings.database).await?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        let queue = Queue::open(&settings.queue, &store).await?;
        let registry = Registry::build(&settings.carriers, settings.poll.schedule)?;
        let metrics = Metrics::new();
        let intake = Intake::start(&store, &settings.intake, &metrics);
        let api_keys = crate::api::auth::KeyCache::new(Duration::from_secs(
            settings.server.api_key_cache_secs,
        ));
        Ok(Gateway {
            intake,
            api_keys,
            settings: Arc::new(settings),
            store,
            queue,
            registry,
            metrics,
        })
    }
}

/// Process-wide set-up that must happen once: the TLS crypto provider.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub struct Application {
    pub gateway: Gateway,
    port: u16,
    server: actix_web::dev::Server,
    mall: MallClient,
}

/// A running application: its port, and the handles to stop it.
pub struct Running {
    pub port: u16,
    pub gateway: Gateway,
    server: ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    shutdown: Shutdown,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        install_crypto_provider();
        let mall = MallClient::new(&settings.mall)?;
        let gateway = Gateway::connect(settings).await?;
        let listener = TcpListener::bind(gateway.settings.server.listen)?;
        let port = listener.local_addr()?.port();
        let server = http_server(gateway.clone(), listener)?;
        Ok(Application {
            gateway,
            port,
            server,
            mall,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Start the server and the background workers.
    pub async fn start(self) -> anyhow::Result<Running> {
        let Application {
            gateway,
            port,
            server,
            mall,
        } = self;
        let shutdown = Shutdown::new();
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let poller = Poller::new(
            gateway.store.clone(),
            gateway.queue.clone(),
            gateway.registry.clone(),
            http,
            gateway.settings.poll.clone(),
            gateway.settings.retry,
            gateway.metrics.clone(),
        );
        let pusher = PushWorker {
            store: gateway.store.clone(),
            queue: gateway.queue.clone(),
            client: mall,
            retry: gateway.settings.retry,
            metrics: gateway.metrics.clone(),
        };
        let mut workers = Vec::new();
        for _ in 0..gateway.settings.queue.prefetch {
            workers.push(tokio::spawn(run_queue_worker(
                gateway.queue.clone(),
                pusher.clone(),
                poller.clone(),
                shutdown.clone(),
            )));
        }
        workers.push(tokio::spawn(run_relay(gateway.clone(), shutdown.clone())));
        workers.extend(crate::intake::process::start(&gateway, &shutdown));
        if gateway.settings.poll.enabled {
            workers.push(tokio::spawn(run_poller(
                poller,
                gateway.settings.poll.tick_secs,
                shutdown.clone(),
            )));
        }
        tracing::info!(port, queue = ?gateway.queue.kind(), carriers = ?gateway.registry.ids(), "trackgate is serving");
        Ok(Running {
            port,
            gateway,
            server: handle,
            server_task,
            workers,
            shutdown,
        })
    }
}

impl Running {
    /// Stop accepting requests, let workers finish what they hold, and return.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.server_task.await;
        self.shutdown.trigger();
        self.gateway.queue.close();
        for worker in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(15), worker).await;
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

fn http_server(gateway: Gateway, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let limit = gateway.settings.server.body_limit_bytes;
    let workers = match gateway.settings.server.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let data = web::Data::new(gateway);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(tracing_actix_web::TracingLogger::default())
            .app_data(data.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(api::error::json_error),
            )
            .app_data(web::PayloadConfig::default().limit(limit))
            .app_data(web::QueryConfig::default().error_handler(api::error::query_error))
            .app_data(web::PathConfig::default().error_handler(api::error::path_error))
            .configure(api::routes)
            .default_service(web::to(api::error::not_found))
    })
    .workers(workers)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

async fn run_queue_worker(queue: Queue, pusher: PushWorker, poller: Poller, shutdown: Shutdown) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.wait() => return,
            next = queue.next() => next,
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(QueueError::Closed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "queue unavailable; retrying shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let task = delivery.task.clone();
        let result = match task.kind {
            TaskKind::Push => pusher.handle(delivery).await,
            TaskKind::Poll => poller.handle(delivery).await,
        };
        if let Err(err) = result {
            // The delivery was not settled: the queue hands it out again (lease expiry or
            // broker redelivery), so nothing is lost.
            tracing::error!(kind = ?task.kind, ref_id = %task.ref_id, error = %err, "task failed; it will be redelivered");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn run_relay(gateway: Gateway, shutdown: Shutdown) {
    loop {
        match relay_unenqueued(&gateway.store, &gateway.queue).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "re-enqueued pushes that never reached the queue"),
            Err(err) => tracing::warn!(error = %err, "outbox relay failed"),
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}

/// Poll every tick until shutdown; then stop claiming and give the leases back, so another
/// process takes the work over at once instead of after the lease.
async fn run_poller(poller: Poller, tick_secs: u64, shutdown: Shutdown) {
    loop {
        tokio::select! {
            // A round in flight finishes its batch (claimed rows are rescheduled and released);
            // a round still waiting on the pacer is abandoned, its leases released below.
            _ = shutdown.wait() => break,
            result = poller.poll_due() => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "poll round failed");
                }
            }
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(Duration::from_secs(tick_secs.max(1))) => {}
        }
    }
    poller.release_leases().await;
}

/// A tiny shutdown signal: `trigger` once, `wait` from anywhere.
pub mod tokio_util_shutdown {
    use std::sync::Arc;
    use tokio::sync::watch;

    #[derive(Clone, Debug)]
    pub struct Shutdown {
        sender: Arc<watch::Sender<bool>>,
        receiver: watch::Receiver<bool>,
    }

    impl Default for Shutdown {
        fn default() -> Shutdown {
            Shutdown::new()
        }
    }

    impl Shutdown {
        pub fn new() -> Shutdown {
            let (sender, receiver) = watch::channel(false);
            Shutdown {
                sender: Arc::new(sender),
                receiver,
            }
        }
        pub fn trigger(&self) {
            let _ = self.sender.send(true);
        }
        pub async fn wait(&self) {
            let mut receiver = self.receiver.clone();
            let _ = receiver.wait_for(|stopped| *stopped).await;
        }
    }
}
