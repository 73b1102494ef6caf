//! The end of an intake run: reconcile what was acknowledged with what the store and the fake
//! mall hold, and print the figures.

use std::collections::HashMap;
use std::time::Duration;

use sea_orm::{DatabaseConnection, EntityTrait};
use trackgate::carriers::Status;
use trackgate::store::entities::shipment;

use crate::drive::{Outcome, percentile_ms};
use crate::gateway::RssSampler;
use crate::intake::{Ceilings, Setup, count};
use crate::mall::Received;
use crate::plan::number;

/// When the drain finished, measured from the run's start.
pub struct Drained {
    pub ingested_at: Duration,
    pub pushed_at: Duration,
    pub expected_pushes: i64,
}

/// What the store and the mall hold after the drain, and everything that does not add up.
pub struct Reconciliation {
    pub problems: Vec<String>,
    pub stored: i64,
    pub processed: i64,
    pub events: i64,
    pub received: Vec<Received>,
    /// The first receipt of each (tracking number, sequence).
    pub first_receipt: HashMap<(String, i64), Received>,
}

impl Reconciliation {
    pub async fn check(
        setup: &Setup,
        sent: &Outcome,
        db: &DatabaseConnection,
    ) -> anyhow::Result<Reconciliation> {
        let stored = count(db, "SELECT count(*) FROM inbound_webhooks").await?;
        let processed = count(
            db,
            "SELECT count(*) FROM inbound_webhooks WHERE outcome = 'processed'",
        )
        .await?;
        let events = count(db, "SELECT count(*) FROM tracking_events").await?;
        let received = setup.mall.received();
        let mut first_receipt = HashMap::new();
        for push in &received {
            first_receipt
                .entry((push.tracking_number.clone(), push.sequence))
                .or_insert_with(|| push.clone());
        }
        let mut check = Reconciliation {
            problems: Vec::new(),
            stored,
            processed,
            events,
            received,
            first_receipt,
        };
        check.counts(setup, sent);
        let rows = shipment::Entity::find().all(db).await?;
        let delivered = delivered_pushes(db).await?;
        check.shipments(&rows, &delivered);
        if setup.mall.rejected() > 0 {
            check.problems.push(format!(
                "{} pushes failed the mall's signature check",
                setup.mall.rejected()
            ));
        }
        Ok(check)
    }

    /// Acknowledged = stored = processed; every distinct event stored once.
    fn counts(&mut self, setup: &Setup, sent: &Outcome) {
        if sent.failed > 0 {
            self.problems.push(format!(
                "{} webhooks not acknowledged (first: {:?})",
                sent.failed, sent.first_error
            ));
        }
        if self.stored < sent.ok as i64 {
            self.problems.push(format!(
                "{} acknowledged but only {} stored",
                sent.ok, self.stored
            ));
        }
        if self.processed != self.stored {
            self.problems.push(format!(
                "{} of {} stored webhooks processed",
                self.processed, self.stored
            ));
        }
        let expected_events = (setup.shipments * setup.steps) as i64;
        if self.events != expected_events {
            self.problems.push(format!(
                "{} events stored, expected {expected_events} (each distinct event once)",
                self.events
            ));
        }
    }

    /// Every shipment delivered, every delivered push at the mall, the last push saying the
    /// stored status.
    fn shipments(&mut self, rows: &[shipment::Model], delivered: &[(String, i64)]) {
        let (mut not_delivered, mut missing_pushes, mut wrong_last) = (0, 0, 0);
        for push in delivered {
            if !self.first_receipt.contains_key(push) {
                missing_pushes += 1;
            }
        }
        for row in rows {
            if row.status.0 != Status::Delivered {
                not_delivered += 1;
            }
            match self
                .first_receipt
                .get(&(row.tracking_number.clone(), row.push_seq))
            {
                Some(last) if last.status == row.status.0.as_str() => {}
                _ => wrong_last += 1,
            }
        }
        if not_delivered > 0 {
            self.problems.push(format!(
                "{not_delivered} shipments not delivered in the store"
            ));
        }
        if missing_pushes > 0 {
            self.problems.push(format!(
                "{missing_pushes} delivered pushes the mall never received"
            ));
        }
        if wrong_last > 0 {
            self.problems.push(format!(
                "{wrong_last} shipments whose last push differs from the stored status"
            ));
        }
    }

    /// End to end, per push: from the first send of a callback carrying its newest event.
    fn end_to_end(&self, setup: &Setup) -> Vec<u32> {
        let index: HashMap<String, usize> = (0..setup.shipments).map(|s| (number(s), s)).collect();
        let mut e2e: Vec<u32> = self
            .first_receipt
            .values()
            .filter_map(|push| {
                let shipment = *index.get(&push.tracking_number)?;
                let step = *setup.event_steps.get(&push.newest_event?)?;
                let sent = setup.source.times.first_carrying(shipment, step);
                push.at_micros.checked_sub(sent).map(|d| d as u32)
            })
            .collect();
        e2e.sort_unstable();
        e2e
    }

    /// Print the verdict; true when everything adds up.
    pub fn print_verdict(&self) -> bool {
        if self.problems.is_empty() {
            println!(
                "\nreconciliation: OK — every acknowledged webhook stored once and processed, every distinct event stored once, every status change pushed at least once, duplicates collapsed"
            );
        } else {
            println!("\nreconciliation: FAILED");
            for problem in &self.problems {
                println!("  - {problem}");
            }
        }
        self.problems.is_empty()
    }
}

/// Every delivered push, as (tracking number, sequence).
async fn delivered_pushes(db: &DatabaseConnection) -> anyhow::Result<Vec<(String, i64)>> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT s.tracking_number, o.seq FROM push_outbox o \
             JOIN shipments s ON s.id = o.shipment_id WHERE o.state = 'delivered'",
        ))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// The figures table, the batch statistics from `/metrics`, and the ratios to the ceilings.
pub async fn report(
    setup: &Setup,
    sent: &Outcome,
    check: &Reconciliation,
    (sending_started, sending_done, drained): (Duration, Duration, Drained),
    rss: &RssSampler,
    ceilings: &Ceilings,
) -> anyhow::Result<()> {
    let lat = &sent.latencies;
    let sending = (sending_done - sending_started).as_secs_f64();
    let ack_rate = sent.ok as f64 / sending;
    let e2e = check.end_to_end(setup);
    println!("| figure | value |\n|---|---|");
    println!(
        "| webhooks acknowledged | {} of {} ({} failed) |",
        sent.ok,
        setup.source.sends.len(),
        sent.failed
    );
    println!("| acknowledged per second | **{ack_rate:.0}/s** over {sending:.1} s |");
    println!(
        "| ack latency p50 / p99 / p99.9 / max | {:.2} / {:.2} / {:.2} / {:.2} ms |",
        percentile_ms(lat, 50.0),
        percentile_ms(lat, 99.0),
        percentile_ms(lat, 99.9),
        percentile_ms(lat, 100.0)
    );
    let ingesting = (drained.ingested_at - sending_started).as_secs_f64();
    println!(
        "| all ingested (events, status, outbox) | {ingesting:.1} s after the first send: {:.0} webhooks/s |",
        check.stored as f64 / ingesting
    );
    println!(
        "| all pushed | {:.1} s after the first send; {} pushes ({} distinct, {} expected) |",
        (drained.pushed_at - sending_started).as_secs_f64(),
        check.received.len(),
        check.first_receipt.len(),
        drained.expected_pushes
    );
    println!(
        "| end to end p50 / p99 / max (callback sent → mall received the signed push) | {:.1} / {:.1} / {:.1} ms over {} pushes |",
        percentile_ms(&e2e, 50.0),
        percentile_ms(&e2e, 99.0),
        percentile_ms(&e2e, 100.0),
        e2e.len()
    );
    println!(
        "| gateway RSS max / at the end | {:.1} / {:.1} MiB |",
        rss.max_mib(),
        rss.last_mib()
    );
    println!(
        "| stored: webhooks / processed / events | {} / {} / {} |",
        check.stored, check.processed, check.events
    );
    batch_statistics(setup).await?;
    for line in &ceilings.lines {
        println!("\n{line}");
    }
    if let Some(http) = ceilings.http {
        println!("intake / HTTP ceiling: {:.1}%", ack_rate / http * 100.0);
    }
    if let Some(commit) = ceilings.store {
        println!(
            "intake / store one-row commit ceiling: {:.1}%",
            ack_rate / commit * 100.0
        );
    }
    Ok(())
}

/// Group-commit batch sizes and times, by stage, from the gateway's `/metrics`.
async fn batch_statistics(setup: &Setup) -> anyhow::Result<()> {
    let metrics = reqwest::get(format!("{}/metrics", setup.gateway.base))
        .await?
        .text()
        .await?;
    for stage in ["store", "ingest"] {
        let value = |name: &str| {
            metrics.lines().find_map(|line| {
                line.strip_prefix(&format!("{name}{{stage=\"{stage}\"}} "))?
                    .parse::<f64>()
                    .ok()
            })
        };
        if let (Some(batches), Some(rows), Some(seconds)) = (
            value("trackgate_intake_batch_rows_count"),
            value("trackgate_intake_batch_rows_sum"),
            value("trackgate_intake_batch_seconds_sum"),
        ) {
            println!(
                "| {stage} batches (group commit): count / mean rows / mean time | {batches:.0} / {:.1} / {:.2} ms |",
                rows / batches,
                seconds / batches * 1000.0
            );
        }
    }
    Ok(())
}
