//! The shared state every entry point sees: settings, the store, the queue, the carrier
//! registry, the metrics, the health of the background work and the webhook pipeline.
//!
//! It sits above the pipeline and below the entry points (HTTP API, CLI, poller wiring), so the
//! layers under it never import it: they are handed the parts they need.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Settings;
use crate::domain::tokens::TokenSigner;
use crate::health::Health;
use crate::intake::Intake;
use crate::live::Live;
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
    pub live: Live,
    /// Signs support sessions, stream tokens and customer tracking links.
    pub tokens: TokenSigner,
}

/// Connect to the database, or say which one could not be reached (its password redacted) and
/// what to check.
pub async fn connect_store(settings: &crate::config::DatabaseSettings) -> anyhow::Result<Store> {
    Store::connect(settings).await.with_context(|| {
        format!(
            "cannot connect to the database at {}: is it running, and are `database.url` \
             (TRACKGATE__DATABASE__URL) and its credentials right?",
            crate::config::redact_url(&settings.url)
        )
    })
}

impl Gateway {
    /// Connect to the store (migrating if configured) and the queue; build the registry and
    /// start the webhook pipeline's writers (its processing starts with the application).
    pub async fn connect(settings: Settings) -> anyhow::Result<Gateway> {
        let store = connect_store(&settings.database).await?;
        if settings.database.migrate_on_start {
            store.migrate().await?;
        }
        let health = Health::new();
        let queue = Queue::open(&settings.queue, &store, &health)
            .await
            .with_context(|| {
                format!(
                    "cannot connect to RabbitMQ at {}: is the broker running, and are \
                     `queue.amqp_url` (TRACKGATE__QUEUE__AMQP_URL) and its credentials right?",
                    crate::config::redact_url(&settings.queue.amqp_url)
                )
            })?;
        let registry = Registry::build(&settings.carriers, settings.poll.schedule)?;
        let metrics = Metrics::new();
        let live = Live::start(&settings.live, &settings.queue, &store, metrics.clone());
        let intake = Intake::start(
            store.clone(),
            queue.clone(),
            live.clone(),
            registry.clone(),
            metrics.clone(),
            health.clone(),
            settings.intake.clone(),
        );
        let tokens = token_signer(&settings);
        Ok(Gateway {
            settings: Arc::new(settings),
            store,
            queue,
            registry,
            metrics,
            health,
            intake,
            live,
            tokens,
        })
    }
}

/// `web.token_secret`, else a key derived from the mall's signing secret, else a random key (and
/// a warning: links and sessions then die with the process and fail on its neighbours).
/// The key of browser tokens: `web.token_secret`, else derived from the mall signing secret.
/// Either may list several secrets during a rotation: the first signs, all are accepted.
fn token_signer(settings: &Settings) -> TokenSigner {
    let keys = |value: &str, derive: bool| -> Vec<Vec<u8>> {
        crate::config::secret_list(value)
            .map(|one| match derive {
                true => TokenSigner::derive(one.as_bytes()),
                false => one.as_bytes().to_vec(),
            })
            .collect()
    };
    let listed = match (&settings.web.token_secret, &settings.mall.signing_secret) {
        (Some(secret), _) => keys(secret.expose(), false),
        (None, Some(secret)) => keys(secret.expose(), true),
        (None, None) => Vec::new(),
    };
    if let Some((first, rest)) = listed.split_first() {
        return TokenSigner::new(first.clone()).accepting(rest.to_vec());
    }
    tracing::warn!(
        "neither TRACKGATE__WEB__TOKEN_SECRET nor a mall signing secret is set: sessions, stream \
         tokens and tracking links are signed with a random key of this process only"
    );
    TokenSigner::random()
}
