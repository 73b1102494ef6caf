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

mod adapter;
mod clock;
mod compile;
pub mod lint;
mod node;
mod parse;
mod path;
mod poll_checks;
pub mod registry;
mod request;
mod spec;
mod tree;
mod verify;

use std::collections::BTreeMap;
use std::path::Path as FsPath;

pub use adapter::DefinedAdapter;
pub use node::Node;
use parse::CodeTable;
use parse::KeyPart;
use path::{Field, Path};
use request::Poll;
use tree::Format;
use verify::Scheme;

use crate::{HttpMethod, NumberRule, ParseError, ParseOutcome, PollTarget, WebhookAck};

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
        let file = compile::parse_file(text).map_err(|e| e.in_file(origin))?;
        compile::compile(file, origin).map_err(|e| e.in_file(origin))
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
