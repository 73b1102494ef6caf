//! Polling through the gateway: due shipments are batched to the adapter's batch size, the
//! carrier's answer is ingested, and a failed poll is retried through the queue.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, wait_until};

async fn status_of(app: &TestApp, id: &str) -> String {
    app.gateway()
        .store
        .get_shipment(id)
        .await
        .unwrap()
        .unwrap()
        .status
        .0
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn due_shipments_are_polled_in_batches_and_ingested() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("poll.enabled", json!(true))]).await;
    Mock::given(method("GET"))
        .and(path("/v1/track"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("carriers/sandbox/poll-mixed-batch.json"),
            "application/json",
        ))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let first = app.register("sandbox", "SBX2000001", None).await;
    let second = app.register("sandbox", "SBX2000002", None).await;
    app.register("sandbox", "SBX2000003", None).await;
    let (first, second) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    let polled_numbers = || async {
        let mut numbers: Vec<String> = Vec::new();
        for request in app.carrier.received_requests().await.unwrap() {
            let batch: Vec<String> = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "numbers")
                .unwrap()
                .1
                .split(',')
                .map(str::to_owned)
                .collect();
            assert!(
                batch.len() <= 2,
                "a poll carries at most batch_size numbers: {batch:?}"
            );
            numbers.extend(batch);
        }
        numbers.sort();
        numbers
    };
    wait_until(
        "all three shipments are polled and two updated",
        Duration::from_secs(15),
        || async {
            polled_numbers().await.len() == 3
                && status_of(&app, &first).await == "out_for_delivery"
                && status_of(&app, &second).await == "unknown"
        },
    )
    .await;
    assert_eq!(
        polled_numbers().await,
        ["SBX2000001", "SBX2000002", "SBX2000003"],
        "each due shipment is polled once"
    );
    let stored = app
        .gateway()
        .store
        .get_shipment(&first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.estimated_delivery.unwrap().to_rfc3339(),
        "2026-11-23T17:00:00+00:00"
    );
    let unknown = app
        .gateway()
        .store
        .shipment_with_events(&second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unknown.events.len(),
        1,
        "the event with an unreadable time is a problem, not an event"
    );
    assert_eq!(unknown.events[0].raw_code, "ZZ");
    app.finish().await;
}

#[tokio::test]
async fn a_failed_poll_is_retried_through_the_queue() {
    for backend in [Backend::Sqlite, Backend::PostgresRabbit, Backend::MySql] {
        let app = TestApp::spawn_with(backend, &[("poll.enabled", json!(true))]).await;
        Mock::given(method("GET"))
            .and(path("/v1/track"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&app.carrier)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/track"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                fixture("carriers/sandbox/poll-mixed-batch.json"),
                "application/json",
            ))
            .with_priority(2)
            .mount(&app.carrier)
            .await;
        app.mall_accepts_pushes().await;
        let shipment = app.register("sandbox", "SBX2000001", None).await;
        let id = shipment["id"].as_str().unwrap().to_owned();
        wait_until(
            "the retried poll updates the shipment",
            Duration::from_secs(20),
            || async { status_of(&app, &id).await == "out_for_delivery" },
        )
        .await;
        assert_eq!(
            app.carrier.received_requests().await.unwrap().len(),
            2,
            "{backend:?}: one failure, one retry"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn an_expired_oauth_token_is_refreshed_once_and_retry_after_is_honoured() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    use wiremock::matchers::header;

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.sandbox.token_url", json!("{carrier}/oauth/token")),
            ("carriers.sandbox.client_id", json!("trackgate")),
            ("carriers.sandbox.client_secret", json!("s3cret")),
        ],
    )
    .await;
    let token = |value: &str| {
        ResponseTemplate::new(200).set_body_json(json!({"access_token": value, "expires_in": 3600}))
    };
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token("expired-token"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token("fresh-token"))
        .with_priority(2)
        .mount(&app.carrier)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/track"))
        .and(header("authorization", "Bearer expired-token"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&app.carrier)
        .await;
    // With the fresh token: first a 429 asking for one second, then the answer.
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorder = seen.clone();
    let body = fixture("carriers/sandbox/poll-mixed-batch.json");
    Mock::given(method("GET"))
        .and(path("/v1/track"))
        .and(header("authorization", "Bearer fresh-token"))
        .respond_with(move |_: &wiremock::Request| {
            let mut seen = recorder.lock().unwrap();
            seen.push(Instant::now());
            if seen.len() == 1 {
                ResponseTemplate::new(429).insert_header("retry-after", "1")
            } else {
                ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json")
            }
        })
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;

    let shipment = app.register("sandbox", "SBX2000001", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    wait_until(
        "the poll succeeds with a fresh token",
        Duration::from_secs(20),
        || async { status_of(&app, &id).await == "out_for_delivery" },
    )
    .await;

    let requests = app.carrier.received_requests().await.unwrap();
    let token_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/oauth/token")
        .collect();
    assert_eq!(
        token_requests.len(),
        2,
        "one token, then exactly one refresh after the 401"
    );
    let form = String::from_utf8_lossy(&token_requests[0].body).into_owned();
    assert!(
        form.contains("grant_type=client_credentials") && form.contains("client_secret=s3cret"),
        "{form}"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1] - seen[0] >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({:?})",
        seen[1] - seen[0]
    );
    app.finish().await;
}

#[tokio::test]
async fn easypost_trackers_are_polled_with_basic_auth() {
    use wiremock::matchers::{header, query_param};

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.easypost.api_key", json!("EZAK_test")),
            ("carriers.easypost.base_url", json!("{carrier}")),
        ],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v2/trackers"))
        .and(query_param("tracking_codes[]", "EZ1000000001"))
        .and(header("authorization", "Basic RVpBS190ZXN0Og=="))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("conformance/karrio/easypost/tracking_response/response.json"),
            "application/json",
        ))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("easypost", "EZ1000000001", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    wait_until(
        "the EasyPost tracker is polled",
        Duration::from_secs(15),
        || async { status_of(&app, &id).await == "info_received" },
    )
    .await;
    let stored = app
        .gateway()
        .store
        .shipment_with_events(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.events.len(), 2);
    assert_eq!(
        stored.shipment.estimated_delivery.unwrap().to_rfc3339(),
        "2022-04-11T03:34:58+00:00"
    );
    app.finish().await;
}

#[tokio::test]
async fn shippo_tracks_are_polled_per_underlying_carrier() {
    use wiremock::matchers::header;

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.shippo.api_token", json!("shippo_test_token")),
            ("carriers.shippo.carrier", json!("usps")),
            ("carriers.shippo.base_url", json!("{carrier}")),
        ],
    )
    .await;
    let webhook: serde_json::Value = serde_json::from_slice(&fixture(
        "carriers/shippo/webhook-track-updated-delivery-attempted.json",
    ))
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/tracks/usps/9205590164917312751089"))
        .and(header("authorization", "ShippoToken shippo_test_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&webhook["data"]))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("shippo", "9205590164917312751089", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    wait_until(
        "the Shippo track is polled",
        Duration::from_secs(15),
        || async { status_of(&app, &id).await == "failed_attempt" },
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn aftership_trackings_are_polled_in_batches_with_the_api_key() {
    use wiremock::matchers::{header, query_param};

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.aftership.api_key", json!("asat_test")),
            ("carriers.aftership.base_url", json!("{carrier}")),
        ],
    )
    .await;
    let webhook: serde_json::Value = serde_json::from_slice(&fixture(
        "carriers/aftership/webhook-tracking-update-delivered.json",
    ))
    .unwrap();
    let answer = json!({"meta": {"code": 200}, "data": {"trackings": [webhook["msg"]]}});
    Mock::given(method("GET"))
        .and(path("/v4/trackings"))
        .and(query_param("tracking_numbers", "794612345678"))
        .and(header("aftership-api-key", "asat_test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("aftership", "794612345678", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    wait_until(
        "the AfterShip tracking is polled",
        Duration::from_secs(15),
        || async { status_of(&app, &id).await == "delivered" },
    )
    .await;
    app.finish().await;
}
