//! A carrier defined by an operator's file, on a running gateway: loaded from
//! `definitions.folders`, its webhooks verified with the definition's scheme and acknowledged
//! with its ack body, its polls authenticated through the shared OAuth token cache, its events
//! normalized into the shipment and pushed — with no Rust code for it. A broken definition
//! stops the start with its file and key path.

use std::path::PathBuf;
use std::time::Duration;

use hmac::Mac;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, wait_until};

fn folder(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/definitions")
        .join(name)
        .display()
        .to_string()
}

const WEBHOOK_SECRET: &str = "swiftbike-webhook-secret";

fn signed(body: &[u8], at: i64) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{at}.").as_bytes());
    mac.update(body);
    format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn shipment(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await
        .1
}

#[tokio::test]
async fn a_carrier_defined_by_a_file_takes_webhooks_and_polls_on_a_running_gateway() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("definitions.folders", json!([folder("operator")])),
            ("carriers.swift.kind", json!("swiftbike")),
            ("carriers.swift.base_url", json!("{carrier}")),
            ("carriers.swift.client_id", json!("shop-42")),
            ("carriers.swift.client_secret", json!("oauth-secret")),
            ("carriers.swift.webhook_secret", json!(WEBHOOK_SECRET)),
            ("poll.enabled", json!(true)),
        ],
    )
    .await;
    app.mall_accepts_pushes().await;
    // Until the first webhook is in, the carrier answers polls with nothing new.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "swift-token", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .mount(&app.carrier)
        .await;
    let registered = app.register("swift", "sb-1001", Some("order-7")).await;
    let id = registered["id"].as_str().unwrap().to_owned();
    assert_eq!(
        registered["tracking_number"], "SB-1001",
        "the definition's number rule"
    );

    // A webhook signed as the carrier signs it.
    let body = fixture("definitions/operator/swiftbike-sample.json");
    let now = chrono::Utc::now().timestamp();
    let answer = app
        .http
        .post(format!("{}/webhooks/swift", app.base))
        .header("content-type", "application/json")
        .header("swiftbike-signature", signed(&body, now))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        r#"{"received":true}"#,
        "the definition's ack body"
    );
    app.settled().await;
    let current = shipment(&app, &id).await;
    assert_eq!(current["status"], "out_for_delivery", "{current}");
    let events = current["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let riding = events.iter().find(|e| e["raw_code"] == "RIDING").unwrap();
    assert_eq!(
        riding["occurred_at"], "2026-11-30T02:02:00.000Z",
        "Shanghai local time"
    );

    // A forged or stale signature is refused, and nothing of it is ingested.
    for forged in [signed(b"{}", now), signed(&body, now - 3600)] {
        let refused = app
            .http
            .post(format!("{}/webhooks/swift", app.base))
            .header("swiftbike-signature", forged)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }

    // A poll, with the token from the shared cache, brings the delivery.
    Mock::given(method("GET"))
        .and(path("/v2/deliveries"))
        .and(query_param("refs", "SB-1001"))
        .and(header("authorization", "Bearer swift-token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("definitions/operator/swiftbike-delivered.json"),
            "application/json",
        ))
        .mount(&app.carrier)
        .await;
    wait_until(
        "the poll delivers SB-1001",
        Duration::from_secs(30),
        || async { shipment(&app, &id).await["status"] == "delivered" },
    )
    .await;
    wait_until(
        "the mall hears of the delivery",
        Duration::from_secs(20),
        || async {
            app.pushes_received()
                .await
                .iter()
                .any(|p| p["status"] == "delivered")
        },
    )
    .await;
    app.finish().await;
}

#[test]
fn a_broken_definition_stops_the_start_naming_the_file_and_key() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trackgate"))
        .arg("check-config")
        .env("RUST_LOG", "error")
        .env(
            "TRACKGATE__DEFINITIONS__FOLDERS",
            format!("[\"{}\"]", folder("broken")),
        )
        .output()
        .unwrap();
    assert!(!output.status.success(), "a broken definition is refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("typo.toml: status.codes.D: `shipped` is not a status"),
        "{stderr}"
    );

    // A path into nowhere (checked against the file's samples) is refused at start as well.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trackgate"))
        .arg("check-config")
        .env("RUST_LOG", "error")
        .env(
            "TRACKGATE__DEFINITIONS__FOLDERS",
            format!("[\"{}\"]", folder("nowhere")),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nowhere.toml: events.code: `status.code` matches nothing in any sample"),
        "{stderr}"
    );

    // A defined kind's secret settings are environment-only, as a built-in kind's are.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trackgate.toml");
    std::fs::write(
        &config,
        format!(
            "[definitions]\nfolders = [{:?}]\n[carriers.swift]\nkind = \"swiftbike\"\nwebhook_secret = \"written-in-the-file\"\n",
            folder("operator")
        ),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trackgate"))
        .args(["--config"])
        .arg(&config)
        .arg("check-config")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TRACKGATE__CARRIERS__SWIFT__WEBHOOK_SECRET"),
        "{stderr}"
    );

    let lint = std::process::Command::new(env!("CARGO_BIN_EXE_trackgate"))
        .args(["carriers", "lint"])
        .arg(format!("{}/typo.toml", folder("broken")))
        .arg(format!("{}/swiftbike.toml", folder("operator")))
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&lint.stdout);
    assert!(stdout.contains("typo.toml: status.codes.D"), "{stdout}");
    assert!(stdout.contains("swiftbike.toml: ok"), "{stdout}");
}

#[test]
fn normalize_and_list_know_defined_kinds() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trackgate"))
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let sample = format!("{}/swiftbike-sample.json", folder("operator"));
    let normalized = run(&[
        "normalize",
        "--carrier",
        "swiftbike",
        "--source",
        "poll",
        "--definitions",
        &folder("operator"),
        &sample,
    ]);
    assert!(
        normalized.status.success(),
        "{}",
        String::from_utf8_lossy(&normalized.stderr)
    );
    let value: Value = serde_json::from_slice(&normalized.stdout).unwrap();
    assert_eq!(
        value["shipments"][0]["status"], "out_for_delivery",
        "{value}"
    );
    let shipped = run(&[
        "normalize",
        "--carrier",
        "gls",
        "--source",
        "poll",
        &format!(
            "{}/fixtures/conformance/karrio/gls/tracking_response/response.json",
            env!("CARGO_MANIFEST_DIR")
        ),
    ]);
    assert!(
        shipped.status.success(),
        "{}",
        String::from_utf8_lossy(&shipped.stderr)
    );
    let listed = run(&["carriers", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ups\t") && l.ends_with("built-in")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("gls\t") && l.ends_with("carriers/definitions/gls.toml")),
        "{text}"
    );
}
