//! Every carrier fixture next to its expected normalized output, checked by one `check()`.
//!
//! `fixtures/carriers/<kind>/<case>.{json,txt}` is a raw body exactly as the carrier sends it;
//! `<case>.expected.json` is what the adapter must make of it (the parse outcome, or the error
//! for a body that cannot be read). Set `UPDATE_EXPECT=1` to (re)write the expected files after
//! a deliberate change, then review the diff. Under `CI=true` a missing expected file fails.

mod support;

use std::path::{Path, PathBuf};
use support::parse_with;

use trackgate_carriers::{ParseError, ParseOutcome, kuaidi100};

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
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
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
            let actual = render(parse_with(&kind, &body));
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
