//! Carrier webhooks: signatures, raw storage before the ack, carrier ack formats, and
//! reprocessing of what could not be used the first time.

use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use trackgate::store::entities::{inbound_webhook, tracking_event};
use trackgate::store::states::WebhookOutcome;
use trackgate::store::webhooks::NewInbound;

use crate::helpers::{
    Backend, KUAIDI100_SALT, SANDBOX_SECRET, TestApp, fixture, sandbox_event, wait_until,
};

async fn counts(app: &TestApp) -> (u64, u64) {
    let db = app.gateway().store.conn();
    (
        inbound_webhook::Entity::find().count(db).await.unwrap(),
        tracking_event::Entity::find().count(db).await.unwrap(),
    )
}

/// Post `body` to `/webhooks/{carrier}` under the signature header, first with one byte
/// changed by `tamper` (refused: 401, nothing stored), then as signed (accepted: 200); returns
/// the shipment as stored afterwards.
async fn verified_round(
    app: &TestApp,
    carrier: &str,
    shipment_id: &str,
    (header, signature): (&str, String),
    body: Vec<u8>,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> serde_json::Value {
    let post = |body: Vec<u8>| {
        app.http
            .post(format!("{}/webhooks/{carrier}", app.base))
            .header("content-type", "application/json")
            .header(header, signature.clone())
            .body(body)
            .send()
    };
    let mut tampered = body.clone();
    tamper(&mut tampered);
    assert_eq!(
        post(tampered).await.unwrap().status().as_u16(),
        401,
        "one byte changed"
    );
    assert_eq!(counts(app).await, (0, 0));
    assert_eq!(post(body).await.unwrap().status().as_u16(), 200);
    app.settled().await;
    app.get_json(&format!("/v1/shipments/{shipment_id}"), &app.keys.mall)
        .await
        .1
}

#[tokio::test]
async fn webhook_with_a_bad_signature_is_rejected_and_nothing_is_stored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("sandbox", "SBX2000001", None).await;
    let body = fixture("carriers/sandbox/webhook-delivered-proxy.json");
    let url = format!("{}/webhooks/sandbox", app.base);
    let forged = trackgate::carriers::sandbox::sign("wrong-secret", &body);
    for signature in [Some(forged.as_str()), None, Some("sha256=zz")] {
        let mut request = app.http.post(&url).body(body.clone());
        if let Some(signature) = signature {
            request = request.header("x-sandbox-signature", signature);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_signature");
    }
    // Kuaidi100 with a sign made from another salt.
    let tampered = String::from_utf8(fixture(
        "carriers/kuaidi100/callback-in-transit-advanced-codes.txt",
    ))
    .unwrap()
    .replace("sign=", "sign=00");
    let response = app
        .http
        .post(format!("{}/webhooks/kuaidi100", app.base))
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(counts(&app).await, (0, 0));

    let response = app
        .http
        .post(format!("{}/webhooks/pigeon-post", app.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "unknown_carrier"
    );
    app.finish().await;
}

#[tokio::test]
async fn kuaidi100_callback_is_stored_normalized_and_acknowledged_in_its_own_format() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.mall_accepts_pushes().await;
    let shipment = app
        .register("kuaidi100", "78412345678901", Some("ORD-9"))
        .await;
    let body = fixture("carriers/kuaidi100/callback-delivered-state-names.txt");
    for _ in 0..2 {
        let response = app
            .http
            .post(format!("{}/webhooks/kuaidi100", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"result":true,"returnCode":"200","message":"成功"}"#
        );
    }
    app.settled().await;
    let (_, stored) = app
        .get_json(
            &format!("/v1/shipments/{}", shipment["id"].as_str().unwrap()),
            &app.keys.mall,
        )
        .await;
    assert_eq!(stored["status"], "delivered");
    assert_eq!(stored["delivered_at"], "2026-11-21T03:45:09.000Z");
    // The mall gave no company code: the callback's `com` becomes it, with the courier's name.
    assert_eq!(stored["carrier_code"], "zhongtong");
    assert_eq!(stored["courier_name"], "ZTO Express / 中通快递");
    assert_eq!(
        stored["events"].as_array().unwrap().len(),
        6,
        "the repeated callback added no events"
    );
    let (webhooks, events) = counts(&app).await;
    assert_eq!(
        (webhooks, events),
        (2, 6),
        "each delivery is kept raw; events are deduplicated"
    );
    let raw = inbound_webhook::Entity::find()
        .all(app.gateway().store.conn())
        .await
        .unwrap();
    assert_eq!(raw[0].body, body, "the raw body is kept byte for byte");
    assert_eq!(raw[0].outcome, WebhookOutcome::Processed);
    wait_until("the push", Duration::from_secs(10), || async {
        !app.pushes_received().await.is_empty()
    })
    .await;
    let push = &app.pushes_received().await[0];
    assert_eq!(push["carrier_code"], "zhongtong");
    assert_eq!(push["courier_name"], "ZTO Express / 中通快递");
    let _ = KUAIDI100_SALT;
    app.finish().await;
}

#[tokio::test]
async fn an_unparseable_body_is_kept_raw_and_can_be_reprocessed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .sandbox_webhook(&fixture("carriers/sandbox/webhook-malformed.json"))
        .await;
    assert_eq!(response.status().as_u16(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "unparseable_payload");
    let inbound_id = problem["inbound_webhook_id"].as_i64().unwrap();
    let stored = app
        .gateway()
        .store
        .inbound_webhook(inbound_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.outcome, WebhookOutcome::Failed);
    assert!(stored.error.unwrap().contains("EOF"));

    // An update for a number the mall has not registered yet is stored and flagged, not lost.
    let early = fixture("carriers/sandbox/webhook-delivered-proxy.json");
    assert_eq!(app.sandbox_webhook(&early).await.status().as_u16(), 200);
    let partial = app
        .gateway()
        .store
        .inbound_webhooks_in(&[WebhookOutcome::Partial], 10)
        .await
        .unwrap();
    assert_eq!(partial.len(), 1);
    assert!(
        partial[0]
            .error
            .as_deref()
            .unwrap()
            .contains("not registered: SBX2000001")
    );

    let shipment = app.register("sandbox", "SBX2000001", None).await;
    let summary = app
        .gateway()
        .intake
        .reprocess(None, true)
        .await
        .unwrap()
        .to_string();
    assert!(
        summary.contains("1 new event(s); 1 still failing"),
        "{summary}"
    );
    let (_, stored) = app
        .get_json(
            &format!("/v1/shipments/{}", shipment["id"].as_str().unwrap()),
            &app.keys.mall,
        )
        .await;
    assert_eq!(stored["status"], "delivered");
    assert_eq!(stored["sub_status"], "signed_by_proxy");
    app.finish().await;
}

#[tokio::test]
async fn the_kuaidi100_salt_comes_from_the_carrier_instance_config() {
    // A salt that does not match the fixtures' sign: every callback is refused.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("carriers.kuaidi100.salt", serde_json::json!("another-salt"))],
    )
    .await;
    let body = fixture("carriers/kuaidi100/callback-in-transit-advanced-codes.txt");
    let response = app
        .http
        .post(format!("{}/webhooks/kuaidi100", app.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    app.finish().await;
}

#[tokio::test]
async fn easypost_tracker_events_are_verified_and_stored() {
    let secret = "whsec-easypost-ünïcode";
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[(
            "carriers.easypost.webhook_secret",
            serde_json::json!(secret),
        )],
    )
    .await;
    let shipment = app
        .register("easypost", "9400109104250532908587", None)
        .await;
    let body = fixture("carriers/easypost/webhook-tracker-updated-delivered.json");
    let signature = trackgate::carriers::easypost::sign(secret, &body);
    let stored = verified_round(
        &app,
        "easypost",
        shipment["id"].as_str().unwrap(),
        ("x-hmac-signature", signature),
        body,
        |tampered| {
            let last = tampered.len() - 2;
            tampered[last] = b' ';
        },
    )
    .await;
    assert_eq!(stored["status"], "delivered");
    assert_eq!(stored["events"].as_array().unwrap().len(), 5);
    app.finish().await;
}

#[tokio::test]
async fn shippo_track_updates_are_verified_and_stored() {
    let secret = "shippo-webhook-secret";
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("carriers.shippo.webhook_secret", serde_json::json!(secret))],
    )
    .await;
    let shipment = app
        .register("shippo", "9205590164917312751089", Some("1001"))
        .await;
    let body = fixture("carriers/shippo/webhook-track-updated-delivery-attempted.json");
    let signature =
        trackgate::carriers::shippo::sign(secret, chrono::Utc::now().timestamp(), &body);
    let stored = verified_round(
        &app,
        "shippo",
        shipment["id"].as_str().unwrap(),
        ("shippo-auth-signature", signature),
        body,
        |tampered| tampered[10] ^= 1,
    )
    .await;
    assert_eq!(stored["status"], "failed_attempt");
    assert_eq!(stored["sub_status"], "delivery_attempted");
    assert_eq!(stored["estimated_delivery"], "2026-11-21T00:00:00.000Z");
    assert_eq!(stored["events"].as_array().unwrap().len(), 5);
    app.finish().await;
}

#[tokio::test]
async fn aftership_tracking_updates_are_verified_and_stored() {
    let secret = "aftership-webhook-secret";
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[(
            "carriers.aftership.webhook_secret",
            serde_json::json!(secret),
        )],
    )
    .await;
    let shipment = app
        .register("aftership", "794612345678", Some("1001"))
        .await;
    let body = fixture("carriers/aftership/webhook-tracking-update-delivered.json");
    let signature = trackgate::carriers::aftership::sign(secret, &body);
    let stored = verified_round(
        &app,
        "aftership",
        shipment["id"].as_str().unwrap(),
        ("aftership-hmac-sha256", signature),
        body,
        |tampered| tampered[20] ^= 1,
    )
    .await;
    assert_eq!(stored["status"], "delivered");
    assert_eq!(
        stored["delivered_at"], "2026-11-20T15:21:00.000Z",
        "Brooklyn local time resolved in America/New_York"
    );
    assert_eq!(stored["events"].as_array().unwrap().len(), 6);
    app.finish().await;
}

#[tokio::test]
async fn seventeen_track_pushes_are_verified_by_their_sign_header_and_stored() {
    let key = "17track-api-key";
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("carriers.17track.api_key", serde_json::json!(key))],
    )
    .await;
    let shipment = app.register("17track", "LX123456785CN", None).await;
    let body = fixture("carriers/17track/push-tracking-updated-two-providers.json");
    let sign = trackgate::carriers::seventeen_track::sign(key, &body);
    let stored = verified_round(
        &app,
        "17track",
        shipment["id"].as_str().unwrap(),
        ("sign", sign),
        body,
        |tampered| tampered[40] ^= 1,
    )
    .await;
    assert_eq!(stored["status"], "out_for_delivery");
    assert_eq!(
        stored["events"].as_array().unwrap().len(),
        6,
        "both providers' events, merged"
    );
    app.finish().await;
}

#[tokio::test]
async fn a_tracking_stopped_push_stops_polling_the_shipment() {
    let key = "17track-api-key";
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("carriers.17track.api_key", serde_json::json!(key))],
    )
    .await;
    let shipment = app.register("17track", "RR123456789CN", None).await;
    assert_eq!(shipment["tracking"], true);
    let body = fixture("carriers/17track/push-tracking-stopped.json");
    let response = app
        .http
        .post(format!("{}/webhooks/17track", app.base))
        .header(
            "sign",
            trackgate::carriers::seventeen_track::sign(key, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    app.settled().await;
    let (_, stored) = app
        .get_json(
            &format!("/v1/shipments/{}", shipment["id"].as_str().unwrap()),
            &app.keys.mall,
        )
        .await;
    assert_eq!(stored["tracking"], false, "17TRACK no longer follows it");
    app.finish().await;
}

/// The acknowledgement means "stored"; ingest follows in memory. A webhook stored by a process
/// that died before ingesting it (here: a row written straight to the store) is found by the
/// sweep and ingested, on every store.
async fn a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("intake.recover_after_secs", serde_json::json!(0)),
            ("intake.sweep_secs", serde_json::json!(1)),
        ],
    )
    .await;
    let shipment = app.register("sandbox", "SBX-SWEEP", None).await;
    let body = crate::helpers::sandbox_event("SBX-SWEEP", "1", "2026-11-20T08:00:00Z", "DL");
    let row = NewInbound::new("sandbox", &[], body).unwrap();
    let ids = app
        .gateway()
        .store
        .store_inbound_webhooks(vec![row])
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    app.settled().await;
    let (_, stored) = app
        .get_json(
            &format!("/v1/shipments/{}", shipment["id"].as_str().unwrap()),
            &app.keys.mall,
        )
        .await;
    assert_eq!(stored["status"], "delivered", "{stored}");
    let row = app
        .gateway()
        .store
        .inbound_webhook(ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.outcome, WebhookOutcome::Processed);
    app.finish().await;
}

#[tokio::test]
async fn a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep_on_sqlite() {
    a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep_on_postgres_rabbitmq() {
    a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep_on_mysql() {
    a_stored_but_unprocessed_webhook_is_ingested_by_the_sweep(Backend::MySql).await;
}

/// A burst larger than the in-memory hand-off: the overflow waits in the store and is ingested
/// at once by the sweep (not `recover_after_secs` later), so memory stays bounded and nothing
/// is lost.
#[tokio::test]
async fn a_burst_beyond_the_in_memory_queue_is_ingested_from_the_store() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("intake.queue_capacity", serde_json::json!(1)),
            ("intake.recover_after_secs", serde_json::json!(3600)),
        ],
    )
    .await;
    let numbers: Vec<String> = (0..20).map(|i| format!("SBX-BURST-{i}")).collect();
    for number in &numbers {
        app.register("sandbox", number, None).await;
    }
    let sends = numbers.iter().map(|number| {
        let body = crate::helpers::sandbox_event(number, "1", "2026-11-20T08:00:00Z", "DL");
        let app = &app;
        async move {
            crate::helpers::post_sandbox_webhook(&app.http, &app.base, &body)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    app.settled().await;
    for number in &numbers {
        let (_, found) = app
            .get_json(&format!("/v1/track/{number}"), &app.keys.support)
            .await;
        assert_eq!(found["shipments"][0]["status"], "delivered", "{number}");
    }
    app.finish().await;
}

/// A carrier webhook secret being rotated: the previous secret's signatures are accepted until
/// `previous_until` (and counted), refused after it; the current secret works throughout.
#[tokio::test]
async fn the_previous_webhook_secret_is_accepted_during_its_grace_period_only() {
    async fn signed_with(app: &TestApp, secret: &str, number: &str) -> u16 {
        let body = sandbox_event(number, "p1", "2026-11-20T08:00:00+01:00", "PU");
        crate::helpers::post_sandbox_webhook_signed_with(&app.http, &app.base, secret, &body)
            .await
            .status()
            .as_u16()
    }
    /// A gateway whose sandbox secret is being rotated, the grace period ending in `days`.
    async fn rotating(days: i64) -> TestApp {
        let until = (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
        TestApp::spawn_with(
            Backend::Sqlite,
            &[
                (
                    "carriers.sandbox.previous.webhook_secret",
                    json!("the-old-secret"),
                ),
                ("carriers.sandbox.previous_until", json!(until)),
            ],
        )
        .await
    }
    let app = rotating(1).await;
    app.register("sandbox", "SBX-ROT-1", None).await;
    assert_eq!(signed_with(&app, "the-old-secret", "SBX-ROT-1").await, 200);
    assert_eq!(signed_with(&app, SANDBOX_SECRET, "SBX-ROT-1").await, 200);
    assert_eq!(signed_with(&app, "a-wrong-secret", "SBX-ROT-1").await, 401);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("trackgate_webhook_previous_secret_total{carrier=\"sandbox\"} 1"),
        "{metrics}"
    );
    app.finish().await;

    let app = rotating(-1).await;
    assert_eq!(signed_with(&app, "the-old-secret", "SBX-ROT-2").await, 401);
    app.finish().await;
}

/// The group commit stores every body byte for byte — quotes, backslashes, braces, commas,
/// NUL and bytes that are not UTF-8, which PostgreSQL's array literals and `bytea` must carry
/// untouched — and answers the ids in the order given, for a batch larger than one SQLite
/// statement takes.
async fn a_group_commit_stores_every_body_as_sent_in_order(backend: Backend, read_lanes: u32) {
    let app = TestApp::spawn_with(backend, &[("database.read_lanes", json!(read_lanes))]).await;
    let tricky: Vec<Vec<u8>> = vec![
        br#"{"quote":"\"","backslash":"\\","array":"{a,b}","null":"NULL"}"#.to_vec(),
        vec![0, 1, 2, 0xff, 0xfe, b'"', b'\\', b'{', b'}', b',', b' '],
        Vec::new(),
        "grüße 你好 \u{1F4E6}".as_bytes().to_vec(),
        vec![b'x'; 100_000],
    ];
    let rows: Vec<NewInbound> = (0..2_100)
        .map(|i| {
            let body = tricky
                .get(i % 50)
                .cloned()
                .unwrap_or_else(|| format!("body {i}").into_bytes());
            let headers = [("x-n".to_owned(), format!("{i} \"\\ {{}}"))];
            let mut row = NewInbound::new("sandbox", &headers, body).unwrap();
            if i % 7 == 3 {
                // Stored already failed, as the intake stores a body it cannot parse.
                row.outcome = WebhookOutcome::Failed;
                row.error = Some(format!("line {i}: \"unexpected\" {{,}}"));
            }
            row
        })
        .collect();
    let expected: Vec<NewInbound> = rows.clone();
    let store = &app.gateway().store;
    let ids = store.store_inbound_webhooks(rows).await.unwrap();
    assert_eq!(ids.len(), expected.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend: {ids:?}");
    for (id, sent) in ids.iter().zip(&expected) {
        let row = store.inbound_webhook(*id).await.unwrap().unwrap();
        assert_eq!(row.body, sent.body, "body of webhook {id}");
        assert_eq!(row.headers, sent.headers, "headers of webhook {id}");
        assert_eq!(row.carrier_id, "sandbox");
        assert_eq!(row.outcome, sent.outcome);
        assert_eq!(row.error, sent.error);
        // Within a second: MySQL may keep whole seconds only.
        let near = |a: chrono::DateTime<chrono::Utc>| {
            (a - sent.received_at).num_milliseconds().abs() < 1000
        };
        assert!(near(row.received_at), "received_at of webhook {id}");
        match sent.outcome {
            WebhookOutcome::Failed => assert!(row.processed_at.is_some_and(near)),
            _ => assert_eq!(row.processed_at, None, "webhook {id}"),
        }
        assert_eq!(row.attempts, 0);
    }
    app.finish().await;
}

#[tokio::test]
async fn a_group_commit_stores_every_body_as_sent_in_order_on_sqlite() {
    a_group_commit_stores_every_body_as_sent_in_order(Backend::Sqlite, 0).await;
}

#[tokio::test]
async fn a_group_commit_stores_every_body_as_sent_in_order_on_postgres() {
    a_group_commit_stores_every_body_as_sent_in_order(Backend::PostgresRabbit, 8).await;
}

/// The same through the pool, as when every read lane is busy.
#[tokio::test]
async fn a_group_commit_stores_every_body_as_sent_in_order_on_postgres_without_lanes() {
    a_group_commit_stores_every_body_as_sent_in_order(Backend::PostgresRabbit, 0).await;
}

#[tokio::test]
async fn a_group_commit_stores_every_body_as_sent_in_order_on_mysql() {
    a_group_commit_stores_every_body_as_sent_in_order(Backend::MySql, 0).await;
}
