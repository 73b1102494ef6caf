//! The definition file as written: the TOML schema of a declarative carrier, deserialized with
//! unknown keys refused so a typo is an error naming its key path, never a silently ignored
//! setting. [`super::compile`] turns it into the checked, ready-to-run [`super::Definition`].

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionFile {
    pub carrier: CarrierSection,
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    #[serde(default)]
    pub body: BodySection,
    #[serde(default)]
    pub errors: Option<ErrorsSection>,
    pub shipments: ShipmentsSection,
    pub events: EventsSection,
    #[serde(default)]
    pub time: TimeSection,
    pub status: StatusSection,
    #[serde(default)]
    pub poll: Option<PollSection>,
    #[serde(default)]
    pub webhook: Option<WebhookSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierSection {
    /// As written in config: `[carriers.<id>] kind = "…"`.
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub notes: String,
    /// karrio's names for this carrier (its conformance corpus).
    #[serde(default)]
    pub karrio: Vec<String>,
    /// `compact` (letters and digits only) or `keep_dashes`.
    #[serde(default)]
    pub numbers: Option<String>,
    /// The built-in kind this definition re-expresses (checked side by side on its fixtures).
    #[serde(default)]
    pub replicates: Option<String>,
    /// Payload files (relative to this file) `carriers lint` checks every path against.
    #[serde(default)]
    pub samples: Vec<String>,
}

/// One instance setting: `secret = true` ones come from the environment only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodySection {
    /// `json` (default) or `xml`, for poll responses and webhooks alike.
    #[serde(default)]
    pub format: Option<String>,
}

/// An envelope-level error answer (`{"errors": […]}`, a SOAP fault).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsSection {
    /// Paths that, when any holds a value, mark the body as an error answer.
    pub when: Vec<String>,
    /// The carrier's message (first non-empty); the matched value otherwise.
    #[serde(default)]
    pub message: Option<FieldSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsSection {
    /// Where the shipments are: `$` for the root itself; arrays are walked. Several paths are
    /// read in order (shipments of different shapes in one answer).
    pub path: PathList,
    #[serde(default)]
    pub number: Option<FieldSpec>,
    /// The answer to a one-number request does not repeat the number: it is the one asked.
    #[serde(default)]
    pub number_from_request: bool,
    #[serde(default)]
    pub estimated_delivery: Option<FieldSpec>,
    /// The carrier's own current status, looked up in the same code table.
    #[serde(default)]
    pub current_status: Option<FieldSpec>,
    /// The courier behind an aggregator's update.
    #[serde(default)]
    pub courier: Option<FieldSpec>,
    /// A shipment whose field here holds a value is the carrier's "not found" for that number:
    /// a problem, not an update.
    #[serde(default)]
    pub problem_when: Option<FieldSpec>,
    /// A shipment without events is a problem ("nothing to report yet"), not an empty update.
    #[serde(default)]
    pub skip_without_events: bool,
    /// Shipments naming the same number are one (a flat list of scans, each with its number).
    #[serde(default)]
    pub merge_same_number: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSection {
    /// Relative to a shipment.
    pub path: String,
    pub time: FieldSpec,
    #[serde(default)]
    pub code: Option<FieldSpec>,
    #[serde(default)]
    pub description: Option<FieldSpec>,
    #[serde(default)]
    pub location: Option<FieldSpec>,
    /// Country (alpha-2 or alpha-3) for `time.zone = "country"`.
    #[serde(default)]
    pub country: Option<FieldSpec>,
    /// State or province, for countries with several zones.
    #[serde(default)]
    pub subdivision: Option<FieldSpec>,
    /// A UTC offset given beside a local time (`+02:00`, `-0500`).
    #[serde(default)]
    pub utc_offset: Option<FieldSpec>,
    /// The carrier's own event id: the dedupe key when present.
    #[serde(default)]
    pub id: Option<FieldSpec>,
    #[serde(default)]
    pub id_namespace: Option<String>,
    /// Which of time, code, description, location make the dedupe key without an id.
    #[serde(default)]
    pub dedupe: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSection {
    /// Tried in order: `rfc3339`, `epoch_seconds`, `epoch_millis`, `dotnet_date`,
    /// `dotnet_ticks`, or a chrono pattern (`%d/%m/%Y %H:%M`).
    #[serde(default)]
    pub formats: Vec<String>,
    /// For local times: `utc`, a fixed offset (`+10:00`), an IANA zone (`Europe/Paris`) or
    /// `country` (the event's country through the zone table).
    #[serde(default)]
    pub zone: Option<String>,
    /// Formats for the estimated delivery (default: `formats`, then `%Y-%m-%d`).
    #[serde(default)]
    pub delivery_formats: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSection {
    /// Looked up when the code is not in the table (a group or category field).
    #[serde(default)]
    pub fallback: Option<FieldSpec>,
    #[serde(default)]
    pub case_insensitive: bool,
    /// Code → `status` or `status/sub_status`.
    pub codes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSection {
    #[serde(default)]
    pub method: Option<String>,
    pub url: String,
    /// Numbers one request carries (default 1, where `{number}` is the one).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// How `{numbers}` joins a batch (default `,`).
    #[serde(default)]
    pub separator: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body; string values are templates, `"{numbers_list}"` becomes an array.
    #[serde(default)]
    pub json: Option<toml::Value>,
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: Option<AuthSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum AuthSection {
    /// A header holding a secret setting.
    ApiKey {
        header: String,
        secret: String,
        #[serde(default)]
        prefix: Option<String>,
    },
    Basic {
        user: String,
        password: String,
    },
    /// OAuth client credentials; the gateway caches the token per instance.
    Oauth {
        token_url: String,
        client_id: String,
        client_secret: String,
        /// `basic_header`, `form_body` (default) or `json_body`.
        #[serde(default)]
        credentials_in: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `hmac_sha256`, `md5_form` or `sha256_body_key`.
    pub scheme: String,
    /// The secret setting that signs.
    pub secret: String,
    #[serde(default)]
    pub header: Option<String>,
    /// `hex` (default) or `base64`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Text before the signature in the header (`sha256=`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// `body` (default) or `timestamp.body`.
    #[serde(default)]
    pub signed: Option<String>,
    /// Where the timestamp is: its own header, or `t` inside a `t=…,v1=…` header.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    #[serde(default)]
    pub timestamp_part: Option<String>,
    #[serde(default)]
    pub signature_part: Option<String>,
    #[serde(default)]
    pub tolerance_seconds: Option<u64>,
    /// `md5_form`: the form field that carries the JSON, and the one with the signature.
    #[serde(default)]
    pub form_field: Option<String>,
    #[serde(default)]
    pub sign_field: Option<String>,
    /// Where, inside a webhook, the part shaped like a poll response starts.
    #[serde(default)]
    pub root: Option<String>,
    #[serde(default)]
    pub ack: Option<AckSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckSection {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub content_type: Option<String>,
    pub body: String,
    #[serde(default)]
    pub retry_body: Option<String>,
}

/// Where a value is: one path, the first non-empty of several, or a table with joins, a regex
/// capture or a constant.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldSpec {
    Path(String),
    FirstOf(Vec<String>),
    Table(FieldTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTable {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Join every non-empty value with this separator (instead of taking the first).
    #[serde(default)]
    pub join: Option<String>,
    /// Keep the first capture group (or the whole match) of this regex.
    #[serde(default)]
    pub regex: Option<String>,
    /// A fixed value.
    #[serde(default)]
    pub value: Option<String>,
}

/// One path or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PathList {
    One(String),
    Many(Vec<String>),
}

impl PathList {
    pub fn texts(&self) -> Vec<&str> {
        match self {
            PathList::One(p) => vec![p.as_str()],
            PathList::Many(ps) => ps.iter().map(String::as_str).collect(),
        }
    }
}
