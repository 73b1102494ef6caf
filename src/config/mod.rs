//! Configuration: the embedded `config.toml`, an optional file, then `TRACKGATE__…` variables.
//!
//! The defaults file is the documentation. Everything is validated once, here, into typed
//! settings; a bad value fails with the key's name. Secrets are accepted from the environment
//! only and are wrapped in [`Secret`] so no `Debug` or log line can print them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

mod secrets;

use secrets::reject_secrets_in_files;
pub use secrets::{CARRIER_SECRET_KEYS, Secret, redact_carrier_settings, redact_url};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

pub const DEFAULTS: &str = include_str!("../../config.toml");
pub(crate) const ENV_PREFIX: &str = "TRACKGATE__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error(
        "`{key}` is a secret and may only come from the environment: remove it from {source_name} and set {env} instead"
    )]
    SecretInFile {
        key: String,
        source_name: String,
        env: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub queue: QueueSettings,
    pub mall: MallSettings,
    pub retry: RetrySettings,
    pub poll: PollSettings,
    pub intake: crate::intake::IntakeSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub carriers: BTreeMap<String, CarrierSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub workers: usize,
    /// How long an active API key is remembered before the store is asked again.
    pub api_key_cache_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    Embedded,
    Rabbitmq,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub kind: QueueKind,
    pub amqp_url: String,
    pub prefix: String,
    pub prefetch: u16,
    pub lease_secs: u64,
    pub idle_poll_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallSettings {
    pub endpoint: String,
    #[serde(default)]
    pub signing_secret: Option<Secret>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    pub enabled: bool,
    pub tick_secs: u64,
    /// How long a claimed batch stays leased to this process before others may take it over.
    pub lease_secs: u64,
    /// At most this many batches per carrier instance per tick, so one busy carrier does not
    /// starve the others.
    pub batches_per_tick: u32,
    /// Batches of one carrier instance in flight at once (each still waits for its request
    /// slot, so concurrency never raises a carrier's rate).
    pub concurrent_batches: u32,
    /// The default polling policy; `[carriers.<id>.schedule]` overrides any of its keys.
    pub schedule: crate::domain::schedule::PollPolicy,
    /// How long a carrier instance pauses after a 429 without a usable `Retry-After`.
    pub pause_on_429_secs: u64,
    /// When to poll again a number just registered with an aggregator (17TRACK).
    pub after_registration_secs: u64,
}

impl PollSettings {
    pub fn default_pause(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.pause_on_429_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// One carrier instance: its kind, the gateway-side limits, and the adapter's own settings
/// (passed to the adapter as they are).
#[derive(Clone, Deserialize)]
pub struct CarrierSettings {
    pub kind: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: u32,
    /// Requests per UTC day across all processes; 0 means no daily cap.
    #[serde(default)]
    pub requests_per_day: u32,
    /// Overrides of `[poll.schedule]` for this carrier instance.
    #[serde(default)]
    pub schedule: crate::domain::schedule::PolicyOverrides,
    #[serde(flatten)]
    pub adapter: serde_json::Map<String, serde_json::Value>,
}

fn enabled_by_default() -> bool {
    true
}
fn default_requests_per_second() -> u32 {
    5
}

impl fmt::Debug for CarrierSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarrierSettings")
            .field("kind", &self.kind)
            .field("enabled", &self.enabled)
            .field("requests_per_second", &self.requests_per_second)
            .field("adapter", &redact_carrier_settings(&self.adapter))
            .finish()
    }
}

impl Settings {
    /// Defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut files = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            files = files.merge(Toml::file(path));
        }
        reject_secrets_in_files(&files, file)?;
        Self::from_figment(files.merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    /// Defaults overlaid with explicit `key = value` pairs (dotted keys), for tests and the demo.
    pub fn with_overrides(
        overrides: &[(&str, serde_json::Value)],
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        for (key, value) in overrides {
            figment = figment.merge(figment::providers::Serialized::global(key, value));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment
            .extract()
            .map_err(|err| ConfigError::Invalid(describe(err)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}` {why}")));
        if self.retry.initial_delay_ms == 0 {
            return invalid("retry.initial_delay_ms", "must be at least 1");
        }
        if self.retry.max_delay_ms < self.retry.initial_delay_ms {
            return invalid(
                "retry.max_delay_ms",
                "must be at least retry.initial_delay_ms",
            );
        }
        if self.retry.max_attempts == 0 {
            return invalid("retry.max_attempts", "must be at least 1");
        }
        if !["sqlite:", "postgres", "mysql://", "mariadb://"]
            .iter()
            .any(|scheme| self.database.url.starts_with(scheme))
        {
            return invalid(
                "database.url",
                "must start with sqlite:, postgres:// or mysql:// (MySQL 8 / MariaDB 10.6+)",
            );
        }
        if self.queue.prefetch == 0 {
            return invalid("queue.prefetch", "must be at least 1");
        }
        if !self.mall.endpoint.is_empty() && url::Url::parse(&self.mall.endpoint).is_err() {
            return invalid("mall.endpoint", "is not a URL");
        }
        if let Some(secret) = &self.mall.signing_secret {
            let raw = secret
                .expose()
                .strip_prefix("whsec_")
                .unwrap_or(secret.expose());
            use base64::Engine as _;
            if base64::engine::general_purpose::STANDARD
                .decode(raw)
                .is_err()
            {
                return invalid("mall.signing_secret", "must be `whsec_` followed by base64");
            }
        }
        for (id, carrier) in &self.carriers {
            if !trackgate_carriers::KINDS.contains(&carrier.kind.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "`carriers.{id}.kind` is `{}`; valid kinds are: {}",
                    carrier.kind,
                    trackgate_carriers::KINDS.join(", ")
                )));
            }
            if carrier.requests_per_second == 0 {
                return invalid(
                    &format!("carriers.{id}.requests_per_second"),
                    "must be at least 1",
                );
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets redacted (for `check-config`).
    pub fn redacted_toml(&self) -> String {
        let carriers: BTreeMap<_, _> = self
            .carriers
            .iter()
            .map(|(id, c)| {
                let mut table = redact_carrier_settings(&c.adapter);
                table.insert("kind".into(), c.kind.clone().into());
                table.insert("enabled".into(), c.enabled.into());
                table.insert("requests_per_second".into(), c.requests_per_second.into());
                table.insert("requests_per_day".into(), c.requests_per_day.into());
                (id.clone(), table)
            })
            .collect();
        let value = serde_json::json!({
            "server": {"listen": self.server.listen.to_string(), "body_limit_bytes": self.server.body_limit_bytes, "workers": self.server.workers},
            "database": {"url": redact_url(&self.database.url), "max_connections": self.database.max_connections, "migrate_on_start": self.database.migrate_on_start},
            "queue": {"kind": self.queue.kind, "amqp_url": redact_url(&self.queue.amqp_url), "prefix": self.queue.prefix, "prefetch": self.queue.prefetch, "lease_secs": self.queue.lease_secs, "idle_poll_ms": self.queue.idle_poll_ms},
            "mall": {"endpoint": self.mall.endpoint, "signing_secret": if self.mall.signing_secret.is_some() {"<redacted>"} else {"<not set>"}, "timeout_ms": self.mall.timeout_ms},
            "retry": {"initial_delay_ms": self.retry.initial_delay_ms, "max_delay_ms": self.retry.max_delay_ms, "max_attempts": self.retry.max_attempts},
            "poll": {"enabled": self.poll.enabled, "tick_secs": self.poll.tick_secs, "lease_secs": self.poll.lease_secs, "batches_per_tick": self.poll.batches_per_tick, "concurrent_batches": self.poll.concurrent_batches, "pause_on_429_secs": self.poll.pause_on_429_secs, "after_registration_secs": self.poll.after_registration_secs},
            "log": {"format": format!("{:?}", self.log.format).to_lowercase(), "filter": self.log.filter},
            "carriers": carriers,
        });
        toml::to_string_pretty(&value).unwrap_or_else(|err| format!("# cannot render: {err}"))
    }
}

/// One line per error, naming the key as written in config.toml and where the value came from.
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = e
                .path
                .iter()
                .map(|p| p.to_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            let source = match e.metadata.as_ref() {
                Some(meta) if meta.name.contains(ENV_PREFIX) => {
                    format!(
                        " (from environment variable {ENV_PREFIX}{})",
                        key.replace('.', "__").to_uppercase()
                    )
                }
                Some(meta) => match &meta.source {
                    Some(figment::Source::File(path)) => format!(" (from {})", path.display()),
                    _ => format!(" (from {})", meta.name),
                },
                None => String::new(),
            };
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("`{key}`: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_defaults_are_valid() {
        let settings = Settings::with_overrides(&[]).unwrap();
        assert_eq!(settings.queue.kind, QueueKind::Embedded);
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert!(settings.database.url.starts_with("sqlite://trackgate.db"));
        assert_eq!(settings.carriers["kuaidi100"].kind, "kuaidi100");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Settings::with_overrides(&[("retry.max_attempts", json!("many"))]).unwrap_err();
        assert!(err.to_string().contains("max_attempts"), "{err}");
        let err = Settings::with_overrides(&[("server.listen", json!("nowhere"))]).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
    }

    #[test]
    fn an_unknown_carrier_kind_lists_the_valid_ones() {
        let err = Settings::with_overrides(&[("carriers.x.kind", json!("pigeon"))]).unwrap_err();
        assert!(err.to_string().contains("carriers.x.kind"), "{err}");
        assert!(
            err.to_string().contains("sandbox, kuaidi100, easypost"),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_or_check_config_output() {
        let settings = Settings::with_overrides(&[
            ("mall.signing_secret", json!("whsec_c2VjcmV0c2VjcmV0")),
            ("carriers.kuaidi100.salt", json!("pepper-salt")),
        ])
        .unwrap();
        let printed = format!("{settings:?}\n{}", settings.redacted_toml());
        assert!(!printed.contains("c2VjcmV0c2VjcmV0"), "{printed}");
        assert!(!printed.contains("pepper-salt"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn a_secret_written_in_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tg.toml");
        std::fs::write(&path, "[carriers.kuaidi100]\nsalt = \"oops\"\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err();
        assert!(
            err.to_string()
                .contains("TRACKGATE__CARRIERS__KUAIDI100__SALT"),
            "{err}"
        );
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:redacted@h/db"
        );
    }
}
