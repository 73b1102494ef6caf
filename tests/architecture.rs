//! The one-way rule, checked: in `src/`, a module may only use modules of a lower layer.
//!
//! Layers, top to bottom (ARCHITECTURE.md draws them): entry points (`cli`, `demo`, `startup`,
//! `api`, `poller`, `normalize`) → shared state (`gateway`) → pipeline (`intake` → `ingest` →
//! `push`) → ports (`registry`, `queue` → `store`) → `metrics`, `health`, `telemetry` → `config` →
//! `domain`. Every `crate::<module>` path in a module's code (comments aside) must name its own
//! module or one ranked lower, so there is no import circle and no arrow pointing up. A new
//! top-level module fails this test until it is given a rank here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its layer: a module may use only lower numbers.
const RANKS: &[(&str, u8)] = &[
    ("domain", 0),
    ("batching", 0),
    ("config", 1),
    ("telemetry", 2),
    ("metrics", 2),
    ("health", 2),
    ("store", 3),
    ("queue", 4),
    ("registry", 4),
    ("live", 4),
    ("push", 5),
    ("alerts", 5),
    ("subscriptions", 5),
    ("ingest", 6),
    ("intake", 7),
    ("gateway", 8),
    ("api", 9),
    ("poller", 9),
    ("normalize", 9),
    ("web", 10),
    ("startup", 11),
    ("demo", 12),
    ("cli", 13),
];

/// Paths under `crate::` that are not modules of ours (re-exports of other crates).
const EXTERNAL: &[&str] = &["carriers"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for the crate roots).
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// Every module named after `crate::` in the code (not the comments) of `text`.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let preceded_by_ident = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !name.is_empty() && !preceded_by_ident {
                found.push((number + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn dependencies_point_one_way() {
    let ranks: BTreeMap<&str, u8> = RANKS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let Some(&own) = ranks.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` has no layer in tests/architecture.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, target) in crate_paths(&text) {
            if target == module || EXTERNAL.contains(&target.as_str()) {
                continue;
            }
            match ranks.get(target.as_str()) {
                Some(&rank) if rank < own => {}
                Some(&rank) => violations.push(format!(
                    "{}:{line}: `{module}` (layer {own}) uses `crate::{target}` (layer {rank})",
                    file.display()
                )),
                None => violations.push(format!(
                    "{}:{line}: `crate::{target}` is not a module with a layer",
                    file.display()
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_module_of_the_crate_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';'))
        .collect();
    assert!(declared.len() >= 10, "lib.rs declares {declared:?}");
    for module in &declared {
        assert!(
            RANKS.iter().any(|(name, _)| name == module),
            "`{module}` has no layer in tests/architecture.rs"
        );
    }
    for (name, _) in RANKS {
        assert!(declared.contains(name), "`{name}` is not a module any more");
    }
}

#[test]
fn the_checker_sees_paths_and_ignores_comments() {
    let found = crate_paths(
        "use crate::store::Store;\n// crate::api in a comment\nlet x = crate::push::go(); my_crate::other",
    );
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["store", "push"]);
}
