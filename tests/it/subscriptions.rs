//! Tracking that starts itself: registering a shipment subscribes it with its carrier, once,
//! as queue work — against fake Kuaidi100, AfterShip, EasyPost, Shippo and 17TRACK servers
//! answering with recorded responses (`fixtures/subscriptions/`).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, wait_until};

pub(crate) fn recorded(name: &str, status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        fixture(&format!("subscriptions/{name}")),
        "application/json",
    )
}

/// Every subscribing kind pointed at the fake carrier, with credentials.
fn subscribing_carriers() -> Vec<(&'static str, Value)> {
    vec![
        ("server.public_url", json!("https://gw.example.com")),
        ("carriers.kuaidi100.base_url", json!("{carrier}")),
        ("carriers.kuaidi100.key", json!("k100-key")),
        ("carriers.aftership.base_url", json!("{carrier}")),
        ("carriers.aftership.api_key", json!("as-key")),
        ("carriers.easypost.base_url", json!("{carrier}")),
        ("carriers.easypost.api_key", json!("EZTK1")),
        ("carriers.shippo.base_url", json!("{carrier}")),
        ("carriers.shippo.api_token", json!("shippo_test_1")),
        ("carriers.shippo.carrier", json!("usps")),
        ("carriers.17track.base_url", json!("{carrier}")),
        ("carriers.17track.api_key", json!("17-key")),
    ]
}

async fn requests_to(app: &TestApp, wanted: &str) -> Vec<Request> {
    let received = app.carrier.received_requests().await.unwrap_or_default();
    received
        .into_iter()
        .filter(|r| r.url.path() == wanted)
        .collect()
}

async fn subscription(app: &TestApp, id: &str) -> Value {
    let (_, shipment) = app
        .get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await;
    shipment["subscription"].clone()
}

async fn wait_for_subscription(app: &TestApp, id: &str, state: &str) -> Value {
    wait_until(
        &format!("subscription of {id} becomes {state}"),
        Duration::from_secs(20),
        || async { subscription(app, id).await["state"] == state },
    )
    .await;
    subscription(app, id).await
}

pub(crate) fn form_param(request: &Request) -> Value {
    let (_, param) = form_urlencoded::parse(&request.body)
        .find(|(name, _)| name == "param")
        .expect("a `param` field");
    serde_json::from_str(&param).unwrap()
}

async fn every_kind_subscribes_once_per_shipment(backend: Backend) {
    let extra = subscribing_carriers();
    let app = TestApp::spawn_with(backend, &extra).await;
    for (route, name, status) in [
        ("/poll", "kuaidi100-subscribed.json", 200),
        ("/v4/trackings", "aftership-created.json", 201),
        ("/v2/trackers", "easypost-tracker.json", 201),
        ("/tracks/", "shippo-track.json", 201),
        ("/register", "17track-registered.json", 200),
    ] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(recorded(name, status))
            .mount(&app.carrier)
            .await;
    }
    let registrations = [
        ("kuaidi100", "sf 1400 1234 5678 9", "/poll"),
        ("aftership", "LX123456785CN", "/v4/trackings"),
        ("easypost", "9400110898825022579493", "/v2/trackers"),
        ("shippo", "9205590164917312751089", "/tracks/"),
        ("17track", "RR123456789CN", "/register"),
    ];
    for (carrier, number, route) in registrations {
        let id = app.register(carrier, number, Some("ORD-S")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The same shipment registered again (another spelling) is not a second subscription.
        let again = app.register(carrier, &number.to_lowercase(), None).await;
        assert_eq!(again["id"], id.as_str(), "{carrier}");
        let active = wait_for_subscription(&app, &id, "active").await;
        assert_eq!(active["last_error"], Value::Null, "{carrier}");
        assert_eq!(
            requests_to(&app, route).await.len(),
            1,
            "{carrier}: one subscription"
        );
    }

    let kuaidi100 = &requests_to(&app, "/poll").await[0];
    let param = form_param(kuaidi100);
    assert_eq!(param["company"], "shunfeng", "detected from the SF number");
    assert_eq!(param["number"], "SF1400123456789", "the canonical number");
    assert_eq!(param["key"], "k100-key");
    assert_eq!(
        param["parameters"]["callbackurl"],
        "https://gw.example.com/webhooks/kuaidi100"
    );
    assert_eq!(param["parameters"]["salt"], crate::helpers::KUAIDI100_SALT);
    assert_eq!(param["parameters"]["resultv2"], "4");

    let aftership = &requests_to(&app, "/v4/trackings").await[0];
    assert_eq!(aftership.headers["aftership-api-key"], "as-key");
    let body: Value = serde_json::from_slice(&aftership.body).unwrap();
    assert_eq!(body["tracking"]["tracking_number"], "LX123456785CN");

    let easypost = &requests_to(&app, "/v2/trackers").await[0];
    assert_eq!(easypost.headers["authorization"], "Basic RVpUSzE6");
    let body: Value = serde_json::from_slice(&easypost.body).unwrap();
    assert_eq!(body["tracker"]["tracking_code"], "9400110898825022579493");

    let shippo = &requests_to(&app, "/tracks/").await[0];
    assert_eq!(shippo.headers["authorization"], "ShippoToken shippo_test_1");
    let body: Value = serde_json::from_slice(&shippo.body).unwrap();
    assert_eq!(
        body,
        json!({"carrier": "usps", "tracking_number": "9205590164917312751089"})
    );

    let seventeen = &requests_to(&app, "/register").await[0];
    assert_eq!(seventeen.headers["17token"], "17-key");
    let body: Value = serde_json::from_slice(&seventeen.body).unwrap();
    assert_eq!(body, json!([{"number": "RR123456789CN"}]));

    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"trackgate_subscriptions_total{carrier="kuaidi100",result="active"} 1"#),
        "{metrics}"
    );
    let (_, carriers) = app.get_json("/v1/admin/carriers", &app.keys.admin).await;
    let k100 = carriers["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "kuaidi100")
        .unwrap();
    assert_eq!(k100["subscriptions"]["by_state"]["active"], 1, "{k100}");
    app.finish().await;
}

#[tokio::test]
async fn every_kind_subscribes_once_per_shipment_on_sqlite() {
    every_kind_subscribes_once_per_shipment(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_kind_subscribes_once_per_shipment_on_postgres_rabbitmq() {
    every_kind_subscribes_once_per_shipment(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn every_kind_subscribes_once_per_shipment_on_mysql() {
    every_kind_subscribes_once_per_shipment(Backend::MySql).await;
}

#[tokio::test]
async fn a_refusal_is_a_visible_failed_subscription_never_a_retry_loop() {
    let app = TestApp::spawn_with(Backend::Sqlite, &subscribing_carriers()).await;
    Mock::given(method("POST"))
        .and(path("/poll"))
        .respond_with(recorded("kuaidi100-bad-key.json", 200))
        .mount(&app.carrier)
        .await;
    let id = app.register("kuaidi100", "SF1400000000001", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_for_subscription(&app, &id, "failed").await;
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains("600") && error.contains("合法的订阅者"),
        "{error}"
    );
    // Retries would come after 100 ms (the suite's retry delay); none comes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(requests_to(&app, "/poll").await.len(), 1);
    // A kind that cannot subscribe as configured fails without a request at all.
    let unsigned = TestApp::spawn(Backend::Sqlite).await;
    let id = unsigned.register("aftership", "LX123456785CN", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_for_subscription(&unsigned, &id, "failed").await;
    assert!(
        failed["last_error"].as_str().unwrap().contains("api_key"),
        "{failed}"
    );
    app.finish().await;
    unsigned.finish().await;
}

#[tokio::test]
async fn an_unavailable_carrier_is_retried_with_backoff_until_it_answers() {
    let app = TestApp::spawn_with(Backend::Sqlite, &subscribing_carriers()).await;
    Mock::given(method("POST"))
        .and(path("/v4/trackings"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/v4/trackings"))
        .respond_with(recorded("aftership-exists.json", 400))
        .with_priority(2)
        .mount(&app.carrier)
        .await;
    let id = app.register("aftership", "LX123456785CN", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let active = wait_for_subscription(&app, &id, "active").await;
    assert_eq!(
        active["attempts"], 3,
        "two 503s, then 'already exists' is success"
    );
    assert_eq!(requests_to(&app, "/v4/trackings").await.len(), 3);
    app.finish().await;
}

#[tokio::test]
async fn stopping_a_shipment_stops_its_subscription() {
    let app = TestApp::spawn_with(Backend::Sqlite, &subscribing_carriers()).await;
    Mock::given(method("POST"))
        .and(path("/register"))
        .and(header("17token", "17-key"))
        .respond_with(recorded("17track-registered.json", 200))
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/stoptrack"))
        .and(header("17token", "17-key"))
        .respond_with(recorded("17track-stopped.json", 200))
        .mount(&app.carrier)
        .await;
    let id = app.register("17track", "RR123456789CN", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_subscription(&app, &id, "active").await;
    let stopped = app
        .http
        .delete(format!("{}/v1/shipments/{id}", app.base))
        .bearer_auth(&app.keys.mall)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status().as_u16(), 204);
    wait_for_subscription(&app, &id, "stopped").await;
    let stops = requests_to(&app, "/stoptrack").await;
    assert_eq!(stops.len(), 1);
    let body: Value = serde_json::from_slice(&stops[0].body).unwrap();
    assert_eq!(body, json!([{"number": "RR123456789CN"}]));
    // Registered again, it is subscribed again.
    app.register("17track", "RR123456789CN", None).await;
    wait_for_subscription(&app, &id, "active").await;
    assert_eq!(requests_to(&app, "/register").await.len(), 2);
    app.finish().await;
}

#[tokio::test]
async fn resync_makes_active_subscriptions_again() {
    let app = TestApp::spawn_with(Backend::Sqlite, &subscribing_carriers()).await;
    Mock::given(method("POST"))
        .and(path("/v2/trackers"))
        .respond_with(recorded("easypost-tracker.json", 201))
        .mount(&app.carrier)
        .await;
    let id = app
        .register("easypost", "9400110898825022579493", None)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_subscription(&app, &id, "active").await;
    // What `trackgate subscriptions resync --carrier easypost` does; another carrier's are
    // left alone.
    let store = &app.gateway().store;
    assert_eq!(
        store.resync_subscriptions(Some("aftership")).await.unwrap(),
        0
    );
    assert_eq!(
        store.resync_subscriptions(Some("easypost")).await.unwrap(),
        1
    );
    wait_until(
        "the relay subscribes it again",
        Duration::from_secs(30),
        || async { requests_to(&app, "/v2/trackers").await.len() == 2 },
    )
    .await;
    wait_for_subscription(&app, &id, "active").await;
    app.finish().await;
}

/// A fake carrier that notes when each request arrived.
#[derive(Clone, Default)]
struct Clocked(std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>);

impl wiremock::Respond for Clocked {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(std::time::Instant::now());
        recorded("kuaidi100-subscribed.json", 200)
    }
}

#[tokio::test]
async fn a_batch_of_registrations_subscribes_at_the_carriers_rate() {
    let mut extra = subscribing_carriers();
    extra.push(("carriers.kuaidi100.requests_per_second", json!(10)));
    let app = TestApp::spawn_with(Backend::Sqlite, &extra).await;
    let clock = Clocked::default();
    Mock::given(method("POST"))
        .and(path("/poll"))
        .respond_with(clock.clone())
        .mount(&app.carrier)
        .await;
    let batch: Vec<Value> = (0..60)
        .map(|n| json!({"carrier": "kuaidi100", "tracking_number": format!("SF14000000001{n:02}")}))
        .collect();
    let answer = app
        .http
        .post(format!("{}/v1/shipments/batch", app.base))
        .bearer_auth(&app.keys.mall)
        .json(&json!({ "shipments": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    wait_until("60 subscriptions", Duration::from_secs(30), || async {
        clock.0.lock().unwrap().len() == 60
    })
    .await;
    // 10 a second with a burst of 10: any second-long window holds at most 20, and the 50 after
    // the burst take at least 5 s. (A cap, not a speed: nothing here can be too slow.)
    let times = clock.0.lock().unwrap().clone();
    for (i, start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(within <= 20, "{within} requests within one second");
    }
    let spread = times[59].duration_since(times[0]);
    assert!(
        spread >= Duration::from_millis(4900),
        "60 requests in {spread:?}"
    );
    app.finish().await;
}
