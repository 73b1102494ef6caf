//! Polling through the gateway: due shipments are batched to the adapter's batch size, the
//! carrier's answer is ingested, and a failed poll is retried through the queue.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, wait_until};

async fn status_of(app: &TestApp, id: &str) -> String {
    app.gateway()
        .store
        .get_shipment(id)
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test]
async fn due_shipments_are_polled_in_batches_and_ingested() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("poll.enabled", json!(true))]).await;
    Mock::given(method("GET"))
        .and(path("/v1/track"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            fixture("carriers/sandbox/poll-mixed-batch.json"),
            "application/json",
        ))
        .mount(&app.carrier)
        .await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.mall)
        .await;
    let first = app.register("sandbox", "SBX2000001", None).await;
    let second = app.register("sandbox", "SBX2000002", None).await;
    app.register("sandbox", "SBX2000003", None).await;
    let (first, second) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    let polled_numbers = || async {
        let mut numbers: Vec<String> = Vec::new();
        for request in app.carrier.received_requests().await.unwrap() {
            let batch: Vec<String> = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "numbers")
                .unwrap()
                .1
                .split(',')
                .map(str::to_owned)
                .collect();
            assert!(
                batch.len() <= 2,
                "a poll carries at most batch_size numbers: {batch:?}"
            );
            numbers.extend(batch);
        }
        numbers.sort();
        numbers
    };
    wait_until(
        "all three shipments are polled and two updated",
        Duration::from_secs(15),
        || async {
            polled_numbers().await.len() == 3
                && status_of(&app, &first).await == "out_for_delivery"
                && status_of(&app, &second).await == "unknown"
        },
    )
    .await;
    assert_eq!(
        polled_numbers().await,
        ["SBX2000001", "SBX2000002", "SBX2000003"],
        "each due shipment is polled once"
    );
    let stored = app
        .gateway()
        .store
        .get_shipment(&first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.estimated_delivery.unwrap().to_rfc3339(),
        "2026-11-23T17:00:00+00:00"
    );
    let unknown = app
        .gateway()
        .store
        .shipment_with_events(&second)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unknown.events.len(),
        1,
        "the event with an unreadable time is a problem, not an event"
    );
    assert_eq!(unknown.events[0].raw_code, "ZZ");
    app.finish().await;
}

#[tokio::test]
async fn a_failed_poll_is_retried_through_the_queue() {
    for backend in [Backend::Sqlite, Backend::PostgresRabbit] {
        let app = TestApp::spawn_with(backend, &[("poll.enabled", json!(true))]).await;
        Mock::given(method("GET"))
            .and(path("/v1/track"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&app.carrier)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/track"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                fixture("carriers/sandbox/poll-mixed-batch.json"),
                "application/json",
            ))
            .with_priority(2)
            .mount(&app.carrier)
            .await;
        Mock::given(method("POST"))
            .and(path("/push"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&app.mall)
            .await;
        let shipment = app.register("sandbox", "SBX2000001", None).await;
        let id = shipment["id"].as_str().unwrap().to_owned();
        wait_until(
            "the retried poll updates the shipment",
            Duration::from_secs(20),
            || async { status_of(&app, &id).await == "out_for_delivery" },
        )
        .await;
        assert_eq!(
            app.carrier.received_requests().await.unwrap().len(),
            2,
            "{backend:?}: one failure, one retry"
        );
        app.finish().await;
    }
}
