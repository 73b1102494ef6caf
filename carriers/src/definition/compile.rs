//! Checking a definition file once, completely, when it loads: every path parsed, every
//! template's placeholders known, every status and sub-status in the vocabulary, secrets only
//! by name, the signature scheme from the menu. Whatever is wrong is a [`DefinitionError`]
//! naming the key path; what passes is a [`Definition`] that cannot fail on its own terms later.

use std::collections::HashMap;

use super::parse::{CodeTable, KeyPart};
use super::path::{Field, Path};
use super::spec::{self, DefinitionFile};
use super::tree::Format;
use super::verify::Scheme;
use super::{
    Definition, DefinitionError, ErrorRule, Events, MAX_FILE_BYTES, Shipments, Times, Webhook,
    clock,
};
use crate::{NumberRule, Status, WebhookAck};

pub(super) fn parse_file(text: &str) -> Result<DefinitionFile, DefinitionError> {
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

pub(super) fn compile(file: DefinitionFile, origin: &str) -> Result<Definition, DefinitionError> {
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
        .map(|p| super::poll_checks::compile_poll(p, &setting_names, &file.settings))
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
