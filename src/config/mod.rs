//! Configuration: the embedded `config.toml`, an optional file, then `TRACKGATE__…` variables.
//!
//! The defaults file is the documentation. Everything is validated once, here, into typed
//! settings; a bad value fails with the key's name. Secrets are accepted from the environment
//! only and are wrapped in [`Secret`] so no `Debug` or log line can print them.

use std::collections::BTreeMap;
use std::path::Path;

mod secrets;
mod sections;
mod validate;

use secrets::reject_secrets_in_files;
pub use secrets::{REDACTED, Secret, carrier_secret_keys, redact_carrier_settings, redact_url};
pub use sections::{
    AlertEmail, AlertSettings, AlertWebhook, CarrierSettings, ChatRobot, DatabaseSettings,
    DefinitionSettings, IntakeSettings, Language, LiveBackend, LiveSettings, LogFormat,
    LogSettings, MallSettings, PollSettings, QueueKind, QueueSettings, ServerSettings, SmtpTls,
    WebSettings,
};

use figment::Figment;

/// A secret setting that holds several values (current first, then previous ones being
/// rotated out), separated by spaces or commas.
pub fn secret_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|part| !part.is_empty())
}
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::retry::RetryPolicy;

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

/// The whole configuration, validated. It serializes (for `check-config`) with every secret
/// and every password in a URL redacted.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub queue: QueueSettings,
    pub mall: MallSettings,
    pub retry: RetryPolicy,
    pub poll: PollSettings,
    pub intake: IntakeSettings,
    pub web: WebSettings,
    pub live: LiveSettings,
    pub alerts: AlertSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub definitions: DefinitionSettings,
    #[serde(default)]
    pub carriers: BTreeMap<String, CarrierSettings>,
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
        let figment = files.clone().merge(Env::prefixed(ENV_PREFIX).split("__"));
        load_definitions(&figment)?;
        reject_secrets_in_files(&files, file)?;
        Self::from_figment(figment)
    }

    /// Defaults overlaid with explicit `key = value` pairs (dotted keys), for tests and the demo.
    pub fn with_overrides(
        overrides: &[(&str, serde_json::Value)],
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        for (key, value) in overrides {
            figment = figment.merge(figment::providers::Serialized::global(key, value));
        }
        load_definitions(&figment)?;
        Self::from_figment(figment)
    }

    /// Defaults overlaid with a TOML document, as a `--config` file would be (secrets written in
    /// it are refused the same way); no environment. For tooling and the config fuzzer.
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        let files = Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(text));
        load_definitions(&files)?;
        reject_secrets_in_files(&files, None)?;
        Self::from_figment(files)
    }

    fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment
            .extract()
            .map_err(|err| ConfigError::Invalid(describe(err)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The effective configuration as TOML, secrets redacted (for `check-config`): the
    /// settings types serialized, so every key is shown and none can be forgotten.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|err| format!("# cannot render: {err}"))
    }
}

/// Load the carrier definitions before anything reads the catalog: the configured folders'
/// kinds become valid `kind = "…"` values and their secret settings environment-only. Every
/// error of every file is reported (file, key path, what is wrong) and the start refused.
fn load_definitions(figment: &Figment) -> Result<(), ConfigError> {
    use trackgate_carriers::definition::registry;
    let folders: Vec<std::path::PathBuf> = figment
        .extract_inner::<DefinitionSettings>("definitions")
        .map(|d| d.folders)
        .unwrap_or_default();
    let mut errors: Vec<String> = registry::shipped_errors()
        .iter()
        .map(|e| e.to_string())
        .collect();
    for folder in &folders {
        if let Err(found) = registry::load_folder(folder) {
            errors.extend(found.iter().map(|e| e.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "carrier definitions (definitions.folders): {}",
            errors.join("\n")
        )))
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

/// The AMQP frame size asked for when `amqp_url` names none (`frame_max=` in its query).
/// lapin gives every connection a send and a receive buffer of 32 frames, filled at connect:
/// at RabbitMQ's 128 KiB frames that is 8 MiB a connection, 24 MiB of the gateway's memory
/// for its three (measured with heaptrack: the largest single holder). A push is a few KiB;
/// a bigger message is simply sent as several frames.
pub const AMQP_FRAME_MAX: u32 = 32 * 1024;

impl QueueSettings {
    /// `amqp_url` with [`AMQP_FRAME_MAX`] added to its query unless it sets `frame_max` itself:
    /// the URL every RabbitMQ connection of the gateway is made with.
    pub fn amqp_connection_url(&self) -> String {
        let url = &self.amqp_url;
        if url.contains("frame_max=") {
            return url.clone();
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}frame_max={AMQP_FRAME_MAX}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rabbitmq_connections_ask_for_small_frames_unless_the_url_sets_them() {
        let mut queue = Settings::with_overrides(&[]).unwrap().queue;
        queue.amqp_url = "amqp://guest:guest@127.0.0.1:5672/%2f".into();
        assert_eq!(
            queue.amqp_connection_url(),
            "amqp://guest:guest@127.0.0.1:5672/%2f?frame_max=32768"
        );
        queue.amqp_url = "amqp://h/%2f?heartbeat=30".into();
        assert_eq!(
            queue.amqp_connection_url(),
            "amqp://h/%2f?heartbeat=30&frame_max=32768"
        );
        queue.amqp_url = "amqp://h/%2f?frame_max=131072".into();
        assert_eq!(queue.amqp_connection_url(), "amqp://h/%2f?frame_max=131072");
        let parsed: lapin::uri::AMQPUri = queue.amqp_connection_url().parse().unwrap();
        assert_eq!(parsed.query.frame_max, Some(131_072));
    }

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

    /// Every key of the documented defaults, as dotted paths.
    fn keys(value: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(table) = value {
            for (key, child) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                keys(child, &path, out);
                out.push(path);
            }
        }
    }

    #[test]
    fn check_config_shows_every_documented_key() {
        let settings = Settings::with_overrides(&[]).unwrap();
        let printed: toml::Value = toml::from_str(&settings.redacted_toml()).unwrap();
        let documented: toml::Value = toml::from_str(DEFAULTS).unwrap();
        let (mut shown, mut expected) = (Vec::new(), Vec::new());
        keys(&printed, "", &mut shown);
        keys(&documented, "", &mut expected);
        let missing: Vec<_> = expected.iter().filter(|k| !shown.contains(k)).collect();
        assert!(missing.is_empty(), "check-config omits {missing:?}");
        // A secret that is documented only in a comment is still shown, as not set.
        assert_eq!(
            printed["mall"]["signing_secret"].as_str(),
            Some("<not set>")
        );
    }

    #[test]
    fn urls_are_printed_without_their_credentials() {
        let settings = Settings::with_overrides(&[
            ("database.url", json!("postgres://tg:hunter2@db/tg")),
            (
                "mall.endpoint",
                json!("https://mall.example/push?token=t0ken"),
            ),
            (
                "carriers.sandbox.base_url",
                json!("https://u:pw1@carrier.example"),
            ),
        ])
        .unwrap();
        let printed = format!("{}\n{settings:?}", settings.redacted_toml());
        for secret in ["hunter2", "t0ken", "pw1"] {
            assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
        }
    }
}
