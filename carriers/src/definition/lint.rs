//! `trackgate carriers lint FILE...`: everything loading checks, plus what only a sample
//! payload can show — a path that matches nothing in any of the definition's samples can
//! never match the carrier's real payloads either. Every finding names its file and key path.

use std::path::Path as FsPath;

use super::node::Node;

use super::path::{Field, Path, Scope};
use super::{Definition, DefinitionError};

/// Lint one file: load errors, then paths checked against the samples it lists.
pub fn lint_file(path: &FsPath) -> Vec<DefinitionError> {
    let definition = match Definition::load_file(path) {
        Ok(d) => d,
        Err(err) => return vec![err],
    };
    lint_samples(&definition)
}

/// Paths of `definition` that match nothing in any of its samples.
pub fn lint_samples(definition: &Definition) -> Vec<DefinitionError> {
    let mut findings = Vec::new();
    let fail = |key: &str, message: String| DefinitionError {
        file: definition.origin.clone(),
        key: key.to_owned(),
        message,
    };
    let mut trees = Vec::new();
    for (i, sample) in definition.samples.iter().enumerate() {
        let key = format!("carrier.samples[{i}]");
        match std::fs::read(sample) {
            Err(err) => findings.push(fail(&key, format!("{}: {err}", sample.display()))),
            Ok(body) => match definition.format.read(&body) {
                Ok(tree) => trees.push(tree.into_owned()),
                Err(err) => findings.push(fail(&key, format!("{}: {err}", sample.display()))),
            },
        }
    }
    if trees.is_empty() {
        return findings;
    }
    for (key, path) in unmatched(definition, &trees) {
        findings.push(fail(
            &key,
            format!("`{path}` matches nothing in any sample"),
        ));
    }
    findings
}

fn reaches(path: &Path, scopes: &[Scope<'_, '_>]) -> bool {
    scopes
        .iter()
        .any(|s| path.first(s.start(path.anchor)).is_some())
}

/// (key path, path text) of every path that reaches nothing in `trees`.
pub fn unmatched(definition: &Definition, trees: &[Node<'_>]) -> Vec<(String, String)> {
    let mut shipments: Vec<(&Node<'_>, &Node<'_>)> = Vec::new();
    for tree in trees {
        let mut found = Vec::new();
        for path in &definition.shipments.paths {
            path.select(tree, &mut found);
        }
        shipments.extend(found.into_iter().map(|s| (tree, s)));
    }
    let mut events: Vec<Scope<'_, '_>> = Vec::new();
    for (root, shipment) in &shipments {
        let mut found = Vec::new();
        definition.events.path.select(shipment, &mut found);
        events.extend(found.into_iter().map(|e| Scope {
            here: e,
            shipment,
            root,
        }));
    }
    let shipment_scopes: Vec<Scope<'_, '_>> = shipments
        .iter()
        .map(|(root, s)| Scope {
            here: s,
            shipment: s,
            root,
        })
        .collect();
    let mut missing = Vec::new();
    let check_path =
        |missing: &mut Vec<(String, String)>, key: &str, path: &Path, scopes: &[Scope<'_, '_>]| {
            if !reaches(path, scopes) {
                missing.push((key.to_owned(), path.text.clone()));
            }
        };
    let roots: Vec<Scope<'_, '_>> = trees
        .iter()
        .map(|t| Scope {
            here: t,
            shipment: t,
            root: t,
        })
        .collect();
    if !definition
        .shipments
        .paths
        .iter()
        .any(|p| reaches(p, &roots))
    {
        let texts: Vec<&str> = definition
            .shipments
            .paths
            .iter()
            .map(|p| p.text.as_str())
            .collect();
        missing.push(("shipments.path".to_owned(), texts.join("`, `")));
    }
    if shipments.is_empty() {
        return missing;
    }
    let s = &definition.shipments;
    let fields: [(&str, Option<&Field>); 4] = [
        ("shipments.number", s.number.as_ref()),
        (
            "shipments.estimated_delivery",
            s.estimated_delivery.as_ref(),
        ),
        ("shipments.current_status", s.current_status.as_ref()),
        ("shipments.courier", s.courier.as_ref()),
    ];
    for (key, field) in fields {
        check_field(&mut missing, key, field, &shipment_scopes);
    }
    check_path(
        &mut missing,
        "events.path",
        &definition.events.path,
        &shipment_scopes,
    );
    if events.is_empty() {
        return missing;
    }
    let e = &definition.events;
    let fields: [(&str, Option<&Field>); 6] = [
        ("events.time", Some(&e.time)),
        ("events.code", e.code.as_ref()),
        ("events.description", e.description.as_ref()),
        ("events.location", e.location.as_ref()),
        ("events.country", e.country.as_ref()),
        ("events.id", e.id.as_ref()),
    ];
    for (key, field) in fields {
        check_field(&mut missing, key, field, &events);
    }
    missing
}

/// A field of several alternative paths needs only one of them to match; a constant none.
fn check_field(
    missing: &mut Vec<(String, String)>,
    key: &str,
    field: Option<&Field>,
    scopes: &[Scope<'_, '_>],
) {
    if let Some(field) = field
        && !field.paths().is_empty()
        && !field.paths().iter().any(|p| reaches(p, scopes))
    {
        let texts: Vec<&str> = field.paths().iter().map(|p| p.text.as_str()).collect();
        missing.push((key.to_owned(), texts.join("`, `")));
    }
}
