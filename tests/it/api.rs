//! The HTTP API's contract: registration, lookups, auth scopes and problem+json errors.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, fixture, wait_until};

async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

#[tokio::test]
async fn registering_is_idempotent_on_carrier_and_tracking_number() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let post = |number: &str| {
        app.http
            .post(format!("{}/v1/shipments", app.base))
            .bearer_auth(&app.keys.mall)
            .json(&json!({"carrier": "sandbox", "tracking_number": number, "order_id": "O-1", "metadata": {"sku": "A"}}))
            .send()
    };
    let first = post("SBX1").await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "pending");
    assert_eq!(first["metadata"]["sku"], "A");
    let second = post(" SBX1 ").await.unwrap();
    assert_eq!(second.status().as_u16(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);

    let (status, list) = app
        .get_json("/v1/shipments?order_id=O-1", &app.keys.mall)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["shipments"].as_array().unwrap().len(), 1);
    app.finish().await;
}

#[tokio::test]
async fn batch_registration_reports_each_item() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("sandbox", "SBX-DUP", None).await;
    let body = json!({"shipments": [
        {"carrier": "sandbox", "tracking_number": "SBX-NEW"},
        {"carrier": "sandbox", "tracking_number": "SBX-DUP"},
        {"carrier": "pigeon", "tracking_number": "X"},
        {"carrier": "sandbox", "tracking_number": ""},
        {"carrier": "sandbox"}
    ]});
    let response = app
        .http
        .post(format!("{}/v1/shipments/batch", app.base))
        .bearer_auth(&app.keys.mall)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let results: Value = response.json().await.unwrap();
    let statuses: Vec<u64> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 200, 404, 422, 422]);
    assert_eq!(results["results"][2]["error"]["code"], "unknown_carrier");

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"carrier": "sandbox", "tracking_number": format!("N{i}")}))
        .collect();
    let response = app
        .http
        .post(format!("{}/v1/shipments/batch", app.base))
        .bearer_auth(&app.keys.mall)
        .json(&json!({"shipments": too_many}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "validation_failed").await;
    app.finish().await;
}

#[tokio::test]
async fn missing_or_wrong_scope_keys_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/v1/shipments", app.base);
    let body = json!({"carrier": "sandbox", "tracking_number": "A1"});
    assert_problem(
        app.http.post(&url).json(&body).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.http
            .post(&url)
            .bearer_auth("tg_mall_not-a-real-token")
            .json(&body)
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.http
            .post(&url)
            .bearer_auth(&app.keys.support)
            .json(&body)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let track = format!("{}/v1/track/A1", app.base);
    assert_problem(
        app.http
            .get(&track)
            .bearer_auth(&app.keys.mall)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let dead = format!("{}/v1/admin/dead-letters", app.base);
    assert_problem(
        app.http
            .get(&dead)
            .bearer_auth(&app.keys.mall)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    // admin may do everything
    assert_eq!(
        app.http
            .post(&url)
            .bearer_auth(&app.keys.admin)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    app.finish().await;
}

#[tokio::test]
async fn bad_input_gets_a_problem_with_a_stable_code_never_a_500() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let url = format!("{}/v1/shipments", app.base);
    let send = |body: Vec<u8>| {
        app.http
            .post(&url)
            .bearer_auth(&app.keys.mall)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_problem(
        send(b"{\"carrier\": ".to_vec()).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(br#"{"carrier": "sandbox", "tracking_number": 12}"#.to_vec())
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        send(br#"{"carrier": "sandbox", "tracking_number": "A", "colour": "red"}"#.to_vec())
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        send(br#"{"carrier": "pigeon", "tracking_number": "A"}"#.to_vec())
            .await
            .unwrap(),
        404,
        "unknown_carrier",
    )
    .await;
    assert_problem(
        // Spaces are a reader's grouping (removed); a number without a letter or digit is not.
        send(br#"{"carrier": "sandbox", "tracking_number": " - "}"#.to_vec())
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let two_mib = vec![b' '; 2 * 1024 * 1024];
    assert_problem(
        send(two_mib.clone()).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    let response = app
        .http
        .post(format!("{}/webhooks/sandbox", app.base))
        .body(two_mib)
        .send()
        .await
        .unwrap();
    assert_problem(response, 413, "payload_too_large").await;
    let response = app
        .http
        .post(&url)
        .bearer_auth(&app.keys.mall)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;
    assert_problem(
        app.http
            .get(format!("{}/nowhere", app.base))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.http
            .put(format!("{}/v1/shipments", app.base))
            .send()
            .await
            .unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    let (status, _) = app
        .get_json("/v1/shipments/shp_missing", &app.keys.mall)
        .await;
    assert_eq!(status, 404);
    assert_problem(
        app.http
            .get(&url)
            .bearer_auth(&app.keys.mall)
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    app.finish().await;
}

/// The lookup is one query (shipment, subscription and events joined) on every store; on
/// PostgreSQL it runs on a read lane.
async fn support_sees_a_number_across_carriers_with_raw_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("sandbox", "YT9693083639795", Some("ORD-7"))
        .await;
    app.register("kuaidi100", "YT9693083639795", Some("ORD-7"))
        .await;
    let callback = fixture("carriers/kuaidi100/callback-in-transit-advanced-codes.txt");
    let response = app
        .http
        .post(format!("{}/webhooks/kuaidi100", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(callback)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    app.settled().await;

    let (status, body) = app
        .get_json("/v1/track/YT9693083639795", &app.keys.support)
        .await;
    assert_eq!(status, 200);
    let shipments = body["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 2);
    let kuaidi = shipments
        .iter()
        .find(|s| s["carrier"] == "kuaidi100")
        .unwrap();
    assert_eq!(kuaidi["status"], "in_transit");
    let events = kuaidi["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["raw_code"], "101");
    assert_eq!(events[0]["local_time"], "2026-11-19T09:31:55.000+08:00");
    assert_eq!(events[0]["offset_inferred"], true);
    assert_eq!(events[3]["raw_code"], "1002");
    // Kuaidi100 is subscribed to; the sandbox needs no subscription.
    assert!(kuaidi["subscription"]["state"].is_string(), "{kuaidi}");
    let sandbox = shipments
        .iter()
        .find(|s| s["carrier"] == "sandbox")
        .unwrap();
    assert!(sandbox["subscription"].is_null(), "{sandbox}");
    assert!(
        sandbox["events"].as_array().unwrap().is_empty(),
        "{sandbox}"
    );

    let (status, by_order) = app
        .get_json("/v1/track?order_id=ORD-7", &app.keys.support)
        .await;
    assert_eq!(status, 200);
    // The same shipments with the same timelines (their subscriptions move on meanwhile: the
    // subscriber works in the background).
    let timeline = |shipments: &Value| -> Vec<(Value, Value)> {
        let list = shipments.as_array().unwrap().iter();
        list.map(|s| (s["id"].clone(), s["events"].clone()))
            .collect()
    };
    assert_eq!(
        timeline(&by_order["shipments"]),
        timeline(&body["shipments"])
    );
    let (status, _) = app.get_json("/v1/track/NOPE", &app.keys.support).await;
    assert_eq!(status, 404);
    app.finish().await;
}

#[tokio::test]
async fn support_sees_a_number_across_carriers_with_raw_codes_on_sqlite() {
    support_sees_a_number_across_carriers_with_raw_codes(Backend::Sqlite).await;
}

#[tokio::test]
async fn support_sees_a_number_across_carriers_with_raw_codes_on_postgres() {
    support_sees_a_number_across_carriers_with_raw_codes(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn support_sees_a_number_across_carriers_with_raw_codes_on_mysql() {
    support_sees_a_number_across_carriers_with_raw_codes(Backend::MySql).await;
}

#[tokio::test]
async fn stopping_tracking_keeps_the_history() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let shipment = app.register("sandbox", "SBX-STOP", None).await;
    let id = shipment["id"].as_str().unwrap();
    let response = app
        .http
        .delete(format!("{}/v1/shipments/{id}", app.base))
        .bearer_auth(&app.keys.mall)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (_, body) = app
        .get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await;
    assert_eq!(body["tracking"], false);
    let response = app
        .http
        .delete(format!("{}/v1/shipments/shp_nope", app.base))
        .bearer_auth(&app.keys.mall)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not_found").await;
    app.finish().await;
}

#[tokio::test]
async fn ops_endpoints_report_health_readiness_and_metrics() {
    for backend in [Backend::Sqlite, Backend::PostgresRabbit, Backend::MySql] {
        let app = TestApp::spawn(backend).await;
        let health = app
            .http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);
        let ready = app
            .http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status().as_u16(), 200, "{backend:?}");
        let ready: Value = ready.json().await.unwrap();
        assert_eq!(ready["database"], "ok");
        assert_eq!(ready["queue"], "ok");
        app.sandbox_webhook(b"{\"shipments\": []}").await;
        // The outcome is counted right after its commit, which `settled` may see first.
        let counted = "trackgate_webhooks_total{carrier=\"sandbox\",outcome=\"processed\"} 1";
        wait_until(
            "the webhook is counted",
            Duration::from_secs(10),
            || async { app.metrics_text().await.contains(counted) },
        )
        .await;
        app.finish().await;
    }
}

#[tokio::test]
async fn a_shipment_without_a_carrier_is_registered_only_when_its_format_is_unambiguous() {
    // Without the aggregators (which can track UPS), and with a UPS instance that has no
    // credentials (so can neither poll nor receive pushes), a UPS number has no carrier here.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("carriers.aftership.enabled", json!(false)),
            ("carriers.17track.enabled", json!(false)),
        ],
    )
    .await;
    let post = |number: &str| {
        app.http
            .post(format!("{}/v1/shipments", app.base))
            .bearer_auth(&app.keys.mall)
            .json(&json!({"tracking_number": number}))
            .send()
    };
    let response = post("YT9693083639795").await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["carrier"], "kuaidi100",
        "YTO numbers are tracked through the configured Kuaidi100 instance"
    );

    let problem = assert_problem(
        post("1Z999AA10123456784").await.unwrap(),
        422,
        "carrier_not_configured",
    )
    .await;
    assert_eq!(problem["candidates"][0]["carrier"], "UPS");
    let problem = assert_problem(
        post("776094337676").await.unwrap(),
        422,
        "carrier_ambiguous",
    )
    .await;
    assert_eq!(problem["candidates"].as_array().unwrap().len(), 2);
    assert_problem(
        post("NOT-A-NUMBER").await.unwrap(),
        422,
        "carrier_not_detected",
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn a_carrier_without_credentials_leaves_its_numbers_to_an_aggregator() {
    let register = |app: &TestApp, number: &'static str| {
        app.http
            .post(format!("{}/v1/shipments", app.base))
            .bearer_auth(&app.keys.mall)
            .json(&json!({"tracking_number": number}))
            .send()
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = register(&app, "1Z999AA10123456784").await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["carrier"], "17track",
        "the UPS instance has no credentials: the first aggregator takes UPS numbers"
    );
    app.finish().await;

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("carriers.ups.client_id", json!("ups-client")),
            ("carriers.ups.client_secret", json!("ups-secret")),
        ],
    )
    .await;
    let created: Value = register(&app, "1Z999AA10123456784")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["carrier"], "ups", "UPS's own API comes first");
    app.finish().await;
}

/// API keys are remembered for `server.api_key_cache_secs`: a revoked key keeps working at most
/// that long, then is refused; a new key works at once.
#[tokio::test]
async fn a_revoked_key_is_refused_once_the_key_cache_expires() {
    use trackgate::store::states::Scope;
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("server.api_key_cache_secs", serde_json::json!(1))],
    )
    .await;
    let store = app.gateway().store.clone();
    let key = store.create_api_key(Scope::Support, None).await.unwrap();
    let (status, _) = app.get_json("/v1/track/NOTHING", &key.token).await;
    assert_eq!(status, 404, "a new key works at once");
    assert!(store.revoke_api_key(&key.id).await.unwrap());
    crate::helpers::wait_until(
        "the revoked key is refused",
        std::time::Duration::from_secs(5),
        || {
            let (app, token) = (&app, key.token.clone());
            async move { app.get_json("/v1/track/NOTHING", &token).await.0 == 401 }
        },
    )
    .await;
    app.finish().await;
}
