//! The machine-readable contract: the committed documents match what the gateway generates,
//! real pushes validate against `docs/push.schema.json`, every timestamp of every answer has the
//! one format, `/openapi.json` and `/docs` are served (with nothing from a CDN), and
//! schemathesis finds no 5xx and no answer outside the spec on a live gateway.

use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::*;

fn repository_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `docs/openapi.json`, `docs/push.schema.json` and `docs/sub-statuses.md` are what
/// `trackgate openapi` prints; `UPDATE_EXPECT=1` rewrites them.
#[test]
fn the_committed_contract_documents_are_current() {
    let documents = [
        (
            "docs/openapi.json",
            trackgate::cli::commands::contract(false, false),
        ),
        (
            "docs/push.schema.json",
            trackgate::cli::commands::contract(true, false),
        ),
        (
            "docs/sub-statuses.md",
            trackgate::cli::commands::contract(false, true),
        ),
    ];
    let mut stale = Vec::new();
    for (path, generated) in documents {
        let file = repository_file(path);
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&file, &generated).unwrap();
            continue;
        }
        if std::fs::read_to_string(&file).unwrap_or_default() != generated {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from what the gateway generates: run `UPDATE_EXPECT=1 cargo test --test it contract`"
    );
}

/// Every string in `value` that looks like an instant (starts with a date and has a `T`) has
/// the one format, except `local_time`, which is the carrier's wall clock with its offset.
fn assert_timestamps(value: &Value, path: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "local_time" {
                    continue;
                }
                assert_timestamps(inner, &format!("{path}.{key}"));
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                assert_timestamps(inner, &format!("{path}[{i}]"));
            }
        }
        Value::String(text) => {
            let looks_like_instant = text.len() >= 19
                && text.as_bytes()[4] == b'-'
                && text.as_bytes()[10] == b'T'
                && text[..4].bytes().all(|b| b.is_ascii_digit());
            if looks_like_instant {
                assert!(
                    trackgate::domain::time::is_wire_format(text),
                    "{path} = {text} is not RFC 3339 UTC with milliseconds"
                );
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn real_pushes_and_answers_follow_the_published_contract() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("sandbox", "CONTRACT1", Some("order-c1")).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    for (n, code) in ["PU", "AR", "FA", "DP"].iter().enumerate() {
        let body = sandbox_event(
            "CONTRACT1",
            &format!("e{n}"),
            &format!("2026-11-2{n}T10:00:00.123456+08:00"),
            code,
        );
        assert_eq!(app.sandbox_webhook(&body).await.status(), 200);
    }
    // Pushes of one shipment waiting together are folded into one: wait for the last status.
    wait_until(
        "the push of the delivery",
        std::time::Duration::from_secs(20),
        || async {
            app.pushes_received()
                .await
                .iter()
                .any(|push| push["status"] == "delivered")
        },
    )
    .await;

    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repository_file("docs/push.schema.json")).unwrap(),
    )
    .unwrap();
    let validator =
        jsonschema::validator_for(&schema).expect("the push schema is valid JSON Schema");
    let pushes = app.pushes_received().await;
    for push in &pushes {
        let errors: Vec<String> = validator
            .iter_errors(push)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "push {push} breaks the schema: {errors:#?}"
        );
        assert_timestamps(push, "push");
    }
    // Pushes that break it are told apart: the validator is not vacuous.
    let mut broken = pushes[0].clone();
    broken["status"] = json!("teleported");
    assert!(!validator.is_valid(&broken));
    broken = pushes[0].clone();
    broken["created_at"] = json!("2026-11-30T13:43:32.123456789Z");
    assert!(
        !validator.is_valid(&broken),
        "nine fractional digits must not validate"
    );

    // Every answer's timestamps, events included.
    for path in [
        format!("/v1/shipments/{id}"),
        "/v1/shipments?order_id=order-c1".to_owned(),
        "/v1/track/CONTRACT1".to_owned(),
        "/v1/admin/carriers".to_owned(),
        "/v1/admin/webhooks?outcome=processed".to_owned(),
    ] {
        let (status, body) = app.get_json(&path, &app.keys.admin).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_timestamps(&body, &path);
    }
    let (status, token) = app
        .post_json(
            "/v1/stream-tokens",
            &app.keys.mall,
            json!({"order_id": "order-c1"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_timestamps(&token, "stream token");
    let (_, shipment) = app
        .get_json(&format!("/v1/shipments/{id}"), &app.keys.admin)
        .await;
    let local = shipment["events"][0]["local_time"].as_str().unwrap();
    assert!(
        local.ends_with(".123+08:00"),
        "local time keeps its offset: {local}"
    );
    app.finish().await;
}

#[tokio::test]
async fn the_document_and_its_docs_page_are_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-request-id").is_some());
    let served: Value = response.json().await.unwrap();
    assert_eq!(&served, trackgate::api::openapi::document());
    let codes: Vec<&str> = served["components"]["schemas"]["ProblemCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(codes.contains(&"invalid_signature") && codes.contains(&"rate_limited"));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let response = client
            .get(format!("{}/docs/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("cdn.jsdelivr") && !text.contains("unpkg.com"),
            "{asset} loads from a CDN"
        );
        if asset == "swagger-initializer.js" {
            assert!(
                text.contains("/openapi.json"),
                "the UI reads our document: {text}"
            );
        }
    }
    assert!(
        !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    app.finish().await;
}

/// During a rotation (`mall.signing_secret = "whsec_new whsec_old"`) every push carries a
/// signature by each secret, so a mall verifying with either accepts it; a third secret does not.
#[tokio::test]
async fn pushes_during_a_secret_rotation_verify_with_either_secret() {
    let (new, old) = (new_signing_secret(), new_signing_secret());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("mall.signing_secret", json!(format!("{new} {old}")))],
    )
    .await;
    app.mall_accepts_pushes().await;
    app.register("sandbox", "SBX-ROTATE1", None).await;
    app.sandbox_webhook(&sandbox_event(
        "SBX-ROTATE1",
        "r1",
        "2026-11-20T08:00:00+01:00",
        "PU",
    ))
    .await;
    wait_until("a push", std::time::Duration::from_secs(20), || async {
        !app.mall
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    let request = app.mall.received_requests().await.unwrap().remove(0);
    let headers = header_map(&request);
    let signature = headers["webhook-signature"].to_str().unwrap().to_owned();
    assert_eq!(
        signature.split(' ').count(),
        2,
        "two signatures: {signature}"
    );
    for secret in [&new, &old] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&request.body, &headers)
            .expect("verifies with either secret");
    }
    // The PHP verifier of docs/mall-integration.md, run by PHP itself, agrees.
    for (secret, expected) in [
        (&new, "accepted"),
        (&old, "accepted"),
        (&new_signing_secret(), "refused"),
    ] {
        assert_eq!(php_verifier(&request, secret), expected, "with {secret}");
    }
    let stranger = new_signing_secret();
    assert!(
        standardwebhooks::Webhook::new(&stranger)
            .unwrap()
            .verify(&request.body, &headers)
            .is_err()
    );
    app.finish().await;
}

/// schemathesis (from PyPI; scripts/test.sh installs it) against a live gateway with the
/// generated document: no 5xx, every answer's status, content type, headers and body as
/// documented, and requests that break the schema refused. The two streaming endpoints are left
/// out (an open stream never ends; tests/it/live*.rs cover them). A fixed seed keeps runs
/// repeatable; change it to explore.
#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_spec() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, &[("server.api_rate_per_second", json!(0))]).await;
    app.register("sandbox", "SBX-1000001", Some("order-1001"))
        .await;
    let (url, auth) = (
        format!("{}/openapi.json", app.base),
        format!("Authorization: Bearer {}", app.keys.admin),
    );
    let scratch_dir = tempfile::tempdir().unwrap();
    let scratch = scratch_dir.path().to_path_buf();
    // On a blocking thread: the gateway under test runs on this test's runtime.
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
        .args([
            "run",
            &url,
            "--header",
            &auth,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection",
            "--exclude-path",
            "/v1/stream",
            "--exclude-path",
            "/v1/stream/sse",
            "--max-examples",
            "40",
            "--seed",
            "20261130",
            "--request-timeout",
            "10",
        ])
        .env("NO_COLOR", "1")
        // It keeps a cache (`.schemathesis/`) in its working directory: not the repository.
        .current_dir(&scratch)
        .output()
    });
    let output = run
        .await
        .unwrap()
        .expect("schemathesis must be installed (scripts/test.sh: pip install schemathesis)");
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: String = report
        .lines()
        .skip_while(|line| !line.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("{summary}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    app.finish().await;
}

/// Run the PHP verifier exactly as docs/mall-integration.md prints it on a received push.
fn php_verifier(request: &wiremock::Request, secret: &str) -> String {
    let doc = std::fs::read_to_string(repository_file("docs/mall-integration.md")).unwrap();
    let start = doc
        .find("function trackgate_verify")
        .expect("the docs show the PHP verifier");
    let end = start + doc[start..].find("\n}\n").expect("the function ends") + 3;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.php");
    let body = dir.path().join("body.json");
    std::fs::write(&body, &request.body).unwrap();
    std::fs::write(
        &script,
        format!(
            "<?php\n{}\n$server = ['HTTP_WEBHOOK_ID' => $argv[2], 'HTTP_WEBHOOK_TIMESTAMP' => $argv[3], 'HTTP_WEBHOOK_SIGNATURE' => $argv[4]];\necho trackgate_verify($argv[5], file_get_contents($argv[1]), $server) === null ? 'refused' : 'accepted';\n",
            &doc[start..end]
        ),
    )
    .unwrap();
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let output = std::process::Command::new("php")
        .arg(&script)
        .arg(&body)
        .args([
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ])
        .arg(secret)
        .output()
        .expect("php must be installed (scripts/test.sh installs php-cli)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
