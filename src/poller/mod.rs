//! The poll loop, written once for every poll-capable carrier, and safe to run in as many
//! processes as share the database: each tick, per carrier instance, claim a batch of due
//! shipments under a lease (refreshes first, then new registrations, then the most overdue),
//! poll them in one request of the adapter's batch size, ingest the answer, and write each
//! shipment's next poll from the schedule policy (`domain::schedule`) — releasing the lease.
//!
//! A failed poll is not retried inline: each shipment of the batch becomes a `poll` task on the
//! retry queue, with the same backoff, `Retry-After` handling and dead-lettering as pushes, and
//! its routine schedule moves on. A shipment silent for too long expires through the one write
//! path (`ingest::expire`). On shutdown the loop stops claiming and gives its leases back.
//! Adapters only build requests and parse responses; they never see the network.

mod http;
mod subscribe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Mutex;
use trackgate_carriers::{AccessToken, PollTarget};

use crate::config::PollSettings;
use crate::domain::retry::{Decision, Failure, RetryPolicy, decide, random_jitter};
use crate::domain::schedule::PollFacts;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::queue::{Queue, Settlement, Task, TaskKind};
use crate::registry::{CarrierInstance, Registry};
use crate::store::entities::shipment;
use crate::store::scheduling::NextPoll;
use crate::store::states::label;
use crate::store::{Store, StoreError};

/// Why a poll failed: how (for the retry delay), and the text recorded on a dead letter.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct PollError {
    pub failure: Failure,
    pub retry_after: Option<Duration>,
    pub detail: String,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PollError {
    /// A failure without an HTTP status, keeping its cause (`context` may be empty).
    fn caused_by(
        context: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> PollError {
        PollError {
            failure: Failure::Other,
            retry_after: None,
            detail: match context {
                "" => cause.to_string(),
                context => format!("{context}: {cause}"),
            },
            cause: Some(Box::new(cause)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Poller {
    pub store: Store,
    pub queue: Queue,
    pub registry: Registry,
    pub http: reqwest::Client,
    pub settings: PollSettings,
    pub retry: RetryPolicy,
    pub metrics: Metrics,
    /// This process's name on the leases it holds.
    pub owner: String,
    /// `server.public_url`: where carriers that take a callback per subscription (Kuaidi100)
    /// send their pushes (`{public_url}/webhooks/{instance}`).
    pub callback_base: Option<String>,
    /// Where ingested updates are announced to live streams (the gateway's hub; a hub of its
    /// own when built without one).
    pub live: Live,
    tokens: Arc<Mutex<HashMap<String, (AccessToken, Instant)>>>,
}

impl Poller {
    pub fn new(
        store: Store,
        queue: Queue,
        registry: Registry,
        http: reqwest::Client,
        settings: PollSettings,
        retry: RetryPolicy,
        metrics: Metrics,
    ) -> Poller {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let owner = format!("{host}-{}-{}", std::process::id(), uuid::Uuid::now_v7());
        Poller {
            store,
            queue,
            registry,
            http,
            settings,
            retry,
            live: Live::detached(metrics.clone()),
            metrics,
            owner,
            callback_base: None,
            tokens: Default::default(),
        }
    }

    /// One round over every poll-capable carrier instance; returns how many shipments were
    /// polled successfully.
    pub async fn poll_due(&self) -> anyhow::Result<usize> {
        let mut polled = 0;
        for instance in self.registry.all() {
            if !instance.adapter.capabilities().poll {
                continue;
            }
            if let Some(left) = instance.paused_for() {
                // A 429 paused this carrier: its due shipments stay due until the pause ends.
                tracing::debug!(carrier = %instance.id, ?left, "carrier paused after a 429");
            } else {
                polled += self.poll_instance(instance).await?;
            }
            // What is still owed after this round.
            self.record_backlog(instance).await;
        }
        Ok(polled)
    }

    /// Up to `batches_per_tick` batches of one carrier instance, `concurrent_batches` in flight
    /// at a time (each waits for its own request slot, so the carrier's rate holds).
    async fn poll_instance(&self, instance: &Arc<CarrierInstance>) -> anyhow::Result<usize> {
        let budget = Arc::new(std::sync::atomic::AtomicU32::new(
            self.settings.batches_per_tick.max(1),
        ));
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..self.settings.concurrent_batches.max(1) {
            let (poller, instance, budget) = (self.clone(), instance.clone(), budget.clone());
            lanes.spawn(async move {
                let mut polled = 0;
                while budget
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |left| left.checked_sub(1),
                    )
                    .is_ok()
                {
                    match poller.poll_one_batch(&instance).await? {
                        Some(count) => polled += count,
                        None => break,
                    }
                }
                anyhow::Ok(polled)
            });
        }
        let mut polled = 0;
        while let Some(lane) = lanes.join_next().await {
            polled += lane??;
        }
        Ok(polled)
    }

    /// Claim, poll and reschedule one batch; `None` when nothing was due.
    async fn poll_one_batch(&self, instance: &CarrierInstance) -> anyhow::Result<Option<usize>> {
        let batch = instance.adapter.capabilities().poll_batch_size.max(1);
        let lease = chrono::Duration::seconds(self.settings.lease_secs.max(1) as i64);
        let claimed = self
            .store
            .claim_due(&instance.id, &self.owner, Utc::now(), lease, batch as u64)
            .await?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let targets: Vec<PollTarget> = claimed.iter().map(poll_target).collect();
        let outcome = self.poll_targets(instance, &targets).await;
        let changed = match &outcome {
            Ok(report) => report.changed.clone(),
            Err(err) => {
                tracing::warn!(carrier = %instance.id, error = %err, "poll failed; queued for retry");
                self.queue_retries(&claimed, err).await?;
                Vec::new()
            }
        };
        self.reschedule(instance, &claimed, &changed).await?;
        Ok(Some(if outcome.is_ok() { claimed.len() } else { 0 }))
    }

    /// Every shipment of a failed batch becomes a `poll` task with the retry policy's delay.
    async fn queue_retries(
        &self,
        claimed: &[shipment::Model],
        err: &PollError,
    ) -> anyhow::Result<()> {
        let delay = match decide(
            &self.retry,
            1,
            err.failure,
            err.retry_after,
            random_jitter(),
        ) {
            Decision::RetryAfter(delay) => delay,
            Decision::Stop | Decision::DeadLetter => return Ok(()),
        };
        for shipment in claimed {
            let task = Task {
                kind: TaskKind::Poll,
                ref_id: shipment.id.clone(),
                attempt: 1,
                push: None,
            };
            self.queue.enqueue(task, delay).await?;
        }
        Ok(())
    }

    /// Write each claimed shipment's next poll (releasing its lease) from its state after the
    /// poll; a shipment silent for too long expires instead.
    async fn reschedule(
        &self,
        instance: &CarrierInstance,
        claimed: &[shipment::Model],
        changed: &[String],
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut next = Vec::with_capacity(claimed.len());
        // The poll may have moved the statuses: plan from the shipments as they are now.
        let ids: Vec<String> = claimed.iter().map(|s| s.id.clone()).collect();
        let after: HashMap<String, shipment::Model> = self
            .store
            .shipments_by_ids(&ids)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        for before in claimed {
            let current = after
                .get(&before.id)
                .cloned()
                .unwrap_or_else(|| before.clone());
            let unchanged_polls = if changed.contains(&current.tracking_number) {
                0
            } else {
                current.unchanged_polls.saturating_add(1)
            };
            let facts = PollFacts {
                status: current.status.0,
                unchanged_polls,
                grace_polled: current.grace_polled,
                // Silence counts from the newest event, but never from before registration.
                last_activity_at: current
                    .last_event_at
                    .map_or(current.created_at, |at| at.max(current.created_at)),
                last_webhook_at: current.last_webhook_at,
            };
            let plan = instance
                .policy
                .plan(facts, now, rand::random_range(-1.0..=1.0));
            if plan.expire
                && crate::ingest::expire(&self.store, &self.queue, &self.live, &current.id).await?
            {
                tracing::info!(shipment_id = %current.id, "no news for too long: expired");
            }
            // A poll asked for during this one (an aggregator registration, a refresh) moved
            // the row's next poll: keep the earlier of the two.
            let asked_during_poll = current
                .next_poll_at
                .filter(|at| Some(*at) > before.next_poll_at);
            let next_poll_at = match (plan.next_poll_at, asked_during_poll) {
                (Some(planned), Some(asked)) => Some(planned.min(asked)),
                (planned, _) => planned,
            };
            next.push(NextPoll {
                shipment_id: current.id,
                next_poll_at,
                unchanged_polls,
                grace_polled: plan.grace_polled,
            });
        }
        self.store.finish_polls(&next).await?;
        Ok(())
    }

    /// Update the backlog gauges of one carrier instance.
    async fn record_backlog(&self, instance: &CarrierInstance) {
        let now = Utc::now();
        match self.store.backlog(&instance.id, now).await {
            Ok(backlog) => {
                let id = instance.id.as_str();
                self.metrics
                    .poll_due
                    .with_label_values(&[id])
                    .set(backlog.due as i64);
                let age = backlog
                    .oldest_due_at
                    .map(|at| (now - at).num_milliseconds() as f64 / 1000.0)
                    .unwrap_or(0.0);
                self.metrics
                    .poll_oldest_due_seconds
                    .with_label_values(&[id])
                    .set(age.max(0.0));
            }
            Err(err) => {
                tracing::warn!(carrier = %instance.id, error = %err, "backlog query failed")
            }
        }
    }

    /// Give back every lease this process holds (graceful shutdown).
    pub async fn release_leases(&self) {
        match self.store.release_leases(&self.owner).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "released poll leases"),
            Err(err) => tracing::warn!(error = %err, "could not release poll leases; they expire"),
        }
    }

    /// Handle a `poll` task from the retry queue: poll that one shipment again; the settlement
    /// its delivery gets. A store failure is an `Err`, and the caller retries the task.
    pub async fn handle(&self, task: &Task) -> Result<Settlement, StoreError> {
        let Some(shipment) = self.store.get_shipment(&task.ref_id).await? else {
            return Ok(Settlement::Ack);
        };
        let Some(instance) = self
            .registry
            .get(&shipment.carrier_id)
            .filter(|_| shipment.tracking)
        else {
            return Ok(Settlement::Ack);
        };
        let attempt = task.attempt + 1;
        let target = poll_target(&shipment);
        let Err(err) = self.poll_targets(&instance, &[target]).await else {
            return Ok(Settlement::Ack);
        };
        let decision = decide(
            &self.retry,
            attempt,
            err.failure,
            err.retry_after,
            random_jitter(),
        );
        if let Decision::RetryAfter(delay) = decision {
            return Ok(Settlement::Retry(delay));
        }
        let attempts = attempt as i32;
        let last_error = Some(err.detail);
        self.store
            .add_dead_letter(TaskKind::Poll, &shipment.id, attempts, last_error)
            .await?;
        self.metrics
            .dead_letters
            .with_label_values(&[&label(TaskKind::Poll)])
            .inc();
        Ok(Settlement::DeadLetter)
    }
}

/// What the adapter needs to poll one stored shipment.
fn poll_target(shipment: &shipment::Model) -> PollTarget {
    PollTarget {
        tracking_number: shipment.tracking_number.clone(),
        carrier_code: shipment.carrier_code.clone(),
        phone_last4: shipment.phone_last4.clone(),
    }
}
