//! Live updates in one process: an SSE stream delivers every update in sequence, resumes after a
//! reconnect without a gap and is ended with a reason when the gateway stops; tokens and links
//! are refused for what they do not cover; a client that stops reading is dropped. Across
//! processes: `live_processes.rs`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, sandbox_event, wait_until};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// A tiny SSE client over reqwest.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    pub async fn open(url: &str, key: Option<&str>, last_event_id: Option<&str>) -> Sse {
        let mut request = reqwest::Client::new().get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}: {:?}", response.text().await);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an SSE stream"
        );
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments and `retry:` skipped), or `None` after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Event> {
        let deadline = Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                };
                let mut has_data = false;
                for line in frame.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        event.id = Some(id.to_owned());
                    } else if let Some(name) = line.strip_prefix("event: ") {
                        event.event = name.to_owned();
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(data).unwrap();
                        has_data = true;
                    }
                }
                if has_data {
                    return Some(event);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => return None,
                Err(_) => return None,
            }
        }
    }

    /// The next `update` event (snapshots skipped).
    pub async fn next_update(&mut self, limit: Duration) -> Event {
        loop {
            let event = self.next(limit).await.expect("an update in time");
            if event.event == "update" {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn sse_delivers_updates_in_sequence_and_resumes_after_a_reconnect_without_gaps() {
    // A one-second heartbeat: a client that went away is noticed at the next write.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("live.heartbeat_secs", json!(1))]).await;
    app.mall_accepts_pushes().await;
    app.register("sandbox", "SBX5000001", Some("ORDER-LIVE"))
        .await;
    let (status, minted) = app
        .post_json(
            "/v1/stream-tokens",
            &app.keys.mall,
            json!({"order_id": "ORDER-LIVE", "ttl_secs": 600}),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let url = format!("{}{}", app.base, minted["sse_path"].as_str().unwrap());

    let mut stream = Sse::open(&url, None, None).await;
    let snapshot = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["data"]["status"], "pending");

    let times = ["10:00", "11:00", "12:00", "13:00", "14:00"];
    let codes = ["PU", "IT", "IT", "OD", "DL"];
    let send = |i: usize| {
        sandbox_event(
            "SBX5000001",
            &format!("ev-{i}"),
            &format!("2026-11-20T{}:00+01:00", times[i]),
            codes[i],
        )
    };
    app.sandbox_webhook(&send(0)).await;
    let first = stream.next_update(Duration::from_secs(5)).await;
    assert_eq!(first.data["sequence"], 1);
    assert_eq!(first.data["data"]["status"], "picked_up");
    let resume_from = first.id.clone().expect("every update has an id");
    drop(stream); // the client goes away

    for i in 1..4 {
        app.sandbox_webhook(&send(i)).await;
    }
    // EventSource reconnects with Last-Event-ID: the three missed updates come first, in order.
    let mut resumed = Sse::open(&url, None, Some(&resume_from)).await;
    for expected in 2..=4 {
        let update = resumed.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(update.event, "update", "no snapshot when resuming");
        assert_eq!(update.data["sequence"], expected);
    }
    app.sandbox_webhook(&send(4)).await;
    let last = resumed.next_update(Duration::from_secs(5)).await;
    assert_eq!(last.data["sequence"], 5);
    assert_eq!(last.data["data"]["status"], "delivered");
    // The push payload, events included (a push folded with waiting ones carries theirs too).
    let events = last.data["data"]["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["raw_code"] == "DL"),
        "the update carries the push payload, events included: {events:?}"
    );

    // The dropped first stream is noticed at its next heartbeat write (a second, longer
    // on a loaded machine): then one stream is left.
    wait_until("one open SSE stream", Duration::from_secs(10), || async {
        app.metrics_text()
            .await
            .contains("trackgate_live_streams{transport=\"sse\"} 1")
    })
    .await;
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("trackgate_live_watched_shipments{transport=\"sse\"} 1"));
    drop(resumed);
    wait_until(
        "the closed stream is uncounted",
        Duration::from_secs(20),
        || async {
            app.metrics_text()
                .await
                .contains("trackgate_live_streams{transport=\"sse\"} 0")
        },
    )
    .await;
    // A gateway that stops ends its streams at once, telling the client to reconnect (to
    // another gateway) and resume, instead of holding the graceful stop open.
    let mut open = Sse::open(&url, None, Some(&resume_from)).await;
    while open.next(Duration::from_secs(5)).await.unwrap().event != "update" {}
    let stopping = tokio::spawn(app.finish());
    let mut closing = None;
    while let Some(event) = open.next(Duration::from_secs(10)).await {
        if event.event == "close" {
            closing = Some(event);
            break;
        }
    }
    let closing = closing.expect("a close event before the stream ends");
    assert_eq!(closing.data["reconnect"], true, "{:?}", closing.data);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the gateway stops promptly with a stream open")
        .unwrap();
}

#[tokio::test]
async fn streams_refuse_what_the_token_does_not_cover() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let a = app.register("sandbox", "SBX5000011", Some("ORDER-A")).await;
    let b = app.register("sandbox", "SBX5000012", Some("ORDER-B")).await;
    let (_, minted) = app
        .post_json(
            "/v1/stream-tokens",
            &app.keys.mall,
            json!({"order_id": "ORDER-A"}),
        )
        .await;
    let token = minted["token"].as_str().unwrap();
    let get = |query: String| {
        let http = app.http.clone();
        let url = format!("{}/v1/stream/sse?{query}", app.base);
        async move {
            let response = http.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }
    };
    let shipment_b = b["id"].as_str().unwrap();
    assert_eq!(
        get(format!("token={token}&shipments={shipment_b}")).await,
        (403, "outside_token_scope".into())
    );
    assert_eq!(
        get(format!("token={token}&orders=ORDER-B")).await,
        (403, "outside_token_scope".into())
    );
    // Another shipment id written into the claims: the signature no longer holds.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = base64_claims(&json!({"s": [shipment_b], "exp": "2099-01-01T00:00:00Z"}));
    parts[1] = &forged;
    assert_eq!(
        get(format!("token={}", parts.join("."))).await,
        (401, "invalid_token".into())
    );
    let expired = app.gateway().tokens.sign(
        trackgate::domain::tokens::Purpose::Stream,
        &trackgate::domain::tokens::StreamClaims {
            order_id: Some("ORDER-A".into()),
            shipment_ids: vec![],
            exp: chrono::Utc::now() - chrono::Duration::seconds(1),
        },
    );
    assert_eq!(
        get(format!("token={expired}")).await,
        (401, "token_expired".into())
    );
    assert_eq!(
        get("orders=ORDER-A".into()).await,
        (401, "unauthorized".into())
    );
    // A tracking link is not a stream token.
    let (_, link) = app
        .post_json(
            &format!("/v1/shipments/{}/tracking-link", a["id"].as_str().unwrap()),
            &app.keys.mall,
            json!({}),
        )
        .await;
    assert_eq!(
        get(format!("token={}", link["token"].as_str().unwrap())).await,
        (401, "invalid_token".into())
    );
    let a_id = a["id"].as_str().unwrap();
    let (status, body) = app
        .post_json(
            &format!("/v1/shipments/{a_id}/tracking-link"),
            &app.keys.mall,
            json!({"ttl_days": "soon"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed")),
        "JSON of the wrong shape, as on every endpoint"
    );
    let (status, _) = app
        .post_json(
            &format!("/v1/shipments/{a_id}/tracking-link"),
            &app.keys.mall,
            json!({"ttl_days": 100_000}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .post_json(
            "/v1/shipments/shp_nope/tracking-link",
            &app.keys.mall,
            json!({}),
        )
        .await;
    assert_eq!(status, 404);
    // Minting is the mall's: a support key may not, and nonsense is refused by name.
    let (status, _) = app
        .post_json(
            "/v1/stream-tokens",
            &app.keys.support,
            json!({"order_id": "ORDER-A"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post_json("/v1/stream-tokens", &app.keys.mall, json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, body) = app
        .post_json(
            "/v1/stream-tokens",
            &app.keys.mall,
            json!({"order_id": "ORDER-A", "ttl_secs": 10_000_000}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("ttl_secs"));
    // An API key opens any stream; a shipment that does not exist is a 404.
    let response = app
        .http
        .get(format!("{}/v1/stream/sse?shipments=shp_nope", app.base))
        .bearer_auth(&app.keys.support)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    app.finish().await;
}

fn base64_claims(claims: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
}

/// A client that stops reading is dropped once its messages are not taken in time, rather than
/// buffered without bound.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_as_a_slow_consumer() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("live.send_timeout_ms", json!(300)),
            ("live.client_buffer", json!(1)),
        ],
    )
    .await;
    app.mall_accepts_pushes().await;
    app.register("sandbox", "SBX5000051", None).await;
    let shipment = app.register("sandbox", "SBX5000051", None).await;
    let url = format!(
        "{}/v1/stream/sse?shipments={}",
        app.base,
        shipment["id"].as_str().unwrap()
    );
    // Opened, then never read: the socket buffers fill, then the gateway's.
    let mut stalled = Sse::open(&url, Some(&app.keys.support), None).await;
    let long = "x".repeat(2000);
    let mut i = 0;
    wait_until(
        "the slow consumer is dropped",
        Duration::from_secs(60),
        || {
            i += 1;
            let events: Vec<Value> = (0..200)
                .map(|n| {
                    json!({"id": format!("ev-{i}-{n}"), "time": "2026-11-20T10:00:00Z",
                       "code": "IT", "description": long, "location": "Berlin, DE"})
                })
                .collect();
            let body = serde_json::to_vec(
                &json!({"shipments": [{"tracking_number": "SBX5000051", "events": events}]}),
            )
            .unwrap();
            let app = &app;
            async move {
                app.sandbox_webhook(&body).await;
                app.metrics_text()
                    .await
                    .contains("trackgate_live_dropped_total{reason=\"slow_consumer\"} 1")
            }
        },
    )
    .await;
    // Reading again, the client finds what was buffered, then the reason the stream ended.
    let closing = loop {
        let event = stalled
            .next(Duration::from_secs(30))
            .await
            .expect("the stream ends with a close event");
        if event.event == "close" {
            break event;
        }
    };
    assert_eq!(closing.data["reason"], "slow consumer");
    assert_eq!(closing.data["reconnect"], true);
    app.finish().await;
}
