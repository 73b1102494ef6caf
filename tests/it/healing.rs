//! Healing without a restart: a push that fails on the store is retried and never holds a queue
//! slot, `/readyz` says which part is failing while it fails, pushes of a shipment reach the mall
//! in sequence order whatever fails in between, and outbox rows that missed the queue are
//! relayed — on SQLite + the embedded queue, PostgreSQL + RabbitMQ and MariaDB.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use trackgate::store::states::OutboxState;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, sandbox_event, wait_until};

/// Every outbox row of these shipments delivered.
async fn all_delivered(app: &TestApp, ids: &[String]) -> bool {
    for id in ids {
        let rows = app.gateway().store.outbox_of_shipment(id).await;
        let Ok(rows) = rows else { return false };
        let settled = |r: &trackgate::store::entities::push_outbox::Model| {
            matches!(r.state, OutboxState::Delivered | OutboxState::Superseded)
        };
        if rows.is_empty() || !rows.iter().all(settled) {
            return false;
        }
    }
    true
}

/// A mall following docs/mall-integration.md (dedupe on webhook-id, keep every push's events by
/// id, apply the status of a greater sequence) has every stored event and the stored status.
async fn assert_the_mall_has_everything(app: &TestApp, ids: &[String]) {
    let pushes = app.pushes_received().await;
    for id in ids {
        let mine: Vec<&Value> = pushes.iter().filter(|p| p["shipment_id"] == **id).collect();
        let events: std::collections::BTreeSet<&str> = mine
            .iter()
            .flat_map(|p| p["events"].as_array().unwrap())
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let stored = app
            .gateway()
            .store
            .shipment_with_events(id)
            .await
            .unwrap()
            .unwrap();
        for event in &stored.events {
            assert!(
                events.contains(event.dedupe_key.as_str()),
                "{id}: event missing at the mall"
            );
        }
        let newest = mine.iter().max_by_key(|p| p["sequence"].as_i64()).unwrap();
        assert_eq!(newest["status"], stored.shipment.status.0.as_str(), "{id}");
    }
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn a_push_failing_on_the_store_is_retried_and_frees_its_slot(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("queue.prefetch", json!(2)),
            ("server.unready_after_secs", json!(1)),
        ],
    )
    .await;
    app.mall_accepts_pushes().await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let shipment = app.register("sandbox", &format!("SBX-HEAL{n}"), None).await;
        ids.push(shipment["id"].as_str().unwrap().to_owned());
    }
    // What a push records after its send is gone: every push task now fails on the store,
    // more of them than there are queue slots.
    app.execute("ALTER TABLE push_attempts RENAME TO push_attempts_away")
        .await;
    for n in 0..6 {
        let body = sandbox_event(
            &format!("SBX-HEAL{n}"),
            "p",
            "2026-11-20T08:00:00+01:00",
            "PU",
        );
        assert_eq!(app.sandbox_webhook(&body).await.status().as_u16(), 200);
    }
    wait_until(
        "readyz names the failing queue workers",
        Duration::from_secs(30),
        || async {
            let (status, body) = readyz(&app).await;
            status == 503 && body["background_work"]["queue workers"].is_string()
        },
    )
    .await;
    app.execute("ALTER TABLE push_attempts_away RENAME TO push_attempts")
        .await;
    wait_until(
        "every push delivered once the store is back",
        Duration::from_secs(60),
        || all_delivered(&app, &ids),
    )
    .await;
    // No slot is held: the next changes go through as well.
    for n in 0..6 {
        let body = sandbox_event(
            &format!("SBX-HEAL{n}"),
            "t",
            "2026-11-20T10:00:00+01:00",
            "IT",
        );
        app.sandbox_webhook(&body).await;
    }
    wait_until(
        "the next pushes delivered too",
        Duration::from_secs(30),
        || async {
            all_delivered(&app, &ids).await
                && app
                    .gateway()
                    .store
                    .outbox_of_shipment(&ids[5])
                    .await
                    .unwrap()
                    .len()
                    == 2
        },
    )
    .await;
    wait_until("ready again", Duration::from_secs(30), || async {
        readyz(&app).await.0 == 200
    })
    .await;
    assert_the_mall_has_everything(&app, &ids).await;
    app.finish().await;
}

#[tokio::test]
async fn a_push_failing_on_the_store_is_retried_and_frees_its_slot_on_sqlite() {
    a_push_failing_on_the_store_is_retried_and_frees_its_slot(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_push_failing_on_the_store_is_retried_and_frees_its_slot_on_postgres_rabbitmq() {
    a_push_failing_on_the_store_is_retried_and_frees_its_slot(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn a_push_failing_on_the_store_is_retried_and_frees_its_slot_on_mysql() {
    a_push_failing_on_the_store_is_retried_and_frees_its_slot(Backend::MySql).await;
}

/// PostgreSQL's own fault: every connection of the gateway terminated (as a restart does:
/// "terminating connection due to administrator command"), again and again, while webhooks
/// and pushes flow.
#[tokio::test]
async fn pushes_survive_terminated_connections_on_postgres_rabbitmq() {
    let app = TestApp::spawn_with(Backend::PostgresRabbit, &[("queue.prefetch", json!(2))]).await;
    app.mall_accepts_pushes().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let shipment = app.register("sandbox", &format!("SBX-TERM{n}"), None).await;
        ids.push(shipment["id"].as_str().unwrap().to_owned());
    }
    let codes = ["PU", "IT", "OD", "FA", "DL"];
    for (step, code) in codes.iter().enumerate() {
        for n in 0..4 {
            let time = format!("2026-11-20T0{step}:00:00+01:00");
            let body = sandbox_event(&format!("SBX-TERM{n}"), &format!("s{step}"), &time, code);
            // Refused (503) while the connections are gone: a carrier sends it again.
            let retried = async {
                for _ in 0..50 {
                    if app.sandbox_webhook(&body).await.status().is_success() {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                false
            };
            assert!(retried.await, "the webhook was never accepted");
        }
        app.terminate_postgres_connections().await;
    }
    wait_until("every push delivered", Duration::from_secs(60), || {
        all_delivered(&app, &ids)
    })
    .await;
    for id in &ids {
        let rows = app.gateway().store.outbox_of_shipment(id).await.unwrap();
        assert_eq!(rows.len(), codes.len(), "one push per status change");
    }
    assert_the_mall_has_everything(&app, &ids).await;
    app.finish().await;
}

/// Support lookups and the intake's one-statement group commits run on kept PostgreSQL
/// connections (read lanes). When PostgreSQL terminates every connection (as a restart does), a
/// lane fails its next query at most, is dropped, and takes a fresh connection: lookups and
/// webhooks come back by themselves, and no lane is left broken.
#[tokio::test]
async fn lanes_heal_after_postgres_terminates_their_connections() {
    let app = TestApp::spawn_with(
        Backend::PostgresRabbit,
        &[("database.read_lanes", json!(2))],
    )
    .await;
    app.mall_accepts_pushes().await;
    app.register("sandbox", "SBX-LANE1", Some("ORD-LANE")).await;
    let lookup = || async { app.get_json("/v1/track/SBX-LANE1", &app.keys.support).await };
    for round in 0..3 {
        // Lookups at once, so that both lanes hold a connection.
        let answers = futures_util::future::join_all((0..6).map(|_| lookup())).await;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "round {round}: {body}");
            assert_eq!(
                body["shipments"][0]["tracking_number"], "SBX-LANE1",
                "{body}"
            );
        }
        app.terminate_postgres_connections().await;
        // Each terminated connection fails one query at most (a pooled one too, when it was
        // used less than 30 s ago); then every lookup answers again.
        let mut failed = 0;
        while lookup().await.0 != 200 {
            failed += 1;
            assert!(failed < 20, "round {round}: lookups did not come back");
        }
        for _ in 0..20 {
            let (status, body) = lookup().await;
            assert_eq!(status, 200, "round {round}: a broken lane was kept: {body}");
        }
        // The intake's group commit heals the same way: a carrier's retry is stored.
        let time = format!("2026-11-20T0{round}:00:00+01:00");
        let body = sandbox_event("SBX-LANE1", &format!("lane{round}"), &time, "IT");
        let mut refused = 0;
        while !app.sandbox_webhook(&body).await.status().is_success() {
            refused += 1;
            assert!(
                refused < 20,
                "round {round}: the webhook was never accepted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    app.settled().await;
    let (status, body) = lookup().await;
    assert_eq!(status, 200);
    assert_eq!(
        body["shipments"][0]["events"].as_array().unwrap().len(),
        3,
        "{body}"
    );
    app.finish().await;
}

/// The mall fails a share of the calls and answers slowly; a busy shipment changes status
/// twelve times in quick succession. The first delivery of each push must come in sequence
/// order: a newer push never overtakes an older undelivered one.
async fn pushes_of_a_shipment_arrive_in_sequence_order(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("queue.prefetch", json!(8))]).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(move |_: &Request| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = if n % 3 == 1 { 503 } else { 200 };
            ResponseTemplate::new(status).set_delay(Duration::from_millis(20))
        })
        .mount(&app.mall)
        .await;
    let shipment = app.register("sandbox", "SBX-ORDER", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    let codes = [
        "PU", "IT", "AR", "CC", "OD", "FA", "CD", "IT", "AR", "OD", "FA", "DL",
    ];
    for (step, code) in codes.iter().enumerate() {
        let time = format!("2026-11-20T{:02}:00:00+01:00", step + 1);
        let body = sandbox_event("SBX-ORDER", &format!("o{step}"), &time, code);
        assert_eq!(app.sandbox_webhook(&body).await.status().as_u16(), 200);
    }
    wait_until("every push delivered", Duration::from_secs(60), || {
        all_delivered(&app, std::slice::from_ref(&id))
    })
    .await;
    let mut first_arrivals = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for request in app.mall.received_requests().await.unwrap() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if seen.insert(body["id"].as_str().unwrap().to_owned()) {
            first_arrivals.push(body["sequence"].as_i64().unwrap());
        }
    }
    assert!(
        first_arrivals.windows(2).all(|w| w[0] < w[1]),
        "pushes arrived out of sequence order: {first_arrivals:?}"
    );
    assert_eq!(first_arrivals.last(), Some(&(codes.len() as i64)));
    assert_the_mall_has_everything(&app, std::slice::from_ref(&id)).await;
    app.finish().await;
}

#[tokio::test]
async fn pushes_of_a_shipment_arrive_in_sequence_order_on_sqlite() {
    pushes_of_a_shipment_arrive_in_sequence_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn pushes_of_a_shipment_arrive_in_sequence_order_on_postgres_rabbitmq() {
    pushes_of_a_shipment_arrive_in_sequence_order(Backend::PostgresRabbit).await;
}

/// Rows committed while the broker was unreachable are on no queue: the relay sends the whole
/// backlog (each shipment's earliest push first) without waiting for anything else.
#[tokio::test]
async fn pushes_that_missed_the_queue_are_relayed_in_order_on_postgres_rabbitmq() {
    let app = TestApp::spawn(Backend::PostgresRabbit).await;
    let shipment = app.register("sandbox", "SBX-RELAY", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    // The mall is down while three changes happen; they wait for their retries.
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&app.mall)
        .await;
    app.mall_accepts_pushes().await;
    for (step, code) in ["PU", "IT", "OD"].iter().enumerate() {
        let time = format!("2026-11-20T0{}:00:00+01:00", step + 1);
        app.sandbox_webhook(&sandbox_event(
            "SBX-RELAY",
            &format!("r{step}"),
            &time,
            code,
        ))
        .await;
    }
    wait_until("every push delivered", Duration::from_secs(60), || {
        all_delivered(&app, std::slice::from_ref(&id))
    })
    .await;
    // Now as if they had never reached the broker: pending, not enqueued, a minute old. (The
    // "enqueued" marks of the real publishes above land first: they would find the rows
    // pending again and untouched since — the fiction's minute-old `updated_at` — and mark them.)
    app.gateway().store.flush_enqueued_marks().await;
    app.execute(&format!(
        "UPDATE push_outbox SET state = 'pending', attempts = 0, enqueued = false, \
             updated_at = now() - interval '1 minute' WHERE shipment_id = '{id}'"
    ))
    .await;
    let before = app.mall.received_requests().await.unwrap().len();
    wait_until(
        "the relay delivers the backlog",
        Duration::from_secs(30),
        || all_delivered(&app, std::slice::from_ref(&id)),
    )
    .await;
    let requests = app.mall.received_requests().await.unwrap();
    let sequences: Vec<i64> = requests[before..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["sequence"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]) && sequences.last() == Some(&3),
        "relayed in order (the backlog folded into fewer pushes): {sequences:?}"
    );
    assert_the_mall_has_everything(&app, std::slice::from_ref(&id)).await;
    app.finish().await;
}

/// The first delivery of a push that was first in line when ingest queued it goes without
/// reading the shipment's pending pushes; any other delivery reads them first. So a task the
/// broker hands out again (its consumer went away before acknowledging it) is not sent again
/// once its push is settled, whereas the fast path trusts the ticket.
#[tokio::test]
async fn a_redelivered_push_task_is_not_sent_again_once_settled() {
    let app = TestApp::spawn(Backend::PostgresRabbit).await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("sandbox", "SBX-REDELIVER", None).await;
    let id = shipment["id"].as_str().unwrap().to_owned();
    let body = sandbox_event("SBX-REDELIVER", "r1", "2026-11-20T10:00:00+01:00", "IT");
    assert_eq!(app.sandbox_webhook(&body).await.status().as_u16(), 200);
    wait_until("the push delivered", Duration::from_secs(30), || {
        all_delivered(&app, std::slice::from_ref(&id))
    })
    .await;
    let row = app
        .gateway()
        .store
        .outbox_of_shipment(&id)
        .await
        .unwrap()
        .remove(0);
    let gateway = app.gateway();
    let settings = &gateway.settings;
    let worker = trackgate::push::PushWorker::new(
        gateway.store.clone(),
        gateway.queue.clone(),
        trackgate::push::MallClient::new(&settings.mall).unwrap(),
        settings.retry,
        gateway.metrics.clone(),
    );
    let task = trackgate::push::push_task(&row.id, &row.shipment_id, row.seq, &row.payload, true);
    let sent = || async { app.mall.received_requests().await.unwrap().len() };
    let before = sent().await;
    let settlement = worker.handle(&task, true).await.unwrap();
    assert_eq!(settlement, trackgate::queue::Settlement::Ack);
    assert_eq!(
        sent().await,
        before,
        "a redelivered task of a settled push is not sent"
    );
    let mut retried = task.clone();
    retried.attempt = 1;
    worker.handle(&retried, false).await.unwrap();
    assert_eq!(sent().await, before, "nor is a retried one");
    // The first delivery trusts the ticket: it is sent without a read (a duplicate the mall
    // drops by webhook-id, which is why only first deliveries take this path).
    worker.handle(&task, false).await.unwrap();
    assert_eq!(sent().await, before + 1);
    app.finish().await;
}
