//! The intake run: carrier webhooks in, pushes out, then the reconciliation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Statement};
use trackgate::carriers::Status;
use trackgate::store::entities::shipment;

use crate::drive::{self, Source, percentile_ms};
use crate::gateway::{Gateway, RssSampler};
use crate::mall::Mall;
use crate::plan::{SendTimes, Templates, number, plan};
use crate::{Args, Scratch, ceilings, gateway_env, machine};

const SALT: &str = "loadgen-kuaidi100-salt";
const MALL_SECRET: &str = "whsec_bG9hZGdlbi1tYWxsLXNlY3JldC1mb3ItcHVzaGVzIQ==";

struct Callbacks {
    url: String,
    templates: Templates,
    sends: Vec<(u32, u8)>,
    times: SendTimes,
}

impl Source for Callbacks {
    fn len(&self) -> usize {
        self.sends.len()
    }
    fn request(&self, i: usize) -> (String, Vec<u8>) {
        let (shipment, step) = self.sends[i];
        (
            self.url.clone(),
            self.templates.body(shipment as usize, step as usize),
        )
    }
    fn sent(&self, i: usize, micros: u64) {
        let (shipment, step) = self.sends[i];
        self.times.record(shipment as usize, step as usize, micros);
    }
}

pub async fn run(args: &Args, scratch: &Scratch) -> anyhow::Result<bool> {
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/carriers/kuaidi100/callback-delivered-state-names.txt"
    ))?;
    let templates = Templates::kuaidi100(&fixture, SALT);
    let steps = templates.steps();
    let per_shipment = steps as f64 * (1.0 + args.duplicates);
    let shipments = ((args.webhooks as f64 / per_shipment).ceil() as usize).max(1);
    let sends = plan(shipments, steps, args.duplicates, args.out_of_order);
    let event_steps = event_steps(&fixture);
    let body_len = templates.mean_body_len();

    let store = scratch.store().await?;
    register(store.conn(), shipments).await?;

    let started = Instant::now();
    let mall = Mall::start(
        MALL_SECRET,
        Duration::from_millis(args.mall_delay_ms),
        started,
    )?;
    let prefix = format!("tg_bench_{}", std::process::id());
    let mut env = gateway_env(args, &scratch.url, &prefix);
    env.push((
        "TRACKGATE__MALL__ENDPOINT".into(),
        format!("http://127.0.0.1:{}/push", mall.port),
    ));
    env.push(("TRACKGATE__MALL__SIGNING_SECRET".into(), MALL_SECRET.into()));
    env.push(("TRACKGATE__CARRIERS__KUAIDI100__SALT".into(), SALT.into()));
    let queue_kind = env
        .iter()
        .find(|(k, _)| k == "TRACKGATE__QUEUE__KIND")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let gateway = Gateway::spawn(&env).await?;
    println!(
        "# trackgate intake: {} + {queue_kind} queue, {}",
        args.store,
        machine()
    );
    println!(
        "{} shipments × {steps} callbacks, {} sends ({:.0}% duplicates, {:.0}% out of order), mean body {body_len} B, {}, {} connections, mall answers in {} ms\n",
        shipments,
        sends.len(),
        args.duplicates * 100.0,
        args.out_of_order * 100.0,
        if args.rate > 0.0 {
            format!("{} webhooks/s", args.rate)
        } else {
            "flat out".into()
        },
        args.connections,
        args.mall_delay_ms,
    );

    let mut ceiling_lines = Vec::new();
    let mut http_ceiling = None;
    let mut store_ceiling = None;
    if !args.no_ceilings {
        let http = ceilings::http_noop(args.connections, body_len, args.seconds).await?;
        http_ceiling = Some(http);
        ceiling_lines.push(format!("HTTP ceiling (do-nothing actix-web POST, same client, {} connections): {http:.0} req/s", args.connections));
        let commit = if args.store == "postgres" {
            let rate = ceilings::pg_insert(&scratch.url, body_len, args.seconds).await?;
            ceiling_lines.push(format!("store ceiling (pgbench, one-row INSERT of {body_len} B per transaction, 16 clients): {rate:.0} tx/s"));
            rate
        } else {
            let dir = scratch.dir().expect("sqlite scratch dir");
            let rate = ceilings::sqlite_insert(dir, body_len, args.seconds).await?;
            ceiling_lines.push(format!("store ceiling (SQLite WAL synchronous=NORMAL, one-row INSERT of {body_len} B per transaction, one connection): {rate:.0} tx/s"));
            rate
        };
        store_ceiling = Some(commit);
        if queue_kind == "rabbitmq" {
            let (windowed, single) = ceilings::rabbit_confirms(&args.amqp_url, 40_000, 256).await?;
            ceiling_lines.push(format!("RabbitMQ ceiling (persistent publish + confirm): {windowed:.0} msg/s with 256 in flight, {single:.0} msg/s one at a time"));
        }
    }

    let source = Arc::new(Callbacks {
        url: format!("{}/webhooks/kuaidi100", gateway.base),
        templates,
        sends,
        times: SendTimes::new(shipments, steps),
    });
    let rss = RssSampler::start(gateway.pid());
    let client = drive::client(args.connections);
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let sending_started = started.elapsed();
    let mut outcome = drive::run(
        &client,
        source.clone(),
        args.connections,
        args.rate,
        started,
        &headers,
        None,
    )
    .await;
    let sending_done = started.elapsed();
    outcome.latencies.sort_unstable();

    // Drain: every stored webhook ingested, then every status change pushed.
    let db = store.conn();
    let drain_limit = Duration::from_secs(args.drain_timeout_secs);
    let drain_started = Instant::now();
    while count(
        db,
        "SELECT count(*) FROM inbound_webhooks WHERE outcome = 'received'",
    )
    .await?
        > 0
    {
        anyhow::ensure!(
            drain_started.elapsed() < drain_limit,
            "webhooks still unprocessed after {drain_limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ingested_at = started.elapsed();
    let expected_pushes = count(
        db,
        "SELECT CAST(COALESCE(SUM(push_seq), 0) AS BIGINT) FROM shipments",
    )
    .await?;
    loop {
        let distinct: HashSet<(String, i64)> = mall
            .received()
            .into_iter()
            .map(|r| (r.tracking_number, r.sequence))
            .collect();
        if distinct.len() as i64 >= expected_pushes || drain_started.elapsed() > drain_limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pushed_at = started.elapsed();
    let rss_max = rss.max_mib();

    // Reconciliation.
    let mut problems = Vec::new();
    let stored = count(db, "SELECT count(*) FROM inbound_webhooks").await?;
    let processed = count(
        db,
        "SELECT count(*) FROM inbound_webhooks WHERE outcome = 'processed'",
    )
    .await?;
    let events = count(db, "SELECT count(*) FROM tracking_events").await?;
    if outcome.failed > 0 {
        problems.push(format!(
            "{} webhooks not acknowledged (first: {:?})",
            outcome.failed, outcome.first_error
        ));
    }
    if stored < outcome.ok as i64 {
        problems.push(format!(
            "{} acknowledged but only {stored} stored",
            outcome.ok
        ));
    }
    if processed != stored {
        problems.push(format!("{processed} of {stored} stored webhooks processed"));
    }
    let expected_events = (shipments * steps) as i64;
    if events != expected_events {
        problems.push(format!(
            "{events} events stored, expected {expected_events} (each distinct event once)"
        ));
    }
    let rows = shipment::Entity::find().all(db).await?;
    let received = mall.received();
    let mut first_receipt: HashMap<(String, i64), &crate::mall::Received> = HashMap::new();
    for push in &received {
        first_receipt
            .entry((push.tracking_number.clone(), push.sequence))
            .or_insert(push);
    }
    let mut not_delivered = 0;
    let mut missing_pushes = 0;
    let mut wrong_last = 0;
    for row in &rows {
        if row.status.0 != Status::Delivered {
            not_delivered += 1;
        }
        for seq in 1..=row.push_seq {
            if !first_receipt.contains_key(&(row.tracking_number.clone(), seq)) {
                missing_pushes += 1;
            }
        }
        match first_receipt.get(&(row.tracking_number.clone(), row.push_seq)) {
            Some(last) if last.status == row.status.0.as_str() => {}
            _ => wrong_last += 1,
        }
    }
    if not_delivered > 0 {
        problems.push(format!(
            "{not_delivered} shipments not delivered in the store"
        ));
    }
    if missing_pushes > 0 {
        problems.push(format!("{missing_pushes} status changes never pushed"));
    }
    if wrong_last > 0 {
        problems.push(format!(
            "{wrong_last} shipments whose last push differs from the stored status"
        ));
    }
    if mall.rejected() > 0 {
        problems.push(format!(
            "{} pushes failed the mall's signature check",
            mall.rejected()
        ));
    }

    // End-to-end: from the first send of a callback carrying the push's newest event.
    let index: HashMap<String, usize> = (0..shipments).map(|s| (number(s), s)).collect();
    let mut e2e: Vec<u32> = first_receipt
        .values()
        .filter_map(|push| {
            let shipment = *index.get(&push.tracking_number)?;
            let step = *event_steps.get(&push.newest_event?)?;
            let sent = source.times.first_carrying(shipment, step);
            push.at_micros.checked_sub(sent).map(|d| d as u32)
        })
        .collect();
    e2e.sort_unstable();

    let lat = &outcome.latencies;
    let ack_rate = outcome.ok as f64 / (sending_done - sending_started).as_secs_f64();
    println!("| figure | value |\n|---|---|");
    println!(
        "| webhooks acknowledged | {} of {} ({} failed) |",
        outcome.ok,
        source.sends.len(),
        outcome.failed
    );
    println!(
        "| acknowledged per second | **{ack_rate:.0}/s** over {:.1} s |",
        (sending_done - sending_started).as_secs_f64()
    );
    println!(
        "| ack latency p50 / p99 / p99.9 / max | {:.2} / {:.2} / {:.2} / {:.2} ms |",
        percentile_ms(lat, 50.0),
        percentile_ms(lat, 99.0),
        percentile_ms(lat, 99.9),
        percentile_ms(lat, 100.0)
    );
    println!(
        "| all ingested (events, status, outbox) | {:.1} s after the first send: {:.0} webhooks/s |",
        (ingested_at - sending_started).as_secs_f64(),
        stored as f64 / (ingested_at - sending_started).as_secs_f64()
    );
    println!(
        "| all pushed | {:.1} s after the first send; {} pushes ({} distinct, {} expected) |",
        (pushed_at - sending_started).as_secs_f64(),
        received.len(),
        first_receipt.len(),
        expected_pushes
    );
    println!(
        "| end to end p50 / p99 / max (callback sent → mall received the signed push) | {:.1} / {:.1} / {:.1} ms over {} pushes |",
        percentile_ms(&e2e, 50.0),
        percentile_ms(&e2e, 99.0),
        percentile_ms(&e2e, 100.0),
        e2e.len()
    );
    println!(
        "| gateway RSS max / at the end | {rss_max:.1} / {:.1} MiB |",
        rss.last_mib()
    );
    println!("| stored: webhooks / processed / events | {stored} / {processed} / {events} |");
    let metrics = reqwest::get(format!("{}/metrics", gateway.base))
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
    for line in &ceiling_lines {
        println!("\n{line}");
    }
    if let Some(http) = http_ceiling {
        println!("intake / HTTP ceiling: {:.1}%", ack_rate / http * 100.0);
    }
    if let Some(commit) = store_ceiling {
        println!(
            "intake / store one-row commit ceiling: {:.1}%",
            ack_rate / commit * 100.0
        );
    }
    let passed = problems.is_empty();
    if passed {
        println!(
            "\nreconciliation: OK — every acknowledged webhook stored once and processed, every distinct event stored once, every status change pushed at least once, duplicates collapsed"
        );
    } else {
        println!("\nreconciliation: FAILED");
        for problem in &problems {
            println!("  - {problem}");
        }
    }
    gateway.stop();
    Ok(passed)
}

/// Register `shipments` Kuaidi100 shipments straight in the store (faster than the API).
async fn register(db: &DatabaseConnection, shipments: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let rows: Vec<shipment::ActiveModel> = (0..shipments)
        .map(|s| {
            shipment::Model {
                id: format!("shp_load_{s}"),
                carrier_id: "kuaidi100".into(),
                carrier_kind: "kuaidi100".into(),
                tracking_number: number(s),
                order_id: Some(format!("ORD-{s}")),
                status: Status::Pending.into(),
                sub_status: None,
                status_raw_code: None,
                last_event_at: None,
                delivered_at: None,
                estimated_delivery: None,
                metadata: None,
                tracking: true,
                push_seq: 0,
                next_poll_at: None,
                carrier_code: None,
                phone_last4: None,
                poll_priority: 0,
                unchanged_polls: 0,
                grace_polled: false,
                lease_until: None,
                lease_owner: None,
                last_webhook_at: None,
                created_at: now,
                updated_at: now,
            }
            .into()
        })
        .collect();
    for chunk in rows.chunks(500) {
        shipment::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The fixture's event times (China Standard Time, as Kuaidi100 sends them) → step number.
fn event_steps(fixture: &[u8]) -> BTreeMap<DateTime<Utc>, usize> {
    let form: Vec<(String, String)> = form_urlencoded::parse(fixture).into_owned().collect();
    let param: serde_json::Value =
        serde_json::from_str(&form.iter().find(|(k, _)| k == "param").unwrap().1).unwrap();
    let data = param["lastResult"]["data"].as_array().unwrap();
    data.iter()
        .rev()
        .enumerate()
        .map(|(i, event)| {
            let local =
                NaiveDateTime::parse_from_str(event["time"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S")
                    .unwrap();
            (local.and_utc() - chrono::Duration::hours(8), i + 1)
        })
        .collect()
}
