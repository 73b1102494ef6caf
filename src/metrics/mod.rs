//! Prometheus metrics, served as text on `GET /metrics`.
//!
//! One registry per application instance (not the global default), so tests that run several
//! apps in one process keep their counters apart. This module only defines and renders the
//! metrics; each is recorded by the one module that owns the event it counts (webhook outcomes
//! by the intake, pushes by the push worker, carrier requests by the poller).

mod operations;

use std::time::Duration;

pub use operations::OperationsMetrics;

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// One reading of the dashboard's counters (every [`Metrics::sample`]).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: chrono::DateTime<chrono::Utc>,
    /// Webhooks accepted and processed so far.
    pub webhooks: u64,
    /// Pushes the mall accepted so far.
    pub pushes: u64,
}

/// Samples kept: an hour at one per ten seconds.
const HISTORY: usize = 361;

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// The last hour of [`Sample`]s, oldest first (this process's counters).
    history: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Sample>>>,
    /// Backlog, HTTP, quota, alert, process and build metrics ([`operations`]).
    pub ops: OperationsMetrics,
    /// Carrier webhooks by carrier instance and outcome (`rejected`, `received`, `processed`,
    /// `partial`, `failed`).
    pub webhooks: IntCounterVec,
    pub events_ingested: IntCounterVec,
    pub pushes: IntCounterVec,
    pub push_seconds: Histogram,
    pub dead_letters: IntCounterVec,
    pub polls: IntCounterVec,
    /// Carrier subscription results, by carrier instance and result (`active`, `refused`,
    /// `retried`, `dead`, `stopped`).
    pub subscriptions: IntCounterVec,
    /// Time for one request to a carrier (poll, token, registration), by carrier instance.
    pub carrier_seconds: HistogramVec,
    /// Carrier answers of 429, by carrier instance.
    pub carrier_rate_limited: IntCounterVec,
    /// Shipments due for a poll and the age of the oldest overdue one, by carrier instance.
    pub poll_due: IntGaugeVec,
    pub poll_oldest_due_seconds: GaugeVec,
    /// Group commit: webhooks per stored batch, and the time to store one (insert + commit),
    /// by stage (`store`: before the 2xx; `ingest`: the batched write path behind it).
    pub intake_batch_rows: HistogramVec,
    pub intake_batch_seconds: HistogramVec,
    /// Requests refused with a 4xx, by problem code (`invalid_signature`, `rate_limited`, …).
    pub http_rejected: IntCounterVec,
    /// Live streams open now, by transport (`websocket`, `sse`, `page`).
    pub live_streams: IntGaugeVec,
    /// Shipments watched by the open live streams (one per stream and shipment).
    pub live_watched: IntGaugeVec,
    /// Messages sent to live clients, by transport and type (`update`, `snapshot`).
    pub live_messages: IntCounterVec,
    /// Live streams closed by the gateway, by reason (`slow_consumer`, `expired`, `lagged`…).
    pub live_dropped: IntCounterVec,
    /// Announcements of new pushes, by direction (`sent` to other processes, `received`).
    pub live_announcements: IntCounterVec,
}

/// Register `metric` with `registry` and hand it back.
fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    registered(registry, counter)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(
        registry,
        HistogramVec::new(opts, labels).expect("valid histogram"),
    )
}

const SECONDS_SHORT: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
const SECONDS_PUSH: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SECONDS_CARRIER: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const BATCH_ROWS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let push_seconds = HistogramOpts::new(
            "trackgate_push_duration_seconds",
            "Time for one push POST to the mall",
        )
        .buckets(SECONDS_PUSH.to_vec());
        let poll_due = Opts::new("trackgate_poll_due", "Shipments due for a poll");
        let oldest_due = Opts::new(
            "trackgate_poll_oldest_due_seconds",
            "How long the most overdue shipment has waited for its poll",
        );
        Metrics {
            ops: OperationsMetrics::new(&r),
            push_seconds: registered(&r, Histogram::with_opts(push_seconds).expect("valid")),
            poll_due: registered(&r, IntGaugeVec::new(poll_due, &["carrier"]).expect("valid")),
            poll_oldest_due_seconds: registered(
                &r,
                GaugeVec::new(oldest_due, &["carrier"]).expect("valid"),
            ),
            intake_batch_rows: histogram(
                &r,
                "trackgate_intake_batch_rows",
                "Webhooks per group-commit batch",
                &["stage"],
                BATCH_ROWS,
            ),
            intake_batch_seconds: histogram(
                &r,
                "trackgate_intake_batch_seconds",
                "Time to write one group-commit batch",
                &["stage"],
                SECONDS_SHORT,
            ),
            carrier_seconds: histogram(
                &r,
                "trackgate_carrier_request_duration_seconds",
                "Time for one request to a carrier",
                &["carrier"],
                SECONDS_CARRIER,
            ),
            carrier_rate_limited: counter(
                &r,
                "trackgate_carrier_rate_limited_total",
                "Carrier answers of 429 Too Many Requests",
                &["carrier"],
            ),
            webhooks: counter(
                &r,
                "trackgate_webhooks_total",
                "Carrier webhooks received, by outcome",
                &["carrier", "outcome"],
            ),
            events_ingested: counter(
                &r,
                "trackgate_events_ingested_total",
                "New (deduplicated) tracking events stored",
                &["carrier", "source"],
            ),
            pushes: counter(
                &r,
                "trackgate_pushes_total",
                "Push attempts to the mall, by result",
                &["result"],
            ),
            dead_letters: counter(
                &r,
                "trackgate_dead_letters_total",
                "Calls given up after the last retry",
                &["kind"],
            ),
            polls: counter(
                &r,
                "trackgate_polls_total",
                "Carrier poll requests, by result",
                &["carrier", "result"],
            ),
            subscriptions: counter(
                &r,
                "trackgate_subscriptions_total",
                "Carrier subscription work, by result",
                &["carrier", "result"],
            ),
            http_rejected: counter(
                &r,
                "trackgate_http_rejected_total",
                "Requests refused with a 4xx, by problem code",
                &["code"],
            ),
            live_streams: registered(
                &r,
                IntGaugeVec::new(
                    Opts::new("trackgate_live_streams", "Live update streams open now"),
                    &["transport"],
                )
                .expect("valid"),
            ),
            live_watched: registered(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "trackgate_live_watched_shipments",
                        "Shipments watched by open live streams",
                    ),
                    &["transport"],
                )
                .expect("valid"),
            ),
            live_messages: counter(
                &r,
                "trackgate_live_messages_total",
                "Messages sent to live stream clients",
                &["transport", "type"],
            ),
            live_dropped: counter(
                &r,
                "trackgate_live_dropped_total",
                "Live streams closed by the gateway, by reason",
                &["reason"],
            ),
            live_announcements: counter(
                &r,
                "trackgate_live_announcements_total",
                "Announcements of new pushes between processes",
                &["direction"],
            ),
            registry: r,
            history: Default::default(),
        }
    }

    /// Sum of a counter over the series whose `label` is `value`.
    fn total(counter: &IntCounterVec, label: &str, value: &str) -> u64 {
        counter
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == label && l.value() == value)
            })
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    /// Record the dashboard's counters now (called every ten seconds).
    pub fn sample(&self) {
        // Every stored webhook ends in one of these (rejected ones were never accepted).
        let received = ["processed", "partial", "failed", "quarantined"]
            .iter()
            .map(|outcome| Self::total(&self.webhooks, "outcome", outcome))
            .sum();
        let sample = Sample {
            at: chrono::Utc::now(),
            webhooks: received,
            pushes: Self::total(&self.pushes, "result", "delivered"),
        };
        let mut history = self.history.lock().expect("not poisoned");
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(sample);
    }

    /// The samples of the last hour, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        self.history
            .lock()
            .expect("not poisoned")
            .iter()
            .copied()
            .collect()
    }

    pub fn observe_batch(&self, stage: &str, rows: usize, took: Duration) {
        self.intake_batch_rows
            .with_label_values(&[stage])
            .observe(rows as f64);
        self.intake_batch_seconds
            .with_label_values(&[stage])
            .observe(took.as_secs_f64());
    }

    /// One push attempt: delivered (2xx) or failed, and how long it took.
    pub fn observe_push(&self, delivered: bool, took: Duration) {
        let result = if delivered { "delivered" } else { "failed" };
        self.pushes.with_label_values(&[result]).inc();
        self.push_seconds.observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("prometheus text is utf-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
