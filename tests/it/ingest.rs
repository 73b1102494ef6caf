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
    (found.shipment.status, found.shipment.sub_status, keys)
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
