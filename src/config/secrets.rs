//! Secrets in configuration: which keys are secret, the [`Secret`] wrapper that never prints,
//! the refusal of secrets written in files, and redaction wherever configuration is printed.
//!
//! Secrets come from the environment only, so they cannot be committed with a config file. A
//! carrier kind's secret settings are named by the carrier catalog; a password or token inside
//! a URL (user info, or a query parameter such as `password=` or `api_key=`) is redacted too.

use std::fmt;
use std::path::Path;

use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ConfigError, ENV_PREFIX};

/// What a redacted value prints as.
pub const REDACTED: &str = "<redacted>";

/// A secret value: printed as `<redacted>` everywhere, serialized too.
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
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = trackgate_carriers::settings::optional_string(de)?;
        Ok(Secret(value.unwrap_or_default()))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// `<redacted>` when set, `<not set>` when not: check-config shows which secrets are present.
pub(super) fn serialize_optional_secret<S: Serializer>(
    secret: &Option<Secret>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if secret.is_some() {
        REDACTED
    } else {
        "<not set>"
    })
}

pub(super) fn serialize_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

/// Setting names that are secrets in any carrier kind (from the catalog).
pub fn carrier_secret_keys() -> Vec<&'static str> {
    trackgate_carriers::catalog::secret_settings()
}

/// Query parameters whose value is a credential wherever they appear in a URL.
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "key",
        "sign",
        "auth",
        "credential",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// A URL with its password and any credential-like query parameters replaced, for printing.
/// Text that is not a URL comes back unchanged.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if url.cannot_be_a_base() {
        return raw.to_owned();
    }
    let mut changed = false;
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
        changed = true;
    }
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if pairs.iter().any(|(name, _)| is_secret_parameter(name)) {
        let redacted: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(name, value)| {
                let value = if is_secret_parameter(&name) {
                    "redacted".to_owned()
                } else {
                    value
                };
                (name, value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(redacted);
        changed = true;
    }
    if changed {
        url.to_string()
    } else {
        raw.to_owned()
    }
}

/// The adapter settings with every secret replaced by `<redacted>`, and passwords in URL values
/// redacted.
pub fn redact_carrier_settings(
    map: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let secrets = carrier_secret_keys();
    map.iter()
        .map(|(key, value)| {
            let shown = match value {
                _ if secrets.contains(&key.as_str()) => REDACTED.into(),
                serde_json::Value::String(text) => redact_url(text).into(),
                other => other.clone(),
            };
            (key.clone(), shown)
        })
        .collect()
}

pub(super) fn reject_secrets_in_files(
    files: &Figment,
    file: Option<&Path>,
) -> Result<(), ConfigError> {
    let source_name = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "config.toml".into());
    let refuse = |key: String| ConfigError::SecretInFile {
        env: format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase()),
        key,
        source_name: source_name.clone(),
    };
    for key in [
        "mall.signing_secret",
        "web.token_secret",
        "alerts.webhook.secret",
        "alerts.slack.url",
        "alerts.slack.secret",
        "alerts.dingtalk.url",
        "alerts.dingtalk.secret",
        "alerts.wecom.url",
        "alerts.wecom.secret",
        "alerts.email.password",
    ] {
        if files.find_value(key).is_ok() {
            return Err(refuse(key.to_owned()));
        }
    }
    if let Ok(carriers) = files.find_value("carriers")
        && let Some(dict) = carriers.as_dict()
    {
        let secrets = carrier_secret_keys();
        for (id, instance) in dict {
            let Some(instance) = instance.as_dict() else {
                continue;
            };
            if let Some(secret) = secrets.iter().find(|s| instance.contains_key(**s)) {
                return Err(refuse(format!("carriers.{id}.{secret}")));
            }
            // The previous settings of a rotation are secrets by definition.
            if instance.contains_key("previous") {
                return Err(refuse(format!("carriers.{id}.previous")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:redacted@h/db"
        );
        let redacted = redact_url("https://mall.example/hook?password=hunter2&shop=7&api_key=k1");
        assert!(
            !redacted.contains("hunter2") && !redacted.contains("k1"),
            "{redacted}"
        );
        assert!(redacted.contains("shop=7"), "{redacted}");
        assert_eq!(
            redact_url("https://mall.example/hook"),
            "https://mall.example/hook"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
