//! The kinds loaded from definitions, process-wide: the shipped ones (embedded at build time
//! from `carriers/definitions/`) on first use, and the operator's folders when the gateway's
//! configuration names them. Each definition is loaded and checked once, then lives for the
//! process (`'static`), as the built-in kinds do.

use std::path::Path as FsPath;
use std::sync::{OnceLock, RwLock};

use super::{Definition, DefinitionError};
use crate::catalog::{Build, CATALOG, CarrierKind};

include!(concat!(env!("OUT_DIR"), "/shipped_definitions.rs"));

/// Where the shipped definitions are in the repository (for their sample paths and sources).
pub const SHIPPED_FOLDER: &str = "carriers/definitions";

static DEFINED: RwLock<Vec<&'static CarrierKind>> = RwLock::new(Vec::new());
static SHIPPED_ERRORS: OnceLock<Vec<DefinitionError>> = OnceLock::new();

/// Every defined kind (the shipped ones are loaded on the first call).
pub fn defined() -> impl Iterator<Item = &'static CarrierKind> {
    shipped_errors();
    let kinds = DEFINED.read().unwrap_or_else(|e| e.into_inner()).clone();
    kinds.into_iter()
}

/// The defined kind named `kind` (looked up under the lock, nothing copied: the registry asks
/// for every parsed payload's number rule).
pub fn find(kind: &str) -> Option<&'static CarrierKind> {
    shipped_errors();
    let kinds = DEFINED.read().unwrap_or_else(|e| e.into_inner());
    kinds.iter().find(|k| k.kind == kind).copied()
}

/// What was wrong with the shipped definitions (empty unless the build is broken; a test and
/// the gateway's start both check it).
pub fn shipped_errors() -> &'static [DefinitionError] {
    SHIPPED_ERRORS.get_or_init(|| {
        let repo = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("definitions");
        SHIPPED
            .iter()
            .filter_map(|(name, text)| {
                let origin = format!("{SHIPPED_FOLDER}/{name}");
                let mut definition = match Definition::load(text, &origin) {
                    Ok(d) => d,
                    Err(err) => return Some(err),
                };
                definition.samples = definition.samples.iter().map(|s| repo.join(s)).collect();
                install_one(definition).err()
            })
            .collect()
    })
}

/// Load every `*.toml` of `folder` (sorted by name), each checked against its samples; all
/// errors, not just the first.
pub fn load_folder(folder: &FsPath) -> Result<Vec<&'static CarrierKind>, Vec<DefinitionError>> {
    shipped_errors();
    let entries = std::fs::read_dir(folder).map_err(|err| {
        vec![DefinitionError {
            file: folder.display().to_string(),
            key: "(folder)".into(),
            message: format!("cannot read the definitions folder: {err}"),
        }]
    })?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let (mut kinds, mut errors) = (Vec::new(), Vec::new());
    for file in files {
        let definition = match Definition::load_file(&file) {
            Ok(definition) => definition,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        // A path that matches nothing in the samples the file lists will match nothing in the
        // carrier's payloads either: refused here as `carriers lint` refuses it.
        let findings = super::lint::lint_samples(&definition);
        if !findings.is_empty() {
            errors.extend(findings);
            continue;
        }
        match install_one(definition) {
            Ok(kind) => kinds.push(kind),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(kinds)
    } else {
        Err(errors)
    }
}

/// Make `definition` a kind. Loading the same file again is a no-op (tests start several
/// gateways in one process); a second definition of a kind, or one named like a built-in
/// kind, is an error.
pub fn install(definition: Definition) -> Result<&'static CarrierKind, DefinitionError> {
    // The shipped definitions first, so an operator's file cannot take their names.
    shipped_errors();
    install_one(definition)
}

fn install_one(definition: Definition) -> Result<&'static CarrierKind, DefinitionError> {
    let clash = |message: String| DefinitionError {
        file: definition.origin.clone(),
        key: "carrier.kind".into(),
        message,
    };
    if CATALOG.iter().any(|k| k.kind == definition.kind) {
        return Err(clash(format!(
            "`{}` is a built-in kind; name the definition differently",
            definition.kind
        )));
    }
    let mut defined = DEFINED.write().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = defined.iter().find(|k| k.kind == definition.kind) {
        return if existing.source() == definition.origin {
            Ok(existing)
        } else {
            Err(clash(format!(
                "`{}` is already defined by {}",
                definition.kind,
                existing.source()
            )))
        };
    }
    let definition: &'static Definition = Box::leak(Box::new(definition));
    let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
    let secrets: Vec<&'static str> = definition.secrets().into_iter().map(leak).collect();
    let karrio: Vec<&'static str> = definition.karrio.iter().map(String::as_str).collect();
    let kind: &'static CarrierKind = Box::leak(Box::new(CarrierKind {
        kind: &definition.kind,
        name: &definition.name,
        webhook: definition.webhook_summary().map(leak),
        poll: definition.poll_summary().map(leak),
        notes: &definition.notes,
        secrets: Box::leak(secrets.into_boxed_slice()),
        karrio: Box::leak(karrio.into_boxed_slice()),
        numbers: definition.numbers,
        build: Build::Defined(definition),
    }));
    defined.push(kind);
    Ok(kind)
}
