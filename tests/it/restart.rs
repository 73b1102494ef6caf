//! Durability: kill -9 the real binary while a push waits for its retry, or while a backlog of
//! carrier subscriptions waits on the carrier's rate; start it again, and the push is still
//! delivered, every shipment still subscribed — with the embedded queue and with RabbitMQ.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use trackgate::store::Store;
use trackgate::store::states::OutboxState;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    Backend, SANDBOX_SECRET, Storage, amqp_url, new_signing_secret, sandbox_event, wait_until,
};

pub(crate) struct Gateway {
    pub(crate) env: Vec<(String, String)>,
}

impl Gateway {
    /// The gateway on `storage` (with RabbitMQ when the storage has a queue prefix), on `port`,
    /// pushing to `{mall}/push`, polling off; `extra` settings (without `TRACKGATE__`) on top.
    pub(crate) fn on(
        storage: &Storage,
        port: u16,
        mall: &str,
        extra: &[(&str, String)],
    ) -> Gateway {
        let mut env: Vec<(&str, String)> = vec![
            ("DATABASE__URL", storage.database_url.clone()),
            ("SERVER__LISTEN", format!("127.0.0.1:{port}")),
            ("SERVER__WORKERS", "1".into()),
            ("MALL__ENDPOINT", format!("{mall}/push")),
            ("MALL__SIGNING_SECRET", new_signing_secret()),
            ("QUEUE__LEASE_SECS", "2".into()),
            ("QUEUE__IDLE_POLL_MS", "50".into()),
            ("POLL__ENABLED", "false".into()),
        ];
        if let Some(prefix) = &storage.amqp_prefix {
            env.push(("QUEUE__KIND", "rabbitmq".into()));
            env.push(("QUEUE__AMQP_URL", amqp_url()));
            env.push(("QUEUE__PREFIX", prefix.clone()));
        }
        env.extend(extra.iter().cloned());
        let env = env
            .into_iter()
            .map(|(key, value)| (format!("TRACKGATE__{key}"), value))
            .collect();
        Gateway { env }
    }

    /// A mall API key, made with `trackgate keys create`.
    pub(crate) fn mall_token(&self) -> String {
        let created = self
            .command(&["keys", "create", "--scope", "mall"])
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        String::from_utf8(created.stdout).unwrap().trim().to_owned()
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trackgate"));
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn");
        command
    }

    pub(crate) fn serve(&self) -> Child {
        self.command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the trackgate binary starts")
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn wait_ready(http: &reqwest::Client, port: u16) {
    wait_until("the gateway is ready", Duration::from_secs(30), || async {
        http.get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

/// Register a sandbox shipment through the mall API; its id.
async fn register(http: &reqwest::Client, base: &str, token: &str, number: &str) -> String {
    let shipment: Value = http
        .post(format!("{base}/v1/shipments"))
        .bearer_auth(token)
        .json(&json!({"carrier": "sandbox", "tracking_number": number}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    shipment["id"].as_str().unwrap().to_owned()
}

/// A store of the test's own on the gateway's database, to watch the rows.
async fn store_on(storage: &Storage) -> Store {
    Store::connect(&trackgate::config::DatabaseSettings {
        url: storage.database_url.clone(),
        max_connections: 2,
        statement_cache: 32,
        read_lanes: 0,
        migrate_on_start: false,
    })
    .await
    .unwrap()
}

/// From now on the mall answers every push with `response` (and forgets what it received).
async fn mall_answers(mall: &MockServer, response: ResponseTemplate) {
    mall.reset().await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(response)
        .mount(mall)
        .await;
}

/// The `webhook-id` of every push the mall received.
async fn delivered_webhook_ids(mall: &MockServer) -> Vec<String> {
    mall.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("webhook-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn pushes_survive_kill_9(backend: Backend) {
    let storage = Storage::create(backend).await;
    let mall = MockServer::start().await;
    mall_answers(&mall, ResponseTemplate::new(500)).await;
    let port = free_port();
    let gateway = Gateway::on(
        &storage,
        port,
        &mall.uri(),
        &[
            ("CARRIERS__SANDBOX__WEBHOOK_SECRET", SANDBOX_SECRET.into()),
            ("RETRY__INITIAL_DELAY_MS", "1500".into()),
            ("RETRY__MAX_DELAY_MS", "3000".into()),
        ],
    );
    let token = gateway.mall_token();

    let http = reqwest::Client::new();
    let mut child = gateway.serve();
    wait_ready(&http, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let shipment_id = register(&http, &base, &token, "SBX-KILL").await;
    let body = sandbox_event("SBX-KILL", "1", "2026-11-20T08:00:00Z", "PU");
    let response = http
        .post(format!("{base}/webhooks/sandbox"))
        .header(
            "x-sandbox-signature",
            trackgate::carriers::sandbox::sign(SANDBOX_SECRET, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    wait_until(
        "the first push attempt fails",
        Duration::from_secs(15),
        || async { !mall.received_requests().await.unwrap().is_empty() },
    )
    .await;

    child.kill().unwrap(); // SIGKILL: no graceful anything
    child.wait().unwrap();
    mall_answers(&mall, ResponseTemplate::new(200)).await;

    let mut child = gateway.serve();
    wait_ready(&http, port).await;
    let store = store_on(&storage).await;
    wait_until(
        "the push waiting for its retry is delivered after the restart",
        Duration::from_secs(30),
        || async {
            store
                .outbox_of_shipment(&shipment_id)
                .await
                .unwrap()
                .iter()
                .all(|row| matches!(row.state, OutboxState::Delivered | OutboxState::Superseded))
        },
    )
    .await;
    let outbox = store.outbox_of_shipment(&shipment_id).await.unwrap();
    assert_eq!(outbox.len(), 1);
    let delivered_ids = delivered_webhook_ids(&mall).await;
    assert!(
        delivered_ids.contains(&outbox[0].id),
        "the same webhook-id is delivered after the crash"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    storage.cleanup().await;
}

#[tokio::test]
async fn pushes_waiting_for_a_retry_survive_kill_9() {
    pushes_survive_kill_9(Backend::Sqlite).await;
}

#[tokio::test]
async fn pushes_waiting_for_a_retry_survive_kill_9_on_postgres_rabbitmq() {
    pushes_survive_kill_9(Backend::PostgresRabbit).await;
}

/// kill -9 while pushes are on RabbitMQ but their rows are not yet marked as enqueued (the mark
/// is written behind, a moment after the publish): after a restart every push is still
/// delivered and no row is left pending.
#[tokio::test]
async fn pushes_published_before_their_mark_survive_kill_9_on_postgres_rabbitmq() {
    const SHIPMENTS: usize = 12;
    let storage = Storage::create(Backend::PostgresRabbit).await;
    let mall = MockServer::start().await;
    // Slow enough that nothing is delivered, so nothing is settled, before the kill.
    let slow = ResponseTemplate::new(200).set_delay(Duration::from_secs(5));
    mall_answers(&mall, slow).await;
    let port = free_port();
    let gateway = Gateway::on(
        &storage,
        port,
        &mall.uri(),
        &[("CARRIERS__SANDBOX__WEBHOOK_SECRET", SANDBOX_SECRET.into())],
    );
    let token = gateway.mall_token();
    let http = reqwest::Client::new();
    let mut child = gateway.serve();
    wait_ready(&http, port).await;
    let base = format!("http://127.0.0.1:{port}");
    let store = store_on(&storage).await;
    let mut shipment_ids = Vec::new();
    for n in 0..SHIPMENTS {
        shipment_ids.push(register(&http, &base, &token, &format!("SBX-MARK-{n}")).await);
    }
    for n in 0..SHIPMENTS {
        let body = sandbox_event(&format!("SBX-MARK-{n}"), "1", "2026-11-20T08:00:00Z", "PU");
        let response = crate::helpers::post_sandbox_webhook(&http, &base, &body).await;
        assert_eq!(response.status().as_u16(), 200);
    }
    let outbox = || {
        let (store, ids) = (store.clone(), shipment_ids.clone());
        async move {
            let mut rows = Vec::new();
            for id in &ids {
                rows.extend(store.outbox_of_shipment(id).await.unwrap());
            }
            rows
        }
    };
    wait_until(
        "every push is written and on its way",
        Duration::from_secs(15),
        || async {
            outbox().await.len() == SHIPMENTS && !mall.received_requests().await.unwrap().is_empty()
        },
    )
    .await;
    child.kill().unwrap(); // SIGKILL inside the write-behind window
    child.wait().unwrap();
    let at_kill = outbox().await;
    assert!(
        at_kill
            .iter()
            .any(|row| row.state == OutboxState::Pending && !row.enqueued),
        "the kill came before the pushes' enqueued marks: {at_kill:?}"
    );

    mall_answers(&mall, ResponseTemplate::new(200)).await;
    let mut child = gateway.serve();
    wait_ready(&http, port).await;
    wait_until(
        "every push is delivered after the restart",
        Duration::from_secs(60),
        || async {
            outbox()
                .await
                .iter()
                .all(|row| row.state == OutboxState::Delivered)
        },
    )
    .await;
    let delivered_ids = delivered_webhook_ids(&mall).await;
    for row in outbox().await {
        assert!(
            delivered_ids.contains(&row.id),
            "{} delivered after the crash under its webhook-id",
            row.id
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    storage.cleanup().await;
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let storage = Storage::create(Backend::Sqlite).await;
    let port = free_port();
    let gateway = Gateway::on(&storage, port, "http://127.0.0.1:9", &[]);
    let mut child = gateway.serve();
    wait_ready(&reqwest::Client::new(), port).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..200 {
        if let Some(code) = child.try_wait().unwrap() {
            exited = Some(code);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = exited.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("trackgate did not exit within 20 s of SIGTERM")
    });
    assert!(code.success(), "exit status {code}");
    storage.cleanup().await;
}

/// kill -9 while a backlog of subscriptions waits on the carrier's rate: after a restart every
/// shipment is subscribed — tasks on the queue and rows that never reached it alike.
async fn subscriptions_survive_kill_9(backend: Backend) {
    use crate::subscriptions::{form_param, recorded};
    use wiremock::Mock;
    use wiremock::matchers::{method, path};
    let storage = crate::helpers::Storage::create(backend).await;
    let carrier = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/poll"))
        .respond_with(
            recorded("kuaidi100-subscribed.json", 200).set_delay(Duration::from_millis(200)),
        )
        .mount(&carrier)
        .await;
    let port = free_port();
    let gateway = Gateway::on(
        &storage,
        port,
        &carrier.uri(),
        &[
            ("SERVER__PUBLIC_URL", "https://gw.example.com".into()),
            ("CARRIERS__KUAIDI100__BASE_URL", carrier.uri()),
            ("CARRIERS__KUAIDI100__KEY", "k100-key".into()),
            ("CARRIERS__KUAIDI100__SALT", "salt".into()),
            ("CARRIERS__KUAIDI100__REQUESTS_PER_SECOND", "4".into()),
        ],
    );
    let token = gateway.mall_token();
    let http = reqwest::Client::new();
    let mut child = gateway.serve();
    wait_ready(&http, port).await;
    let numbers: Vec<String> = (0..20).map(|n| format!("SF14000000000{n:02}")).collect();
    let batch: Vec<Value> = numbers
        .iter()
        .map(|n| json!({"carrier": "kuaidi100", "tracking_number": n}))
        .collect();
    let answer: Value = http
        .post(format!("http://127.0.0.1:{port}/v1/shipments/batch"))
        .bearer_auth(&token)
        .json(&json!({ "shipments": batch }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shipment"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 20);
    wait_until(
        "a few subscriptions are made",
        Duration::from_secs(15),
        || async { carrier.received_requests().await.unwrap_or_default().len() >= 3 },
    )
    .await;
    child.kill().unwrap(); // SIGKILL mid-backlog
    child.wait().unwrap();
    let made_before = carrier.received_requests().await.unwrap_or_default().len();
    assert!(made_before < 20, "the backlog was still there at the kill");

    let mut child = gateway.serve();
    wait_ready(&http, port).await;
    let store = store_on(&storage).await;
    wait_until(
        "every subscription is active after the restart",
        Duration::from_secs(60),
        || async {
            let rows = store.subscriptions_of(&ids).await.unwrap();
            rows.len() == 20
                && rows
                    .iter()
                    .all(|r| r.state == trackgate::store::states::SubscriptionState::Active)
        },
    )
    .await;
    let subscribed: std::collections::BTreeSet<String> = carrier
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| form_param(r)["number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        subscribed,
        numbers.iter().cloned().collect(),
        "every number subscribed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    storage.cleanup().await;
}

#[tokio::test]
async fn subscriptions_survive_kill_9_with_the_embedded_queue() {
    subscriptions_survive_kill_9(Backend::Sqlite).await;
}

#[tokio::test]
async fn subscriptions_survive_kill_9_on_postgres_rabbitmq() {
    subscriptions_survive_kill_9(Backend::PostgresRabbit).await;
}
