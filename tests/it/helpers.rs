//! Test harness: the real app on port 0, on SQLite + embedded queue or on the local PostgreSQL +
//! RabbitMQ, with wiremock servers standing in for the mall and the carrier APIs.
//!
//! Each PostgreSQL test gets a database of its own and each RabbitMQ test a queue prefix of its
//! own, so tests run in parallel and leave nothing behind. A service that cannot be reached
//! fails the test with the address it tried: nothing is skipped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use trackgate::config::Settings;
use trackgate::startup::{Application, Running};
use trackgate::store::states::{Scope, WebhookOutcome};
use wiremock::MockServer;

pub const SANDBOX_SECRET: &str = "test-sandbox-secret";
pub const KUAIDI100_SALT: &str = "fixture-salt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    PostgresRabbit,
    /// MySQL/MariaDB store with the embedded queue.
    MySql,
}

pub fn mysql_admin_url() -> String {
    std::env::var("TRACKGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

pub fn postgres_admin_url() -> String {
    std::env::var("TRACKGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn amqp_url() -> String {
    std::env::var("TRACKGATE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|err| panic!("fixture {}: {err}", full.display()))
}

/// Where one test's data lives; cleaned up by [`TestApp::finish`].
pub struct Storage {
    pub database_url: String,
    pg_database: Option<String>,
    mysql_database: Option<String>,
    pub amqp_prefix: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Storage {
    pub async fn create(backend: Backend) -> Storage {
        trackgate::startup::install_crypto_provider();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let database_url =
                    format!("sqlite://{}?mode=rwc", dir.path().join("tg.db").display());
                Storage {
                    database_url,
                    pg_database: None,
                    mysql_database: None,
                    amqp_prefix: None,
                    _dir: Some(dir),
                }
            }
            Backend::PostgresRabbit => {
                let name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
                let admin_url = postgres_admin_url();
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|err| {
                    panic!("PostgreSQL must be running for this test ({admin_url}): {err}")
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap();
                Storage {
                    database_url: format!("{base}/{name}"),
                    pg_database: Some(name),
                    mysql_database: None,
                    amqp_prefix: Some(format!("tgtest.{}", uuid::Uuid::new_v4().simple())),
                    _dir: None,
                }
            }
            Backend::MySql => {
                let name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
                let admin_url = mysql_admin_url();
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|err| {
                    panic!("MySQL/MariaDB must be running for this test ({admin_url}): {err}")
                });
                admin
                    .execute_unprepared(&format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ))
                    .await
                    .unwrap();
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap();
                Storage {
                    database_url: format!("{base}/{name}"),
                    pg_database: None,
                    mysql_database: Some(name),
                    amqp_prefix: None,
                    _dir: None,
                }
            }
        }
    }

    pub fn overrides(&self) -> Vec<(String, Value)> {
        let mut list = vec![("database.url".to_owned(), json!(self.database_url))];
        if let Some(prefix) = &self.amqp_prefix {
            list.push(("queue.kind".into(), json!("rabbitmq")));
            list.push(("queue.amqp_url".into(), json!(amqp_url())));
            list.push(("queue.prefix".into(), json!(prefix)));
        }
        list
    }

    pub async fn cleanup(self) {
        if let Some(prefix) = &self.amqp_prefix {
            delete_rabbit_queues(prefix).await;
        }
        if let Some(name) = self.pg_database
            && let Ok(admin) = Database::connect(&postgres_admin_url()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
        if let Some(name) = self.mysql_database
            && let Ok(admin) = Database::connect(&mysql_admin_url()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// Delete every queue under a test prefix (wait queues included) and its exchange.
async fn delete_rabbit_queues(prefix: &str) {
    let Ok(output) = std::process::Command::new("rabbitmqctl")
        .args(["list_queues", "name", "-q", "--no-table-headers"])
        .output()
    else {
        return;
    };
    let Ok(connection) = lapin::Connection::connect(&amqp_url(), Default::default()).await else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    for name in String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with(prefix))
    {
        let _ = channel.queue_delete(name.into(), Default::default()).await;
    }
    let _ = channel
        .exchange_delete(format!("{prefix}.work").as_str().into(), Default::default())
        .await;
}

pub struct Keys {
    pub mall: String,
    pub support: String,
    pub admin: String,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub mall: MockServer,
    pub mall_secret: String,
    pub carrier: MockServer,
    pub keys: Keys,
    pub running: Option<Running>,
    pub storage: Option<Storage>,
    extra: Vec<(String, Value)>,
}

pub fn new_signing_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(
            [
                *uuid::Uuid::new_v4().as_bytes(),
                *uuid::Uuid::new_v4().as_bytes()
            ]
            .concat()
        )
    )
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    /// Spawn with extra dotted-key config overrides (e.g. `("retry.max_attempts", json!(2))`).
    pub async fn spawn_with(backend: Backend, extra: &[(&str, Value)]) -> TestApp {
        trackgate::startup::install_crypto_provider();
        let storage = Storage::create(backend).await;
        let mall = MockServer::start().await;
        let carrier = MockServer::start().await;
        let mut app = TestApp {
            base: String::new(),
            http: reqwest::Client::new(),
            mall,
            mall_secret: new_signing_secret(),
            carrier,
            keys: Keys {
                mall: String::new(),
                support: String::new(),
                admin: String::new(),
            },
            running: None,
            storage: Some(storage),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        app.start().await;
        let store = &app.gateway().store;
        app.keys = Keys {
            mall: store.create_api_key(Scope::Mall, None).await.unwrap().token,
            support: store
                .create_api_key(Scope::Support, None)
                .await
                .unwrap()
                .token,
            admin: store
                .create_api_key(Scope::Admin, None)
                .await
                .unwrap()
                .token,
        };
        app
    }

    pub fn settings(&self) -> Settings {
        let mut overrides: Vec<(String, Value)> = vec![
            ("server.listen".into(), json!("127.0.0.1:0")),
            ("server.workers".into(), json!(1)),
            (
                "mall.endpoint".into(),
                json!(format!("{}/push", self.mall.uri())),
            ),
            ("mall.signing_secret".into(), json!(self.mall_secret)),
            ("mall.timeout_ms".into(), json!(3000)),
            ("retry.initial_delay_ms".into(), json!(100)),
            ("retry.max_delay_ms".into(), json!(1000)),
            ("retry.max_attempts".into(), json!(8)),
            ("queue.idle_poll_ms".into(), json!(20)),
            ("queue.lease_secs".into(), json!(5)),
            ("queue.prefetch".into(), json!(4)),
            ("poll.enabled".into(), json!(false)),
            ("poll.tick_secs".into(), json!(1)),
            ("log.filter".into(), json!("warn")),
            (
                "carriers.sandbox.webhook_secret".into(),
                json!(SANDBOX_SECRET),
            ),
            (
                "carriers.sandbox.base_url".into(),
                json!(self.carrier.uri()),
            ),
            ("carriers.sandbox.batch_size".into(), json!(2)),
            ("carriers.sandbox.requests_per_second".into(), json!(50)),
            ("carriers.kuaidi100.salt".into(), json!(KUAIDI100_SALT)),
        ];
        overrides.extend(self.storage.as_ref().unwrap().overrides());
        // `{carrier}` and `{mall}` in extra string values stand for the fakes' base URLs.
        overrides.extend(self.extra.iter().map(|(key, value)| {
            let value = match value.as_str() {
                Some(text) => json!(
                    text.replace("{carrier}", &self.carrier.uri())
                        .replace("{mall}", &self.mall.uri())
                ),
                None => value.clone(),
            };
            (key.clone(), value)
        }));
        let borrowed: Vec<(&str, Value)> = overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        Settings::with_overrides(&borrowed).expect("test settings are valid")
    }

    async fn start(&mut self) {
        let settings = self.settings();
        trackgate::telemetry::init(&settings.log);
        let app = Application::build(settings)
            .await
            .unwrap_or_else(|err| panic!("app failed to start: {err:#}"));
        self.base = format!("http://127.0.0.1:{}", app.port());
        self.running = Some(app.start().await.unwrap());
    }

    pub fn gateway(&self) -> &trackgate::gateway::Gateway {
        &self.running.as_ref().expect("app is running").gateway
    }

    /// The Prometheus exposition of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = self.http.get(format!("{}/metrics", self.base)).send().await;
        response.unwrap().text().await.unwrap()
    }

    /// Run raw SQL on the gateway's own store (a fault a test injects); panics naming the SQL.
    pub async fn execute(&self, sql: &str) {
        self.gateway()
            .store
            .conn()
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    pub async fn finish(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        if let Some(storage) = self.storage.take() {
            storage.cleanup().await;
        }
    }

    /// The fake mall answers 200 to every push from now on.
    pub async fn mall_accepts_pushes(&self) {
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path("/push"))
            .respond_with(wiremock::ResponseTemplate::new(200))
            .mount(&self.mall)
            .await;
    }

    pub async fn register(&self, carrier: &str, number: &str, order: Option<&str>) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/shipments", self.base))
            .bearer_auth(&self.keys.mall)
            .json(&json!({"carrier": carrier, "tracking_number": number, "order_id": order}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "register answered {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Post a signed sandbox webhook and wait until every stored webhook is processed (the
    /// answer only says "stored"; ingest runs right after it).
    pub async fn sandbox_webhook(&self, body: &[u8]) -> reqwest::Response {
        let response = post_sandbox_webhook(&self.http, &self.base, body).await;
        self.settled().await;
        response
    }

    /// The name of this app's scratch database (PostgreSQL, MySQL).
    pub fn database_name(&self) -> String {
        let url = &self
            .storage
            .as_ref()
            .expect("a database store")
            .database_url;
        url.rsplit('/').next().unwrap().to_owned()
    }

    /// PostgreSQL's own fault: every connection to this app's database terminated, as a
    /// restart does ("terminating connection due to administrator command").
    pub async fn terminate_postgres_connections(&self) {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(postgres_admin_url())
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.database_name()
            ))
            .await
            .unwrap();
        admin.close().await.unwrap();
    }

    /// Wait until no stored webhook is left unprocessed.
    pub async fn settled(&self) {
        let store = self.gateway().store.clone();
        wait_until(
            "every stored webhook processed",
            Duration::from_secs(20),
            || {
                let store = store.clone();
                async move {
                    // A failed query (a connection just terminated by a fault test) is "not yet".
                    store
                        .inbound_webhooks_in(&[WebhookOutcome::Received], 1)
                        .await
                        .is_ok_and(|rows| rows.is_empty())
                }
            },
        )
        .await;
    }

    pub async fn post_json(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, path: &str, key: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Every distinct push (by webhook-id) the mall received, each signature verified.
    pub async fn pushes_received(&self) -> Vec<Value> {
        let verifier = standardwebhooks::Webhook::new(&self.mall_secret).unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for request in self.mall.received_requests().await.unwrap_or_default() {
            verifier
                .verify(&request.body, &header_map(&request))
                .expect("every push carries a valid Standard Webhooks signature");
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            seen.insert(body["id"].as_str().unwrap().to_owned(), body);
        }
        seen.into_values().collect()
    }
}

/// A received request's headers as the Standard Webhooks verifier takes them.
pub fn header_map(request: &wiremock::Request) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for (name, value) in request.headers.iter() {
        headers.insert(name.clone(), value.clone());
    }
    headers
}

/// Wait (polling every 50 ms) until `check` holds, or fail after `limit` with `what`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sandbox webhook body with one event.
pub fn sandbox_event(number: &str, id: &str, time: &str, code: &str) -> Vec<u8> {
    json!({"shipments": [{"tracking_number": number, "events": [
        {"id": id, "time": time, "code": code, "description": format!("{code} scan"), "location": "Berlin, DE"}
    ]}]})
    .to_string()
    .into_bytes()
}

/// Post a sandbox webhook signed with the test secret to the gateway at `base`.
pub async fn post_sandbox_webhook(
    http: &reqwest::Client,
    base: &str,
    body: &[u8],
) -> reqwest::Response {
    post_sandbox_webhook_signed_with(http, base, SANDBOX_SECRET, body).await
}

/// [`post_sandbox_webhook`] signed with `secret` (a rotated or a wrong one).
pub async fn post_sandbox_webhook_signed_with(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    body: &[u8],
) -> reqwest::Response {
    http.post(format!("{base}/webhooks/sandbox"))
        .header("content-type", "application/json")
        .header(
            trackgate::carriers::sandbox::SIGNATURE_HEADER,
            trackgate::carriers::sandbox::sign(secret, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Close, from the broker's side, every RabbitMQ connection whose client properties contain
/// `name_part` (as a broker restart would); returns how many.
pub fn close_rabbit_connections(name_part: &str) -> usize {
    let listed = std::process::Command::new("rabbitmqctl")
        .args([
            "list_connections",
            "-q",
            "--no-table-headers",
            "pid",
            "client_properties",
        ])
        .output()
        .expect("rabbitmqctl runs");
    let mut closed = 0;
    for line in String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.contains(name_part))
    {
        let pid = line.split_whitespace().next().unwrap();
        let status = std::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: simulated broker restart"])
            .output()
            .unwrap()
            .status;
        assert!(status.success());
        closed += 1;
    }
    closed
}
