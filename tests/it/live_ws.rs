//! The WebSocket protocol with a browser's stream token: the token's scope is watched at once,
//! a request outside it is answered with an error and the socket stays open, `ping` is answered,
//! and the token's expiry closes the socket with its reason.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, TestApp, sandbox_event};

async fn next_json(ws: &mut crate::live_processes::Ws, limit: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(limit, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => {
                return json!({"type": "closed", "reason": frame.map(|f| f.reason.to_string())});
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_browser_token_drives_the_websocket_protocol() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.mall_accepts_pushes().await;
    let ours = app
        .register("sandbox", "SBX5000081", Some("ORDER-WS-T"))
        .await;
    let theirs = app
        .register("sandbox", "SBX5000082", Some("ORDER-OTHER"))
        .await;
    let (status, minted) = app
        .post_json(
            "/v1/stream-tokens",
            &app.keys.mall,
            json!({"order_id": "ORDER-WS-T", "ttl_secs": 3}),
        )
        .await;
    assert_eq!(status, 201);
    let url = format!(
        "ws://{}{}",
        app.base.trim_start_matches("http://"),
        minted["websocket_path"].as_str().unwrap()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Nothing named: the token's order is watched at once.
    let snapshot = next_json(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["shipment_id"], ours["id"]);
    app.sandbox_webhook(&sandbox_event(
        "SBX5000081",
        "e1",
        "2026-11-20T10:00:00Z",
        "PU",
    ))
    .await;
    let update = next_json(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        (update["type"].as_str(), update["sequence"].as_i64()),
        (Some("update"), Some(1))
    );

    // Outside the token: refused in place, the socket stays usable.
    let asked = json!({"type": "subscribe", "shipments": [theirs["id"]]});
    ws.send(Message::text(asked.to_string())).await.unwrap();
    let refused = next_json(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "outside_token_scope");
    ws.send(Message::text("not json")).await.unwrap();
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["code"],
        "bad_message"
    );
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["type"],
        "pong"
    );

    // The token expires (3 s): the socket is closed with the reason.
    let closed = next_json(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert_eq!(closed["reason"], "token expired");
    app.finish().await;
}
