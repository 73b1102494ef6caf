//! The metrics an operator watches and alerts on, beyond the ones each pipeline stage records:
//! the push backlog and the age of its oldest push, open dead letters, HTTP requests by route
//! and status class, carrier credentials refused, quota used, subscriptions by state, alerts,
//! the process itself (RSS, CPU, open fds) and the build.
//!
//! The store-derived gauges are set by [`crate::startup`]'s sampler from the store, so every
//! process reports the same figure: aggregate them with `max`, not `sum`.

use prometheus::{
    Gauge, GaugeVec, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use super::{counter, histogram, registered};

#[derive(Clone, Debug)]
pub struct OperationsMetrics {
    pub push_backlog: IntGauge,
    pub push_oldest_age_seconds: Gauge,
    pub dead_letters_open: IntGauge,
    pub http_requests: IntCounterVec,
    pub http_seconds: HistogramVec,
    pub carrier_unauthorized: IntCounterVec,
    pub quota_used: IntGaugeVec,
    pub quota_limit: IntGaugeVec,
    pub subscriptions_by_state: IntGaugeVec,
    pub alerts_firing: IntGaugeVec,
    pub alert_deliveries: IntCounterVec,
    pub signature_rejections: IntCounterVec,
    pub previous_secret_accepted: IntCounterVec,
}

const SECONDS_HTTP: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl OperationsMetrics {
    pub(super) fn new(r: &Registry) -> OperationsMetrics {
        let gauge = |name: &str, help: &str| {
            registered(r, Gauge::with_opts(Opts::new(name, help)).expect("valid"))
        };
        let int_gauge = |name: &str, help: &str| {
            registered(
                r,
                IntGauge::with_opts(Opts::new(name, help)).expect("valid"),
            )
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(
                r,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid"),
            )
        };
        let build = registered(
            r,
            GaugeVec::new(
                Opts::new("trackgate_build_info", "The running build (always 1)"),
                &["version"],
            )
            .expect("valid"),
        );
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("registered once");
        OperationsMetrics {
            push_backlog: int_gauge(
                "trackgate_push_backlog",
                "Pushes written and not yet delivered",
            ),
            push_oldest_age_seconds: gauge(
                "trackgate_push_oldest_age_seconds",
                "Age of the oldest undelivered push (0 when none)",
            ),
            dead_letters_open: int_gauge(
                "trackgate_dead_letters_open",
                "Dead letters not replayed",
            ),
            http_requests: counter(
                r,
                "trackgate_http_requests_total",
                "HTTP requests answered, by route pattern, method and status class",
                &["route", "method", "class"],
            ),
            http_seconds: histogram(
                r,
                "trackgate_http_request_duration_seconds",
                "Time to answer an HTTP request (streams: until the answer starts)",
                &["route"],
                SECONDS_HTTP,
            ),
            carrier_unauthorized: counter(
                r,
                "trackgate_carrier_unauthorized_total",
                "Carrier answers of 401 after a fresh token: credentials expired or revoked",
                &["carrier"],
            ),
            quota_used: gauge_vec(
                "trackgate_carrier_quota_used",
                "Requests to the carrier today (UTC), across processes",
                &["carrier"],
            ),
            quota_limit: gauge_vec(
                "trackgate_carrier_quota_limit",
                "The carrier instance's requests_per_day (only instances with one)",
                &["carrier"],
            ),
            subscriptions_by_state: gauge_vec(
                "trackgate_subscriptions",
                "Carrier subscriptions by state, across processes",
                &["carrier", "state"],
            ),
            alerts_firing: gauge_vec(
                "trackgate_alerts_firing",
                "Built-in alerts firing now (1), by rule and subject",
                &["rule", "subject"],
            ),
            alert_deliveries: counter(
                r,
                "trackgate_alert_deliveries_total",
                "Alert messages sent to receivers, by receiver and result",
                &["receiver", "result"],
            ),
            previous_secret_accepted: counter(
                r,
                "trackgate_webhook_previous_secret_total",
                "Webhooks verified only by the previous secret of a rotation (the carrier has not switched yet)",
                &["carrier"],
            ),
            signature_rejections: counter(
                r,
                "trackgate_webhook_signature_failures_total",
                "Webhooks refused for their signature, by carrier instance",
                &["carrier"],
            ),
        }
    }

    /// One answered request: `route` is the matched pattern (bounded), `status` the answer's.
    pub fn observe_http(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http_requests
            .with_label_values(&[route, method, class])
            .inc();
        self.http_seconds
            .with_label_values(&[route])
            .observe(seconds);
    }
}
