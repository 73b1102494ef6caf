//! Live updates across gateway processes: a WebSocket on one process follows webhooks sent to
//! another (PostgreSQL + RabbitMQ), in sequence and without a gap after a forced reconnect; SSE
//! across processes through PostgreSQL LISTEN/NOTIFY and through the store on MariaDB; and the
//! streams healing after the broker drops the fanout or PostgreSQL kills the listener.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Backend, SANDBOX_SECRET, Storage, post_sandbox_webhook, sandbox_event};
use crate::live::Sse;
use crate::restart::{Gateway, free_port, wait_ready};

/// Two `trackgate serve` processes on one store (and broker); returns them with their ports.
struct Pair {
    children: Vec<std::process::Child>,
    ports: [u16; 2],
    mall_key: String,
    http: reqwest::Client,
    _mall: MockServer,
}

impl Pair {
    async fn start(storage: &Storage, extra: &[(&str, String)]) -> Pair {
        let mall = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/push"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&mall)
            .await;
        let mut env = vec![(
            "CARRIERS__SANDBOX__WEBHOOK_SECRET",
            SANDBOX_SECRET.to_owned(),
        )];
        env.extend(extra.iter().cloned());
        let ports = [free_port(), free_port()];
        let first = Gateway::on(storage, ports[0], &mall.uri(), &env);
        let second = Gateway::on(storage, ports[1], &mall.uri(), &env);
        let mut children = vec![first.serve()];
        let http = reqwest::Client::new();
        wait_ready(&http, ports[0]).await; // migrated by the first
        children.push(second.serve());
        wait_ready(&http, ports[1]).await;
        Pair {
            children,
            ports,
            mall_key: first.mall_token(),
            http,
            _mall: mall,
        }
    }

    fn base(&self, which: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[which])
    }

    async fn register(&self, number: &str, order: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/shipments", self.base(1)))
            .bearer_auth(&self.mall_key)
            .json(&json!({"carrier": "sandbox", "tracking_number": number, "order_id": order}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.json().await.unwrap()
    }

    /// A signed sandbox webhook to the second process.
    async fn webhook(&self, body: &[u8]) {
        let response = post_sandbox_webhook(&self.http, &self.base(1), body).await;
        assert!(response.status().is_success());
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn event(number: &str, i: usize) -> Vec<u8> {
    let codes = ["PU", "IT", "IT", "IT", "IT", "OD", "IT", "IT", "IT", "DL"];
    sandbox_event(
        number,
        &format!("ev-{i}"),
        &format!("2026-11-20T{:02}:00:00Z", 1 + i),
        codes[i % codes.len()],
    )
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(url: &str, key: &str) -> Ws {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next JSON text message of type `kind` (others skipped), within `limit`.
async fn ws_next(ws: &mut Ws, kind: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no `{kind}` message within {limit:?}"));
        let message = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` message within {limit:?}"))
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind {
                return value;
            }
            assert_ne!(value["type"], "error", "{value}");
        }
    }
}

/// Issue 13's check 2: a WebSocket client on process A receives, in sequence and without gaps
/// after a forced reconnect, the updates of webhooks sent to process B.
#[tokio::test]
async fn a_websocket_on_one_process_follows_webhooks_sent_to_another_on_postgres_rabbitmq() {
    let storage = Storage::create(Backend::PostgresRabbit).await;
    let pair = Pair::start(&storage, &[]).await;
    let shipment = pair.register("SBX5000021", "ORDER-WS").await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    let url = format!("ws://127.0.0.1:{}/v1/stream", pair.ports[0]);

    let mut ws = ws_connect(&url, &pair.mall_key).await;
    ws.send(Message::text(
        json!({"type": "subscribe", "orders": ["ORDER-WS"]}).to_string(),
    ))
    .await
    .unwrap();
    ws_next(&mut ws, "subscribed", Duration::from_secs(5)).await;
    ws_next(&mut ws, "snapshot", Duration::from_secs(5)).await;
    let mut cursor = String::new();
    for i in 0..3 {
        pair.webhook(&event("SBX5000021", i)).await;
        let update = ws_next(&mut ws, "update", Duration::from_secs(10)).await;
        assert_eq!(update["shipment_id"], id.as_str());
        assert_eq!(update["sequence"], i as i64 + 1, "in sequence");
        cursor = update["cursor"].as_str().unwrap().to_owned();
    }
    // Forced reconnect: the client drops; B ingests more meanwhile.
    drop(ws);
    for i in 3..7 {
        pair.webhook(&event("SBX5000021", i)).await;
    }
    let mut ws = ws_connect(&url, &pair.mall_key).await;
    ws.send(Message::text(
        json!({"type": "subscribe", "orders": ["ORDER-WS"], "cursor": cursor}).to_string(),
    ))
    .await
    .unwrap();
    ws_next(&mut ws, "subscribed", Duration::from_secs(5)).await;
    let mut sequences = Vec::new();
    while sequences.len() < 4 {
        let update = ws_next(&mut ws, "update", Duration::from_secs(10)).await;
        sequences.push(update["sequence"].as_i64().unwrap());
    }
    assert_eq!(
        sequences,
        vec![4, 5, 6, 7],
        "the missed updates, in order, no gap"
    );
    // And live again after the resume, across processes.
    pair.webhook(&event("SBX5000021", 9)).await;
    let update = ws_next(&mut ws, "update", Duration::from_secs(10)).await;
    assert_eq!(update["sequence"], 8);
    assert_eq!(update["data"]["status"], "delivered");
    // The `resume` message form works the same.
    ws.send(Message::text(
        json!({"type": "resume", "cursor": format!("{id}:6")}).to_string(),
    ))
    .await
    .unwrap();
    ws_next(&mut ws, "subscribed", Duration::from_secs(5)).await;
    let again = ws_next(&mut ws, "update", Duration::from_secs(5)).await;
    assert_eq!(again["sequence"], 7);
    drop(ws);
    drop(pair);
    storage.cleanup().await;
}

/// Without RabbitMQ, PostgreSQL's LISTEN/NOTIFY carries the news between processes; on MariaDB,
/// each process polls the store.
async fn sse_across_processes(backend: Backend, extra: &[(&str, String)], number: &str) {
    let storage = Storage::create(backend).await;
    let pair = Pair::start(&storage, extra).await;
    pair.register(number, "ORDER-X").await;
    let url = format!(
        "http://127.0.0.1:{}/v1/stream/sse?orders=ORDER-X",
        pair.ports[0]
    );
    let mut stream = Sse::open(&url, Some(&pair.mall_key), None).await;
    assert_eq!(
        stream.next(Duration::from_secs(5)).await.unwrap().event,
        "snapshot"
    );
    for i in 0..3 {
        pair.webhook(&event(number, i)).await;
        let update = stream.next_update(Duration::from_secs(10)).await;
        assert_eq!(update.data["sequence"], i as i64 + 1);
    }
    drop(stream);
    drop(pair);
    storage.cleanup().await;
}

#[tokio::test]
async fn sse_across_processes_through_postgres_listen_notify() {
    sse_across_processes(
        Backend::PostgresRabbit,
        &[
            ("QUEUE__KIND", "embedded".to_owned()),
            ("LIVE__BACKEND", "postgres".to_owned()),
        ],
        "SBX5000031",
    )
    .await;
}

#[tokio::test]
async fn sse_across_processes_through_the_store_on_mariadb() {
    sse_across_processes(Backend::MySql, &[], "SBX5000041").await;
}

/// Close the live fanout's RabbitMQ connections (every process of this test), as a broker
/// restart would; returns how many.
fn drop_live_connections(prefix: &str) -> usize {
    crate::helpers::close_rabbit_connections(&format!("trackgate-live/{prefix}/"))
}

/// The fanout is best effort, the streams are not: after the broker drops every live connection
/// (or PostgreSQL kills the listener), the stream on the other process still gets every update,
/// in sequence — from the resync when the fanout reconnects, or from its heartbeat's re-read.
async fn streams_heal_after_the_fanout_drops(
    backend_extra: &[(&str, String)],
    postgres_kill: bool,
) {
    let storage = Storage::create(Backend::PostgresRabbit).await;
    let mut extra = vec![("LIVE__HEARTBEAT_SECS", "2".to_owned())];
    extra.extend(backend_extra.iter().cloned());
    let pair = Pair::start(&storage, &extra).await;
    pair.register("SBX5000061", "ORDER-HEAL").await;
    let url = format!(
        "http://127.0.0.1:{}/v1/stream/sse?orders=ORDER-HEAL",
        pair.ports[0]
    );
    let mut stream = Sse::open(&url, Some(&pair.mall_key), None).await;
    pair.webhook(&event("SBX5000061", 0)).await;
    assert_eq!(
        stream.next_update(Duration::from_secs(10)).await.data["sequence"],
        1
    );
    if postgres_kill {
        let database = storage.database_url.rsplit('/').next().unwrap().to_owned();
        let admin = sea_orm::Database::connect(crate::helpers::postgres_admin_url())
            .await
            .unwrap();
        use sea_orm::ConnectionTrait;
        let killed = admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                     WHERE datname = '{database}' AND query ILIKE 'LISTEN%'"
                ),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(killed, 2, "one listener per process");
    } else {
        let prefix = storage.amqp_prefix.clone().unwrap();
        assert_eq!(
            drop_live_connections(&prefix),
            2,
            "one fanout connection per process"
        );
    }
    for i in 1..4 {
        pair.webhook(&event("SBX5000061", i)).await;
    }
    for expected in 2..=4 {
        let update = stream.next_update(Duration::from_secs(15)).await;
        assert_eq!(update.data["sequence"], expected, "in sequence, no gap");
    }
    drop(stream);
    drop(pair);
    storage.cleanup().await;
}

#[tokio::test]
async fn streams_heal_after_the_broker_drops_the_live_fanout() {
    streams_heal_after_the_fanout_drops(&[], false).await;
}

#[tokio::test]
async fn streams_heal_after_postgres_kills_the_listener() {
    streams_heal_after_the_fanout_drops(
        &[
            ("QUEUE__KIND", "embedded".to_owned()),
            ("LIVE__BACKEND", "postgres".to_owned()),
        ],
        true,
    )
    .await;
}

/// The gateway serving a stream is killed (`kill -9`) while webhooks keep arriving at the other
/// one; the client reconnects — through the load balancer, to the survivor — with its last event
/// id and gets every update it missed, in sequence, then live ones.
#[tokio::test]
async fn a_stream_resumes_on_another_gateway_after_kill_9_without_a_gap() {
    let storage = Storage::create(Backend::PostgresRabbit).await;
    let mut pair = Pair::start(&storage, &[]).await;
    pair.register("SBX5000071", "ORDER-KILL").await;
    let on = |port: u16| format!("http://127.0.0.1:{port}/v1/stream/sse?orders=ORDER-KILL");
    let mut stream = Sse::open(&on(pair.ports[0]), Some(&pair.mall_key), None).await;
    let mut last_id = stream
        .next(Duration::from_secs(5))
        .await
        .unwrap()
        .id
        .unwrap();
    for i in 0..2 {
        pair.webhook(&event("SBX5000071", i)).await;
        let update = stream.next_update(Duration::from_secs(10)).await;
        assert_eq!(update.data["sequence"], i as i64 + 1);
        last_id = update.id.unwrap();
    }
    // The first gateway dies where it stands; the stream ends with it.
    let first = &mut pair.children[0];
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        stream.next(Duration::from_secs(5)).await.is_none(),
        "the stream ended"
    );
    for i in 2..5 {
        pair.webhook(&event("SBX5000071", i)).await;
    }
    let mut resumed = Sse::open(&on(pair.ports[1]), Some(&pair.mall_key), Some(&last_id)).await;
    for expected in 3..=5 {
        let update = resumed.next(Duration::from_secs(10)).await.unwrap();
        assert_eq!(update.event, "update");
        assert_eq!(
            update.data["sequence"], expected,
            "missed updates first, in order"
        );
    }
    pair.webhook(&event("SBX5000071", 5)).await;
    assert_eq!(
        resumed.next_update(Duration::from_secs(10)).await.data["sequence"],
        6
    );
    drop(resumed);
    drop(pair);
    storage.cleanup().await;
}
