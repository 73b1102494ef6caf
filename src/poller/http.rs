//! The poller's HTTP side: one poll request for a batch (with the OAuth token, refreshed once on
//! a 401), the carrier's 429 pausing its instance, aggregator registration, and every request
//! waiting first on the instance's in-process limiter and then on the pacer shared through the
//! store, so a carrier's requests-per-second and per-day quotas hold across processes.

use std::time::{Duration, Instant};

use chrono::Utc;
use trackgate_carriers::{AccessToken, HttpMethod, HttpRequest, PollTarget};

use super::{PollError, Poller};
use crate::domain::retry::{Failure, parse_retry_after};
use crate::ingest::{IngestReport, ingest_polled};
use crate::registry::CarrierInstance;
use crate::store::scheduling::Slot;

impl Poller {
    /// Poll these shipments of one carrier instance and ingest the result.
    pub async fn poll_targets(
        &self,
        instance: &CarrierInstance,
        targets: &[PollTarget],
    ) -> Result<IngestReport, PollError> {
        let result = self.poll_targets_once(instance, targets).await;
        instance.record_poll(result.as_ref().err().map(|err| err.detail.as_str()));
        result
    }

    async fn poll_targets_once(
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
                .map_err(|err| PollError::caused_by("", err))?;
            let (status, headers, body) = self.send(instance, request).await?;
            if status == 401 && token.is_some() && !refreshed {
                refreshed = true; // the token expired early: fetch a new one, once
                continue;
            }
            if !(200..300).contains(&status) {
                if status == 401 {
                    self.metrics
                        .ops
                        .carrier_unauthorized
                        .with_label_values(&[instance.id.as_str()])
                        .inc();
                }
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
                    cause: None,
                    failure: Failure::Status(status),
                    retry_after,
                    detail: format!("carrier answered {status}: {snippet}"),
                });
            }
            let outcome = instance
                .parse_poll_response(targets, &body)
                .map_err(|err| PollError::caused_by("", err))?;
            if !outcome.unregistered.is_empty() {
                self.register_with_carrier(instance, targets, &outcome.unregistered)
                    .await;
            }
            self.metrics
                .polls
                .with_label_values(&[instance.id.as_str(), "ok"])
                .inc();
            let report = ingest_polled(&self.store, &self.queue, &self.live, &instance.id, outcome)
                .await
                .map_err(|err| PollError::caused_by("", err))?;
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
                cause: None,
                failure: Failure::Status(status),
                retry_after: None,
                detail: format!("token endpoint answered {status}"),
            });
        }
        let token = instance
            .adapter
            .parse_token_response(&body)
            .map_err(|err| PollError::caused_by("", err))?;
        tokens.insert(instance.id.clone(), (token.clone(), Instant::now()));
        Ok(Some(token))
    }

    /// Numbers the carrier does not know (17TRACK): their subscriptions are made again, as
    /// queue work (`poller::subscribe`), which also moves their next poll past the carrier's
    /// registration delay. A failure is logged only: the next poll reports them again.
    async fn register_with_carrier(
        &self,
        instance: &CarrierInstance,
        targets: &[PollTarget],
        unregistered: &[String],
    ) {
        for target in targets
            .iter()
            .filter(|t| unregistered.contains(&t.tracking_number))
        {
            let found = self
                .store
                .find_shipment(&instance.id, &target.tracking_number)
                .await;
            let shipment = match found {
                Ok(Some(shipment)) => shipment,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(carrier = %instance.id, error = %err, "could not look up an unregistered number");
                    continue;
                }
            };
            match self
                .store
                .want_subscribed_again(&shipment.id, &instance.id)
                .await
            {
                Ok(true) => {
                    crate::subscriptions::enqueue(&self.store, &self.queue, &shipment.id).await
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(carrier = %instance.id, error = %err, "could not ask for a registration")
                }
            }
        }
    }

    pub(super) async fn send(
        &self,
        instance: &CarrierInstance,
        request: HttpRequest,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), PollError> {
        if let Some(left) = instance.paused_for() {
            // Not even a retry task may spend the quota while the carrier asked us to wait.
            return Err(PollError {
                cause: None,
                failure: Failure::Status(429),
                retry_after: Some(left),
                detail: format!("carrier paused for {}s after a 429", left.as_secs()),
            });
        }
        instance.limiter.until_ready().await;
        self.wait_for_shared_slot(instance).await?;
        let started = Instant::now();
        let mut builder = match request.method {
            HttpMethod::Get => self.http.get(&request.url),
            HttpMethod::Post => self.http.post(&request.url),
            HttpMethod::Delete => self.http.delete(&request.url),
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
            let failure = Failure::transport(err.is_timeout(), err.is_connect());
            PollError {
                failure,
                retry_after: None,
                detail: crate::push::describe_transport_error(err),
                cause: None,
            }
        })?;
        let status = response.status().as_u16();
        self.metrics
            .carrier_seconds
            .with_label_values(&[instance.id.as_str()])
            .observe(started.elapsed().as_secs_f64());
        if status == 429 {
            self.metrics
                .carrier_rate_limited
                .with_label_values(&[instance.id.as_str()])
                .inc();
        }
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|err| PollError::caused_by("reading body", err.without_url()))?;
        Ok((status, headers, body.to_vec()))
    }

    /// Wait for this carrier's next request slot from the pacer shared by every process; a
    /// spent daily quota pauses the instance until midnight UTC.
    async fn wait_for_shared_slot(&self, instance: &CarrierInstance) -> Result<(), PollError> {
        let slot = self
            .store
            .take_request_slot(
                &instance.id,
                instance.requests_per_second,
                instance.requests_per_day,
                Utc::now(),
            )
            .await
            .map_err(|err| PollError::caused_by("request pacer", err))?;
        match slot {
            Slot::At(at) => {
                if let Ok(wait) = (at - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Slot::QuotaExhausted { until } => {
                let left = (until - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::from_secs(60));
                instance.pause(left);
                Err(PollError {
                    cause: None,
                    failure: Failure::Status(429),
                    retry_after: Some(left),
                    detail: format!(
                        "the daily quota of {} requests is spent until {until}",
                        instance.requests_per_day
                    ),
                })
            }
        }
    }
}
