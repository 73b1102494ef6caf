//! The carrier registry: each configured carrier instance's adapter, built from the carrier
//! catalog (`trackgate_carriers::catalog`, the one table of kinds), with the instance's outbound
//! rate limiter and polling policy beside it. A port, like the store: the pipeline and the entry
//! points reach carriers through it.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use trackgate_carriers::{
    CarrierAdapter, Inbound, NumberRule, ParseError, ParseOutcome, Verified, catalog,
};

use crate::config::CarrierSettings;
use crate::domain::schedule::PollPolicy;

/// One configured carrier instance.
#[derive(Debug)]
pub struct CarrierInstance {
    pub id: String,
    pub adapter: Box<dyn CarrierAdapter>,
    /// Every outbound request to this carrier waits on this in-process limiter first, then on
    /// the pacer shared through the store (`Store::take_request_slot`).
    pub limiter: DefaultDirectRateLimiter,
    pub requests_per_second: u32,
    /// 0: no daily cap.
    pub requests_per_day: u32,
    /// When this instance's shipments are polled.
    pub policy: PollPolicy,
    /// Set when the carrier answered 429: no request goes out before this instant.
    paused_until: Mutex<Option<Instant>>,
    /// When this process last polled the instance, and the error if that poll failed.
    last_poll: Mutex<Option<(chrono::DateTime<chrono::Utc>, Option<String>)>>,
    /// During a secret rotation: the adapter built with the previous secret, and until when
    /// webhooks it verifies are accepted.
    pub previous: Option<(Box<dyn CarrierAdapter>, chrono::DateTime<chrono::Utc>)>,
}

impl CarrierInstance {
    /// Remember this process's latest poll of the instance (shown by the console).
    pub fn record_poll(&self, error: Option<&str>) {
        *self.last_poll.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((chrono::Utc::now(), error.map(str::to_owned)));
    }

    /// This process's latest poll of the instance: when, and its error if it failed.
    pub fn last_poll(&self) -> Option<(chrono::DateTime<chrono::Utc>, Option<String>)> {
        self.last_poll
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stop sending to this carrier for `pause` (a 429's `Retry-After`); a longer pause already
    /// in force is kept.
    pub fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    /// How long this carrier stays paused, if it is.
    pub fn paused_for(&self) -> Option<Duration> {
        let paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        paused
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// How this instance's tracking numbers are spelled canonically (its kind's catalog rule).
    pub fn number_rule(&self) -> NumberRule {
        catalog::number_rule(self.adapter.kind())
    }

    /// A verified webhook as the store takes it: the adapter's outcome with every number in
    /// this kind's canonical spelling (so it matches the shipments registered under it) and
    /// every field storable ([`crate::domain::sanitize`]). The one way a webhook is parsed.
    pub fn parse_webhook(&self, verified: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        let mut outcome = self.adapter.parse_webhook(verified)?;
        self.prepare(&mut outcome);
        Ok(outcome)
    }

    /// [`Self::parse_webhook`] for the answer to a poll of `targets`.
    pub fn parse_poll_response(
        &self,
        targets: &[trackgate_carriers::PollTarget],
        body: &[u8],
    ) -> Result<ParseOutcome, ParseError> {
        let mut outcome = self.adapter.parse_poll_answer(targets, body)?;
        self.prepare(&mut outcome);
        Ok(outcome)
    }

    fn prepare(&self, outcome: &mut ParseOutcome) {
        crate::domain::sanitize::make_storable(outcome);
        self.number_rule().canonicalize_outcome(outcome);
    }

    /// The previous secret's adapter, while its grace period lasts.
    pub fn previous_in_grace(&self) -> Option<&dyn CarrierAdapter> {
        self.previous
            .as_ref()
            .filter(|(_, until)| chrono::Utc::now() < *until)
            .map(|(adapter, _)| adapter.as_ref())
    }

    /// Whether this instance can follow a shipment at all: it polls, or the carrier pushes.
    pub fn can_track(&self) -> bool {
        let capabilities = self.adapter.capabilities();
        capabilities.poll || capabilities.webhook
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "`carriers.{id}.kind` is `{kind}`; valid kinds are: {}",
        catalog::kind_names()
    )]
    UnknownKind { id: String, kind: String },
    #[error("`carriers.{id}`: invalid {kind} settings")]
    Settings {
        id: String,
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Registry {
    carriers: Arc<BTreeMap<String, Arc<CarrierInstance>>>,
}

impl Registry {
    pub fn build(
        carriers: &BTreeMap<String, CarrierSettings>,
        default_policy: PollPolicy,
    ) -> Result<Registry, RegistryError> {
        let mut built = BTreeMap::new();
        for (id, settings) in carriers.iter().filter(|(_, s)| s.enabled) {
            let kind = catalog::find(&settings.kind).ok_or_else(|| RegistryError::UnknownKind {
                id: id.clone(),
                kind: settings.kind.clone(),
            })?;
            let adapter =
                kind.build(&settings.adapter)
                    .map_err(|source| RegistryError::Settings {
                        id: id.clone(),
                        kind: settings.kind.clone(),
                        source,
                    })?;
            let previous = match settings.previous_until {
                Some(until) if !settings.previous.is_empty() => {
                    let mut merged = settings.adapter.clone();
                    merged.extend(settings.previous.clone());
                    let adapter =
                        kind.build(&merged)
                            .map_err(|source| RegistryError::Settings {
                                id: id.clone(),
                                kind: settings.kind.clone(),
                                source,
                            })?;
                    Some((adapter, until))
                }
                _ => None,
            };
            let per_second =
                NonZeroU32::new(settings.requests_per_second).unwrap_or(NonZeroU32::MIN);
            let limiter = RateLimiter::direct(Quota::per_second(per_second));
            built.insert(
                id.clone(),
                Arc::new(CarrierInstance {
                    id: id.clone(),
                    adapter,
                    limiter,
                    requests_per_second: per_second.get(),
                    requests_per_day: settings.requests_per_day,
                    policy: settings.schedule.apply(default_policy),
                    paused_until: Mutex::new(None),
                    last_poll: Mutex::new(None),
                    previous,
                }),
            );
        }
        Ok(Registry {
            carriers: Arc::new(built),
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<CarrierInstance>> {
        self.carriers.get(id).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<CarrierInstance>> {
        self.carriers.values()
    }

    /// The first configured instance whose adapter kind is earliest in `kinds` and that can
    /// track at all (an instance without credentials can neither poll nor receive pushes).
    /// The spellings under which `number` may be stored: its canonical spelling under each
    /// configured instance's rule, and the number itself (a shipment whose canonical spelling
    /// collided with another's keeps its own, see migration 6).
    pub fn number_spellings(&self, number: &str) -> Vec<String> {
        let mut spellings: Vec<String> = self
            .carriers
            .values()
            .map(|carrier| carrier.number_rule().canonical(number))
            .chain(std::iter::once(number.trim().to_owned()))
            .filter(|spelling| !spelling.is_empty())
            .collect();
        spellings.sort_unstable();
        spellings.dedup();
        spellings
    }

    pub fn instance_for_kinds(&self, kinds: &[&str]) -> Option<Arc<CarrierInstance>> {
        kinds.iter().find_map(|kind| {
            self.carriers
                .values()
                .find(|c| c.adapter.kind() == *kind && c.can_track())
                .cloned()
        })
    }

    pub fn ids(&self) -> Vec<String> {
        self.carriers.keys().cloned().collect()
    }
}
