//! The shared state every entry point sees: settings, the store, the queue, the carrier
//! registry, the metrics, the health of the background work and the webhook pipeline.
//!
//! It sits above the pipeline and below the entry points (HTTP API, CLI, poller wiring), so the
//! layers under it never import it: they are handed the parts they need.

use std::sync::Arc;

use crate::config::Settings;
use crate::health::Health;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct Gateway {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub queue: Queue,
    pub registry: Registry,
    pub metrics: Metrics,
    pub health: Health,
    pub intake: Intake,
}

impl Gateway {
    /// Connect to the store (migrating if configured) and the queue; build the registry and
    /// start the webhook pipeline's writers (its processing starts with the application).
    pub async fn connect(settings: Settings) -> anyhow::Result<Gateway> {
        let store = Store::connect(&settings.database).await?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        let health = Health::new();
        let queue = Queue::open(&settings.queue, &store, &health).await?;
        let registry = Registry::build(&settings.carriers, settings.poll.schedule)?;
        let metrics = Metrics::new();
        let intake = Intake::start(
            store.clone(),
            queue.clone(),
            registry.clone(),
            metrics.clone(),
            health.clone(),
            settings.intake.clone(),
        );
        Ok(Gateway {
            settings: Arc::new(settings),
            store,
            queue,
            registry,
            metrics,
            health,
            intake,
        })
    }
}
