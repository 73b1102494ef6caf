//! Reading a payload with a definition: shipments, their events, times, codes and problems,
//! with the same guarantees as the hand-written adapters — an unreadable item is a problem
//! for its number and never drops the rest, a code not in the table is `unknown` with the raw
//! code kept, and a status is never guessed from free text.

use std::borrow::Cow;

use super::Definition;
use super::clock::{self, Place};
use super::node::Node;
use super::path::{Scope, text_of};
use crate::{
    ParseError, ParseOutcome, Status, TrackingEvent, TrackingUpdate, apply_current_status,
    dedupe_key,
};

/// Which parts make an event's dedupe key when the carrier gives no event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    Time,
    Code,
    Description,
    Location,
}

impl KeyPart {
    pub fn parse(name: &str) -> Result<KeyPart, String> {
        Ok(match name {
            "time" => KeyPart::Time,
            "code" => KeyPart::Code,
            "description" => KeyPart::Description,
            "location" => KeyPart::Location,
            other => {
                return Err(format!(
                    "unknown dedupe part `{other}`: time, code, description or location"
                ));
            }
        })
    }
}

impl Definition {
    /// Parse a payload tree rooted at `root`.
    pub fn parse_tree(
        &self,
        root: &Node<'_>,
        asked: Option<&str>,
    ) -> Result<ParseOutcome, ParseError> {
        let mut shipments = Vec::new();
        for path in &self.shipments.paths {
            path.select(root, &mut shipments);
        }
        let mut carrier_said = None;
        if let Some(errors) = &self.errors {
            // An empty string or `false` (`"Error": ""`) is no error.
            let hit = errors.when.iter().find_map(|p| {
                p.first(root).filter(|v| {
                    v.is_container() || text_of(v).is_some_and(|t| t != "false" && t != "0")
                })
            });
            if let Some(hit) = hit {
                let scope = Scope {
                    here: root,
                    shipment: root,
                    root,
                };
                let message = errors
                    .message
                    .as_ref()
                    .and_then(|m| m.read(scope))
                    .or_else(|| text_of(hit).map(|t| t.into_owned()))
                    .unwrap_or_else(|| hit.to_string());
                let numbered = shipments.iter().any(|s| {
                    let scope = Scope {
                        here: s,
                        shipment: s,
                        root,
                    };
                    self.number_of(scope, None).is_some()
                });
                if !numbered {
                    return Err(ParseError::CarrierError(message));
                }
                carrier_said = Some(message);
            }
        }
        let mut outcome = ParseOutcome::default();
        if let Some(message) = carrier_said {
            outcome.problem(format!(
                "the carrier also answered with an error: {message}"
            ));
        }
        for shipment in shipments {
            self.parse_shipment(root, shipment, asked, &mut outcome);
        }
        if self.shipments.merge_same_number {
            merge_same_number(&mut outcome.updates);
        }
        Ok(outcome)
    }

    /// The shipment's number: read from it, else the one number the poll asked for.
    fn number_of(&self, scope: Scope<'_, '_>, asked: Option<&str>) -> Option<String> {
        self.shipments
            .number
            .as_ref()
            .and_then(|f| f.read(scope))
            .or_else(|| asked.map(str::to_owned))
    }

    fn parse_shipment(
        &self,
        root: &Node<'_>,
        shipment: &Node<'_>,
        asked: Option<&str>,
        outcome: &mut ParseOutcome,
    ) {
        let spec = &self.shipments;
        let scope = Scope {
            here: shipment,
            shipment,
            root,
        };
        let Some(number) = self.number_of(scope, asked) else {
            outcome.problem(match spec.number.as_ref().and_then(|f| f.paths().first()) {
                Some(path) => format!("a shipment without a tracking number at `{}`", path.text),
                None => {
                    "an answer that does not name its number, to a request for several".to_owned()
                }
            });
            return;
        };
        if let Some(problem) = spec.problem_when.as_ref().and_then(|f| f.read(scope)) {
            outcome.problem_for(&number, problem);
            return;
        }
        let mut nodes = Vec::new();
        self.events.path.select(shipment, &mut nodes);
        let mut events = Vec::with_capacity(nodes.len());
        for node in nodes {
            match self.parse_event(Scope {
                here: node,
                shipment,
                root,
            }) {
                Ok((event, note)) => {
                    events.push(event);
                    if let Some(note) = note {
                        outcome.problem_for(&number, note);
                    }
                }
                Err(why) => outcome.problem_for(&number, why),
            }
        }
        if events.is_empty() && spec.skip_without_events {
            outcome.problem_for(
                &number,
                "the carrier knows the number but reports no events yet",
            );
            return;
        }
        if let Some(current) = spec.current_status.as_ref().and_then(|f| f.read(scope)) {
            let (status, sub) = self.status.lookup(&current);
            apply_current_status(&mut events, status, sub);
        }
        let estimated_delivery = spec.estimated_delivery.as_ref().and_then(|f| {
            let node = f.node(scope)?;
            let value = if f.is_plain() {
                Cow::Borrowed(node)
            } else {
                Cow::Owned(Node::Text(Cow::Owned(f.read(scope)?)))
            };
            match clock::read(
                &value,
                &self.time.delivery_formats,
                &self.time.zone,
                &Place::default(),
            ) {
                Ok((instant, _)) => Some(instant.utc),
                Err(why) => {
                    outcome.problem_for(&number, format!("estimated delivery: {why}"));
                    None
                }
            }
        });
        outcome.updates.push(TrackingUpdate {
            tracking_number: number,
            courier: spec.courier.as_ref().and_then(|f| f.read(scope)),
            estimated_delivery,
            events,
        });
    }

    fn parse_event(&self, scope: Scope<'_, '_>) -> Result<(TrackingEvent, Option<String>), String> {
        let spec = &self.events;
        let read = |f: &Option<super::path::Field>| f.as_ref().and_then(|f| f.read(scope));
        let time_node = spec
            .time
            .node(scope)
            .ok_or_else(|| format!("an event without a time at `{}`", spec.time.paths()[0].text))?;
        let time_value = if spec.time.is_plain() {
            Cow::Borrowed(time_node)
        } else {
            Cow::Owned(Node::Text(Cow::Owned(
                spec.time.read(scope).ok_or("an event without a time")?,
            )))
        };
        let country = read(&spec.country);
        let subdivision = read(&spec.subdivision);
        let offset = match read(&spec.utc_offset) {
            Some(text) => Some(
                clock::parse_offset(&text)
                    .ok_or_else(|| format!("`{text}` is not a UTC offset"))?,
            ),
            None => None,
        };
        let place = Place {
            country: country.as_deref(),
            subdivision: subdivision.as_deref(),
            offset,
        };
        let (instant, note) =
            clock::read(&time_value, &self.time.formats, &self.time.zone, &place)?;
        let code = read(&spec.code).unwrap_or_default();
        let (status, sub_status, raw_code) = self.status.classify(&code, scope);
        let description = read(&spec.description).unwrap_or_default();
        let location = read(&spec.location);
        let dedupe = match read(&spec.id) {
            Some(id) => dedupe_key(&[&spec.id_namespace, &id]),
            None => {
                let utc = instant.utc.to_rfc3339();
                let parts: Vec<&str> = spec
                    .dedupe
                    .iter()
                    .map(|part| match part {
                        KeyPart::Time => utc.as_str(),
                        KeyPart::Code => raw_code.as_str(),
                        KeyPart::Description => description.as_str(),
                        KeyPart::Location => location.as_deref().unwrap_or(""),
                    })
                    .collect();
                dedupe_key(&parts)
            }
        };
        Ok((
            TrackingEvent::at(
                instant,
                (status, sub_status),
                raw_code,
                description,
                location,
                dedupe,
            ),
            note,
        ))
    }
}

/// A compiled code table.
#[derive(Debug, Clone)]
pub struct CodeTable {
    pub codes: std::collections::HashMap<String, (Status, Option<String>)>,
    pub fallback: Option<super::path::Field>,
    pub case_insensitive: bool,
}

impl CodeTable {
    pub fn lookup(&self, code: &str) -> (Status, Option<String>) {
        let found = if self.case_insensitive {
            self.codes.get(&code.trim().to_uppercase())
        } else {
            self.codes.get(code.trim())
        };
        found.cloned().unwrap_or((Status::Unknown, None))
    }

    /// (status, sub-status, raw code): the code through the table, else the fallback field's
    /// value through it; the raw code is the code, or the fallback's value when there is none.
    fn classify(&self, code: &str, scope: Scope<'_, '_>) -> (Status, Option<String>, String) {
        let (status, sub) = self.lookup(code);
        if status != Status::Unknown {
            return (status, sub, code.to_owned());
        }
        let Some(fallback) = self.fallback.as_ref().and_then(|f| f.read(scope)) else {
            return (status, sub, code.to_owned());
        };
        let (status, sub) = self.lookup(&fallback);
        let raw = if code.is_empty() {
            fallback
        } else {
            code.to_owned()
        };
        (status, sub, raw)
    }
}

/// One update per number, in first-seen order: for carriers that answer with a flat list of
/// scans, each naming its shipment.
fn merge_same_number(updates: &mut Vec<TrackingUpdate>) {
    let mut merged: Vec<TrackingUpdate> = Vec::with_capacity(updates.len());
    for update in updates.drain(..) {
        match merged
            .iter_mut()
            .find(|m| m.tracking_number == update.tracking_number)
        {
            Some(into) => {
                into.events.extend(update.events);
                into.estimated_delivery = into.estimated_delivery.or(update.estimated_delivery);
                into.courier = into.courier.take().or(update.courier);
            }
            None => merged.push(update),
        }
    }
    *updates = merged;
}
