//! Secrets in configuration: which keys are secret, the [`Secret`] wrapper that never prints,
//! the refusal of secrets written in files, and redaction for `check-config` output.
//!
//! Secrets come from the environment only, so they cannot be committed with a config file.

use std::fmt;
use std::path::Path;

use figment::Figment;
use serde::{Deserialize, Deserializer};

use super::{ConfigError, ENV_PREFIX};

/// Carrier setting names that hold secrets, in any carrier instance.
pub const CARRIER_SECRET_KEYS: &[&str] = &[
    "webhook_secret",
    "salt",
    "api_key",
    "api_token",
    "client_secret",
    "api_secret",
    "key",
    "password",
    "token",
];

/// A secret value: printed as `<redacted>` everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = trackgate_carriers::settings::optional_string(de)?;
        Ok(Secret(value.unwrap_or_default()))
    }
}

/// The adapter settings with every secret replaced by `<redacted>`.
pub fn redact_carrier_settings(
    map: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    map.iter()
        .map(|(key, value)| {
            let shown = if CARRIER_SECRET_KEYS.contains(&key.as_str()) {
                serde_json::Value::String("<redacted>".into())
            } else {
                value.clone()
            };
            (key.clone(), shown)
        })
        .collect()
}

/// A URL with any password replaced, for printing.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

pub(super) fn reject_secrets_in_files(
    files: &Figment,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
    let source_name = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "config.toml".into());
    let env_name = |key: &str| format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
    if files.find_value("mall.signing_secret").is_ok() {
        let key = "mall.signing_secret".to_owned();
        return Err(ConfigError::SecretInFile {
            env: env_name(&key),
            key,
            source_name,
        });
    }
    if let Ok(carriers) = files.find_value("carriers")
        && let Some(dict) = carriers.as_dict()
    {
        for (id, instance) in dict {
            let Some(instance) = instance.as_dict() else {
                continue;
            };
            for secret in CARRIER_SECRET_KEYS {
                if instance.contains_key(*secret) {
                    let key = format!("carriers.{id}.{secret}");
                    return Err(ConfigError::SecretInFile {
                        env: env_name(&key),
                        key,
                        source_name,
                    });
                }
            }
        }
    }
    Ok(())
}
