//! Declarative carriers: a carrier kind described in one TOML file instead of Rust code.
//!
//! A definition says where a payload's shipments, numbers, events, times and codes are (paths
//! into JSON, or into XML read as the same tree), how its times are zoned, its code table onto
//! the status vocabulary, how to poll (URL, query, headers, JSON or form body templates, API
//! key, Basic or OAuth) and which signature scheme from a fixed menu its webhooks use. It is
//! checked completely when it loads — every path parsed, every template's placeholders known,
//! every status and sub-status in the vocabulary, no secret written in the file — so a broken
//! definition is refused at start with its file and key path, never discovered on the first
//! webhook. [`DefinedAdapter`] then runs it with the same contract as a hand-written adapter.

mod clock;
pub mod lint;
mod parse;
mod path;
pub mod registry;
mod request;
mod spec;
mod tree;
mod verify;

use std::collections::{BTreeMap, HashMap};
use std::path::Path as FsPath;

use parse::CodeTable;
pub use parse::KeyPart;
use path::{Field, Path};
use request::{Auth, Poll, Template};
pub use spec::DefinitionFile;
pub use tree::Format;
use verify::Scheme;

use crate::catalog::AdapterSettings;
use crate::oauth::CredentialsIn;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, NumberRule,
    ParseError, ParseOutcome, PollTarget, SignatureError, Status, Unverified, Verified, WebhookAck,
};

/// Largest definition file read: a carrier is a page of TOML, not megabytes.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// What is wrong with a definition, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct DefinitionError {
    /// The file (or `<inline>`).
    pub file: String,
    /// The key path in the file (`events.time`, `status.codes.DL`); `(file)` for the whole.
    pub key: String,
    pub message: String,
}

impl DefinitionError {
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        DefinitionError {
            file: String::new(),
            key: key.to_owned(),
            message: message.into(),
        }
    }
    fn in_file(mut self, file: &str) -> Self {
        self.file = file.to_owned();
        self
    }
}

/// A checked definition, ready to parse and poll.
#[derive(Debug)]
pub struct Definition {
    pub kind: String,
    pub name: String,
    pub notes: String,
    pub karrio: Vec<String>,
    pub numbers: NumberRule,
    pub replicates: Option<String>,
    /// Where it was loaded from.
    pub origin: String,
    pub samples: Vec<std::path::PathBuf>,
    pub settings: BTreeMap<String, spec::SettingSpec>,
    format: Format,
    errors: Option<ErrorRule>,
    shipments: Shipments,
    events: Events,
    time: Times,
    status: CodeTable,
    poll: Option<Poll>,
    webhook: Option<Webhook>,
}

#[derive(Debug)]
struct ErrorRule {
    when: Vec<Path>,
    message: Option<Field>,
}

#[derive(Debug)]
struct Shipments {
    paths: Vec<Path>,
    number: Option<Field>,
    number_from_request: bool,
    estimated_delivery: Option<Field>,
    current_status: Option<Field>,
    courier: Option<Field>,
    problem_when: Option<Field>,
    skip_without_events: bool,
    merge_same_number: bool,
}

#[derive(Debug)]
struct Events {
    path: Path,
    time: Field,
    code: Option<Field>,
    description: Option<Field>,
    location: Option<Field>,
    country: Option<Field>,
    subdivision: Option<Field>,
    utc_offset: Option<Field>,
    id: Option<Field>,
    id_namespace: String,
    dedupe: Vec<KeyPart>,
}

#[derive(Debug)]
struct Times {
    formats: Vec<clock::TimeFormat>,
    delivery_formats: Vec<clock::TimeFormat>,
    zone: clock::Zone,
}

#[derive(Debug)]
struct Webhook {
    scheme: Scheme,
    secret: String,
    root: Option<Path>,
    ack: WebhookAck,
    retry_ack: WebhookAck,
}

impl Definition {
    /// Load a definition from its text; `origin` names it in errors.
    pub fn load(text: &str, origin: &str) -> Result<Definition, DefinitionError> {
        let file = parse_file(text).map_err(|e| e.in_file(origin))?;
        compile(file, origin).map_err(|e| e.in_file(origin))
    }

    /// Load one file from disk (size checked before reading it whole).
    pub fn load_file(path: &FsPath) -> Result<Definition, DefinitionError> {
        let origin = path.display().to_string();
        let fail = |message: String| DefinitionError {
            file: origin.clone(),
            key: "(file)".into(),
            message,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| fail(format!("cannot read: {e}")))?
            .len();
        if size > MAX_FILE_BYTES as u64 {
            return Err(fail(format!(
                "{size} bytes; a definition may have at most {MAX_FILE_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut definition = Definition::load(&text, &origin)?;
        let folder = path.parent().unwrap_or(FsPath::new("."));
        definition.samples = definition.samples.iter().map(|s| folder.join(s)).collect();
        Ok(definition)
    }

    /// The secret settings (environment only).
    pub fn secrets(&self) -> Vec<String> {
        self.settings
            .iter()
            .filter(|(_, s)| s.secret)
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn has_webhooks(&self) -> bool {
        self.webhook.is_some()
    }

    pub fn poll_summary(&self) -> Option<String> {
        self.poll.as_ref().map(|p| {
            format!(
                "`{} {}` ({} a request)",
                match p.method {
                    HttpMethod::Get => "GET",
                    HttpMethod::Post => "POST",
                    HttpMethod::Delete => "DELETE",
                },
                p.url.literal_text(),
                p.batch_size
            )
        })
    }

    pub fn webhook_summary(&self) -> Option<String> {
        self.webhook.as_ref().map(|w| match &w.scheme {
            Scheme::HmacSha256 {
                header,
                timestamp: None,
                ..
            } => format!("HMAC-SHA256 of the body in `{header}`"),
            Scheme::HmacSha256 { header, .. } => {
                format!("HMAC-SHA256 of `timestamp.body` in `{header}`")
            }
            Scheme::Md5Form {
                form_field,
                sign_field,
            } => format!("MD5 of `{form_field}` + salt in `{sign_field}`"),
            Scheme::Sha256BodyKey { header, .. } => format!("SHA-256 of body + key in `{header}`"),
        })
    }

    /// Parse a body as the poll response it is.
    pub fn parse_body(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        let tree = self.format.read(body)?;
        self.parse_tree(&tree, None)
    }

    /// Parse the answer to a poll of `targets` (the number asked, for `number_from_request`).
    pub fn parse_answer(
        &self,
        targets: &[PollTarget],
        body: &[u8],
    ) -> Result<ParseOutcome, ParseError> {
        let tree = self.format.read(body)?;
        let asked = match targets {
            [only] if self.shipments.number_from_request => Some(only.tracking_number.as_str()),
            _ => None,
        };
        self.parse_tree(&tree, asked)
    }

    /// Headers a carrier would send with `body`, signed with `secret` (for tests and demos).
    pub fn sign_webhook(&self, secret: &str, body: &[u8]) -> Vec<(String, String)> {
        self.webhook
            .as_ref()
            .map(|w| w.scheme.sign(secret, body, chrono::Utc::now().timestamp()))
            .unwrap_or_default()
    }
}

fn parse_file(text: &str) -> Result<DefinitionFile, DefinitionError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(DefinitionError::at(
            "(file)",
            format!(
                "{} bytes; a definition may have at most {MAX_FILE_BYTES}",
                text.len()
            ),
        ));
    }
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let message = err.inner().message().to_owned();
        let line = err
            .inner()
            .span()
            .map(|span| {
                format!(
                    " (line {})",
                    text[..span.start.min(text.len())].lines().count().max(1)
                )
            })
            .unwrap_or_default();
        DefinitionError::at(
            if key == "." { "(file)" } else { &key },
            format!("{message}{line}"),
        )
    })
}

fn field(spec: &Option<spec::FieldSpec>, key: &str) -> Result<Option<Field>, DefinitionError> {
    spec.as_ref().map(|s| Field::compile(s, key)).transpose()
}

fn path(text: &str, key: &str) -> Result<Path, DefinitionError> {
    Path::parse(text).map_err(|e| DefinitionError::at(key, e))
}

/// A status as written in a code table: `delivered` or `exception/customs_held`.
fn status_entry(text: &str) -> Result<(Status, Option<String>), String> {
    let (status, sub) = match text.split_once('/') {
        Some((s, sub)) => (s, Some(sub)),
        None => (text, None),
    };
    let status: Status = status.parse().map_err(|_| {
        format!("`{status}` is not a status (pending, info_received, picked_up, in_transit, out_for_delivery, available_for_pickup, failed_attempt, exception, returning, returned, delivered, cancelled, expired, unknown)")
    })?;
    if let Some(sub) = sub
        && crate::sub_status::words(sub).is_none()
    {
        return Err(format!(
            "`{sub}` is not in the sub-status vocabulary (docs/sub-statuses.md)"
        ));
    }
    Ok((status, sub.map(str::to_owned)))
}

/// Names whose literal value in a header, query or form means a secret was written in the file.
fn looks_like_a_secret(name: &str, template: &Template) -> bool {
    let name = name.to_ascii_lowercase();
    let literal = template.literal_text();
    let secretish = [
        "key",
        "token",
        "secret",
        "password",
        "authorization",
        "signature",
    ]
    .iter()
    .any(|w| name.contains(w));
    let bare = literal
        .trim()
        .trim_start_matches("Bearer ")
        .trim_start_matches("Basic ");
    secretish && template.vars().next().is_none() && bare.len() >= 6
}

fn compile(file: DefinitionFile, origin: &str) -> Result<Definition, DefinitionError> {
    let c = &file.carrier;
    if c.kind.is_empty()
        || c.kind.len() > 48
        || !c
            .kind
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
    {
        return Err(DefinitionError::at(
            "carrier.kind",
            "1–48 lower-case letters, digits, `_` or `-`",
        ));
    }
    let numbers = match c.numbers.as_deref().unwrap_or("compact") {
        "compact" => NumberRule::Compact,
        "keep_dashes" => NumberRule::KeepDashes,
        other => {
            return Err(DefinitionError::at(
                "carrier.numbers",
                format!("`{other}`: compact or keep_dashes"),
            ));
        }
    };
    for (name, setting) in &file.settings {
        if !name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        {
            return Err(DefinitionError::at(
                &format!("settings.{name}"),
                "setting names are lower-case letters, digits and `_`",
            ));
        }
        if setting.secret && setting.default.is_some() {
            return Err(DefinitionError::at(
                &format!("settings.{name}.default"),
                "a secret written in the file: secrets come from the environment only",
            ));
        }
    }
    let setting_names: Vec<String> = file.settings.keys().cloned().collect();
    let format = Format::parse(file.body.format.as_deref())
        .map_err(|e| DefinitionError::at("body.format", e))?;
    let errors = match &file.errors {
        None => None,
        Some(e) => Some(ErrorRule {
            when: e
                .when
                .iter()
                .enumerate()
                .map(|(i, p)| path(p, &format!("errors.when[{i}]")))
                .collect::<Result<_, _>>()?,
            message: field(&e.message, "errors.message")?,
        }),
    };
    let s = &file.shipments;
    let shipments = Shipments {
        paths: {
            let texts = s.path.texts();
            if texts.is_empty() {
                return Err(DefinitionError::at(
                    "shipments.path",
                    "needs at least one path",
                ));
            }
            texts
                .iter()
                .enumerate()
                .map(|(i, p)| path(p, &format!("shipments.path[{i}]")))
                .collect::<Result<_, _>>()?
        },
        number: match (&s.number, s.number_from_request) {
            (Some(spec), _) => Some(Field::compile(spec, "shipments.number")?),
            (None, true) => None,
            (None, false) => {
                return Err(DefinitionError::at(
                    "shipments.number",
                    "missing: where the tracking number is (or `number_from_request = true`)",
                ));
            }
        },
        number_from_request: s.number_from_request,
        estimated_delivery: field(&s.estimated_delivery, "shipments.estimated_delivery")?,
        current_status: field(&s.current_status, "shipments.current_status")?,
        courier: field(&s.courier, "shipments.courier")?,
        problem_when: field(&s.problem_when, "shipments.problem_when")?,
        skip_without_events: s.skip_without_events,
        merge_same_number: s.merge_same_number,
    };
    let e = &file.events;
    let events = Events {
        path: path(&e.path, "events.path")?,
        time: Field::compile(&e.time, "events.time")?,
        code: field(&e.code, "events.code")?,
        description: field(&e.description, "events.description")?,
        location: field(&e.location, "events.location")?,
        country: field(&e.country, "events.country")?,
        subdivision: field(&e.subdivision, "events.subdivision")?,
        utc_offset: field(&e.utc_offset, "events.utc_offset")?,
        id: field(&e.id, "events.id")?,
        id_namespace: e.id_namespace.clone().unwrap_or_else(|| c.kind.clone()),
        dedupe: e
            .dedupe
            .clone()
            .unwrap_or_else(|| vec!["time".into(), "code".into(), "description".into()])
            .iter()
            .map(|p| KeyPart::parse(p))
            .collect::<Result<_, _>>()
            .map_err(|err| DefinitionError::at("events.dedupe", err))?,
    };
    let formats =
        |names: &[String], key: &str| -> Result<Vec<clock::TimeFormat>, DefinitionError> {
            names
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    clock::TimeFormat::parse(f)
                        .map_err(|err| DefinitionError::at(&format!("{key}[{i}]"), err))
                })
                .collect()
        };
    let time_formats = if file.time.formats.is_empty() {
        vec!["rfc3339".to_owned()]
    } else {
        file.time.formats.clone()
    };
    let delivery = file.time.delivery_formats.clone().unwrap_or_else(|| {
        let mut d = time_formats.clone();
        d.push("%Y-%m-%d".into());
        d
    });
    let time = Times {
        formats: formats(&time_formats, "time.formats")?,
        delivery_formats: formats(&delivery, "time.delivery_formats")?,
        zone: clock::Zone::parse(file.time.zone.as_deref())
            .map_err(|err| DefinitionError::at("time.zone", err))?,
    };
    if matches!(time.zone, clock::Zone::Country) && events.country.is_none() {
        return Err(DefinitionError::at(
            "time.zone",
            "`country` needs `events.country`",
        ));
    }
    let mut codes = HashMap::new();
    for (code, entry) in &file.status.codes {
        let mapped = status_entry(entry)
            .map_err(|err| DefinitionError::at(&format!("status.codes.{code}"), err))?;
        let key = if file.status.case_insensitive {
            code.trim().to_uppercase()
        } else {
            code.trim().to_owned()
        };
        codes.insert(key, mapped);
    }
    let status = CodeTable {
        codes,
        fallback: field(&file.status.fallback, "status.fallback")?,
        case_insensitive: file.status.case_insensitive,
    };
    let poll = file
        .poll
        .as_ref()
        .map(|p| compile_poll(p, &setting_names, &file.settings))
        .transpose()?;
    let webhook = match &file.webhook {
        None => None,
        Some(w) => {
            if !file.settings.get(&w.secret).is_some_and(|s| s.secret) {
                return Err(DefinitionError::at(
                    "webhook.secret",
                    format!(
                        "`{}` must be a setting declared with `secret = true`",
                        w.secret
                    ),
                ));
            }
            let ack = w.ack.as_ref();
            let content_type: &'static str = match ack
                .and_then(|a| a.content_type.as_deref())
                .unwrap_or("application/json")
            {
                "application/json" => "application/json",
                "text/plain" => "text/plain",
                "application/xml" => "application/xml",
                other => {
                    return Err(DefinitionError::at(
                        "webhook.ack.content_type",
                        format!("`{other}`: application/json, text/plain or application/xml"),
                    ));
                }
            };
            Some(Webhook {
                scheme: Scheme::compile(w)?,
                secret: w.secret.clone(),
                root: w
                    .root
                    .as_deref()
                    .map(|r| path(r, "webhook.root"))
                    .transpose()?,
                ack: WebhookAck {
                    status: ack.and_then(|a| a.status).unwrap_or(200),
                    content_type,
                    body: ack.map_or_else(|| "{\"ok\":true}".to_owned(), |a| a.body.clone()),
                },
                retry_ack: WebhookAck {
                    status: 503,
                    content_type,
                    body: ack
                        .and_then(|a| a.retry_body.clone())
                        .unwrap_or_else(|| "{\"ok\":false}".to_owned()),
                },
            })
        }
    };
    Ok(Definition {
        kind: c.kind.clone(),
        name: c.name.clone(),
        notes: c.notes.clone(),
        karrio: c.karrio.clone(),
        numbers,
        replicates: c.replicates.clone(),
        origin: origin.to_owned(),
        samples: c.samples.iter().map(std::path::PathBuf::from).collect(),
        settings: file.settings,
        format,
        errors,
        shipments,
        events,
        time,
        status,
        poll,
        webhook,
    })
}

fn compile_poll(
    p: &spec::PollSection,
    settings: &[String],
    declared: &BTreeMap<String, spec::SettingSpec>,
) -> Result<Poll, DefinitionError> {
    let method = match p
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .as_str()
    {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        other => {
            return Err(DefinitionError::at(
                "poll.method",
                format!("`{other}`: GET or POST"),
            ));
        }
    };
    let url = Template::parse(&p.url, settings).map_err(|e| DefinitionError::at("poll.url", e))?;
    let batch_size = p.batch_size.unwrap_or(1);
    if !(1..=1000).contains(&batch_size) {
        return Err(DefinitionError::at("poll.batch_size", "between 1 and 1000"));
    }
    let query = request::templates(&p.query, "poll.query", settings)?;
    let headers = request::templates(&p.headers, "poll.headers", settings)?;
    let form = request::templates(&p.form, "poll.form", settings)?;
    for (section, list) in [
        ("poll.query", &query),
        ("poll.headers", &headers),
        ("poll.form", &form),
    ] {
        for (name, template) in list {
            if looks_like_a_secret(name, template) {
                return Err(DefinitionError::at(
                    &format!("{section}.{name}"),
                    "a secret written in the file: declare a `secret = true` setting and write `{its_name}`",
                ));
            }
        }
    }
    if let Some(header) = headers.iter().find(|(n, _)| n.contains(['\r', '\n', ':'])) {
        return Err(DefinitionError::at(
            "poll.headers",
            format!("`{}` is not a header name", header.0),
        ));
    }
    let json = match &p.json {
        None => None,
        Some(value) => {
            let json = serde_json::to_value(value)
                .map_err(|e| DefinitionError::at("poll.json", e.to_string()))?;
            let mut strings = Vec::new();
            request::json_strings(&json, &mut strings);
            for text in strings {
                Template::parse(&text, settings)
                    .map_err(|e| DefinitionError::at("poll.json", e))?;
            }
            Some(json)
        }
    };
    let uses = |var: &request::Var| {
        url.vars()
            .chain(query.iter().flat_map(|(_, t)| t.vars()))
            .chain(form.iter().flat_map(|(_, t)| t.vars()))
            .any(|v| v == var)
    };
    if batch_size > 1 && uses(&request::Var::Number) {
        return Err(DefinitionError::at(
            "poll.url",
            "`{number}` names one number; a batch needs `{numbers}`",
        ));
    }
    let secret_setting = |name: &str, key: &str| -> Result<(), DefinitionError> {
        if declared.get(name).is_some_and(|s| s.secret) {
            Ok(())
        } else {
            Err(DefinitionError::at(
                key,
                format!("`{name}` must be a setting declared with `secret = true`"),
            ))
        }
    };
    let template = |text: &str, key: &str| {
        Template::parse(text, settings).map_err(|e| DefinitionError::at(key, e))
    };
    let auth = match &p.auth {
        None => None,
        Some(spec::AuthSection::ApiKey {
            header,
            secret,
            prefix,
        }) => {
            secret_setting(secret, "poll.auth.secret")?;
            Some(Auth::ApiKey {
                header: header.to_ascii_lowercase(),
                secret: secret.clone(),
                prefix: prefix.clone().unwrap_or_default(),
            })
        }
        Some(spec::AuthSection::Basic { user, password }) => {
            let password = template(password, "poll.auth.password")?;
            if password.vars().next().is_none() {
                return Err(DefinitionError::at(
                    "poll.auth.password",
                    "a secret written in the file: write `{a_secret_setting}`",
                ));
            }
            Some(Auth::Basic {
                user: template(user, "poll.auth.user")?,
                password,
            })
        }
        Some(spec::AuthSection::Oauth {
            token_url,
            client_id,
            client_secret,
            credentials_in,
        }) => {
            let client_secret = template(client_secret, "poll.auth.client_secret")?;
            if client_secret.vars().next().is_none() {
                return Err(DefinitionError::at(
                    "poll.auth.client_secret",
                    "a secret written in the file: write `{a_secret_setting}`",
                ));
            }
            Some(Auth::Oauth {
                token_url: template(token_url, "poll.auth.token_url")?,
                client_id: template(client_id, "poll.auth.client_id")?,
                client_secret,
                credentials_in: match credentials_in.as_deref().unwrap_or("form_body") {
                    "basic_header" => CredentialsIn::BasicHeader,
                    "form_body" => CredentialsIn::FormBody,
                    "json_body" => CredentialsIn::JsonBody,
                    other => {
                        return Err(DefinitionError::at(
                            "poll.auth.credentials_in",
                            format!("`{other}`: basic_header, form_body or json_body"),
                        ));
                    }
                },
            })
        }
    };
    Ok(Poll {
        method,
        url,
        batch_size,
        separator: p.separator.clone().unwrap_or_else(|| ",".into()),
        query,
        headers,
        json,
        form,
        auth,
    })
}

/// An instance of a defined carrier: the definition and the instance's settings.
#[derive(Debug)]
pub struct DefinedAdapter {
    definition: &'static Definition,
    settings: HashMap<String, String>,
}

impl DefinedAdapter {
    /// Settings are checked against the definition's: an unknown one is an error, as for the
    /// built-in kinds.
    pub fn new(
        definition: &'static Definition,
        given: &AdapterSettings,
    ) -> Result<Self, serde_json::Error> {
        use serde::de::Error as _;
        let mut settings = HashMap::new();
        for (name, spec) in &definition.settings {
            if let Some(default) = &spec.default {
                settings.insert(name.clone(), default.clone());
            }
        }
        for (name, value) in given {
            if !definition.settings.contains_key(name) {
                return Err(serde_json::Error::custom(format!(
                    "unknown setting `{name}` for `{}` (it declares: {})",
                    definition.kind,
                    definition
                        .settings
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let text = match value {
                serde_json::Value::String(s) => s.trim().to_owned(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            if !text.is_empty() {
                settings.insert(name.clone(), text);
            }
        }
        Ok(DefinedAdapter {
            definition,
            settings,
        })
    }

    fn can_poll(&self) -> bool {
        self.definition.poll.as_ref().is_some_and(|p| {
            p.settings_used()
                .iter()
                .all(|n| self.settings.contains_key(n))
        })
    }
}

impl CarrierAdapter for DefinedAdapter {
    fn kind(&self) -> &'static str {
        &self.definition.kind
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: self.definition.webhook.is_some(),
            poll: self.can_poll(),
            poll_batch_size: self.definition.poll.as_ref().map_or(1, |p| p.batch_size),
        }
    }

    fn verify_webhook(
        &self,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, SignatureError> {
        let webhook = self
            .definition
            .webhook
            .as_ref()
            .ok_or(SignatureError::NotSupported)?;
        let secret = self
            .settings
            .get(&webhook.secret)
            .ok_or(SignatureError::NotConfigured)?;
        webhook
            .scheme
            .check(&inbound, secret, chrono::Utc::now().timestamp())?;
        Ok(inbound.into_verified())
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        let webhook = self
            .definition
            .webhook
            .as_ref()
            .ok_or(ParseError::NotSupported("webhooks"))?;
        let payload = webhook.scheme.payload(inbound.body());
        let tree = self.definition.format.read(&payload)?;
        match &webhook.root {
            None => self.definition.parse_tree(&tree, None),
            Some(root) => {
                let node = root.first(&tree).ok_or_else(|| {
                    ParseError::Body(format!("no `{}` in the webhook", root.text))
                })?;
                self.definition.parse_tree(node, None)
            }
        }
    }

    fn webhook_ack(&self, stored: bool) -> WebhookAck {
        match &self.definition.webhook {
            Some(w) if stored => w.ack.clone(),
            Some(w) => w.retry_ack.clone(),
            None => WebhookAck {
                status: if stored { 200 } else { 503 },
                content_type: "application/json",
                body: format!("{{\"ok\":{stored}}}"),
            },
        }
    }

    fn token_request(&self) -> Option<HttpRequest> {
        self.definition.poll.as_ref()?.token_request(&self.settings)
    }

    fn parse_token_response(&self, body: &[u8]) -> Result<AccessToken, ParseError> {
        crate::oauth::parse_token_response(body)
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let poll = self
            .definition
            .poll
            .as_ref()
            .ok_or(ParseError::NotSupported("polling"))?;
        poll.request(&request::Values {
            targets,
            separator: &poll.separator,
            token,
            settings: &self.settings,
        })
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        self.definition.parse_body(body)
    }

    fn parse_poll_answer(
        &self,
        targets: &[PollTarget],
        body: &[u8],
    ) -> Result<ParseOutcome, ParseError> {
        self.definition.parse_answer(targets, body)
    }
}
