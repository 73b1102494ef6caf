//! Each real carrier adapter polled through the gateway against a fake carrier on loopback that
//! serves the recorded responses in `fixtures/`: the OAuth token endpoints (UPS, FedEx, USPS),
//! a 401 answered by one token refresh, a 429 that pauses the carrier instance for its
//! Retry-After, 17TRACK's register-then-poll cycle and Kuaidi100's signed query form.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, wait_until};

async fn shipment(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await
        .1
}

async fn wait_for_status(app: &TestApp, id: &str, status: &str) {
    wait_until(
        &format!("shipment {id} becomes {status}"),
        Duration::from_secs(20),
        || async { shipment(app, id).await["status"] == status },
    )
    .await;
}

fn json_fixture(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn token(value: &str) -> ResponseTemplate {
    // UPS sends `expires_in` as a string; the others as a number.
    ResponseTemplate::new(200).set_body_json(
        json!({"token_type": "Bearer", "access_token": value, "expires_in": "14399"}),
    )
}

async fn requests_to(app: &TestApp, wanted: &str) -> Vec<Request> {
    app.carrier
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().starts_with(wanted))
        .collect()
}

#[tokio::test]
async fn ups_polls_with_a_cached_token_refreshed_once_after_a_401() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.ups.base_url", json!("{carrier}")),
            ("carriers.ups.client_id", json!("ups-client")),
            ("carriers.ups.client_secret", json!("ups-secret")),
        ],
    )
    .await;
    let basic = "Basic dXBzLWNsaWVudDp1cHMtc2VjcmV0"; // base64("ups-client:ups-secret")
    Mock::given(method("POST"))
        .and(path("/security/v1/oauth/token"))
        .and(header("authorization", basic))
        .respond_with(token("revoked"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/security/v1/oauth/token"))
        .and(header("authorization", basic))
        .respond_with(token("fresh"))
        .with_priority(2)
        .mount(&app.carrier)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer revoked"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&app.carrier)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/track/v1/details/1Z12345E0205271688"))
        .and(header("authorization", "Bearer fresh"))
        .and(header("transactionsrc", "trackgate"))
        .respond_with(json_fixture(
            "carriers/ups/poll-delivered-gmt-and-local-times.json",
        ))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let id = app.register("ups", "1Z12345E0205271688", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&app, &id, "delivered").await;
    let stored = shipment(&app, &id).await;
    assert_eq!(stored["delivered_at"], "2026-11-18T19:31:02.000Z");
    assert_eq!(stored["events"].as_array().unwrap().len(), 6);
    let tokens = requests_to(&app, "/security/v1/oauth/token").await;
    assert_eq!(tokens.len(), 2, "one token, one refresh after the 401");
    assert_eq!(
        String::from_utf8_lossy(&tokens[0].body),
        "grant_type=client_credentials",
        "UPS takes the credentials in the Basic header, not the body"
    );
    app.finish().await;
}

#[tokio::test]
async fn fedex_batches_numbers_and_a_429_pauses_the_instance_for_its_retry_after() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.fedex.base_url", json!("{carrier}")),
            ("carriers.fedex.client_id", json!("fedex-key")),
            ("carriers.fedex.client_secret", json!("fedex-secret")),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("client_secret=fedex-secret"))
        .respond_with(token("fedex-token"))
        .mount(&app.carrier)
        .await;
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let recorder = seen.clone();
    let body = fixture("carriers/fedex/poll-two-numbers-pickup-point-and-not-found.json");
    Mock::given(method("POST"))
        .and(path("/track/v1/trackingnumbers"))
        .and(header("authorization", "Bearer fedex-token"))
        .respond_with(move |_: &Request| {
            let mut seen = recorder.lock().unwrap();
            seen.push(Instant::now());
            if seen.len() == 1 {
                ResponseTemplate::new(429).insert_header("retry-after", "2")
            } else {
                ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json")
            }
        })
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    // Register both before the poller's next tick so they travel in one batch.
    let (first, second) = tokio::join!(
        app.register("fedex", "794843185271", None),
        app.register("fedex", "123456789012", None)
    );
    let first = first["id"].as_str().unwrap().to_owned();
    wait_for_status(&app, &first, "available_for_pickup").await;
    let polls = requests_to(&app, "/track/v1/trackingnumbers").await;
    let first_body: Value = serde_json::from_slice(&polls[0].body).unwrap();
    let numbers: Vec<&str> = first_body["trackingInfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trackingNumberInfo"]["trackingNumber"].as_str().unwrap())
        .collect();
    assert!(
        numbers.len() == 2 || polls.len() >= 3,
        "both numbers travel in one request when due together: {numbers:?}"
    );
    let seen = seen.lock().unwrap().clone();
    for later in &seen[1..] {
        assert!(
            *later - seen[0] >= Duration::from_millis(1900),
            "no request during the 2 s pause ({:?} after the 429)",
            *later - seen[0]
        );
    }
    assert_eq!(
        shipment(&app, second["id"].as_str().unwrap()).await["status"],
        "pending",
        "a number FedEx does not know stays pending"
    );
    app.finish().await;
}

#[tokio::test]
async fn dhl_polls_with_the_api_key_and_reads_the_return_flag() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.dhl.base_url", json!("{carrier}")),
            ("carriers.dhl.api_key", json!("dhl-key")),
        ],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/track/shipments"))
        .and(query_param("trackingNumber", "00340434292135100186"))
        .and(header("dhl-api-key", "dhl-key"))
        .respond_with(json_fixture(
            "carriers/dhl/poll-return-flag-local-times.json",
        ))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let id = app.register("dhl", "00340434292135100186", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&app, &id, "returned").await;
    let stored = shipment(&app, &id).await;
    assert_eq!(
        stored["events"][0]["local_time"], "2026-11-16T21:40:00.000+01:00",
        "a local DHL time is read in Europe/Berlin"
    );
    assert_eq!(stored["events"][0]["offset_inferred"], true);
    app.finish().await;
}

#[tokio::test]
async fn usps_polls_with_a_json_token_request() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.usps.base_url", json!("{carrier}")),
            ("carriers.usps.client_id", json!("usps-key")),
            ("carriers.usps.client_secret", json!("usps-secret")),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v3/token"))
        .and(header("content-type", "application/json"))
        .and(body_string_contains("\"client_secret\":\"usps-secret\""))
        .respond_with(token("usps-token"))
        .mount(&app.carrier)
        .await;
    Mock::given(method("GET"))
        .and(path("/tracking/v3/tracking/9405511899223197428490"))
        .and(query_param("expand", "DETAIL"))
        .and(header("authorization", "Bearer usps-token"))
        .respond_with(json_fixture("carriers/usps/poll-available-for-pickup.json"))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let id = app.register("usps", "9405511899223197428490", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&app, &id, "available_for_pickup").await;
    let stored = shipment(&app, &id).await;
    assert_eq!(stored["estimated_delivery"], "2026-11-21T05:00:00.000Z");
    assert_eq!(stored["events"].as_array().unwrap().len(), 6);
    app.finish().await;
}

#[tokio::test]
async fn seventeen_track_registers_a_number_then_polls_it() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("poll.after_registration_secs", json!(1)),
            ("carriers.17track.base_url", json!("{carrier}")),
            ("carriers.17track.api_key", json!("17-key")),
        ],
    )
    .await;
    let rejected = json!({"code": 0, "data": {"accepted": [], "rejected": [
        {"number": "YT2412345678901", "error": {"code": -18019902, "message": "does not register, please register first"}}
    ]}});
    Mock::given(method("POST"))
        .and(path("/gettrackinfo"))
        .and(header("17token", "17-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rejected))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/gettrackinfo"))
        .and(header("17token", "17-key"))
        .respond_with(json_fixture(
            "carriers/17track/poll-accepted-and-rejected.json",
        ))
        .with_priority(2)
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/register"))
        .and(header("17token", "17-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"code": 0, "data": {"accepted": [{"number": "YT2412345678901"}], "rejected": []}}),
        ))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let id = app.register("17track", "YT2412345678901", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&app, &id, "delivered").await;
    // Registered as its subscription when the mall registered it; a poll that still finds it
    // unknown (17TRACK registers asynchronously) registers it again, which 17TRACK takes.
    let registrations = requests_to(&app, "/register").await;
    assert!(!registrations.is_empty());
    for registration in &registrations {
        let registered: Value = serde_json::from_slice(&registration.body).unwrap();
        assert_eq!(registered, json!([{"number": "YT2412345678901"}]));
    }
    let (_, shipment) = app
        .get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await;
    assert_eq!(shipment["subscription"]["state"], "active", "{shipment}");
    app.finish().await;
}

#[tokio::test]
async fn kuaidi100_queries_are_signed_and_carry_the_company_and_phone() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.kuaidi100.base_url", json!("{carrier}")),
            ("carriers.kuaidi100.customer", json!("CUSTOMER42")),
            ("carriers.kuaidi100.key", json!("kuaidi-key")),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/poll/query.do"))
        .respond_with(json_fixture("carriers/kuaidi100/poll-sf-delivered.json"))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let response = app
        .http
        .post(format!("{}/v1/shipments", app.base))
        .bearer_auth(&app.keys.mall)
        .json(
            &json!({"carrier": "kuaidi100", "tracking_number": "SF1400123456789",
                      "phone": "+86 138-0013-5678"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["phone_last4"], "5678",
        "only the last 4 digits are kept"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    wait_for_status(&app, &id, "delivered").await;
    let query = &requests_to(&app, "/poll/query.do").await[0];
    let form: Vec<(String, String)> = form_urlencoded::parse(&query.body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let param: Value = serde_json::from_str(&field("param")).unwrap();
    assert_eq!(param["com"], "shunfeng", "detected from the SF number");
    assert_eq!(param["phone"], "5678");
    assert_eq!(
        field("sign"),
        trackgate::carriers::kuaidi100::query_sign(&field("param"), "kuaidi-key", "CUSTOMER42")
    );
    assert_eq!(field("customer"), "CUSTOMER42");
    app.finish().await;
}

/// (kind, settings, request path, a header the carrier requires, fixture, number, final status).
type Case = (
    &'static str,
    Vec<(&'static str, Value)>,
    &'static str,
    (&'static str, &'static str),
    &'static str,
    &'static str,
    &'static str,
);

/// The karrio-corpus adapters beyond the table, each polled once through the gateway.
#[tokio::test]
async fn la_poste_australia_post_royal_mail_and_mydhl_are_polled_with_their_credentials() {
    let cases: [Case; 4] = [
        (
            "laposte",
            vec![("carriers.laposte.api_key", json!("okapi-key"))],
            "/suivi/v2/idships/6A12345678901",
            ("x-okapi-key", "okapi-key"),
            "carriers/laposte/poll-two-numbers-one-unknown.json",
            "6A12345678901",
            "available_for_pickup",
        ),
        (
            "australiapost",
            vec![
                ("carriers.australiapost.api_key", json!("ap-key")),
                ("carriers.australiapost.password", json!("ap-password")),
                ("carriers.australiapost.account_number", json!("0123456789")),
            ],
            "/shipping/v1/track",
            ("account-number", "0123456789"),
            "carriers/australiapost/poll-awaiting-collection.json",
            "33LVJ5000123",
            "available_for_pickup",
        ),
        (
            "royalmail",
            vec![
                ("carriers.royalmail.client_id", json!("rm-id")),
                ("carriers.royalmail.client_secret", json!("rm-secret")),
            ],
            "/mailpieces/v2/090367574000000FE1E1B/events",
            ("x-accept-rmg-terms", "yes"),
            "carriers/royalmail/poll-delivered.json",
            "090367574000000FE1E1B",
            "delivered",
        ),
        (
            "mydhl",
            vec![
                ("carriers.mydhl.api_key", json!("dhl-user")),
                ("carriers.mydhl.api_secret", json!("dhl-pass")),
            ],
            "/shipments/1234567890/tracking",
            ("authorization", "Basic ZGhsLXVzZXI6ZGhsLXBhc3M="),
            "carriers/mydhl/poll-delivered-with-gmt-offsets.json",
            "1234567890",
            "delivered",
        ),
    ];
    for (kind, settings, route, (name, value), body, number, status) in cases {
        let base_url = format!("carriers.{kind}.base_url");
        let mut overrides = vec![
            ("poll.enabled", json!(true)),
            (base_url.as_str(), json!("{carrier}")),
        ];
        overrides.extend(settings);
        let app = TestApp::spawn_with(Backend::Sqlite, &overrides).await;
        Mock::given(method("GET"))
            .and(path(route))
            .and(header(name, value))
            .respond_with(json_fixture(body))
            .mount(&app.carrier)
            .await;
        app.mall_accepts_pushes().await;
        let id = app.register(kind, number, None).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        wait_for_status(&app, &id, status).await;
        app.finish().await;
    }
}
