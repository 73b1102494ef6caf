//! Push attempts recorded in batches ([`trackgate::store::Store::record_attempts`]): several
//! pushes that finished together, recorded with one statement on PostgreSQL and one transaction
//! elsewhere, each row left in its own state, each attempt listed, and each shipment's next
//! pending push handed back for the ones that are settled.

use chrono::Utc;
use trackgate::store::Store;
use trackgate::store::attempts::{AttemptRecord, NextPush};
use trackgate::store::batch::Writes;
use trackgate::store::entities::push_outbox;
use trackgate::store::states::OutboxState;

use crate::helpers::{Backend, TestApp};

fn outbox_row(id: &str, shipment_id: &str, seq: i64) -> push_outbox::Model {
    let now = Utc::now();
    push_outbox::Model {
        id: id.to_owned(),
        shipment_id: shipment_id.to_owned(),
        seq,
        payload: format!(r#"{{"id":"{id}","sequence":{seq}}}"#),
        state: OutboxState::Pending,
        attempts: 0,
        enqueued: false,
        last_error: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    }
}

fn attempt(id: &str, state: OutboxState, status: u16, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        outbox_id: id.to_owned(),
        attempt: 1,
        http_status: Some(i32::from(status)),
        error: error.map(str::to_owned),
        duration_ms: 7,
        state,
        at: Utc::now(),
    }
}

async fn attempts_of_a_batch_are_recorded_together(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.gateway().store.clone();
    let mut shipments = Vec::new();
    for number in ["REC-1", "REC-2", "REC-3"] {
        let shipment = app.register("sandbox", number, None).await;
        shipments.push(shipment["id"].as_str().unwrap().to_owned());
    }
    // No task refers to these rows, so no worker touches them while the test records.
    let rows = vec![
        outbox_row("msg_rec_1a", &shipments[0], 1),
        outbox_row("msg_rec_1b", &shipments[0], 2),
        outbox_row("msg_rec_2a", &shipments[1], 1),
        outbox_row("msg_rec_2b", &shipments[1], 2),
        outbox_row("msg_rec_3a", &shipments[2], 1),
    ];
    let mut writes = Writes::new(store.backend());
    Store::insert_outbox_rows(&mut writes, &rows);
    writes.execute(store.conn()).await.unwrap();
    let next = store
        .record_attempts(&[
            attempt("msg_rec_1a", OutboxState::Delivered, 200, None),
            attempt(
                "msg_rec_2a",
                OutboxState::Pending,
                503,
                Some("mall answered 503"),
            ),
            attempt(
                "msg_rec_3a",
                OutboxState::Gone,
                410,
                Some("mall answered 410"),
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        next.get("msg_rec_1a"),
        Some(&NextPush {
            id: "msg_rec_1b".into(),
            shipment_id: shipments[0].clone(),
            seq: 2,
            payload: r#"{"id":"msg_rec_1b","sequence":2}"#.into(),
        }),
        "a delivered push hands back its shipment's next one, payload and all"
    );
    assert!(
        !next.contains_key("msg_rec_3a"),
        "no push is pending after it"
    );
    let state = |id: &'static str| {
        let store = store.clone();
        async move { store.outbox_row(id).await.unwrap().unwrap() }
    };
    let delivered = state("msg_rec_1a").await;
    assert_eq!(
        (delivered.state, delivered.attempts),
        (OutboxState::Delivered, 1)
    );
    assert!(delivered.delivered_at.is_some());
    let retried = state("msg_rec_2a").await;
    assert_eq!(
        (
            retried.state,
            retried.attempts,
            retried.last_error.as_deref()
        ),
        (OutboxState::Pending, 1, Some("mall answered 503"))
    );
    assert!(retried.delivered_at.is_none());
    assert!(
        retried.enqueued,
        "a push left pending has its retry on the queue: the attempt marks it"
    );
    assert_eq!(state("msg_rec_3a").await.state, OutboxState::Gone);
    assert_eq!(state("msg_rec_1b").await.state, OutboxState::Pending);
    for (id, status) in [
        ("msg_rec_1a", 200),
        ("msg_rec_2a", 503),
        ("msg_rec_3a", 410),
    ] {
        let listed = store.push_attempts(id).await.unwrap();
        assert_eq!(listed.len(), 1, "{id}: one attempt listed");
        assert_eq!(listed[0].http_status, Some(status));
        assert_eq!(listed[0].duration_ms, 7);
    }
    app.finish().await;
}

#[tokio::test]
async fn attempts_of_a_batch_are_recorded_together_on_sqlite() {
    attempts_of_a_batch_are_recorded_together(Backend::Sqlite).await;
}

#[tokio::test]
async fn attempts_of_a_batch_are_recorded_together_on_postgres() {
    attempts_of_a_batch_are_recorded_together(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn attempts_of_a_batch_are_recorded_together_on_mysql() {
    attempts_of_a_batch_are_recorded_together(Backend::MySql).await;
}

/// Published pushes get their "enqueued" mark from the store's write-behind, a moment later and
/// only where it still matters: a push settled or taken off the queue since its publish began is
/// left alone (the first stays settled, the second stays visible to the relay).
async fn published_pushes_are_marked_only_while_pending(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.gateway().store.clone();
    let mut shipments = Vec::new();
    for number in ["MARK-1", "MARK-2", "MARK-3", "MARK-4"] {
        let shipment = app.register("sandbox", number, None).await;
        shipments.push(shipment["id"].as_str().unwrap().to_owned());
    }
    let mut rows = vec![
        outbox_row("msg_mark_pending", &shipments[0], 1),
        outbox_row("msg_mark_delivered", &shipments[1], 1),
        outbox_row("msg_mark_waits", &shipments[2], 1),
        outbox_row("msg_mark_flushed", &shipments[3], 1),
    ];
    // Written a moment before their publish, as ingest's commit is.
    for row in &mut rows {
        row.updated_at -= chrono::Duration::seconds(1);
    }
    let mut writes = Writes::new(store.backend());
    Store::insert_outbox_rows(&mut writes, &rows);
    writes.execute(store.conn()).await.unwrap();

    let published_at = Utc::now();
    // Since the publish: one push was delivered (its row untouched otherwise, so only its state
    // keeps it from being marked), one was taken off the queue to wait.
    app.execute("UPDATE push_outbox SET state = 'delivered' WHERE id = 'msg_mark_delivered'")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.mark_waiting("msg_mark_waits").await.unwrap();
    store
        .mark_enqueued_later(
            ["msg_mark_pending", "msg_mark_delivered", "msg_mark_waits"]
                .map(str::to_owned)
                .to_vec(),
            published_at,
        )
        .await;

    let enqueued = |id: &'static str| {
        let store = store.clone();
        async move { store.outbox_row(id).await.unwrap().unwrap().enqueued }
    };
    // The write-behind marks by itself, after its delay.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !enqueued("msg_mark_pending").await {
        assert!(
            std::time::Instant::now() < deadline,
            "the pending push was never marked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !enqueued("msg_mark_delivered").await,
        "a delivered push is not written again"
    );
    assert!(
        !enqueued("msg_mark_waits").await,
        "a push taken off the queue after its publish stays off it"
    );
    let relayable = store
        .unenqueued_outbox_ids(std::time::Duration::ZERO, 10)
        .await
        .unwrap();
    assert!(relayable.contains(&"msg_mark_waits".to_owned()));
    assert!(!relayable.contains(&"msg_mark_pending".to_owned()));

    // A flush (what a graceful stop does) marks at once.
    store
        .mark_enqueued_later(vec!["msg_mark_flushed".to_owned()], Utc::now())
        .await;
    store.flush_enqueued_marks().await;
    assert!(enqueued("msg_mark_flushed").await);
    app.finish().await;
}

#[tokio::test]
async fn published_pushes_are_marked_only_while_pending_on_sqlite() {
    published_pushes_are_marked_only_while_pending(Backend::Sqlite).await;
}

#[tokio::test]
async fn published_pushes_are_marked_only_while_pending_on_postgres() {
    published_pushes_are_marked_only_while_pending(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn published_pushes_are_marked_only_while_pending_on_mysql() {
    published_pushes_are_marked_only_while_pending(Backend::MySql).await;
}
