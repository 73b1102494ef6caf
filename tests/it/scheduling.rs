//! Many gateways, one truth: gateway processes sharing one PostgreSQL and RabbitMQ split the
//! poll work through leased claims, keep a carrier's rate limit between them, and take over the
//! leases of a process that was killed.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trackgate::carriers::Status;
use trackgate::startup::{Application, Running};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{Backend, SANDBOX_SECRET, TestApp, amqp_url, wait_until};

/// Each request the fake carrier accepted: when, and the numbers it asked for.
type Seen = Arc<Mutex<Vec<(Instant, Vec<String>)>>>;

/// A fake sandbox carrier that answers every number with one in-transit event, rejects with
/// 429 any request beyond `limit` in a sliding second, and records what it saw.
#[derive(Clone, Default)]
struct CountingCarrier {
    seen: Seen,
    rejected: Arc<Mutex<usize>>,
}

impl CountingCarrier {
    async fn mount(&self, app: &TestApp, limit: usize, delay: Duration) {
        let me = self.clone();
        Mock::given(method("GET"))
            .and(path("/v1/track"))
            .respond_with(move |request: &Request| {
                let numbers: Vec<String> = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "numbers")
                    .map(|(_, v)| v.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                let now = Instant::now();
                let mut seen = me.seen.lock().unwrap();
                let recent = seen
                    .iter()
                    .filter(|(at, _)| now.duration_since(*at) < Duration::from_secs(1))
                    .count();
                if recent >= limit {
                    *me.rejected.lock().unwrap() += 1;
                    return ResponseTemplate::new(429).insert_header("retry-after", "1");
                }
                seen.push((now, numbers.clone()));
                let shipments: Vec<Value> = numbers
                    .iter()
                    .map(|n| {
                        json!({"tracking_number": n, "events": [{"id": format!("it-{n}"),
                        "time": "2026-11-21T10:00:00Z", "code": "IT", "description": "In transit",
                        "location": "Leipzig, DE"}]})
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "shipments": shipments }))
                    .set_delay(delay)
            })
            .mount(&app.carrier)
            .await;
    }

    fn polled_numbers(&self) -> Vec<String> {
        let mut numbers: Vec<String> = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, n)| n.clone())
            .collect();
        numbers.sort();
        numbers
    }

    fn rejected(&self) -> usize {
        *self.rejected.lock().unwrap()
    }
}

/// Another gateway process in this test process, on the same database, queues and fakes.
async fn twin(app: &TestApp) -> Running {
    let mut settings = app.settings();
    settings.poll.enabled = true;
    Application::build(settings)
        .await
        .expect("the twin starts")
        .start()
        .await
        .expect("the twin serves")
}

fn numbers(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("SBX-MP-{i:03}")).collect()
}

async fn register_all(app: &TestApp, numbers: &[String]) {
    for number in numbers {
        app.register("sandbox", number, None).await;
    }
}

#[tokio::test]
async fn two_processes_share_the_poll_work_within_the_carrier_rate_limit() {
    share_the_poll_work(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn two_processes_share_the_poll_work_on_mysql() {
    share_the_poll_work(Backend::MySql).await;
}

async fn share_the_poll_work(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.sandbox.requests_per_second", json!(4)),
            ("carriers.sandbox.batch_size", json!(2)),
        ],
    )
    .await;
    let carrier = CountingCarrier::default();
    carrier.mount(&app, 4, Duration::ZERO).await;
    app.mall_accepts_pushes().await;
    let other = twin(&app).await;
    let wanted = numbers(24);
    register_all(&app, &wanted).await;
    wait_until(
        "every shipment is polled",
        Duration::from_secs(40),
        || async { carrier.polled_numbers().len() >= wanted.len() },
    )
    .await;
    // One more tick: nothing may be polled twice in this round.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        carrier.rejected(),
        0,
        "the shared pacer kept to 4 requests/s"
    );
    assert_eq!(
        carrier.polled_numbers(),
        wanted,
        "every due shipment polled exactly once in the round"
    );
    let ok = |running: &Running| {
        running
            .gateway
            .metrics
            .polls
            .with_label_values(&["sandbox", "ok"])
            .get()
    };
    let (mine, theirs) = (ok(app.running.as_ref().unwrap()), ok(&other));
    let requests = carrier.seen.lock().unwrap().len() as u64;
    assert_eq!(
        mine + theirs,
        requests,
        "every request the carrier saw was one of theirs"
    );
    assert!(requests <= 24, "batches of up to 2 numbers");
    assert!(
        mine > 0 && theirs > 0,
        "both processes polled ({mine} and {theirs})"
    );
    other.stop().await;
    app.finish().await;
}

/// The environment that makes the real binary a gateway process of `app`'s deployment.
fn binary_env(app: &TestApp, port: u16) -> Vec<(String, String)> {
    let storage = app.storage.as_ref().unwrap();
    let mut env: Vec<(String, String)> = vec![
        (
            "TRACKGATE__DATABASE__URL".into(),
            storage.database_url.clone(),
        ),
        (
            "TRACKGATE__SERVER__LISTEN".into(),
            format!("127.0.0.1:{port}"),
        ),
        ("TRACKGATE__SERVER__WORKERS".into(), "1".into()),
        (
            "TRACKGATE__MALL__ENDPOINT".into(),
            format!("{}/push", app.mall.uri()),
        ),
        (
            "TRACKGATE__MALL__SIGNING_SECRET".into(),
            app.mall_secret.clone(),
        ),
        (
            "TRACKGATE__CARRIERS__SANDBOX__WEBHOOK_SECRET".into(),
            SANDBOX_SECRET.into(),
        ),
        (
            "TRACKGATE__CARRIERS__SANDBOX__BASE_URL".into(),
            app.carrier.uri(),
        ),
        (
            "TRACKGATE__CARRIERS__SANDBOX__BATCH_SIZE".into(),
            "2".into(),
        ),
        (
            "TRACKGATE__CARRIERS__SANDBOX__REQUESTS_PER_SECOND".into(),
            "20".into(),
        ),
        ("TRACKGATE__POLL__ENABLED".into(), "true".into()),
        ("TRACKGATE__POLL__TICK_SECS".into(), "1".into()),
        ("TRACKGATE__POLL__LEASE_SECS".into(), "3".into()),
        ("TRACKGATE__QUEUE__LEASE_SECS".into(), "2".into()),
    ];
    if let Some(prefix) = &storage.amqp_prefix {
        env.push(("TRACKGATE__QUEUE__KIND".into(), "rabbitmq".into()));
        env.push(("TRACKGATE__QUEUE__AMQP_URL".into(), amqp_url()));
        env.push(("TRACKGATE__QUEUE__PREFIX".into(), prefix.clone()));
    }
    env
}

fn serve_binary(env: &[(String, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_trackgate"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the trackgate binary starts")
}

#[tokio::test]
async fn a_process_killed_mid_round_leaves_its_batches_to_another() {
    // The API process does not poll; the real binary does, slowly, and is killed mid-round.
    let app = TestApp::spawn_with(
        Backend::PostgresRabbit,
        &[
            ("carriers.sandbox.batch_size", json!(2)),
            ("carriers.sandbox.requests_per_second", json!(20)),
            ("poll.lease_secs", json!(3)),
        ],
    )
    .await;
    let carrier = CountingCarrier::default();
    carrier.mount(&app, 100, Duration::from_millis(700)).await;
    app.mall_accepts_pushes().await;
    let wanted = numbers(12);
    register_all(&app, &wanted).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut doomed = serve_binary(&binary_env(&app, port));
    wait_until(
        "the doomed process is mid-round",
        Duration::from_secs(30),
        || async { !carrier.polled_numbers().is_empty() },
    )
    .await;
    doomed.kill().expect("kill -9");
    let _ = doomed.wait();
    let killed_after = carrier.polled_numbers().len();
    assert!(killed_after < wanted.len(), "killed before the round ended");

    let survivor = twin(&app).await;
    wait_until(
        "every shipment is in transit and pushed",
        Duration::from_secs(60),
        || async {
            let pushed: std::collections::BTreeSet<String> = app
                .pushes_received()
                .await
                .iter()
                .filter(|p| p["status"] == "in_transit")
                .map(|p| p["tracking_number"].as_str().unwrap_or("").to_owned())
                .collect();
            pushed.len() == wanted.len()
        },
    )
    .await;
    let mut polled = carrier.polled_numbers();
    polled.dedup();
    assert_eq!(polled, wanted, "every shipment was polled");
    survivor.stop().await;
    app.finish().await;
}

#[tokio::test]
async fn a_refresh_polls_again_before_the_schedule_and_admin_sees_the_figures() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("poll.enabled", json!(true))]).await;
    let carrier = CountingCarrier::default();
    carrier.mount(&app, 100, Duration::ZERO).await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("sandbox", "SBX-REFRESH", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    // In transit after the first poll: the next routine poll is about 2 h away.
    wait_until(
        "the first poll is rescheduled about 2 h ahead",
        Duration::from_secs(10),
        || async {
            let stored = app
                .gateway()
                .store
                .get_shipment(&id)
                .await
                .unwrap()
                .unwrap();
            stored
                .next_poll_at
                .is_some_and(|at| at - chrono::Utc::now() > chrono::Duration::minutes(100))
                && stored.status.0 == Status::InTransit
        },
    )
    .await;
    assert_eq!(carrier.polled_numbers().len(), 1);

    let refresh = |key: &str| {
        app.http
            .post(format!("{}/v1/shipments/{id}/refresh", app.base))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(
        refresh(&app.keys.support).await.unwrap().status().as_u16(),
        202
    );
    wait_until("the refresh poll", Duration::from_secs(10), || async {
        carrier.polled_numbers().len() == 2
    })
    .await;
    let missing = app
        .http
        .post(format!("{}/v1/shipments/shp_missing/refresh", app.base))
        .bearer_auth(&app.keys.mall)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);

    let (status, body) = app.get_json("/v1/admin/carriers", &app.keys.admin).await;
    assert_eq!(status, 200);
    let sandbox = body["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sandbox")
        .unwrap()
        .clone();
    assert_eq!(sandbox["requests"]["ok"], 2);
    assert_eq!(sandbox["requests"]["rate_limited"], 0);
    assert_eq!(sandbox["quota"]["used_today"], 2);
    assert_eq!(sandbox["backlog"]["due"], 0);
    assert!(sandbox["latency_ms"]["mean"].as_f64().unwrap() >= 0.0);
    let (status, _) = app.get_json("/v1/admin/carriers", &app.keys.mall).await;
    assert_eq!(status, 403, "admin only");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("trackgate_poll_due{carrier=\"sandbox\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trackgate_carrier_request_duration_seconds_count{carrier=\"sandbox\"} 2")
    );
    app.finish().await;
}

#[tokio::test]
async fn a_shipment_without_news_expires_and_the_mall_is_told() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("poll.enabled", json!(true)),
            ("carriers.sandbox.schedule.expire_after_days", json!(0)),
        ],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v1/track"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"shipments": []})))
        .mount(&app.carrier)
        .await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("sandbox", "SBX-SILENT", Some("order-9")).await;
    wait_until("the expiry push", Duration::from_secs(10), || async {
        app.pushes_received()
            .await
            .iter()
            .any(|p| p["status"] == "expired")
    })
    .await;
    let stored = app
        .gateway()
        .store
        .get_shipment(shipment["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.0, Status::Expired);
    assert_eq!(stored.next_poll_at, None, "no more polls");
    assert_eq!(stored.push_seq, 1);
    app.finish().await;
}
