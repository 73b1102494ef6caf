//! The settings types, one per `config.toml` section: what each key means, typed.
//!
//! They deserialize from the layered configuration and serialize back for `check-config`, with
//! every secret and every password inside a URL redacted on the way out (see [`super::secrets`]),
//! so the printed configuration is derived from these types and cannot drift from them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize, Serializer};

use super::secrets::{Secret, redact_carrier_settings, serialize_optional_secret, serialize_url};
use crate::domain::schedule::{PolicyOverrides, PollPolicy};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// A second listener for `/metrics` and `/v1/admin/…` (then absent from `listen`).
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    pub body_limit_bytes: usize,
    pub workers: usize,
    /// How long an active API key is remembered before the store is asked again.
    pub api_key_cache_secs: u64,
    /// A client must send its request head within this long (actix's request timeout).
    pub request_head_timeout_ms: u64,
    /// A webhook's body must arrive within this long.
    pub body_timeout_secs: u64,
    /// Any request must be answered within this long (slow bodies included): 408 after.
    pub request_timeout_secs: u64,
    /// Connections each HTTP worker thread holds at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Webhooks per second and carrier instance, per process (0: no limit); 429 beyond.
    pub webhook_rate_per_second: u32,
    /// API requests per second and API key, per process (0: no limit); 429 beyond.
    pub api_rate_per_second: u32,
    /// Refused requests are logged at most once per this many seconds per problem code.
    pub rejected_log_every_secs: u64,
    /// Background work failing this long without a success makes `/readyz` answer 503.
    pub unready_after_secs: u64,
    /// The gateway's address as carriers reach it (`https://track.example.com`): carriers that
    /// take a callback per subscription (Kuaidi100) push to `{public_url}/webhooks/{instance}`.
    #[serde(default)]
    pub public_url: Option<String>,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(serialize_with = "serialize_url")]
    pub url: String,
    pub max_connections: u32,
    /// Prepared statements cached per connection (PostgreSQL, MySQL).
    pub statement_cache: usize,
    /// PostgreSQL connections kept out of the pool for the support lookups and one-statement
    /// group commits (`store::lanes`; at most half of `max_connections`; 0: none).
    pub read_lanes: usize,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    Embedded,
    Rabbitmq,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub kind: QueueKind,
    #[serde(serialize_with = "serialize_url")]
    pub amqp_url: String,
    pub prefix: String,
    pub prefetch: u16,
    pub lease_secs: u64,
    pub idle_poll_ms: u64,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MallSettings {
    #[serde(serialize_with = "serialize_url")]
    pub endpoint: String,
    #[serde(default, serialize_with = "serialize_optional_secret")]
    pub signing_secret: Option<Secret>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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
    pub schedule: PollPolicy,
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

/// `[intake]`: how webhooks are stored and processed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Most webhooks stored by one commit.
    pub max_batch: usize,
    /// Batches committing at once (while one commits, the next fills).
    pub writers: usize,
    /// Workers ingesting stored webhooks, and the most webhooks one ingest transaction takes.
    pub process_workers: usize,
    pub process_batch: usize,
    /// Parsed webhooks waiting in memory for a processing worker; beyond this they wait in the
    /// store for the sweep.
    pub queue_capacity: usize,
    /// A webhook still `received` this long after it arrived is processed by the sweep, which
    /// runs every `sweep_secs` (and once at start).
    pub recover_after_secs: u64,
    pub sweep_secs: u64,
    /// A stored webhook the database refuses this many times is quarantined (set aside).
    pub max_attempts: u32,
}

/// `[web]`: the support console, customer pages and the signing of sessions, stream tokens and
/// tracking links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Signs sessions, stream tokens and tracking links; from the environment only.
    #[serde(default, serialize_with = "serialize_optional_secret")]
    pub token_secret: Option<Secret>,
    /// Serve `/support` (the console); the streams and customer pages are always served.
    pub console: bool,
    pub session_hours: u64,
    pub stream_token_secs: u64,
    pub max_stream_token_secs: u64,
    pub tracking_link_days: u64,
    pub max_tracking_link_days: u64,
    pub brand_name: String,
    pub brand_logo_url: String,
    pub brand_color: String,
    pub language: Language,
}

/// The customer page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Zh,
}

/// `[live]`: how stream clients learn of updates, across processes too.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    pub backend: LiveBackend,
    pub heartbeat_secs: u64,
    pub max_streams: usize,
    pub max_shipments_per_stream: usize,
    pub send_timeout_ms: u64,
    pub client_buffer: usize,
    pub store_poll_ms: u64,
}

/// Where announcements of new pushes travel between processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveBackend {
    /// RabbitMQ with `queue.kind = "rabbitmq"`, else PostgreSQL, else the store (MySQL), else
    /// local (SQLite).
    Auto,
    Local,
    Rabbitmq,
    Postgres,
    Store,
}

/// `[alerts]`: built-in alert rules and where alerts go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    pub enabled: bool,
    pub evaluate_secs: u64,
    pub repeat_secs: u64,
    pub push_backlog_age_secs: u64,
    pub carrier_error_ratio: f64,
    pub carrier_min_requests: u64,
    pub carrier_paused_secs: u64,
    pub quota_used_ratio: f64,
    pub subscription_failures: u64,
    pub signature_failures: u64,
    pub delivery_attempts: u32,
    pub delivery_timeout_ms: u64,
    #[serde(default)]
    pub webhook: Option<AlertWebhook>,
    #[serde(default)]
    pub slack: Option<ChatRobot>,
    #[serde(default)]
    pub dingtalk: Option<ChatRobot>,
    #[serde(default)]
    pub wecom: Option<ChatRobot>,
    #[serde(default)]
    pub email: Option<AlertEmail>,
}

/// `[alerts.webhook]`: a JSON POST signed like pushes (Standard Webhooks).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhook {
    #[serde(serialize_with = "serialize_url")]
    pub url: String,
    /// `whsec_…`; env only (TRACKGATE__ALERTS__WEBHOOK__SECRET). Unsigned when absent.
    #[serde(default, serialize_with = "serialize_optional_secret")]
    pub secret: Option<Secret>,
}

/// `[alerts.slack]`, `[alerts.dingtalk]`, `[alerts.wecom]`: a chat robot's webhook URL (its
/// token is in the URL: env only), and for DingTalk the optional signing secret.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRobot {
    /// Serialized as `<redacted>`, like every [`Secret`].
    pub url: Secret,
    #[serde(default, serialize_with = "serialize_optional_secret")]
    pub secret: Option<Secret>,
}

/// `[alerts.email]`: SMTP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEmail {
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls`, `tls` (implicit, port 465) or `none` (a local relay only).
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    /// Env only: TRACKGATE__ALERTS__EMAIL__PASSWORD.
    #[serde(default, serialize_with = "serialize_optional_secret")]
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

/// Where the operator's carrier definitions are (the shipped ones are built in).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionSettings {
    /// Folders of `*.toml` carrier definitions, loaded at start; a broken one stops the start.
    #[serde(default)]
    pub folders: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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
    pub schedule: PolicyOverrides,
    /// Secret rotation: the adapter settings the carrier signed with before (e.g. the old
    /// `webhook_secret` or Kuaidi100 `salt`), accepted as well until `previous_until`. Env only
    /// (TRACKGATE__CARRIERS__<ID>__PREVIOUS__WEBHOOK_SECRET).
    #[serde(default)]
    pub previous: trackgate_carriers::catalog::AdapterSettings,
    /// The end of the grace period for `previous` (RFC 3339).
    #[serde(default)]
    pub previous_until: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(flatten)]
    pub adapter: trackgate_carriers::catalog::AdapterSettings,
}

fn enabled_by_default() -> bool {
    true
}
fn default_requests_per_second() -> u32 {
    5
}

impl CarrierSettings {
    /// Everything about the instance, with the adapter's secrets redacted.
    fn redacted(&self) -> BTreeMap<String, serde_json::Value> {
        let mut table: BTreeMap<String, serde_json::Value> =
            redact_carrier_settings(&self.adapter).into_iter().collect();
        table.insert("kind".into(), self.kind.clone().into());
        table.insert("enabled".into(), self.enabled.into());
        table.insert(
            "requests_per_second".into(),
            self.requests_per_second.into(),
        );
        table.insert("requests_per_day".into(), self.requests_per_day.into());
        if !self.previous.is_empty() {
            let shown: serde_json::Map<String, serde_json::Value> = self
                .previous
                .keys()
                .map(|key| (key.clone(), super::secrets::REDACTED.into()))
                .collect();
            table.insert("previous".into(), shown.into());
        }
        if let Some(until) = &self.previous_until {
            table.insert(
                "previous_until".into(),
                crate::domain::time::format(until).into(),
            );
        }
        if self.schedule != PolicyOverrides::default() {
            table.insert(
                "schedule".into(),
                serde_json::to_value(self.schedule).unwrap_or_default(),
            );
        }
        table
    }
}

impl Serialize for CarrierSettings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.redacted().serialize(serializer)
    }
}

/// `Debug` as `check-config` prints it: the sections holding URLs must not leak credentials.
fn debug_redacted<T: Serialize>(value: &T, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match serde_json::to_value(value) {
        Ok(shown) => write!(f, "{name} {shown}"),
        Err(_) => f.write_str(name),
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_redacted(self, "DatabaseSettings", f)
    }
}

impl fmt::Debug for QueueSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_redacted(self, "QueueSettings", f)
    }
}

impl fmt::Debug for MallSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_redacted(self, "MallSettings", f)
    }
}

impl fmt::Debug for CarrierSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}
