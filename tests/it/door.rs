//! At the door: slow bodies are cut off, rate limits per carrier endpoint and per API key answer
//! 429 with `Retry-After`, refusals are counted in `/metrics`, and credentials inside the mall's
//! URL never reach a stored error.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, TestApp, sandbox_event, wait_until};

#[tokio::test]
async fn a_slow_webhook_body_is_cut_off_with_408() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("server.body_timeout_secs", json!(1))]).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(b"POST /webhooks/sandbox HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"ship")
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut answer = vec![0; 512];
        let n = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(15));
    app.finish().await;
}

#[tokio::test]
async fn rate_limits_hold_per_carrier_endpoint_and_per_api_key_and_refusals_are_counted() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("server.webhook_rate_per_second", json!(2)),
            ("server.api_rate_per_second", json!(2)),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let body = sandbox_event(
            "SBX-RATE",
            &format!("r{n}"),
            "2026-11-20T08:00:00+01:00",
            "PU",
        );
        let response = app.sandbox_webhook(&body).await;
        if response.status().as_u16() == 429 {
            assert!(response.headers().get("retry-after").is_some());
        }
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let mut api = Vec::new();
    for _ in 0..4 {
        api.push(
            app.get_json("/v1/shipments?order_id=O", &app.keys.mall)
                .await
                .0,
        );
    }
    assert!(api.contains(&429), "{api:?}");
    let (status, _) = app
        .get_json("/v1/shipments?order_id=O", &app.keys.support)
        .await;
    assert_ne!(status, 429, "another key has its own budget");
    let bad = app
        .http
        .post(format!("{}/webhooks/kuaidi100", app.base))
        .body("param=%7B%7D&sign=WRONG")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"trackgate_http_rejected_total{code="rate_limited"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"trackgate_http_rejected_total{code="invalid_signature"} 1"#),
        "{metrics}"
    );
    app.finish().await;
}

#[tokio::test]
async fn credentials_in_the_mall_url_never_reach_a_stored_error() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            (
                "mall.endpoint",
                json!("http://shop:pa55word@127.0.0.1:9/push?token=t0ken"),
            ),
            ("retry.max_attempts", json!(1)),
        ],
    )
    .await;
    let shipment = app.register("sandbox", "SBX-URL", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    app.sandbox_webhook(&sandbox_event(
        "SBX-URL",
        "u",
        "2026-11-20T08:00:00+01:00",
        "PU",
    ))
    .await;
    let store = app.gateway().store.clone();
    wait_until("the push is dead-lettered", Duration::from_secs(20), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            store
                .outbox_of_shipment(&id)
                .await
                .unwrap()
                .iter()
                .any(|r| r.last_error.is_some())
        }
    })
    .await;
    let rows = store.outbox_of_shipment(&id).await.unwrap();
    let error = rows[0].last_error.clone().unwrap();
    assert!(
        !error.contains("pa55word") && !error.contains("t0ken"),
        "{error}"
    );
    let (_, letters) = app
        .get_json("/v1/admin/dead-letters", &app.keys.admin)
        .await;
    let printed = letters.to_string();
    assert!(
        !printed.contains("pa55word") && !printed.contains("t0ken"),
        "{printed}"
    );
    app.finish().await;
}
