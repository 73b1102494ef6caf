//! Before and after a scenario: the shipments registered straight in the store, the wait until
//! everything has drained, and the reconciliation of carrier acks, store rows and the mall.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use trackgate::carriers::dedupe_key;
use trackgate::store::entities::shipment;

use crate::load::{CODES, Sent, number};
use crate::mall::Mall;

/// Migrate the scratch database and register `shipments` sandbox shipments.
pub async fn prepare(url: &str, shipments: usize) -> anyhow::Result<DatabaseConnection> {
    let settings =
        trackgate::config::Settings::with_overrides(&[("database.url", serde_json::json!(url))])?;
    let store = trackgate::store::Store::connect(&settings.database).await?;
    store.migrate().await?;
    crate::seed::register_shipments(store.conn(), "sandbox", "shp_fault_", shipments, number)
        .await?;
    Ok(store.conn().clone())
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Wait until no webhook is unprocessed, no push pending, and the mall has every push; the
/// instant it was so, or `None` after `limit`. Errors while the database restarts are waited out.
pub async fn wait_for_drain(
    db: &DatabaseConnection,
    mall: &Mall,
    limit: Duration,
) -> anyhow::Result<Option<Instant>> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let drained = async {
            let received = count(
                db,
                "SELECT count(*) FROM inbound_webhooks WHERE outcome = 'received'",
            )
            .await?;
            let pending = count(
                db,
                "SELECT count(*) FROM push_outbox WHERE state = 'pending'",
            )
            .await?;
            let delivered = count(
                db,
                "SELECT count(*) FROM push_outbox WHERE state = 'delivered'",
            )
            .await?;
            let at_mall = mall.with_books(|b| b.webhook_ids.len()) as i64;
            anyhow::Ok(received == 0 && pending == 0 && at_mall >= delivered)
        };
        if drained.await.unwrap_or(false) {
            return Ok(Some(Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(None)
}

/// What the reconciliation found.
#[derive(Default)]
pub struct Verdict {
    pub lines: Vec<String>,
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn print(&self) {
        for line in &self.lines {
            println!("{line}");
        }
        if self.passed() {
            println!(
                "\nreconciliation: OK — every acknowledged webhook stored and ingested, every push delivered in order, the mall holds every stored event and the stored status"
            );
        } else {
            println!("\nreconciliation: FAILED");
            for problem in &self.problems {
                println!("  - {problem}");
            }
        }
    }
}

/// Each shipment's stored events (dedupe keys), status and outbox figures.
struct Stored {
    events: BTreeMap<String, BTreeSet<String>>,
    status: BTreeMap<String, String>,
    sub_status: BTreeMap<String, Option<String>>,
}

async fn stored(db: &DatabaseConnection) -> anyhow::Result<Stored> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT shipment_id, dedupe_key FROM tracking_events",
        ))
        .await?;
    let mut events: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        let shipment: String = row.try_get_by_index(0)?;
        events
            .entry(shipment)
            .or_default()
            .insert(row.try_get_by_index(1)?);
    }
    let mut status = BTreeMap::new();
    let mut sub_status = BTreeMap::new();
    for row in shipment::Entity::find().all(db).await? {
        status.insert(row.id.clone(), row.status.0.as_str().to_owned());
        sub_status.insert(row.id, row.sub_status);
    }
    Ok(Stored {
        events,
        status,
        sub_status,
    })
}

pub async fn check(
    db: &DatabaseConnection,
    mall: &Mall,
    sent: &Sent,
    steps: usize,
) -> anyhow::Result<Verdict> {
    let mut verdict = Verdict::default();
    let stored = stored(db).await?;
    let mut lost = 0;
    for (shipment, step) in &sent.acked {
        let key = dedupe_key(&["sandbox-id", &format!("e{step}")]);
        let id = format!("shp_fault_{shipment}");
        if !stored
            .events
            .get(&id)
            .is_some_and(|keys| keys.contains(&key))
        {
            lost += 1;
        }
    }
    // The store itself must end at the newest event's status: the last step's code.
    let (want, want_sub) = trackgate::carriers::sandbox::map_code(CODES[(steps - 1) % CODES.len()]);
    let wrong_in_store = stored
        .status
        .iter()
        .filter(|(id, status)| {
            status.as_str() != want.as_str()
                || stored.sub_status.get(*id).cloned().flatten().as_deref() != want_sub
        })
        .count();
    let unprocessed = count(
        db,
        "SELECT count(*) FROM inbound_webhooks WHERE outcome <> 'processed'",
    )
    .await?;
    let stuck = count(
        db,
        "SELECT count(*) FROM push_outbox WHERE state = 'pending'",
    )
    .await?;
    let dead = count(
        db,
        "SELECT count(*) FROM push_outbox WHERE state IN ('dead', 'gone')",
    )
    .await?;
    let folded = count(
        db,
        "SELECT count(*) FROM push_outbox WHERE state = 'superseded'",
    )
    .await?;
    let rows = count(db, "SELECT count(*) FROM push_outbox").await?;
    let (missing_events, wrong_status) = mall.with_books(|books| {
        let mut missing = 0;
        let mut wrong = 0;
        for (shipment, keys) in &stored.events {
            let at_mall = books.shipments.get(shipment);
            missing += keys
                .iter()
                .filter(|k| !at_mall.is_some_and(|m| m.events.contains(*k)))
                .count();
            if at_mall.map(|m| m.status.as_str()) != stored.status.get(shipment).map(String::as_str)
            {
                wrong += 1;
            }
        }
        (missing, wrong)
    });
    mall.with_books(|books| {
        verdict.lines.push(format!("| pushes: outbox rows / folded into a later one / delivered to the mall (distinct) / deliveries / duplicates | {rows} / {folded} / {} / {} / {} |", books.webhook_ids.len(), books.deliveries, books.duplicates));
        verdict.lines.push(format!("| out of order at the mall | {} |", books.out_of_order));
        verdict.lines.push(format!("| refused by the mall while down | {} |", books.refused_while_down));
        if books.out_of_order > 0 {
            verdict.problems.push(format!("{} pushes arrived after a newer one of their shipment", books.out_of_order));
        }
        if books.bad_signatures > 0 {
            verdict.problems.push(format!("{} pushes failed the signature check", books.bad_signatures));
        }
    });
    verdict.lines.push(format!("| lost (acknowledged, not stored) / not processed / stuck pending / dead or gone | {lost} / {unprocessed} / {stuck} / {dead} |"));
    verdict.lines.push(format!("| events missing at the mall / shipments whose mall status differs | {missing_events} / {wrong_status} |"));
    verdict.lines.push(format!(
        "| shipments whose stored status is not their newest event's | {wrong_in_store} |"
    ));
    let planned = sent.acked.len() as u64 + sent.never_acked;
    if sent.never_acked > 0 {
        verdict.problems.push(format!(
            "{} of {planned} webhooks were never acknowledged ({steps} steps per shipment)",
            sent.never_acked
        ));
    }
    for (what, n) in [
        ("acknowledged webhooks whose event is not stored", lost),
        ("stored webhooks not processed", unprocessed as usize),
        ("pushes still pending (stuck)", stuck as usize),
        ("pushes dead-lettered or gone", dead as usize),
        ("stored events the mall does not have", missing_events),
        (
            "shipments whose status at the mall differs from the store",
            wrong_status,
        ),
    ] {
        if n > 0 {
            verdict.problems.push(format!("{n} {what}"));
        }
    }
    Ok(verdict)
}
