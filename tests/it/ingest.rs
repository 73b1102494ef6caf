//! The status rule through the real write path: the same events fed in any order, any number
//! of times, leave the same shipment status and the same event list in the store.

use proptest::prelude::*;
use serde_json::json;
use trackgate::carriers::Status;

use crate::helpers::{Backend, TestApp};

const CODES: [&str; 8] = ["CR", "PU", "IT", "FA", "OD", "DL", "RS", "ZZ"];

fn body(number: &str, events: &[(usize, u32, usize)]) -> Vec<u8> {
    let events: Vec<_> = events
        .iter()
        .map(|(key, minute, code)| {
            json!({"id": format!("e{key}"), "time": format!("2026-11-20T08:{minute:02}:00+02:00"), "code": CODES[*code], "description": "scan"})
        })
        .collect();
    json!({"shipments": [{"tracking_number": number, "events": events}]})
        .to_string()
        .into_bytes()
}

async fn snapshot(app: &TestApp, id: &str) -> (String, Option<String>, Vec<String>) {
    let found = app
        .gateway()
        .store
        .shipment_with_events(id)
        .await
        .unwrap()
        .unwrap();
    let keys = found.events.iter().map(|e| e.dedupe_key.clone()).collect();
    (
        found.shipment.status.0.as_str().to_owned(),
        found.shipment.sub_status,
        keys,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_order_and_any_repetition_gives_the_same_shipment(
        events in proptest::collection::vec((0u32..10, 0usize..CODES.len()), 1..8),
        order in any::<u64>(),
        repeats in 1usize..3,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let app = TestApp::spawn(Backend::Sqlite).await;
            let keyed: Vec<(usize, u32, usize)> = events.iter().enumerate().map(|(k, (m, c))| (k, *m, *c)).collect();
            let a = app.register("sandbox", "PROP-A", None).await;
            let b = app.register("sandbox", "PROP-B", None).await;
            // A: all events in one webhook, in order.
            app.sandbox_webhook(&body("PROP-A", &keyed)).await;
            // B: one webhook per event, shuffled, each sent `repeats` times, with a replay of all.
            let mut shuffled = keyed.clone();
            let mut state = order;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            for event in &shuffled {
                for _ in 0..repeats {
                    app.sandbox_webhook(&body("PROP-B", std::slice::from_ref(event))).await;
                }
            }
            app.sandbox_webhook(&body("PROP-B", &shuffled)).await;
            let left = snapshot(&app, a["id"].as_str().unwrap()).await;
            let right = snapshot(&app, b["id"].as_str().unwrap()).await;
            app.finish().await;
            assert_eq!(left, right);
            assert_ne!(left.0, Status::Pending.as_str());
        });
    }
}

async fn concurrent_updates_of_one_shipment_serialize(backend: Backend) {
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};

    let app = TestApp::spawn(backend).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.mall)
        .await;
    let shipment = app.register("sandbox", "CONCURRENT", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    // Twelve events, each in its own webhook, all sent at once; times and codes climb together.
    let codes = [
        "CR", "PU", "IT", "IT", "IT", "FA", "IT", "OD", "FA", "OD", "OD", "DL",
    ];
    let sends = codes.iter().enumerate().map(|(i, code)| {
        let body = body(
            "CONCURRENT",
            &[(
                i,
                i as u32 * 2,
                CODES.iter().position(|c| c == code).unwrap(),
            )],
        );
        let app = &app;
        async move { app.sandbox_webhook(&body).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (status, _, events) = snapshot(&app, &id).await;
    assert_eq!(status, "delivered");
    assert_eq!(events.len(), 12);
    let sequences: Vec<i64> = app
        .gateway()
        .store
        .outbox_of_shipment(&id)
        .await
        .unwrap()
        .iter()
        .map(|row| row.seq)
        .collect();
    let expected: Vec<i64> = (1..=sequences.len() as i64).collect();
    assert_eq!(sequences, expected, "push sequences are unique and gapless");
    app.finish().await;
}

#[tokio::test]
async fn concurrent_updates_of_one_shipment_take_turns() {
    concurrent_updates_of_one_shipment_serialize(Backend::Sqlite).await;
}

#[tokio::test]
async fn concurrent_updates_of_one_shipment_take_turns_on_postgres_rabbitmq() {
    concurrent_updates_of_one_shipment_serialize(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn concurrent_updates_of_one_shipment_take_turns_on_mysql() {
    concurrent_updates_of_one_shipment_serialize(Backend::MySql).await;
}
