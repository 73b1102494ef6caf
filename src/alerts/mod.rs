//! Built-in alerts: every `alerts.evaluate_secs` the gateway reads what an operator would watch
//! ([`readings`]), decides which rules hold, and sends each alert once when it starts, again
//! every `alerts.repeat_secs` while it holds, and a resolved message when it stops.
//!
//! Rules: dead letters waiting; the oldest undelivered push older than a threshold; a carrier
//! instance failing (error ratio), refusing our credentials (401), paused by 429s or near its
//! daily quota; subscriptions failing; a burst of bad webhook signatures for an instance; the
//! store or the broker unreachable. The same rules exist as PromQL in
//! `deploy/prometheus/alerts.yml` for teams that run Prometheus.
//!
//! Several processes agree through the store ([`crate::store::alerts`]): one of them sends each
//! message. "Store unreachable" and "broker unreachable" cannot use the store to agree, and are
//! about the process that sees them, so they are kept in memory and sent by that process.

mod readings;
mod receivers;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::AlertSettings;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::store::Store;
use crate::store::alerts::Claim;
pub use readings::Readings;
pub use receivers::{Deliveries, dingtalk_signed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Firing,
    Repeat,
    Resolved,
}

/// What receivers get (the webhook receiver gets exactly this, as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct AlertMessage {
    /// `rule` or `rule:subject`: stable while the alert holds.
    pub key: String,
    pub rule: &'static str,
    /// The carrier instance, or `gateway`.
    pub subject: String,
    pub state: State,
    pub severity: &'static str,
    pub summary: String,
    /// What to look at first.
    pub runbook: &'static str,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time::rfc3339_option")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Which process sent it.
    pub gateway: String,
}

/// A rule that holds now.
#[derive(Debug, Clone)]
pub struct Holding {
    pub rule: &'static str,
    pub subject: String,
    pub summary: String,
}

impl Holding {
    fn key(&self) -> String {
        if self.subject == "gateway" {
            self.rule.to_owned()
        } else {
            format!("{}:{}", self.rule, self.subject)
        }
    }
}

/// (rule, subject) of an alert key ([`Holding::key`]'s inverse).
fn split_key(key: &str) -> (&str, &str) {
    key.split_once(':').unwrap_or((key, "gateway"))
}

/// (rule, severity, what to do).
const RULES: &[(&str, &str, &str)] = &[
    (
        "dead_letters",
        "critical",
        "Pushes or polls ran out of retries. Fix the cause (the mall's endpoint?), then replay: `trackgate dead-letters list` / `replay ID`, or the console.",
    ),
    (
        "push_backlog",
        "critical",
        "Pushes are not reaching the mall. Check the mall endpoint and the push workers (`/readyz`, trackgate_pushes_total{result=\"failed\"}).",
    ),
    (
        "carrier_failing",
        "warning",
        "Most requests to this carrier fail. Check `/v1/admin/carriers` and the carrier's status page.",
    ),
    (
        "carrier_credentials",
        "critical",
        "The carrier answers 401: its credentials expired or were revoked. Renew them (env) and restart.",
    ),
    (
        "carrier_paused",
        "warning",
        "The carrier keeps answering 429: polls are paused. Lower requests_per_second or ask for more quota.",
    ),
    (
        "carrier_quota",
        "warning",
        "The carrier's daily quota is nearly spent: polls stop when it is. Raise requests_per_day or poll less often.",
    ),
    (
        "subscriptions_failing",
        "warning",
        "The carrier refuses subscriptions or they ran out of retries: `trackgate subscriptions resync` after a fix.",
    ),
    (
        "signature_failures",
        "warning",
        "Many webhooks for this instance fail their signature: a rotated secret (set the new one) or someone probing the endpoint.",
    ),
    (
        "store_unreachable",
        "critical",
        "This process cannot reach the database. Webhooks are refused (503) until it can.",
    ),
    (
        "broker_unreachable",
        "critical",
        "This process cannot reach RabbitMQ. Work waits in the store and resumes when it reconnects.",
    ),
];

fn rule_info(rule: &str) -> (&'static str, &'static str) {
    RULES
        .iter()
        .find(|(name, _, _)| *name == rule)
        .map(|(_, severity, runbook)| (*severity, *runbook))
        .unwrap_or(("warning", ""))
}

/// The evaluator's state between evaluations.
pub struct Alerts {
    settings: AlertSettings,
    store: Store,
    queue: Queue,
    registry: Registry,
    metrics: Metrics,
    deliveries: Deliveries,
    process: String,
    previous: Option<readings::Counters>,
    paused_since: HashMap<String, Instant>,
    /// Process-local alerts (store and broker unreachable): key → (what, since, last sent).
    local: BTreeMap<String, (Holding, DateTime<Utc>, DateTime<Utc>)>,
}

impl Alerts {
    pub fn new(
        settings: AlertSettings,
        store: Store,
        queue: Queue,
        registry: Registry,
        metrics: Metrics,
    ) -> anyhow::Result<Alerts> {
        let deliveries = Deliveries::start(&settings, metrics.clone())?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Ok(Alerts {
            settings,
            store,
            queue,
            registry,
            metrics,
            deliveries,
            process: format!("{host}/{}", std::process::id()),
            previous: None,
            paused_since: HashMap::new(),
            local: BTreeMap::new(),
        })
    }

    /// Evaluate every `evaluate_secs` until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticker =
            tokio::time::interval(Duration::from_secs(self.settings.evaluate_secs.max(1)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => self.evaluate(Utc::now()).await,
            }
        }
    }

    /// One evaluation: read, decide, send.
    pub async fn evaluate(&mut self, now: DateTime<Utc>) {
        let readings =
            Readings::take(&self.store, &self.queue, &self.registry, &self.metrics, now).await;
        readings.export(&self.metrics);
        let counters = readings.counters.clone();
        let previous = self.previous.replace(counters);
        if !self.settings.enabled {
            return;
        }
        let holding = readings.holding(&self.settings, previous.as_ref(), &mut self.paused_since);
        let (local, shared): (Vec<_>, Vec<_>) = holding
            .into_iter()
            .partition(|h| matches!(h.rule, "store_unreachable" | "broker_unreachable"));
        self.evaluate_local(local, now);
        let mut firing = Vec::new();
        if readings.store_reachable {
            match self.evaluate_shared(shared, now).await {
                Ok(still_firing) => firing = still_firing,
                Err(err) => {
                    tracing::warn!(error = %err, "alert state not updated; trying again at the next evaluation")
                }
            }
        }
        self.export_firing(&firing);
    }

    fn evaluate_local(&mut self, holding: Vec<Holding>, now: DateTime<Utc>) {
        let repeat = chrono::Duration::seconds(self.settings.repeat_secs as i64);
        let keys: Vec<String> = holding.iter().map(Holding::key).collect();
        for hold in holding {
            let key = hold.key();
            let state = match self.local.get_mut(&key) {
                None => {
                    self.local.insert(key, (hold.clone(), now, now));
                    Some((State::Firing, now))
                }
                Some((_, since, last_sent)) if now - *last_sent >= repeat => {
                    *last_sent = now;
                    Some((State::Repeat, *since))
                }
                Some(_) => None,
            };
            if let Some((state, since)) = state {
                self.send(&hold, state, since, None);
            }
        }
        let ended: Vec<String> = self
            .local
            .keys()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for key in ended {
            if let Some((mut hold, since, _)) = self.local.remove(&key) {
                hold.summary = format!("resolved: {}", hold.summary);
                self.send(&hold, State::Resolved, since, Some(now));
            }
        }
    }

    /// Claim, repeat and resolve the shared alerts; the keys still firing afterwards.
    async fn evaluate_shared(
        &mut self,
        holding: Vec<Holding>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        let repeat = chrono::Duration::seconds(self.settings.repeat_secs as i64);
        let mut keys = Vec::new();
        for hold in holding {
            let key = hold.key();
            match self
                .store
                .claim_alert(&key, &hold.summary, now, repeat)
                .await?
            {
                Some(Claim::Fired) => self.send(&hold, State::Firing, now, None),
                Some(Claim::Repeated) => self.send(&hold, State::Repeat, now, None),
                None => {}
            }
            keys.push(key);
        }
        // Held by no process for two evaluations: resolved.
        let grace = chrono::Duration::seconds(2 * self.settings.evaluate_secs.max(1) as i64);
        let mut still_firing = Vec::new();
        for key in self.store.firing_alerts().await? {
            if keys.contains(&key) {
                still_firing.push(key);
                continue;
            }
            let Some(fired_at) = self.store.resolve_alert(&key, now, grace).await? else {
                // Held by another process within the grace period (or resolved by another
                // process this very round: then it drops out of the gauge next round).
                still_firing.push(key);
                continue;
            };
            let (rule, subject) = split_key(&key);
            let rule = RULES
                .iter()
                .find(|(name, _, _)| *name == rule)
                .map(|(n, _, _)| *n)
                .unwrap_or("unknown");
            let hold = Holding {
                rule,
                subject: subject.to_owned(),
                summary: format!("resolved: {key}"),
            };
            self.send(&hold, State::Resolved, fired_at, Some(now));
        }
        Ok(still_firing)
    }

    fn send(
        &self,
        hold: &Holding,
        state: State,
        started_at: DateTime<Utc>,
        resolved_at: Option<DateTime<Utc>>,
    ) {
        let (severity, runbook) = rule_info(hold.rule);
        let message = AlertMessage {
            key: hold.key(),
            rule: hold.rule,
            subject: hold.subject.clone(),
            state,
            severity,
            summary: hold.summary.clone(),
            runbook,
            started_at,
            resolved_at,
            gateway: self.process.clone(),
        };
        match state {
            State::Resolved => {
                tracing::info!(alert = %message.key, "alert resolved: {}", message.summary)
            }
            _ => {
                tracing::warn!(alert = %message.key, severity, state = ?state, "alert: {}", message.summary)
            }
        }
        self.deliveries.send(message);
    }

    /// `trackgate_alerts_firing`, from the store's view (every process agrees) plus this
    /// process's own.
    fn export_firing(&self, shared: &[String]) {
        let gauge = &self.metrics.ops.alerts_firing;
        gauge.reset();
        for key in self.local.keys().chain(shared) {
            let (rule, subject) = split_key(key);
            gauge.with_label_values(&[rule, subject]).set(1);
        }
    }
}
