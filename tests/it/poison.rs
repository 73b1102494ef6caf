//! Poison input: text the store cannot hold is cleaned before the answer (raw body kept), a
//! stored webhook the database keeps refusing is quarantined without holding back its batch and
//! is reprocessable after a fix, and API input with U+0000 gets a 4xx problem — on every store.

use std::time::Duration;

use sea_orm::{DbBackend, EntityTrait};
use serde_json::{Value, json};
use trackgate::store::entities::{inbound_webhook, tracking_event};
use trackgate::store::states::WebhookOutcome;

use crate::helpers::{Backend, TestApp, sandbox_event, wait_until};

async fn nul_and_impossible_dates_are_cleaned_before_the_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.mall_accepts_pushes().await;
    let shipment = app.register("sandbox", "SBX-NUL", None).await;
    let body = json!({"shipments": [{"tracking_number": "SBX-NUL", "events": [
        {"id": "a", "time": "2026-11-20T08:00:00+01:00", "code": "PU",
         "description": "pic\u{0}ked up", "location": "Ber\u{0}lin, DE"},
        {"id": "b", "time": "1000-01-01T00:00:00Z", "code": "IT", "description": "ancient"}
    ]}]})
    .to_string()
    .into_bytes();
    assert_eq!(app.sandbox_webhook(&body).await.status().as_u16(), 200);
    let stored = inbound_webhook::Entity::find()
        .all(app.gateway().store.conn())
        .await
        .unwrap();
    assert_eq!(stored[0].body, body, "the raw body is kept as it came");
    assert_eq!(stored[0].outcome, WebhookOutcome::Partial);
    let error = stored[0].error.clone().unwrap();
    assert!(
        error.contains("U+0000") && error.contains("1970"),
        "{error}"
    );
    let events = tracking_event::Entity::find()
        .all(app.gateway().store.conn())
        .await
        .unwrap();
    assert_eq!(
        events.len(),
        1,
        "the event at an impossible time is not stored"
    );
    assert_eq!(events[0].description, "picked up");
    assert_eq!(events[0].location.as_deref(), Some("Berlin, DE"));
    let (_, out) = app
        .get_json(
            &format!("/v1/shipments/{}", shipment["id"].as_str().unwrap()),
            &app.keys.mall,
        )
        .await;
    assert_eq!(out["status"], "picked_up");
    app.finish().await;
}

#[tokio::test]
async fn nul_and_impossible_dates_are_cleaned_before_the_answer_on_sqlite() {
    nul_and_impossible_dates_are_cleaned_before_the_answer(Backend::Sqlite).await;
}

#[tokio::test]
async fn nul_and_impossible_dates_are_cleaned_before_the_answer_on_postgres_rabbitmq() {
    nul_and_impossible_dates_are_cleaned_before_the_answer(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn nul_and_impossible_dates_are_cleaned_before_the_answer_on_mysql() {
    nul_and_impossible_dates_are_cleaned_before_the_answer(Backend::MySql).await;
}

/// A trigger that refuses one event, standing in for any data the database will not take.
fn poison_trigger(backend: DbBackend) -> (&'static str, &'static str) {
    match backend {
        DbBackend::Postgres => (
            "CREATE FUNCTION tg_poison() RETURNS trigger AS $$ BEGIN \
               IF NEW.description = 'poison' THEN RAISE EXCEPTION 'poison event'; END IF; \
               RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER tg_poison BEFORE INSERT ON tracking_events \
               FOR EACH ROW EXECUTE FUNCTION tg_poison()",
            "DROP TRIGGER tg_poison ON tracking_events",
        ),
        DbBackend::MySql => (
            "CREATE TRIGGER tg_poison BEFORE INSERT ON tracking_events FOR EACH ROW BEGIN \
               IF NEW.description = 'poison' THEN \
                 SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poison event'; \
               END IF; END",
            "DROP TRIGGER tg_poison",
        ),
        _ => (
            "CREATE TRIGGER tg_poison BEFORE INSERT ON tracking_events \
               WHEN NEW.description = 'poison' BEGIN SELECT RAISE(ABORT, 'poison event'); END",
            "DROP TRIGGER tg_poison",
        ),
    }
}

async fn outcome_of(app: &TestApp, id: i64) -> WebhookOutcome {
    let row = app.gateway().store.inbound_webhook(id).await.unwrap();
    row.unwrap().outcome
}

async fn a_refused_webhook_is_quarantined_and_reprocessable(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("intake.max_attempts", json!(2)),
            ("intake.recover_after_secs", json!(1)),
            ("intake.sweep_secs", json!(1)),
        ],
    )
    .await;
    app.mall_accepts_pushes().await;
    app.register("sandbox", "SBX-POISON", None).await;
    app.register("sandbox", "SBX-HEALTHY", None).await;
    let (create, drop) = poison_trigger(app.gateway().store.backend());
    app.execute(create).await;
    let poison = json!({"shipments": [
        {"tracking_number": "SBX-POISON", "events": [{"id": "x", "time": "2026-11-20T08:00:00+01:00",
         "code": "PU", "description": "poison"}]}]})
    .to_string()
    .into_bytes();
    let answer = app
        .http
        .post(format!("{}/webhooks/sandbox", app.base))
        .header("content-type", "application/json")
        .header(
            trackgate::carriers::sandbox::SIGNATURE_HEADER,
            trackgate::carriers::sandbox::sign(crate::helpers::SANDBOX_SECRET, &poison),
        )
        .body(poison)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "stored, so acknowledged");
    // Another webhook arriving beside it is not held back.
    let healthy = sandbox_event("SBX-HEALTHY", "h", "2026-11-20T08:00:00+01:00", "PU");
    assert_eq!(app.sandbox_webhook(&healthy).await.status().as_u16(), 200);
    let listed = || async {
        let (_, body) = app
            .get_json("/v1/admin/webhooks?outcome=quarantined", &app.keys.admin)
            .await;
        body["webhooks"].as_array().cloned().unwrap_or_default()
    };
    wait_until(
        "the refused webhook is quarantined",
        Duration::from_secs(30),
        || async { !listed().await.is_empty() },
    )
    .await;
    let quarantined = listed().await;
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0]["attempts"], 2);
    assert!(
        quarantined[0]["error"]
            .as_str()
            .unwrap()
            .contains("poison event")
    );
    let id = quarantined[0]["id"].as_i64().unwrap();
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"trackgate_webhooks_total{carrier="sandbox",outcome="quarantined"} 1"#),
        "{metrics}"
    );
    // Quarantined, it is left alone by the sweep.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(outcome_of(&app, id).await, WebhookOutcome::Quarantined);

    app.execute(drop).await;
    let reprocessed = app
        .http
        .post(format!("{}/v1/admin/webhooks/{id}/reprocess", app.base))
        .bearer_auth(&app.keys.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reprocessed.status().as_u16(), 200);
    let summary: Value = reprocessed.json().await.unwrap();
    assert_eq!(summary["reprocessed"], 1, "{summary}");
    assert_eq!(summary["new_events"], 1, "{summary}");
    assert_eq!(outcome_of(&app, id).await, WebhookOutcome::Processed);
    app.finish().await;
}

#[tokio::test]
async fn a_refused_webhook_is_quarantined_and_reprocessable_on_sqlite() {
    a_refused_webhook_is_quarantined_and_reprocessable(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_refused_webhook_is_quarantined_and_reprocessable_on_postgres_rabbitmq() {
    a_refused_webhook_is_quarantined_and_reprocessable(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn a_refused_webhook_is_quarantined_and_reprocessable_on_mysql() {
    a_refused_webhook_is_quarantined_and_reprocessable(Backend::MySql).await;
}

async fn nul_in_api_input_is_a_problem_not_a_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .http
        .post(format!("{}/v1/shipments", app.base))
        .bearer_auth(&app.keys.mall)
        .json(&json!({"carrier": "sandbox", "tracking_number": "SBX-API", "order_id": "ORD\u{0}1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "validation_failed");
    assert!(problem["detail"].as_str().unwrap().contains("order_id"));
    let batch = app
        .http
        .post(format!("{}/v1/shipments/batch", app.base))
        .bearer_auth(&app.keys.mall)
        .json(
            &json!({"shipments": [{"carrier": "sandbox", "tracking_number": "SBX-OK",
            "metadata": {"note": "x\u{0}y"}}]}),
        )
        .send()
        .await
        .unwrap();
    let batch: Value = batch.json().await.unwrap();
    assert_eq!(batch["results"][0]["status"], 422, "{batch}");
    for (path, key) in [
        ("/v1/shipments/shp_%00", &app.keys.mall),
        ("/v1/shipments?order_id=ORD%001", &app.keys.mall),
        ("/v1/track/SBX%00", &app.keys.support),
        ("/v1/track?order_id=%00", &app.keys.support),
    ] {
        let (status, problem) = app.get_json(path, key).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(problem["code"], "bad_request", "{path}");
    }
    app.finish().await;
}

#[tokio::test]
async fn nul_in_api_input_is_a_problem_not_a_500_on_sqlite() {
    nul_in_api_input_is_a_problem_not_a_500(Backend::Sqlite).await;
}

#[tokio::test]
async fn nul_in_api_input_is_a_problem_not_a_500_on_postgres_rabbitmq() {
    nul_in_api_input_is_a_problem_not_a_500(Backend::PostgresRabbit).await;
}

#[tokio::test]
async fn nul_in_api_input_is_a_problem_not_a_500_on_mysql() {
    nul_in_api_input_is_a_problem_not_a_500(Backend::MySql).await;
}
