//! The carrier registry: builds each configured carrier instance's adapter in one exhaustive
//! `match` on its kind, with the instance's outbound rate limiter beside it.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use trackgate_carriers::CarrierAdapter;
use trackgate_carriers::aftership::{AfterShipAdapter, AfterShipConfig};
use trackgate_carriers::australiapost::{AustraliaPostAdapter, AustraliaPostConfig};
use trackgate_carriers::dhl::{DhlAdapter, DhlConfig};
use trackgate_carriers::easypost::{EasyPostAdapter, EasyPostConfig};
use trackgate_carriers::fedex::{FedExAdapter, FedExConfig};
use trackgate_carriers::kuaidi100::{Kuaidi100Adapter, Kuaidi100Config};
use trackgate_carriers::laposte::{LaPosteAdapter, LaPosteConfig};
use trackgate_carriers::mydhl::{MyDhlAdapter, MyDhlConfig};
use trackgate_carriers::royalmail::{RoyalMailAdapter, RoyalMailConfig};
use trackgate_carriers::sandbox::{SandboxAdapter, SandboxConfig};
use trackgate_carriers::seventeen_track::{SeventeenTrackAdapter, SeventeenTrackConfig};
use trackgate_carriers::shippo::{ShippoAdapter, ShippoConfig};
use trackgate_carriers::ups::{UpsAdapter, UpsConfig};
use trackgate_carriers::usps::{UspsAdapter, UspsConfig};

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
}

impl CarrierInstance {
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

    /// Whether this instance can follow a shipment at all: it polls, or the carrier pushes.
    pub fn can_track(&self) -> bool {
        let capabilities = self.adapter.capabilities();
        capabilities.poll || capabilities.webhook
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`carriers.{id}`: {message}")]
pub struct RegistryError {
    pub id: String,
    pub message: String,
}

#[derive(Clone, Debug, Default)]
pub struct Registry {
    carriers: Arc<BTreeMap<String, Arc<CarrierInstance>>>,
}

/// Build one adapter of `kind` from its settings: the one `match` over carrier kinds.
pub fn build_adapter(
    kind: &str,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> Result<Box<dyn CarrierAdapter>, String> {
    fn read<T: serde::de::DeserializeOwned>(
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::Object(settings.clone()))
            .map_err(|err| err.to_string())
    }
    Ok(match kind {
        "sandbox" => Box::new(SandboxAdapter::new(read::<SandboxConfig>(settings)?)),
        "kuaidi100" => Box::new(Kuaidi100Adapter::new(read::<Kuaidi100Config>(settings)?)),
        "easypost" => Box::new(EasyPostAdapter::new(read::<EasyPostConfig>(settings)?)),
        "shippo" => Box::new(ShippoAdapter::new(read::<ShippoConfig>(settings)?)),
        "aftership" => Box::new(AfterShipAdapter::new(read::<AfterShipConfig>(settings)?)),
        "ups" => Box::new(UpsAdapter::new(read::<UpsConfig>(settings)?)),
        "fedex" => Box::new(FedExAdapter::new(read::<FedExConfig>(settings)?)),
        "dhl" => Box::new(DhlAdapter::new(read::<DhlConfig>(settings)?)),
        "usps" => Box::new(UspsAdapter::new(read::<UspsConfig>(settings)?)),
        "17track" => Box::new(SeventeenTrackAdapter::new(read::<SeventeenTrackConfig>(
            settings,
        )?)),
        "laposte" => Box::new(LaPosteAdapter::new(read::<LaPosteConfig>(settings)?)),
        "australiapost" => Box::new(AustraliaPostAdapter::new(read::<AustraliaPostConfig>(
            settings,
        )?)),
        "royalmail" => Box::new(RoyalMailAdapter::new(read::<RoyalMailConfig>(settings)?)),
        "mydhl" => Box::new(MyDhlAdapter::new(read::<MyDhlConfig>(settings)?)),
        other => {
            return Err(format!(
                "unknown kind `{other}`; valid kinds are: {}",
                trackgate_carriers::KINDS.join(", ")
            ));
        }
    })
}

impl Registry {
    pub fn build(
        carriers: &BTreeMap<String, CarrierSettings>,
        default_policy: PollPolicy,
    ) -> Result<Registry, RegistryError> {
        let mut built = BTreeMap::new();
        for (id, settings) in carriers.iter().filter(|(_, s)| s.enabled) {
            let adapter = build_adapter(&settings.kind, &settings.adapter).map_err(|message| {
                RegistryError {
                    id: id.clone(),
                    message,
                }
            })?;
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
