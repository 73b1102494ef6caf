//! One reading of what the alert rules look at: the store's backlog and dead letters, each
//! carrier instance's quota, pause and subscriptions, and this process's counters (their
//! increase since the previous reading is what the rate-like rules judge). The same reading sets
//! the store-derived gauges of `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Holding;
use crate::config::AlertSettings;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::store::Store;
use crate::store::console::PushBacklog;
use crate::store::states::label;

/// This process's counters per carrier instance, read from the metrics.
#[derive(Debug, Clone, Default)]
pub struct Counters(BTreeMap<String, CarrierCounters>);

#[derive(Debug, Clone, Copy, Default)]
struct CarrierCounters {
    ok: u64,
    failed: u64,
    unauthorized: u64,
    subscriptions_failed: u64,
    bad_signatures: u64,
}

#[derive(Debug, Clone)]
struct CarrierReading {
    id: String,
    paused_for: Option<Duration>,
    requests_per_day: u32,
    used_today: i32,
    subscriptions: Vec<(String, i64)>,
}

#[derive(Debug, Clone)]
pub struct Readings {
    pub store_reachable: bool,
    store_error: Option<String>,
    broker_error: Option<String>,
    backlog: Option<PushBacklog>,
    carriers: Vec<CarrierReading>,
    pub(super) counters: Counters,
    now: DateTime<Utc>,
}

impl Readings {
    pub async fn take(
        store: &Store,
        queue: &Queue,
        registry: &Registry,
        metrics: &Metrics,
        now: DateTime<Utc>,
    ) -> Readings {
        let store_error = store.ping().await.err().map(|e| format!("{e:#}"));
        let broker_error = queue.ping().await.err().map(|e| format!("{e:#}"));
        let mut readings = Readings {
            store_reachable: store_error.is_none(),
            store_error,
            broker_error,
            backlog: None,
            carriers: Vec::new(),
            counters: Counters::default(),
            now,
        };
        let counter =
            |vec: &prometheus::IntCounterVec, labels: &[&str]| vec.with_label_values(labels).get();
        // Only instances that can track anything: one configured without credentials is neither
        // alerted on nor exported.
        for instance in registry.all().filter(|i| i.can_track()) {
            let id = instance.id.as_str();
            readings.counters.0.insert(
                id.to_owned(),
                CarrierCounters {
                    ok: counter(&metrics.polls, &[id, "ok"]),
                    failed: counter(&metrics.polls, &[id, "http_error"])
                        + counter(&metrics.polls, &[id, "network_error"]),
                    unauthorized: counter(&metrics.ops.carrier_unauthorized, &[id]),
                    subscriptions_failed: counter(&metrics.subscriptions, &[id, "refused"])
                        + counter(&metrics.subscriptions, &[id, "dead"]),
                    bad_signatures: counter(&metrics.ops.signature_rejections, &[id]),
                },
            );
            readings.carriers.push(CarrierReading {
                id: id.to_owned(),
                paused_for: instance.paused_for(),
                requests_per_day: instance.requests_per_day,
                used_today: 0,
                subscriptions: Vec::new(),
            });
        }
        if !readings.store_reachable {
            return readings;
        }
        match store.push_backlog().await {
            Ok(backlog) => readings.backlog = Some(backlog),
            Err(err) => tracing::debug!(error = %err, "backlog not read"),
        }
        let counts = store.subscription_counts().await.unwrap_or_default();
        for carrier in &mut readings.carriers {
            carrier.used_today = store.requests_today(&carrier.id, now).await.unwrap_or(0);
            carrier.subscriptions = counts
                .iter()
                .filter(|(id, _, _)| *id == carrier.id)
                .map(|(_, state, count)| (label(*state), *count))
                .collect();
        }
        readings
    }

    /// Set the store-derived gauges.
    pub fn export(&self, metrics: &Metrics) {
        let ops = &metrics.ops;
        if let Some(backlog) = &self.backlog {
            ops.push_backlog.set(backlog.pending as i64);
            ops.dead_letters_open.set(backlog.dead_letters as i64);
            ops.push_oldest_age_seconds
                .set(self.oldest_push_age().unwrap_or(0.0));
        }
        if !self.store_reachable {
            return;
        }
        for carrier in &self.carriers {
            ops.quota_used
                .with_label_values(&[&carrier.id])
                .set(carrier.used_today as i64);
            if carrier.requests_per_day > 0 {
                ops.quota_limit
                    .with_label_values(&[&carrier.id])
                    .set(carrier.requests_per_day as i64);
            }
            for (state, count) in &carrier.subscriptions {
                ops.subscriptions_by_state
                    .with_label_values(&[&carrier.id, state])
                    .set(*count);
            }
        }
    }

    fn oldest_push_age(&self) -> Option<f64> {
        let oldest = self.backlog.as_ref()?.oldest_created_at?;
        Some(((self.now - oldest).num_milliseconds() as f64 / 1000.0).max(0.0))
    }

    /// The rules that hold in this reading, given the previous one's counters.
    pub fn holding(
        &self,
        settings: &AlertSettings,
        previous: Option<&Counters>,
        paused_since: &mut HashMap<String, Instant>,
    ) -> Vec<Holding> {
        let mut holding = Vec::new();
        let mut hold = |rule, subject: &str, summary: String| {
            holding.push(Holding {
                rule,
                subject: subject.to_owned(),
                summary,
            })
        };
        if let Some(error) = &self.store_error {
            hold(
                "store_unreachable",
                "gateway",
                format!("The database is unreachable: {error}"),
            );
        }
        if let Some(error) = &self.broker_error {
            hold(
                "broker_unreachable",
                "gateway",
                format!("The queue is unreachable: {error}"),
            );
        }
        if let Some(backlog) = &self.backlog {
            if backlog.dead_letters > 0 {
                hold(
                    "dead_letters",
                    "gateway",
                    format!("{} dead letter(s) waiting for replay", backlog.dead_letters),
                );
            }
            if let Some(age) = self.oldest_push_age()
                && age >= settings.push_backlog_age_secs as f64
            {
                hold(
                    "push_backlog",
                    "gateway",
                    format!(
                        "{} push(es) undelivered, the oldest for {:.0} s",
                        backlog.pending, age
                    ),
                );
            }
        }
        for carrier in &self.carriers {
            let id = carrier.id.as_str();
            let now = self.counters.0.get(id).copied().unwrap_or_default();
            let before = previous.and_then(|p| p.0.get(id)).copied().unwrap_or(now);
            let ok = now.ok.saturating_sub(before.ok);
            let failed = now.failed.saturating_sub(before.failed);
            if ok + failed >= settings.carrier_min_requests.max(1)
                && failed as f64 >= settings.carrier_error_ratio * (ok + failed) as f64
            {
                hold(
                    "carrier_failing",
                    id,
                    format!(
                        "{id}: {failed} of {} requests failed since the last check",
                        ok + failed
                    ),
                );
            }
            if now.unauthorized > before.unauthorized {
                hold(
                    "carrier_credentials",
                    id,
                    format!(
                        "{id} refused our credentials (401) {} time(s)",
                        now.unauthorized - before.unauthorized
                    ),
                );
            }
            match carrier.paused_for {
                Some(left) => {
                    let since = *paused_since
                        .entry(id.to_owned())
                        .or_insert_with(Instant::now);
                    if since.elapsed().as_secs() >= settings.carrier_paused_secs {
                        hold(
                            "carrier_paused",
                            id,
                            format!(
                                "{id} has been paused by 429s for {} s ({} s left)",
                                since.elapsed().as_secs(),
                                left.as_secs()
                            ),
                        );
                    }
                }
                None => {
                    paused_since.remove(id);
                }
            }
            if carrier.requests_per_day > 0
                && carrier.used_today as f64
                    >= settings.quota_used_ratio * carrier.requests_per_day as f64
            {
                hold(
                    "carrier_quota",
                    id,
                    format!(
                        "{id} used {} of its {} requests today",
                        carrier.used_today, carrier.requests_per_day
                    ),
                );
            }
            let refused = now
                .subscriptions_failed
                .saturating_sub(before.subscriptions_failed);
            if settings.subscription_failures > 0 && refused >= settings.subscription_failures {
                hold(
                    "subscriptions_failing",
                    id,
                    format!(
                        "{id}: {refused} subscription(s) refused or dead-lettered since the last check"
                    ),
                );
            }
            let bad = now.bad_signatures.saturating_sub(before.bad_signatures);
            if settings.signature_failures > 0 && bad >= settings.signature_failures {
                hold(
                    "signature_failures",
                    id,
                    format!("{id}: {bad} webhook(s) with a bad signature since the last check"),
                );
            }
        }
        holding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AlertSettings {
        let defaults: crate::config::Settings =
            crate::config::Settings::with_overrides(&[]).unwrap();
        defaults.alerts
    }

    fn reading(counters: CarrierCounters, backlog: Option<PushBacklog>) -> Readings {
        let now = Utc::now();
        Readings {
            store_reachable: true,
            store_error: None,
            broker_error: Some("connection refused".into()),
            backlog,
            carriers: vec![CarrierReading {
                id: "ups".into(),
                paused_for: None,
                requests_per_day: 1000,
                used_today: 950,
                subscriptions: Vec::new(),
            }],
            counters: Counters([("ups".to_owned(), counters)].into_iter().collect()),
            now,
        }
    }

    fn rules(holding: &[Holding]) -> Vec<String> {
        holding.iter().map(Holding::key).collect()
    }

    #[test]
    fn rate_rules_judge_the_increase_since_the_previous_reading() {
        let settings = settings();
        let before = reading(
            CarrierCounters {
                ok: 100,
                failed: 100,
                unauthorized: 3,
                subscriptions_failed: 0,
                bad_signatures: 0,
            },
            None,
        );
        let after = reading(
            CarrierCounters {
                ok: 102,
                failed: 110,
                unauthorized: 4,
                subscriptions_failed: 1,
                bad_signatures: 25,
            },
            Some(PushBacklog {
                pending: 3,
                oldest_created_at: Some(Utc::now() - chrono::Duration::hours(1)),
                dead_letters: 2,
            }),
        );
        let mut paused = HashMap::new();
        let held = rules(&after.holding(&settings, Some(&before.counters), &mut paused));
        for expected in [
            "broker_unreachable",
            "dead_letters",
            "push_backlog",
            "carrier_failing:ups",
            "carrier_credentials:ups",
            "carrier_quota:ups",
            "subscriptions_failing:ups",
            "signature_failures:ups",
        ] {
            assert!(
                held.contains(&expected.to_owned()),
                "{expected} not in {held:?}"
            );
        }
        // The same counters again: nothing new, so the rate rules no longer hold.
        let held = rules(&after.holding(&settings, Some(&after.counters), &mut paused));
        assert!(
            !held.iter().any(|k| k.starts_with("carrier_failing")
                || k.starts_with("carrier_credentials")
                || k.starts_with("signature")),
            "{held:?}"
        );
        // The first reading has no previous one: no rate rule can hold yet.
        let held = rules(&after.holding(&settings, None, &mut paused));
        assert!(
            !held.iter().any(|k| k.starts_with("carrier_failing")),
            "{held:?}"
        );
    }

    #[test]
    fn a_pause_alerts_only_when_it_lasts() {
        let mut settings = settings();
        settings.carrier_paused_secs = 0;
        let mut paused_reading = reading(CarrierCounters::default(), None);
        paused_reading.carriers[0].paused_for = Some(Duration::from_secs(60));
        let mut paused = HashMap::new();
        let held = rules(&paused_reading.holding(&settings, None, &mut paused));
        assert!(held.contains(&"carrier_paused:ups".to_owned()), "{held:?}");
        settings.carrier_paused_secs = 3600;
        let held = rules(&paused_reading.holding(&settings, None, &mut paused));
        assert!(
            !held.contains(&"carrier_paused:ups".to_owned()),
            "a short pause: {held:?}"
        );
        paused_reading.carriers[0].paused_for = None;
        paused_reading.holding(&settings, None, &mut paused);
        assert!(
            paused.is_empty(),
            "the pause's start is forgotten when it ends"
        );
    }
}
