//! Tracking numbers as people type them: every spelling registers, finds and updates one
//! shipment, and the upgrade canonicalizes stored numbers without merging two shipments.

use chrono::Utc;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use trackgate::store::Store;

use crate::helpers::{Backend, Storage, TestApp, sandbox_event};

/// A compact-rule kind (DHL: no dashes in its numbers) beside the sandbox (dashes kept).
fn with_dhl() -> [(&'static str, Value); 1] {
    [("carriers.dhl.kind", json!("dhl"))]
}

async fn register_status(app: &TestApp, carrier: &str, number: &str) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/v1/shipments", app.base))
        .bearer_auth(&app.keys.mall)
        .json(&json!({"carrier": carrier, "tracking_number": number}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn every_spelling_is_one_shipment(backend: Backend) {
    let app = TestApp::spawn_with(backend, &with_dhl()).await;
    app.mall_accepts_pushes().await;
    let (status, first) = register_status(&app, "dhl", " jd 0140-1234-56 ").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["tracking_number"], "JD0140123456");
    assert_eq!(first["tracking_number_as_sent"], "jd 0140-1234-56");
    for again in ["JD014012345 6", "jd0140123456", "JD–0140–1234–56"] {
        let (status, same) = register_status(&app, "dhl", again).await;
        assert_eq!(status, 200, "{again}: {same}");
        assert_eq!(same["id"], first["id"], "{again}");
    }
    for asked in ["jd0140123456", "JD-0140-1234-56", "jd%200140%20123456"] {
        let (status, found) = app
            .get_json(&format!("/v1/track/{asked}"), &app.keys.support)
            .await;
        assert_eq!(status, 200, "{asked}: {found}");
        let shipments = found["shipments"].as_array().unwrap();
        assert_eq!(shipments.len(), 1, "{asked}: {found}");
        assert_eq!(shipments[0]["id"], first["id"]);
    }

    // The sandbox keeps dashes: two numbers that differ only by one are two shipments, and a
    // webhook naming the number in lower case updates the one registered in upper case.
    let (_, dashed) = register_status(&app, "sandbox", "sbx 77-a").await;
    assert_eq!(dashed["tracking_number"], "SBX77-A");
    let (status, other) = register_status(&app, "sandbox", "SBX77A").await;
    assert_eq!(status, 201, "{other}");
    assert_ne!(other["id"], dashed["id"]);
    let body = sandbox_event("sbx77-a", "e1", "2026-11-20T08:00:00+01:00", "PU");
    assert_eq!(app.sandbox_webhook(&body).await.status().as_u16(), 200);
    let id = dashed["id"].as_str().unwrap();
    let (_, shipment) = app
        .get_json(&format!("/v1/shipments/{id}"), &app.keys.mall)
        .await;
    assert_eq!(shipment["status"], "picked_up", "{shipment}");
    assert_eq!(shipment["events"].as_array().unwrap().len(), 1);
    app.finish().await;
}

#[tokio::test]
async fn every_spelling_is_one_shipment_on_sqlite() {
    every_spelling_is_one_shipment(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_spelling_is_one_shipment_on_postgres_rabbitmq() {
    every_spelling_is_one_shipment(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn every_spelling_is_one_shipment_on_mysql() {
    every_spelling_is_one_shipment(Backend::MySql).await;
}

/// Insert a shipment as a gateway before migration 6 stored it (no `tracking_number_as_sent`).
async fn insert_old_shipment<C: ConnectionTrait>(
    db: &C,
    id: &str,
    carrier: &str,
    kind: &str,
    number: &str,
) {
    let now = Utc::now();
    let statement = Query::insert()
        .into_table(Alias::new("shipments"))
        .columns(
            [
                "id",
                "carrier_id",
                "carrier_kind",
                "tracking_number",
                "status",
                "tracking",
                "push_seq",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            carrier.into(),
            kind.into(),
            number.into(),
            "pending".into(),
            true.into(),
            0i64.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    db.execute(&statement).await.unwrap();
}

async fn the_upgrade_canonicalizes_without_merging(backend: Backend) {
    let storage = Storage::create(backend).await;
    let db = Database::connect(&storage.database_url).await.unwrap();
    <migration::Migrator as migration::MigratorTrait>::up(&db, Some(5))
        .await
        .unwrap();
    for (id, carrier, kind, number) in [
        ("shp_a", "dhl", "dhl", "jd-0140-1234"),
        ("shp_b", "kuaidi100", "kuaidi100", "jdva0001-1-1"),
        ("shp_c", "sandbox", "sandbox", "abc-1"),
        ("shp_d", "sandbox", "sandbox", "ABC-1"),
        ("shp_e", "sandbox", "sandbox", "xyz-9"),
        ("shp_f", "sandbox", "sandbox", "Xyz-9"),
        ("shp_g", "ups", "ups", "1Z999AA10123456784"),
    ] {
        insert_old_shipment(&db, id, carrier, kind, number).await;
    }
    let settings = trackgate::config::Settings::with_overrides(&[(
        "database.url",
        json!(storage.database_url),
    )])
    .unwrap();
    let store = Store::connect(&settings.database).await.unwrap();
    store.migrate().await.unwrap();
    let number_of = |id: &'static str| {
        let store = store.clone();
        async move {
            let shipment = store.get_shipment(id).await.unwrap().unwrap();
            (shipment.tracking_number, shipment.tracking_number_as_sent)
        }
    };
    assert_eq!(
        number_of("shp_a").await,
        ("JD01401234".into(), Some("jd-0140-1234".into()))
    );
    assert_eq!(number_of("shp_b").await.0, "JDVA0001-1-1");
    assert_eq!(number_of("shp_g").await.0, "1Z999AA10123456784");
    // One spelling already canonical, one not: both kept as they were.
    assert_eq!(number_of("shp_c").await.0, "abc-1");
    assert_eq!(number_of("shp_d").await.0, "ABC-1");
    // Neither canonical, both would become XYZ-9: both kept.
    assert_eq!(number_of("shp_e").await.0, "xyz-9");
    assert_eq!(number_of("shp_f").await.0, "Xyz-9");
    let mut listed: Vec<String> = store
        .noncanonical_numbers()
        .await
        .unwrap()
        .into_iter()
        .map(|(shipment, canonical)| format!("{} {canonical}", shipment.id))
        .collect();
    listed.sort();
    assert_eq!(listed, ["shp_c ABC-1", "shp_e XYZ-9", "shp_f XYZ-9"]);
    drop(store);
    db.close().await.unwrap();
    storage.cleanup().await;
}

#[tokio::test]
async fn the_upgrade_canonicalizes_without_merging_on_sqlite() {
    the_upgrade_canonicalizes_without_merging(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_upgrade_canonicalizes_without_merging_on_postgres() {
    the_upgrade_canonicalizes_without_merging(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn the_upgrade_canonicalizes_without_merging_on_mysql() {
    the_upgrade_canonicalizes_without_merging(Backend::MySql).await;
}

/// The support lookup's read on PostgreSQL (a fixed statement decoded by position) gives what
/// sea-orm's joined select gives on the same rows: every column of a shipment, of its
/// subscription and of each event, NULLs and values alike, for lookups by number and by order
/// — so a column added to an entity and not to the positional read fails here.
#[tokio::test]
async fn the_lookups_read_on_postgres_equals_the_orms_read() {
    use trackgate::store::shipments::ShipmentLookup;
    let app = TestApp::spawn(Backend::PostgresRabbit).await;
    // Every nullable column set on the first shipment, none on the second; the third shares
    // the first's number under another carrier instance, and the first two one order.
    app.execute(
        "INSERT INTO shipments (id, carrier_id, carrier_kind, tracking_number, order_id, status, \
         sub_status, status_raw_code, last_event_at, delivered_at, estimated_delivery, metadata, \
         tracking, push_seq, next_poll_at, carrier_code, phone_last4, poll_priority, \
         unchanged_polls, grace_polled, lease_until, lease_owner, last_webhook_at, created_at, \
         updated_at, tracking_number_as_sent) VALUES \
         ('shp_cmp_1', 'sandbox', 'sandbox', 'CMP1', 'ORD-CMP', 'delivered', 'delivered_to_neighbour', \
          'DL', now() - interval '1 hour', now() - interval '1 hour', now() + interval '1 day', \
          '{\"gift\":true}', false, 3, now() + interval '5 minutes', 'zto', '1234', 2, 4, true, \
          now() + interval '30 seconds', 'worker-1', now() - interval '2 hours', \
          now() - interval '3 days', now() - interval '1 hour', 'cmp-1'), \
         ('shp_cmp_2', 'sandbox', 'sandbox', 'CMP2', 'ORD-CMP', 'pending', NULL, NULL, NULL, NULL, \
          NULL, NULL, true, 0, NULL, NULL, NULL, 0, 0, false, NULL, NULL, NULL, \
          now() - interval '2 days', now() - interval '2 days', NULL), \
         ('shp_cmp_3', 'sandbox-eu', 'sandbox', 'CMP1', NULL, 'in_transit', NULL, 'IT', NULL, NULL, \
          NULL, NULL, true, 1, NULL, NULL, NULL, 0, 0, false, NULL, NULL, NULL, \
          now() - interval '1 day', now() - interval '1 day', 'CMP1')",
    )
    .await;
    app.execute(
        "INSERT INTO subscriptions (shipment_id, carrier_id, state, attempts, last_error, enqueued, \
         created_at, updated_at) VALUES ('shp_cmp_1', 'sandbox', 'failed', 3, 'refused', false, \
         now() - interval '3 days', now() - interval '2 days')",
    )
    .await;
    app.execute(
        "INSERT INTO tracking_events (shipment_id, dedupe_key, occurred_at, utc_offset_seconds, \
         offset_inferred, status, sub_status, raw_code, description, location, source, \
         inbound_webhook_id, received_at) VALUES \
         ('shp_cmp_1', 'k1', now() - interval '2 days', 28800, true, 'picked_up', NULL, 'PU', \
          'Picked up', 'Shenzhen, CN', 'webhook', NULL, now() - interval '2 days'), \
         ('shp_cmp_1', 'k2', now() - interval '1 hour', NULL, false, 'delivered', \
          'delivered_to_neighbour', 'DL', 'Delivered', NULL, 'poll', NULL, now()), \
         ('shp_cmp_3', 'k1', now() - interval '1 day', -18000, false, 'in_transit', NULL, 'IT', \
          'In transit', 'Memphis, US', 'poll', NULL, now())",
    )
    .await;
    let store = &app.gateway().store;
    let repeated = ["CMP1".to_owned(), "CMP1".to_owned()];
    let one_unknown = ["CMP2".to_owned(), "CMP9".to_owned()];
    let unknown = ["NOPE".to_owned()];
    let lookups = [
        ShipmentLookup::TrackingNumbers(&repeated),
        ShipmentLookup::TrackingNumbers(&one_unknown),
        ShipmentLookup::TrackingNumbers(&unknown),
        ShipmentLookup::Order("ORD-CMP"),
        ShipmentLookup::Order("ORD-NONE"),
    ];
    let mut found = 0;
    for lookup in lookups {
        let positional = store.timelines(lookup).await.unwrap();
        let orm = store.timelines_by_select(lookup).await.unwrap();
        assert_eq!(positional, orm, "{lookup:?}");
        found += positional.len();
    }
    assert_eq!(
        found, 5,
        "CMP1 twice (two carriers), CMP2, and the order's two"
    );
    let cmp1 = store
        .timelines(ShipmentLookup::TrackingNumbers(&repeated[..1]))
        .await
        .unwrap();
    let first = &cmp1[0];
    assert_eq!(first.shipment.id, "shp_cmp_1", "oldest first");
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.events[0].dedupe_key, "k1", "timeline order");
    assert!(first.subscription.is_some());
    assert!(cmp1[1].subscription.is_none());
    app.finish().await;
}
