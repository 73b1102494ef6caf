//! The status rule through the real write path: the same events fed in any order, any number
//! of times, leave the same shipment status and the same event list in the store.

use proptest::prelude::*;
use serde_json::json;
use trackgate::carriers::{Inbound, Status};
use trackgate::ingest::{IngestReport, StoredWebhook, ingest_webhooks};

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

/// Parse each body as the sandbox carrier would and ingest them all as one batch (one
/// transaction, a fixed number of statements), the way a processing worker does under load.
/// The gateway's PostgreSQL on loopback is reached without TLS (`sslmode=prefer` allows it):
/// TLS there stalled every write over 16 KiB for a delayed ACK (`Store::connect`).
#[tokio::test]
async fn postgres_on_loopback_goes_without_tls() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(Backend::PostgresRabbit).await;
    let conn = app.gateway().store.conn();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .expect("pg_stat_ssl has a row for every backend");
    let ssl: bool = row.try_get("", "ssl").unwrap();
    assert!(!ssl, "the store's connection to 127.0.0.1 uses TLS");
    app.finish().await;
}

async fn ingest_as_one_batch(app: &TestApp, bodies: &[Vec<u8>]) -> Vec<IngestReport> {
    let gateway = app.gateway();
    let carrier = gateway.registry.get("sandbox").expect("sandbox instance");
    let batch: Vec<StoredWebhook> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let verified = Inbound::new(Vec::new(), body.clone()).assume_verified();
            StoredWebhook {
                inbound_id: 1_000_000 + i as i64,
                carrier_id: carrier.id.clone(),
                outcome: carrier.parse_webhook(&verified).unwrap(),
            }
        })
        .collect();
    ingest_webhooks(&gateway.store, &gateway.queue, &gateway.live, &batch)
        .await
        .unwrap()
}

/// Shuffle `items` with a small deterministic generator seeded by `seed`.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        items.swap(i, (state >> 33) as usize % (i + 1));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The batch path applies several updates of one shipment in one transaction; the result is
    /// the one-webhook-at-a-time result: same status, same events, gapless push sequences.
    #[test]
    fn one_batch_leaves_what_one_webhook_at_a_time_leaves(
        events in proptest::collection::vec((0u32..10, 0usize..CODES.len()), 1..8),
        order in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let app = TestApp::spawn(Backend::Sqlite).await;
            let keyed: Vec<(usize, u32, usize)> = events.iter().enumerate().map(|(k, (m, c))| (k, *m, *c)).collect();
            let mut shuffled = keyed.clone();
            shuffle(&mut shuffled, order);
            let a = app.register("sandbox", "BATCH-A", None).await;
            let b = app.register("sandbox", "BATCH-B", None).await;
            for event in &shuffled {
                app.sandbox_webhook(&body("BATCH-A", std::slice::from_ref(event))).await;
            }
            let mut bodies: Vec<Vec<u8>> = shuffled.iter().map(|e| body("BATCH-B", std::slice::from_ref(e))).collect();
            bodies.push(body("BATCH-B", &shuffled));
            ingest_as_one_batch(&app, &bodies).await;
            let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
            let left = snapshot(&app, a).await;
            let right = snapshot(&app, b).await;
            let sequences = |id: &str| {
                let store = app.gateway().store.clone();
                let id = id.to_owned();
                async move {
                    store.outbox_of_shipment(&id).await.unwrap().iter().map(|r| r.seq).collect::<Vec<i64>>()
                }
            };
            let (left_seq, right_seq) = (sequences(a).await, sequences(b).await);
            app.finish().await;
            assert_eq!(left, right);
            assert_eq!(left_seq, right_seq, "one push per update that changed something, in order");
            assert_eq!(right_seq, (1..=right_seq.len() as i64).collect::<Vec<_>>());
        });
    }
}

/// A tracking number with every character a PostgreSQL array literal treats specially.
const ODD_NUMBER: &str = r#"MIX-"Q\,{3} NULL}"#;

/// One batch mixing two shipments, an unregistered number and duplicates, on each backend:
/// every report counts what its own webhook did, and each shipment's first new push is the
/// only one queued (the later ones wait for it).
async fn a_mixed_batch_reports_per_webhook(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.mall_accepts_pushes().await;
    let one = app.register("sandbox", "MIX-1", None).await;
    app.register("sandbox", "MIX-2", None).await;
    // PostgreSQL reads the batch's keys as array literals: quotes, backslashes, commas and
    // braces in a number must reach it intact.
    let odd = app.register("sandbox", ODD_NUMBER, None).await;
    let bodies = vec![
        body("MIX-1", &[(0, 0, 0), (1, 5, 1)]),
        body("MIX-2", &[(0, 1, 0)]),
        body("MIX-1", &[(1, 5, 1), (2, 9, 2)]),
        body("MIX-UNKNOWN", &[(0, 1, 0)]),
        body("MIX-1", &[(0, 0, 0)]),
        body(ODD_NUMBER, &[(0, 2, 0), (1, 3, 1)]),
    ];
    let reports = ingest_as_one_batch(&app, &bodies).await;
    let counts: Vec<(usize, usize, usize)> = reports
        .iter()
        .map(|r| (r.events_inserted, r.duplicates, r.status_changes))
        .collect();
    assert_eq!(
        counts,
        [
            (2, 0, 1),
            (1, 0, 1),
            (1, 1, 1),
            (0, 0, 0),
            (0, 1, 0),
            (2, 0, 1)
        ]
    );
    let (_, _, odd_events) = snapshot(&app, odd["id"].as_str().unwrap()).await;
    assert_eq!(odd_events.len(), 2, "the odd number's events are stored");
    assert_eq!(reports[3].unmatched, ["MIX-UNKNOWN"]);
    let (status, _, events) = snapshot(&app, one["id"].as_str().unwrap()).await;
    assert_eq!((status.as_str(), events.len()), ("in_transit", 3));
    let outbox = app
        .gateway()
        .store
        .outbox_of_shipment(one["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(outbox.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    // MIX-1's second push waited for its first; both pending at its turn, they go as one
    // (the first folded into the second, `superseded`), and that one is delivered.
    crate::helpers::wait_until(
        "the newest push of the batch is delivered, the older folded into it",
        std::time::Duration::from_secs(30),
        || async {
            let rows = app
                .gateway()
                .store
                .outbox_of_shipment(one["id"].as_str().unwrap())
                .await
                .unwrap();
            use trackgate::store::states::OutboxState;
            let states: Vec<OutboxState> = rows.iter().map(|r| r.state).collect();
            states == [OutboxState::Superseded, OutboxState::Delivered]
                || states == [OutboxState::Delivered, OutboxState::Delivered]
        },
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn a_mixed_batch_reports_per_webhook_on_sqlite() {
    a_mixed_batch_reports_per_webhook(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_mixed_batch_reports_per_webhook_on_postgres_rabbitmq() {
    a_mixed_batch_reports_per_webhook(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn a_mixed_batch_reports_per_webhook_on_mysql() {
    a_mixed_batch_reports_per_webhook(Backend::MySql).await;
}

/// The query plan of `sql` with `values` bound, as EXPLAIN prints it.
async fn plan_of(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) -> String {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let explain =
        Statement::from_sql_and_values(DbBackend::Postgres, format!("EXPLAIN {sql}"), values);
    let rows = app
        .gateway()
        .store
        .conn()
        .query_all_raw(explain)
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The shipments' lock: each key through the unique index, and whether a push is pending
/// through the shipment's own pending rows — never the outbox's pending rows read through the
/// state index as a hashed subplan, which PostgreSQL chose for the earlier `EXISTS` form on an
/// empty outbox and kept as the connection's generic plan while the outbox grew.
fn assert_lock_plan(lock: &str) {
    assert!(!lock.contains("Seq Scan"), "shipment lock:\n{lock}");
    assert!(
        lock.contains("ux_shipments_carrier_number"),
        "shipment lock:\n{lock}"
    );
    assert!(
        !lock.contains("ix_push_outbox_state") && !lock.contains("hashed"),
        "shipment lock:\n{lock}"
    );
    assert!(
        lock.contains("ix_push_outbox_shipment_state"),
        "shipment lock:\n{lock}"
    );
}

/// The write path's two reads on PostgreSQL — lock a batch's shipments, read their known
/// events — and the enqueued marks of published pushes go through the indexes on tables that
/// have never been analyzed, as in a new deployment or with autovacuum off: for a batch of 50
/// shipments among 4,000 with 40,000 events, and 500 marks among 30,000 pending pushes, no
/// plan scans a table. (The events read's earlier form, `shipment_id IN (…)`, was estimated at
/// 0.5 % of the table per listed id there, and planned as a sequential scan.)
#[tokio::test]
async fn the_write_paths_lookups_use_the_indexes_before_any_analyze_on_postgres() {
    use trackgate::store::batch::LOCK_SHIPMENTS_ON_POSTGRES;
    use trackgate::store::known_events::KNOWN_EVENTS_ON_POSTGRES;
    use trackgate::store::outbox::MARK_STILL_PENDING_ON_POSTGRES;
    let app = TestApp::spawn(Backend::PostgresRabbit).await;
    for table in ["shipments", "tracking_events", "push_outbox"] {
        app.execute(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ))
        .await;
    }
    app.execute(
        "INSERT INTO shipments (id, carrier_id, carrier_kind, tracking_number, status, tracking, \
         push_seq, created_at, updated_at) SELECT 'shp_plan_' || g, 'sandbox', 'sandbox', \
         'PLAN' || g, 'in_transit', true, 0, now(), now() FROM generate_series(1, 4000) g",
    )
    .await;
    app.execute(
        "INSERT INTO tracking_events (shipment_id, dedupe_key, occurred_at, offset_inferred, \
         status, raw_code, description, source, received_at) SELECT 'shp_plan_' || (g % 4000 + 1), \
         md5(g::text), now() - g * interval '1 second', false, 'in_transit', 'IT', \
         'Arrived at the sorting centre', 'webhook', now() FROM generate_series(1, 40000) g",
    )
    .await;
    let (stats,): (i64,) = {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let row = app
            .gateway()
            .store
            .conn()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) FROM pg_stats WHERE tablename IN ('shipments', 'tracking_events')",
            ))
            .await
            .unwrap()
            .unwrap();
        (row.try_get_by_index(0).unwrap(),)
    };
    assert_eq!(
        stats, 0,
        "the tables must not have statistics for this test to mean anything"
    );

    let batch: Vec<u32> = (1..=50).map(|i| i * 80).collect();
    let list = |prefix: &str| {
        let items: Vec<String> = batch.iter().map(|i| format!("{prefix}{i}")).collect();
        format!("{{{}}}", items.join(","))
    };
    let events = plan_of(
        &app,
        KNOWN_EVENTS_ON_POSTGRES,
        vec![list("shp_plan_").into()],
    )
    .await;
    assert!(!events.contains("Seq Scan"), "events read:\n{events}");
    assert!(
        events.contains("ux_tracking_events_dedupe"),
        "events read:\n{events}"
    );
    let carriers = format!("{{{}}}", vec!["sandbox"; batch.len()].join(","));
    let lock = plan_of(
        &app,
        LOCK_SHIPMENTS_ON_POSTGRES,
        vec![
            carriers.clone().into(),
            list("PLAN").into(),
            "pending".into(),
        ],
    )
    .await;
    assert_lock_plan(&lock);

    // The enqueued marks, with 30,000 pushes pending and unmarked (a backlog behind their
    // shipments' heads): each id through the primary key, not the backlog through the state
    // index (the form before read every pending, unmarked row there).
    app.execute(
        "INSERT INTO push_outbox (id, shipment_id, seq, payload, state, attempts, enqueued, \
         created_at, updated_at) SELECT 'push_plan_' || g, 'shp_plan_' || (g % 4000 + 1), g, \
         repeat('x', 1500), 'pending', 0, false, now(), now() FROM generate_series(1, 30000) g",
    )
    .await;
    let pushes: Vec<String> = (1..=500).map(|i| format!("push_plan_{}", i * 60)).collect();
    let published = format!(
        "{{{}}}",
        vec!["2030-01-01T00:00:00Z"; pushes.len()].join(",")
    );
    // The lock again, now that the outbox is full: whether a push is pending is still one
    // index lookup per shipment.
    let lock = plan_of(
        &app,
        LOCK_SHIPMENTS_ON_POSTGRES,
        vec![carriers.into(), list("PLAN").into(), "pending".into()],
    )
    .await;
    assert_lock_plan(&lock);
    let marks = plan_of(
        &app,
        MARK_STILL_PENDING_ON_POSTGRES,
        vec![format!("{{{}}}", pushes.join(",")).into(), published.into()],
    )
    .await;
    assert!(!marks.contains("Seq Scan"), "enqueued marks:\n{marks}");
    assert!(
        !marks.contains("ix_push_outbox_state"),
        "enqueued marks:\n{marks}"
    );
    assert!(
        marks.contains("push_outbox_pkey"),
        "enqueued marks:\n{marks}"
    );
    app.finish().await;
}
