//! Every carrier fixture next to its expected normalized output, checked by one `check()`.
//!
//! `fixtures/carriers/<kind>/<case>.{json,txt}` is a raw body exactly as the carrier sends it
//! (`poll-…` a poll response, anything else a webhook body); `<case>.expected.json` is what the
//! catalog's adapter must make of it (the parse outcome, or the error for a body that cannot be
//! read). Every kind of the catalog must have fixtures, and every fixture folder must be a kind.
//! `docs/carriers.md` must be what the catalog generates. Set `UPDATE_EXPECT=1` to (re)write the
//! expected files and the carrier docs after a deliberate change, then review the diff. Under
//! `CI=true` a missing expected file fails.

mod support;

use std::path::{Path, PathBuf};
use support::Sample;

use trackgate_carriers::{ParseError, ParseOutcome, catalog, kuaidi100};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/carriers")
}

fn render(result: Result<ParseOutcome, ParseError>) -> String {
    let value = match result {
        Ok(outcome) => serde_json::to_value(outcome).expect("serializable"),
        Err(err) => serde_json::json!({ "error": err.to_string() }),
    };
    serde_json::to_string_pretty(&value).expect("serializable") + "\n"
}

#[test]
fn every_fixture_normalizes_to_its_expected_output() {
    let update = update_requested();
    let mut checked = 0;
    let mut failures = Vec::new();
    for kind_dir in std::fs::read_dir(fixtures_dir()).expect("fixtures/carriers exists") {
        let kind_dir = kind_dir.unwrap().path();
        let kind = kind_dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&kind_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
            .collect();
        cases.sort();
        for case in cases {
            let body = std::fs::read(&case).unwrap();
            let name = case.file_name().unwrap().to_string_lossy();
            let actual = render(Sample::fixture(&kind, &name, body).parse());
            let expected_path = case.with_extension("expected.json");
            if update {
                std::fs::write(&expected_path, &actual).unwrap();
            } else {
                match std::fs::read_to_string(&expected_path) {
                    Ok(expected) if expected == actual => {}
                    Ok(expected) => failures.push(format!(
                        "{}: output differs\n--- expected\n{expected}\n+++ actual\n{actual}",
                        case.display()
                    )),
                    Err(_) => failures.push(format!(
                        "{}: no expected output; run with UPDATE_EXPECT=1 and review it",
                        case.display()
                    )),
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "expected at least 8 fixtures, found {checked}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn update_requested() -> bool {
    std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1")
}

#[test]
fn every_catalog_kind_has_fixtures_and_every_fixture_folder_is_a_kind() {
    let mut missing = Vec::new();
    for entry in catalog::CATALOG {
        let dir = fixtures_dir().join(entry.kind);
        let cases = std::fs::read_dir(&dir)
            .map(|files| {
                files
                    .flatten()
                    .filter(|f| !f.file_name().to_string_lossy().ends_with(".expected.json"))
                    .count()
            })
            .unwrap_or(0);
        if cases == 0 {
            missing.push(format!("{}: no fixtures in {}", entry.kind, dir.display()));
        }
    }
    for dir in std::fs::read_dir(fixtures_dir()).unwrap().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if catalog::find(&name).is_none() {
            missing.push(format!(
                "fixtures/carriers/{name} is not a kind of the catalog"
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_carrier_docs_are_generated_from_the_catalog() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/carriers.md");
    let generated = catalog::markdown();
    if update_requested() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/carriers.md differs from the catalog: run `UPDATE_EXPECT=1 cargo test -p trackgate-carriers --test fixtures` (or `trackgate carriers list --markdown > docs/carriers.md`)"
    );
}

#[test]
fn kuaidi100_fixtures_are_signed_with_the_fixture_salt() {
    use trackgate_carriers::{CarrierAdapter, Inbound};
    let adapter = kuaidi100::Kuaidi100Adapter::new(kuaidi100::Kuaidi100Config {
        salt: Some("fixture-salt".into()),
        ..Default::default()
    });
    let body =
        std::fs::read(fixtures_dir().join("kuaidi100/callback-in-transit-advanced-codes.txt"))
            .unwrap();
    let verified = adapter
        .verify_webhook(Inbound::new(vec![], body))
        .expect("the fixture's sign matches");
    let outcome = adapter.parse_webhook(&verified).unwrap();
    assert_eq!(outcome.updates[0].tracking_number, "YT9693083639795");
    assert_eq!(outcome.updates[0].events.len(), 4);
}
