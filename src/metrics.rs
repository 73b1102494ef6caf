//! Prometheus metrics, served as text on `GET /metrics`.
//!
//! One registry per application instance (not the global default), so tests that run several
//! apps in one process keep their counters apart.

use std::time::Duration;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::push::SendOutcome;

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub webhooks: IntCounterVec,
    pub events_ingested: IntCounterVec,
    pub pushes: IntCounterVec,
    pub push_seconds: Histogram,
    pub dead_letters: IntCounterVec,
    pub polls: IntCounterVec,
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
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> HistogramVec {
    let histogram = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &["stage"])
        .expect("valid histogram");
    registry
        .register(Box::new(histogram.clone()))
        .expect("metric registered once");
    histogram
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter =
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registry
        .register(Box::new(counter.clone()))
        .expect("metric registered once");
    counter
}

impl Metrics {
    pub fn observe_batch(&self, stage: &str, rows: usize, took: Duration) {
        self.intake_batch_rows
            .with_label_values(&[stage])
            .observe(rows as f64);
        self.intake_batch_seconds
            .with_label_values(&[stage])
            .observe(took.as_secs_f64());
    }

    pub fn new() -> Metrics {
        let registry = Registry::new();
        let intake_batch_rows = histogram(
            &registry,
            "trackgate_intake_batch_rows",
            "Webhooks per group-commit batch",
            vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
        );
        let intake_batch_seconds = histogram(
            &registry,
            "trackgate_intake_batch_seconds",
            "Time to write one group-commit batch",
            vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
        );
        let push_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "trackgate_push_duration_seconds",
                "Time for one push POST to the mall",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )
        .expect("valid histogram");
        registry
            .register(Box::new(push_seconds.clone()))
            .expect("metric registered once");
        let carrier_seconds = HistogramVec::new(
            HistogramOpts::new(
                "trackgate_carrier_request_duration_seconds",
                "Time for one request to a carrier",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["carrier"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(carrier_seconds.clone()))
            .expect("metric registered once");
        let poll_due = IntGaugeVec::new(
            Opts::new("trackgate_poll_due", "Shipments due for a poll"),
            &["carrier"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(poll_due.clone()))
            .expect("metric registered once");
        let poll_oldest_due_seconds = GaugeVec::new(
            Opts::new(
                "trackgate_poll_oldest_due_seconds",
                "How long the most overdue shipment has waited for its poll",
            ),
            &["carrier"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(poll_oldest_due_seconds.clone()))
            .expect("metric registered once");
        Metrics {
            carrier_seconds,
            poll_due,
            poll_oldest_due_seconds,
            intake_batch_rows,
            intake_batch_seconds,
            carrier_rate_limited: counter(
                &registry,
                "trackgate_carrier_rate_limited_total",
                "Carrier answers of 429 Too Many Requests",
                &["carrier"],
            ),
            webhooks: counter(
                &registry,
                "trackgate_webhooks_total",
                "Carrier webhooks received, by outcome",
                &["carrier", "outcome"],
            ),
            events_ingested: counter(
                &registry,
                "trackgate_events_ingested_total",
                "New (deduplicated) tracking events stored",
                &["carrier", "source"],
            ),
            pushes: counter(
                &registry,
                "trackgate_pushes_total",
                "Push attempts to the mall, by result",
                &["result"],
            ),
            dead_letters: counter(
                &registry,
                "trackgate_dead_letters_total",
                "Calls given up after the last retry",
                &["kind"],
            ),
            polls: counter(
                &registry,
                "trackgate_polls_total",
                "Carrier poll requests, by result",
                &["carrier", "result"],
            ),
            push_seconds,
            registry,
        }
    }

    pub fn observe_push(&self, outcome: &SendOutcome, took: Duration) {
        let result = match outcome {
            SendOutcome::Delivered { .. } => "delivered",
            SendOutcome::Failed { .. } => "failed",
        };
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
