//! The poll loop, written once for every poll-capable carrier: find due shipments, batch them
//! to the adapter's batch size, wait on the instance's rate limiter, fetch an OAuth token when
//! the adapter wants one (cached; refreshed once on 401), send, parse, ingest.
//!
//! A failed poll is not retried inline: each shipment of the batch becomes a `poll` task on the
//! retry queue, with the same backoff, `Retry-After` handling and dead-lettering as pushes.
//! Adapters only build requests and parse responses; they never see the network.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Mutex;
use trackgate_carriers::{AccessToken, HttpMethod, HttpRequest, PollTarget};

use crate::config::{PollSettings, RetrySettings};
use crate::ingest::{IngestReport, Source, ingest};
use crate::metrics::Metrics;
use crate::push::retry::{Decision, Failure, decide, parse_retry_after, random_jitter};
use crate::queue::{Delivery, Queue, Task, TaskKind};
use crate::registry::{CarrierInstance, Registry};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct PollError {
    pub failure: Failure,
    pub retry_after: Option<Duration>,
    pub detail: String,
}

impl PollError {
    fn other(detail: impl Into<String>) -> PollError {
        PollError {
            failure: Failure::Other,
            retry_after: None,
            detail: detail.into(),
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
    pub retry: RetrySettings,
    pub metrics: Metrics,
    tokens: Arc<Mutex<HashMap<String, (AccessToken, Instant)>>>,
}

impl Poller {
    pub fn new(
        store: Store,
        queue: Queue,
        registry: Registry,
        http: reqwest::Client,
        settings: PollSettings,
        retry: RetrySettings,
        metrics: Metrics,
    ) -> Poller {
        Poller {
            store,
            queue,
            registry,
            http,
            settings,
            retry,
            metrics,
            tokens: Default::default(),
        }
    }

    /// Poll every due shipment once; returns how many shipments were polled successfully.
    pub async fn poll_due(&self) -> anyhow::Result<usize> {
        let mut polled = 0;
        for instance in self.registry.all() {
            let capabilities = instance.adapter.capabilities();
            if !capabilities.poll {
                continue;
            }
            if let Some(left) = instance.paused_for() {
                // A 429 paused this carrier: its due shipments stay due until the pause ends.
                tracing::debug!(carrier = %instance.id, ?left, "carrier paused after a 429");
                continue;
            }
            let batch = capabilities.poll_batch_size.max(1);
            let due = self
                .store
                .due_for_poll(&instance.id, Utc::now(), (batch * 20) as u64)
                .await?;
            for chunk in due.chunks(batch) {
                let ids: Vec<String> = chunk.iter().map(|s| s.id.clone()).collect();
                let next =
                    Utc::now() + chrono::Duration::seconds(self.settings.interval_secs as i64);
                // Schedule first: a slow or failing poll must not be picked up again next tick.
                self.store.schedule_poll(&ids, next).await?;
                let targets: Vec<PollTarget> = chunk.iter().map(poll_target).collect();
                match self.poll_targets(instance, &targets).await {
                    Ok(_) => polled += chunk.len(),
                    Err(err) => {
                        tracing::warn!(carrier = %instance.id, error = %err, "poll failed; queued for retry");
                        for id in ids {
                            let task = Task {
                                kind: TaskKind::Poll,
                                ref_id: id,
                                attempt: 1,
                            };
                            let delay = match decide(
                                &self.retry,
                                1,
                                err.failure,
                                err.retry_after,
                                random_jitter(),
                            ) {
                                Decision::RetryAfter(delay) => delay,
                                Decision::Stop | Decision::DeadLetter => continue,
                            };
                            self.queue.enqueue(task, delay).await?;
                        }
                    }
                }
            }
        }
        Ok(polled)
    }

    /// Poll these shipments of one carrier instance and ingest the result.
    pub async fn poll_targets(
        &self,
        instance: &CarrierInstance,
        targets: &[PollTarget],
    ) -> Result<IngestReport, PollError> {
        let mut refreshed = false;
        loop {
            let token = self.token(instance, refreshed).await?;
            let request = instance
                .adapter
                .build_poll_request(targets, token.as_ref())
                .map_err(|err| PollError::other(err.to_string()))?;
            let (status, headers, body) = self.send(instance, request).await?;
            if status == 401 && token.is_some() && !refreshed {
                refreshed = true; // the token expired early: fetch a new one, once
                continue;
            }
            if !(200..300).contains(&status) {
                self.metrics
                    .polls
                    .with_label_values(&[instance.id.as_str(), "http_error"])
                    .inc();
                let retry_after = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, Utc::now()));
                if status == 429 {
                    // The quota is the carrier's, not this batch's: pause the whole instance.
                    let pause = retry_after.unwrap_or(self.settings.default_pause());
                    instance.pause(pause);
                    tracing::warn!(carrier = %instance.id, ?pause, "carrier answered 429; instance paused");
                }
                let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(PollError {
                    failure: Failure::Status(status),
                    retry_after,
                    detail: format!("carrier answered {status}: {snippet}"),
                });
            }
            let outcome = instance
                .adapter
                .parse_poll_response(&body)
                .map_err(|err| PollError::other(err.to_string()))?;
            if !outcome.unregistered.is_empty() {
                self.register_with_carrier(instance, targets, &outcome.unregistered)
                    .await;
            }
            self.metrics
                .polls
                .with_label_values(&[instance.id.as_str(), "ok"])
                .inc();
            let report = ingest(
                &self.store,
                &self.queue,
                &instance.id,
                Source::Poll,
                None,
                outcome,
            )
            .await
            .map_err(|err| PollError::other(err.to_string()))?;
            self.metrics
                .events_ingested
                .with_label_values(&[instance.id.as_str(), "poll"])
                .inc_by(report.events_inserted as u64);
            return Ok(report);
        }
    }

    async fn token(
        &self,
        instance: &CarrierInstance,
        force_refresh: bool,
    ) -> Result<Option<AccessToken>, PollError> {
        let Some(request) = instance.adapter.token_request() else {
            return Ok(None);
        };
        let mut tokens = self.tokens.lock().await;
        if !force_refresh
            && let Some((token, fetched)) = tokens.get(&instance.id)
            && fetched.elapsed() + Duration::from_secs(60) < token.expires_in
        {
            return Ok(Some(token.clone()));
        }
        let (status, _, body) = self.send(instance, request).await?;
        if !(200..300).contains(&status) {
            return Err(PollError {
                failure: Failure::Status(status),
                retry_after: None,
                detail: format!("token endpoint answered {status}"),
            });
        }
        let token = instance
            .adapter
            .parse_token_response(&body)
            .map_err(|err| PollError::other(err.to_string()))?;
        tokens.insert(instance.id.clone(), (token.clone(), Instant::now()));
        Ok(Some(token))
    }

    /// Register numbers the carrier does not know yet (17TRACK); they are polled next round.
    /// A failure is logged only: the next poll reports them unregistered again.
    async fn register_with_carrier(
        &self,
        instance: &CarrierInstance,
        targets: &[PollTarget],
        unregistered: &[String],
    ) {
        let targets: Vec<PollTarget> = targets
            .iter()
            .filter(|t| unregistered.contains(&t.tracking_number))
            .cloned()
            .collect();
        if targets.is_empty() {
            return; // the carrier named numbers we did not ask about
        }
        let Some(request) = instance.adapter.registration_request(&targets) else {
            return;
        };
        match self.send(instance, request).await {
            Ok((status, _, _)) if (200..300).contains(&status) => {
                tracing::info!(carrier = %instance.id, count = targets.len(), "registered numbers with the carrier");
                let next = Utc::now()
                    + chrono::Duration::seconds(self.settings.after_registration_secs as i64);
                for target in &targets {
                    let found = self
                        .store
                        .find_shipment(&instance.id, &target.tracking_number)
                        .await;
                    if let Ok(Some(shipment)) = found
                        && let Err(err) = self.store.schedule_poll(&[shipment.id], next).await
                    {
                        tracing::warn!(carrier = %instance.id, error = %err, "could not reschedule a registered number");
                    }
                }
            }
            Ok((status, _, body)) => {
                let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                tracing::warn!(carrier = %instance.id, status, %snippet, "registration refused");
            }
            Err(err) => tracing::warn!(carrier = %instance.id, error = %err, "registration failed"),
        }
    }

    async fn send(
        &self,
        instance: &CarrierInstance,
        request: HttpRequest,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), PollError> {
        if let Some(left) = instance.paused_for() {
            // Not even a retry task may spend the quota while the carrier asked us to wait.
            return Err(PollError {
                failure: Failure::Status(429),
                retry_after: Some(left),
                detail: format!("carrier paused for {}s after a 429", left.as_secs()),
            });
        }
        instance.limiter.until_ready().await;
        let mut builder = match request.method {
            HttpMethod::Get => self.http.get(&request.url),
            HttpMethod::Post => self.http.post(&request.url),
        };
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(|err| {
            self.metrics
                .polls
                .with_label_values(&[instance.id.as_str(), "network_error"])
                .inc();
            let failure = Failure::from_transport(&err);
            PollError {
                failure,
                retry_after: None,
                detail: format!("{err:#}"),
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|err| PollError::other(format!("reading body: {err}")))?;
        Ok((status, headers, body.to_vec()))
    }

    /// Handle a `poll` task from the retry queue: poll that one shipment again.
    pub async fn handle(&self, delivery: Delivery) -> anyhow::Result<()> {
        let Some(shipment) = self.store.get_shipment(&delivery.task.ref_id).await? else {
            self.queue.ack(delivery).await?;
            return Ok(());
        };
        let Some(instance) = self
            .registry
            .get(&shipment.carrier_id)
            .filter(|_| shipment.tracking)
        else {
            self.queue.ack(delivery).await?;
            return Ok(());
        };
        let attempt = delivery.task.attempt + 1;
        match self
            .poll_targets(&instance, &[poll_target(&shipment)])
            .await
        {
            Ok(_) => self.queue.ack(delivery).await?,
            Err(err) => match decide(
                &self.retry,
                attempt,
                err.failure,
                err.retry_after,
                random_jitter(),
            ) {
                Decision::RetryAfter(delay) => self.queue.retry(delivery, delay).await?,
                Decision::Stop | Decision::DeadLetter => {
                    self.store
                        .add_dead_letter("poll", &shipment.id, attempt as i32, Some(err.detail))
                        .await?;
                    self.metrics.dead_letters.with_label_values(&["poll"]).inc();
                    self.queue.dead_letter(delivery).await?;
                }
            },
        }
        Ok(())
    }
}

/// What the adapter needs to poll one stored shipment.
fn poll_target(shipment: &crate::store::entities::shipment::Model) -> PollTarget {
    PollTarget {
        tracking_number: shipment.tracking_number.clone(),
        carrier_code: shipment.carrier_code.clone(),
        phone_last4: shipment.phone_last4.clone(),
    }
}
