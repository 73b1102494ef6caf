//! Validation of the loaded settings: every rule names the key it checks.

use trackgate_carriers::catalog;

use super::{ConfigError, Settings};

/// The shortest signing key `serve` accepts.
pub const MIN_SECRET_BYTES: usize = 24;

/// The key length of a `whsec_` secret, if it is one.
fn signing_key_bytes(secret: &str) -> Option<usize> {
    use base64::Engine as _;
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(raw)
        .ok()
        .map(|key| key.len())
}

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        if let Some(public) = self.server.public_url.as_deref().filter(|u| !u.is_empty())
            && !url::Url::parse(public).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return invalid("server.public_url", "is not an http(s) URL");
        }
        if let Some(secret) = &self.mall.signing_secret {
            for one in super::secret_list(secret.expose()) {
                if signing_key_bytes(one).is_none() {
                    return invalid(
                        "mall.signing_secret",
                        "must be `whsec_` followed by base64 (several: separated by spaces)",
                    );
                }
            }
        }
        self.validate_web()?;
        for (id, carrier) in &self.carriers {
            if catalog::find(&carrier.kind).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "`carriers.{id}.kind` is `{}`; valid kinds are: {}",
                    carrier.kind,
                    catalog::kind_names()
                )));
            }
            if !carrier.previous.is_empty() && carrier.previous_until.is_none() {
                return invalid(
                    &format!("carriers.{id}.previous_until"),
                    "must be set when `previous` is: the end of the rotation's grace period (RFC 3339)",
                );
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

    /// What `serve` needs beyond a valid configuration (also checked by `check-config`): a mall
    /// endpoint, and signing secrets long enough to resist guessing.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}` {why}")));
        if self.mall.endpoint.trim().is_empty() {
            return invalid(
                "mall.endpoint",
                "is empty: set the URL pushes go to (TRACKGATE__MALL__ENDPOINT)",
            );
        }
        let Some(secret) = &self.mall.signing_secret else {
            return invalid(
                "mall.signing_secret",
                "is not set: set TRACKGATE__MALL__SIGNING_SECRET=whsec_<base64 of 24+ random bytes>",
            );
        };
        for (n, one) in super::secret_list(secret.expose()).enumerate() {
            let bytes = signing_key_bytes(one).unwrap_or(0);
            if bytes < MIN_SECRET_BYTES {
                return invalid(
                    "mall.signing_secret",
                    &format!(
                        "secret {} has {bytes} bytes; use at least {MIN_SECRET_BYTES} random bytes (head -c 32 /dev/urandom | base64)",
                        n + 1
                    ),
                );
            }
        }
        Ok(())
    }

    fn validate_web(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}` {why}")));
        let web = &self.web;
        if let Some(secret) = &web.token_secret
            && secret.expose().len() < 32
        {
            return invalid("web.token_secret", "must be at least 32 bytes");
        }
        if web.session_hours == 0 {
            return invalid("web.session_hours", "must be at least 1");
        }
        if web.stream_token_secs == 0 || web.stream_token_secs > web.max_stream_token_secs {
            return invalid(
                "web.stream_token_secs",
                "must be between 1 and web.max_stream_token_secs",
            );
        }
        if web.tracking_link_days == 0 || web.tracking_link_days > web.max_tracking_link_days {
            return invalid(
                "web.tracking_link_days",
                "must be between 1 and web.max_tracking_link_days",
            );
        }
        let colour = web.brand_color.strip_prefix('#').unwrap_or("");
        if colour.len() != 6 || !colour.chars().all(|c| c.is_ascii_hexdigit()) {
            return invalid("web.brand_color", "must be a colour written #rrggbb");
        }
        if !web.brand_logo_url.is_empty()
            && !url::Url::parse(&web.brand_logo_url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return invalid("web.brand_logo_url", "is not an http(s) URL");
        }
        if web.brand_name.trim().is_empty() || web.brand_name.len() > 80 {
            return invalid("web.brand_name", "must be 1 to 80 characters");
        }
        let live = &self.live;
        if live.heartbeat_secs == 0 {
            return invalid("live.heartbeat_secs", "must be at least 1");
        }
        if live.max_shipments_per_stream == 0 {
            return invalid("live.max_shipments_per_stream", "must be at least 1");
        }
        if live.client_buffer == 0 {
            return invalid("live.client_buffer", "must be at least 1");
        }
        if live.store_poll_ms == 0 {
            return invalid("live.store_poll_ms", "must be at least 1");
        }
        Ok(())
    }
}
