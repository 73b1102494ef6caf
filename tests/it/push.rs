//! Pushing to the mall: signed, sequenced, retried through the queue with backoff, stopped by
//! 410, dead-lettered after the last attempt and replayable — on both queue backends.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, sandbox_event, wait_until};

async fn outbox_states(app: &TestApp, shipment_id: &str) -> Vec<String> {
    app.gateway()
        .store
        .outbox_of_shipment(shipment_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| trackgate::store::states::label(r.state))
        .collect()
}

async fn every_change_reaches_the_mall_despite_failures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&app.mall)
        .await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&app.mall)
        .await;
    let shipment = app.register("sandbox", "SBX-PUSH", Some("ORD-1")).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    let steps = [
        ("1", "2026-11-20T08:00:00+01:00", "PU"),
        ("2", "2026-11-20T12:00:00+01:00", "IT"),
        ("3", "2026-11-21T09:00:00+01:00", "OD"),
        ("4", "2026-11-21T13:00:00+01:00", "DL"),
    ];
    for (event_id, time, code) in steps {
        assert_eq!(
            app.sandbox_webhook(&sandbox_event("SBX-PUSH", event_id, time, code))
                .await
                .status()
                .as_u16(),
            200
        );
    }
    // A duplicate pushes nothing; a late, older event changes no status but the mall must still
    // have it: it comes as an update.
    app.sandbox_webhook(&sandbox_event(
        "SBX-PUSH",
        "2",
        "2026-11-20T12:00:00+01:00",
        "IT",
    ))
    .await;
    app.sandbox_webhook(&sandbox_event(
        "SBX-PUSH",
        "0",
        "2026-11-20T07:00:00+01:00",
        "CR",
    ))
    .await;

    // Five changes for the mall (the late scan included); while the mall fails, the ones
    // waiting behind the head are folded into one push that carries them all.
    wait_until("every push settled", Duration::from_secs(30), || async {
        let states = outbox_states(&app, &id).await;
        states.len() == 5
            && states.iter().all(|s| s == "delivered" || s == "superseded")
            && states.last().is_some_and(|s| s == "delivered")
    })
    .await;
    let calls = app.mall.received_requests().await.unwrap();
    let mut first_arrivals = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for call in &calls {
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        if seen.insert(body["id"].as_str().unwrap().to_owned()) {
            first_arrivals.push(body["sequence"].as_i64().unwrap());
        }
    }
    assert!(
        first_arrivals.windows(2).all(|w| w[0] < w[1]),
        "in sequence order: {first_arrivals:?}"
    );
    let pushes = app.pushes_received().await;
    let newest = pushes
        .iter()
        .max_by_key(|p| p["sequence"].as_i64())
        .unwrap();
    assert_eq!(newest["sequence"], 5);
    assert_eq!(newest["status"], "delivered");
    assert_eq!(newest["order_id"], "ORD-1");
    assert_eq!(newest["tracking_number"], "SBX-PUSH");
    assert_eq!(newest["carrier"], "sandbox");
    assert_eq!(newest["delivered_at"], "2026-11-21T12:00:00.000Z");
    // The mall has every stored event, the late one too, by its id.
    let at_mall: std::collections::BTreeSet<String> = pushes
        .iter()
        .flat_map(|p| p["events"].as_array().unwrap().clone())
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let stored_keys: std::collections::BTreeSet<String> = app
        .gateway()
        .store
        .events_of(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.dedupe_key)
        .collect();
    assert_eq!(at_mall, stored_keys);
    // Retries reuse the webhook-id, and every attempt is recorded.
    for call in &calls {
        let header = call.headers.get("webhook-id").unwrap().to_str().unwrap();
        assert!(pushes.iter().any(|p| p["id"] == header));
    }
    let attempts: usize = {
        let mut total = 0;
        for row in app.gateway().store.outbox_of_shipment(&id).await.unwrap() {
            total += app
                .gateway()
                .store
                .push_attempts(&row.id)
                .await
                .unwrap()
                .len();
        }
        total
    };
    assert_eq!(attempts, calls.len(), "every attempt is recorded");
    let (_, stored) = app
        .get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await;
    assert_eq!(stored["events"].as_array().unwrap().len(), 5);
    app.finish().await;
}

#[tokio::test]
async fn every_status_change_reaches_the_mall_despite_failures() {
    every_change_reaches_the_mall_despite_failures(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_status_change_reaches_the_mall_despite_failures_on_postgres_rabbitmq() {
    every_change_reaches_the_mall_despite_failures(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn every_status_change_reaches_the_mall_despite_failures_on_mysql() {
    every_change_reaches_the_mall_despite_failures(Backend::MySql).await;
}

async fn exhausted_pushes_become_dead_letters_and_replay(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("retry.max_attempts", json!(3))]).await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.mall)
        .await;
    let shipment = app.register("sandbox", "SBX-DEAD", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    app.sandbox_webhook(&sandbox_event(
        "SBX-DEAD",
        "1",
        "2026-11-20T08:00:00Z",
        "PU",
    ))
    .await;
    wait_until(
        "the push is dead-lettered",
        Duration::from_secs(30),
        || async { outbox_states(&app, &id).await == ["dead"] },
    )
    .await;

    let (status, listed) = app
        .get_json("/v1/admin/dead-letters", &app.keys.admin)
        .await;
    assert_eq!(status, 200);
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["kind"], "push");
    assert_eq!(letters[0]["attempts"], 3);
    assert!(letters[0]["last_error"].as_str().unwrap().contains("503"));

    app.mall.reset().await;
    app.mall_accepts_pushes().await;
    let letter_id = letters[0]["id"].as_i64().unwrap();
    let response = app
        .http
        .post(format!(
            "{}/v1/admin/dead-letters/{letter_id}/replay",
            app.base
        ))
        .bearer_auth(&app.keys.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    wait_until(
        "the replayed push is delivered",
        Duration::from_secs(30),
        || async { outbox_states(&app, &id).await == ["delivered"] },
    )
    .await;
    let pushes = app.pushes_received().await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        pushes[0]["id"], letters[0]["ref_id"],
        "the replay keeps the webhook-id"
    );
    let response = app
        .http
        .post(format!(
            "{}/v1/admin/dead-letters/{letter_id}/replay",
            app.base
        ))
        .bearer_auth(&app.keys.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        422,
        "a dead letter is replayed once"
    );
    let (_, listed) = app
        .get_json("/v1/admin/dead-letters", &app.keys.admin)
        .await;
    assert!(listed["dead_letters"].as_array().unwrap().is_empty());
    app.finish().await;
}

#[tokio::test]
async fn exhausted_pushes_become_dead_letters_that_can_be_replayed() {
    exhausted_pushes_become_dead_letters_and_replay(Backend::Sqlite).await;
}

#[tokio::test]
async fn exhausted_pushes_become_dead_letters_that_can_be_replayed_on_postgres_rabbitmq() {
    exhausted_pushes_become_dead_letters_and_replay(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn exhausted_pushes_become_dead_letters_that_can_be_replayed_on_mysql() {
    exhausted_pushes_become_dead_letters_and_replay(Backend::MySql).await;
}

#[tokio::test]
async fn gone_stops_retrying_and_retry_after_is_honoured() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(410))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.mall)
        .await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&app.mall)
        .await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(3)
        .mount(&app.mall)
        .await;
    let first = app.register("sandbox", "SBX-GONE", None).await;
    app.sandbox_webhook(&sandbox_event(
        "SBX-GONE",
        "1",
        "2026-11-20T08:00:00Z",
        "PU",
    ))
    .await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    wait_until("410 ends the push", Duration::from_secs(10), || async {
        outbox_states(&app, &first_id).await == ["gone"]
    })
    .await;

    let second = app.register("sandbox", "SBX-429", None).await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    app.sandbox_webhook(&sandbox_event("SBX-429", "1", "2026-11-20T08:00:00Z", "PU"))
        .await;
    wait_until(
        "the push after 429 is delivered",
        Duration::from_secs(10),
        || async { outbox_states(&app, &second_id).await == ["delivered"] },
    )
    .await;
    let calls = app.mall.received_requests().await.unwrap();
    assert_eq!(calls.len(), 3, "410 is not retried; 429 is retried once");
    let rows = app
        .gateway()
        .store
        .outbox_of_shipment(&second_id)
        .await
        .unwrap();
    let attempts = app
        .gateway()
        .store
        .push_attempts(&rows[0].id)
        .await
        .unwrap();
    let waited = attempts[1].attempted_at - attempts[0].attempted_at;
    assert!(
        waited >= chrono::Duration::milliseconds(950),
        "Retry-After: 1 was honoured (waited {waited})"
    );
    let dead: Vec<Value> = app
        .get_json("/v1/admin/dead-letters", &app.keys.admin)
        .await
        .1["dead_letters"]
        .as_array()
        .unwrap()
        .clone();
    assert!(dead.is_empty(), "410 is not a dead letter");
    app.finish().await;
}

/// Close this test's RabbitMQ connections from the broker side, as a broker restart would.
fn drop_rabbit_connections(prefix: &str) -> usize {
    crate::helpers::close_rabbit_connections(&format!("trackgate/{prefix}"))
}

#[tokio::test]
async fn the_rabbitmq_backend_reconnects_when_the_broker_drops_it() {
    let app = TestApp::spawn(Backend::PostgresRabbit).await;
    app.mall_accepts_pushes().await;
    let prefix = app.storage.as_ref().unwrap().amqp_prefix.clone().unwrap();
    let shipment = app.register("sandbox", "SBX-RECONNECT", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    app.sandbox_webhook(&sandbox_event(
        "SBX-RECONNECT",
        "1",
        "2026-11-20T08:00:00Z",
        "PU",
    ))
    .await;
    wait_until(
        "the first push is delivered",
        Duration::from_secs(15),
        || async { outbox_states(&app, &id).await == ["delivered"] },
    )
    .await;

    assert_eq!(
        drop_rabbit_connections(&prefix),
        2,
        "one publisher and one consumer connection"
    );
    app.sandbox_webhook(&sandbox_event(
        "SBX-RECONNECT",
        "2",
        "2026-11-20T09:00:00Z",
        "IT",
    ))
    .await;
    wait_until(
        "the push after the disconnect is delivered",
        Duration::from_secs(30),
        || async { outbox_states(&app, &id).await == ["delivered", "delivered"] },
    )
    .await;
    assert_eq!(app.pushes_received().await.len(), 2);
    app.finish().await;
}
