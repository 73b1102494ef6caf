//! The intake run: carrier webhooks in, pushes out, then the reconciliation.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::cpu::CpuReading;
use crate::drive::{self, Source};
use crate::gateway::{Gateway, RssSampler};
use crate::mall::Mall;
use crate::plan::{SendTimes, Templates, number, plan};
use crate::reconcile::{Drained, Reconciliation};
use crate::{Args, Scratch, ceilings, gateway_env, machine, seed};

const SALT: &str = "loadgen-kuaidi100-salt";
const MALL_SECRET: &str = "whsec_bG9hZGdlbi1tYWxsLXNlY3JldC1mb3ItcHVzaGVzIQ==";

pub struct Callbacks {
    url: String,
    templates: Templates,
    pub sends: Vec<(u32, u8)>,
    pub times: SendTimes,
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

/// What a run sends, and to whom: the plan, the fake mall and the gateway under test.
pub struct Setup {
    pub shipments: usize,
    pub steps: usize,
    pub event_steps: BTreeMap<DateTime<Utc>, usize>,
    pub body_len: usize,
    pub queue_kind: String,
    pub started: Instant,
    pub mall: Mall,
    pub gateway: Gateway,
    pub source: Arc<Callbacks>,
}

/// The machine's ceilings measured in the same run, for the ratios.
#[derive(Default)]
pub struct Ceilings {
    pub lines: Vec<String>,
    pub http: Option<f64>,
    pub store: Option<f64>,
}

pub async fn run(args: &Args, scratch: &Scratch) -> anyhow::Result<bool> {
    let store = scratch.store().await?;
    let setup = set_up(args, scratch, store.conn()).await?;
    println!(
        "# trackgate intake: {} + {} queue, {}",
        args.store,
        setup.queue_kind,
        machine()
    );
    describe(args, &setup);
    let ceilings = if args.no_ceilings {
        Ceilings::default()
    } else {
        measure_ceilings(args, scratch, setup.body_len, &setup.queue_kind).await?
    };
    let statements = if args.store == "postgres" {
        Some(crate::statements::reset(store.conn()).await)
    } else {
        None
    };
    let rss = RssSampler::start(setup.gateway.pid());
    let cpu_before = CpuReading::take(setup.gateway.pid());
    let analyzing = analyze_periodically(args, store.conn().clone());
    let sending_started = setup.started.elapsed();
    let mut sent = drive::run(
        &drive::client(args.connections),
        setup.source.clone(),
        args.connections,
        args.rate,
        setup.started,
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )],
        None,
    )
    .await;
    let sending_done = setup.started.elapsed();
    sent.latencies.sort_unstable();
    let drained = drain(args, &setup, store.conn()).await?;
    let cpu_after = CpuReading::take(setup.gateway.pid());
    if let Some(analyzing) = analyzing {
        analyzing.abort();
    }
    let calls = match &statements {
        Some(Ok(())) => Some(crate::statements::read(store.conn()).await?),
        _ => None,
    };
    let reconciliation = Reconciliation::check(&setup, &sent, store.conn()).await?;
    let windows = (sending_started, sending_done, drained);
    crate::reconcile::report(&setup, &sent, &reconciliation, windows, &rss, &ceilings).await?;
    println!();
    for line in cpu_before.report(&cpu_after, sent.ok) {
        println!("{line}");
    }
    match (statements, calls) {
        (Some(Ok(())), Some(calls)) => {
            let changed = count(store.conn(), "/* loadgen */ SELECT count(*) FROM push_outbox").await?;
            println!();
            crate::statements::print(&calls, sent.ok, changed);
        }
        (Some(Err(why)), _) => println!(
            "
statements per webhook: unavailable, pg_stat_statements is not loaded ({why}); scripts/bench.sh enables it"
        ),
        _ => {}
    }
    let passed = reconciliation.print_verdict();
    setup.gateway.stop();
    Ok(passed)
}

/// Plan the callbacks, register the shipments, start the fake mall and the gateway.
async fn set_up(args: &Args, scratch: &Scratch, db: &DatabaseConnection) -> anyhow::Result<Setup> {
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/carriers/kuaidi100/callback-delivered-state-names.txt"
    ))?;
    let templates = Templates::kuaidi100(&fixture, SALT);
    let steps = templates.steps();
    let per_shipment = steps as f64 * (1.0 + args.duplicates);
    let shipments = ((args.webhooks as f64 / per_shipment).ceil() as usize).max(1);
    let sends = plan(shipments, steps, args.duplicates, args.out_of_order);
    let body_len = templates.mean_body_len();
    seed::register_shipments(db, "kuaidi100", "shp_load_", shipments, number).await?;
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
    let source = Arc::new(Callbacks {
        url: format!("{}/webhooks/kuaidi100", gateway.base),
        templates,
        sends,
        times: SendTimes::new(shipments, steps),
    });
    Ok(Setup {
        shipments,
        steps,
        event_steps: event_steps(&fixture),
        body_len,
        queue_kind,
        started,
        mall,
        gateway,
        source,
    })
}

fn describe(args: &Args, setup: &Setup) {
    if args.store == "postgres" && args.analyze_every_secs > 0 {
        println!(
            "ANALYZE every {} s while sending (as autovacuum keeps a deployment's statistics)",
            args.analyze_every_secs
        );
    }
    println!(
        "{} shipments × {} callbacks, {} sends ({:.0}% duplicates, {:.0}% out of order), mean body {} B, {}, {} connections, mall answers in {} ms\n",
        setup.shipments,
        setup.steps,
        setup.source.sends.len(),
        args.duplicates * 100.0,
        args.out_of_order * 100.0,
        setup.body_len,
        if args.rate > 0.0 {
            format!("{} webhooks/s", args.rate)
        } else {
            "flat out".into()
        },
        args.connections,
        args.mall_delay_ms,
    );
}

/// HTTP, store and (for RabbitMQ) broker ceilings, each for `--seconds`.
async fn measure_ceilings(
    args: &Args,
    scratch: &Scratch,
    body_len: usize,
    queue_kind: &str,
) -> anyhow::Result<Ceilings> {
    let mut ceilings = Ceilings::default();
    let http = ceilings::http_noop(args.connections, body_len, args.seconds).await?;
    ceilings.http = Some(http);
    ceilings.lines.push(format!(
        "HTTP ceiling (do-nothing actix-web POST, same client, {} connections): {http:.0} req/s",
        args.connections
    ));
    let commit = if args.store == "postgres" {
        let rate = ceilings::pg_insert(&scratch.url, body_len, args.seconds).await?;
        ceilings.lines.push(format!("store ceiling (pgbench, one-row INSERT of {body_len} B per transaction, 16 clients): {rate:.0} tx/s"));
        rate
    } else {
        let dir = scratch.dir().expect("sqlite scratch dir");
        let rate = ceilings::sqlite_insert(dir, body_len, args.seconds).await?;
        ceilings.lines.push(format!("store ceiling (SQLite WAL synchronous=NORMAL, one-row INSERT of {body_len} B per transaction, one connection): {rate:.0} tx/s"));
        rate
    };
    ceilings.store = Some(commit);
    if queue_kind == "rabbitmq" {
        let (windowed, single) = ceilings::rabbit_confirms(&args.amqp_url, 40_000, 256).await?;
        ceilings.lines.push(format!("RabbitMQ ceiling (persistent publish + confirm): {windowed:.0} msg/s with 256 in flight, {single:.0} msg/s one at a time"));
    }
    Ok(ceilings)
}

/// With `--analyze-every-secs` on PostgreSQL: `ANALYZE` the scratch database that often until
/// aborted, as autovacuum does for a deployment's growing tables (new statistics also make
/// PostgreSQL plan the gateway's prepared statements again).
fn analyze_periodically(
    args: &Args,
    db: DatabaseConnection,
) -> Option<tokio::task::JoinHandle<()>> {
    if args.store != "postgres" || args.analyze_every_secs == 0 {
        return None;
    }
    let every = Duration::from_secs(args.analyze_every_secs);
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let sql = format!("{} ANALYZE", crate::statements::OWN);
            if let Err(err) = db.execute_unprepared(&sql).await {
                eprintln!("ANALYZE failed: {err}");
            }
        }
    }))
}

/// Wait until every stored webhook is ingested, then until every status change is pushed.
async fn drain(args: &Args, setup: &Setup, db: &DatabaseConnection) -> anyhow::Result<Drained> {
    let drain_limit = Duration::from_secs(args.drain_timeout_secs);
    let drain_started = Instant::now();
    while count(
        db,
        "/* loadgen */ SELECT count(*) FROM inbound_webhooks WHERE outcome = 'received'",
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
    let ingested_at = setup.started.elapsed();
    // Then until no push is pending and the mall has every one delivered (pushes waiting behind
    // a shipment's head may be folded into one: not every sequence is sent).
    let expected_pushes = loop {
        let pending = count(
            db,
            "/* loadgen */ SELECT count(*) FROM push_outbox WHERE state = 'pending'",
        )
        .await?;
        let delivered = count(
            db,
            "/* loadgen */ SELECT count(*) FROM push_outbox WHERE state = 'delivered'",
        )
        .await?;
        let distinct: HashSet<(String, i64)> = setup
            .mall
            .received()
            .into_iter()
            .map(|r| (r.tracking_number, r.sequence))
            .collect();
        let done = pending == 0 && distinct.len() as i64 >= delivered;
        if done || drain_started.elapsed() > drain_limit {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Ok(Drained {
        ingested_at,
        pushed_at: setup.started.elapsed(),
        expected_pushes,
    })
}

pub async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
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
