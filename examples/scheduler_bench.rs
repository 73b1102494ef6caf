//! The poll scheduler at scale: load 1,000,000 active shipments into PostgreSQL, then measure
//! (1) claiming a due batch under a lease — latency and statements per claim, with the query
//! plan — and the backlog query, and (2) a real gateway's poller sustained against a fast fake
//! carrier and mall on loopback: shipments polled per second and the process's memory over time.
//!
//! `cargo run --release --example scheduler_bench -- [SHIPMENTS] [POLL_SECONDS] [news|quiet]`
//! (defaults 1000000, 30 and `news`: the fake carrier answers every number with a new event, so
//! each poll also ingests, changes a status and pushes to the mall; `quiet` answers with no
//! events, which leaves the scheduler's own work: claim, request, reschedule; `TRACKGATE_BENCH_POSTGRES_URL` is the admin connection, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a scratch database is created and dropped).
//! A benchmark, not a test: it prints figures and asserts nothing about speed.

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};
use trackgate::config::Settings;
use trackgate::startup::{Application, install_crypto_provider};
use trackgate::store::Store;
use trackgate::store::scheduling::NextPoll;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let shipments: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let poll_seconds: u64 = args.next().map_or(Ok(30), |a| a.parse())?;
    let news = args.next().is_none_or(|mode| mode != "quiet");
    let admin_url = std::env::var("TRACKGATE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("tg_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let result = run(&url, shipments, poll_seconds, news).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

async fn run(url: &str, shipments: u64, poll_seconds: u64, news: bool) -> anyhow::Result<()> {
    let settings = Settings::with_overrides(&[
        ("database.url", json!(url)),
        ("database.max_connections", json!(16)),
        ("log.filter", json!("error")),
    ])?;
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    println!("# Scheduler benchmark: {shipments} active shipments on PostgreSQL\n");
    println!("RSS at start: {:.1} MiB", rss_mib());
    load(&store, shipments).await?;
    measure_claims(&store).await?;
    println!("RSS after claims: {:.1} MiB", rss_mib());
    measure_poller(url, poll_seconds, news).await
}

/// Every shipment in transit and due, spread over the last hour.
async fn load(store: &Store, shipments: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    store
        .conn()
        .execute_unprepared(&format!(
            "INSERT INTO shipments (id, carrier_id, carrier_kind, tracking_number, status, \
               tracking, push_seq, next_poll_at, created_at, updated_at, poll_priority, \
               unchanged_polls, grace_polled) \
             SELECT 'shp_bench_' || g, 'sandbox', 'sandbox', 'BENCH' || lpad(g::text, 8, '0'), \
               'in_transit', true, 0, now() - (g % 3600) * interval '1 second', now(), now(), \
               0, 0, false \
             FROM generate_series(1, {shipments}) g"
        ))
        .await?;
    store.conn().execute_unprepared("ANALYZE shipments").await?;
    println!(
        "load: {shipments} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// (1) Claiming due batches under a lease, with the query plan; the backlog query.
async fn measure_claims(store: &Store) -> anyhow::Result<()> {
    let plan = store
        .conn()
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM shipments WHERE carrier_id = 'sandbox' \
             AND tracking AND next_poll_at <= now() AND (lease_until IS NULL OR lease_until < now()) \
             ORDER BY poll_priority DESC, next_poll_at ASC LIMIT 40 FOR UPDATE SKIP LOCKED",
        ))
        .await?;
    println!("\nclaim query plan (batch of 40):");
    for row in plan {
        let line: String = row.try_get_by_index(0)?;
        println!("    {line}");
    }
    let rounds = 200;
    let mut latencies = Vec::with_capacity(rounds);
    let lease = chrono::Duration::seconds(300);
    for _ in 0..rounds {
        let t = Instant::now();
        let claimed = store
            .claim_due("sandbox", "bench", Utc::now(), lease, 40)
            .await?;
        latencies.push(t.elapsed());
        assert_eq!(claimed.len(), 40, "a full batch is due");
        let next: Vec<NextPoll> = claimed
            .iter()
            .map(|s| NextPoll {
                shipment_id: s.id.clone(),
                next_poll_at: Some(Utc::now() + chrono::Duration::hours(2)),
                unchanged_polls: 1,
                grace_polled: false,
            })
            .collect();
        store.finish_polls(&next).await?;
    }
    latencies.sort();
    println!(
        "\nclaim a batch of 40 ({rounds} claims; 4 statements each: BEGIN, SELECT … FOR UPDATE SKIP LOCKED, UPDATE, COMMIT):"
    );
    println!(
        "    p50 {}, p99 {}, max {}",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );
    let t = Instant::now();
    let backlog = store.backlog("sandbox", Utc::now()).await?;
    println!(
        "backlog query (count + oldest): {} for {} due",
        ms(t.elapsed()),
        backlog.due
    );
    Ok(())
}

/// A fake carrier answering every number with a new event (`news`) or with nothing.
async fn fake_carrier(news: bool) -> MockServer {
    // Request recording off: the fakes live in this process, and a journal of every request
    // would show up as the gateway's memory.
    let carrier = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/track"))
        .respond_with(move |request: &Request| {
            if !news {
                return ResponseTemplate::new(200).set_body_json(json!({ "shipments": [] }));
            }
            let numbers: Vec<Value> = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "numbers")
                .map(|(_, v)| {
                    v.split(',')
                        .map(|n| {
                            json!({"tracking_number": n, "events": [{"id": format!("e-{n}"),
                            "time": "2026-11-21T10:00:00Z", "code": "IT",
                            "description": "In transit", "location": "Leipzig, DE"}]})
                        })
                        .collect()
                })
                .unwrap_or_default();
            ResponseTemplate::new(200).set_body_json(json!({ "shipments": numbers }))
        })
        .mount(&carrier)
        .await;
    carrier
}

/// (2) A real gateway polling against a fast fake carrier: shipments/s and RSS over time.
async fn measure_poller(url: &str, poll_seconds: u64, news: bool) -> anyhow::Result<()> {
    let carrier = fake_carrier(news).await;
    let mall = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("POST"))
        .and(path("/push"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&mall)
        .await;
    // `TRACKGATE_BENCH_CARRIER_URL` points the poller at a fake carrier in another process, to
    // tell the gateway's own memory from the in-process fakes'.
    let carrier_url = std::env::var("TRACKGATE_BENCH_CARRIER_URL").unwrap_or(carrier.uri());
    let settings = Settings::with_overrides(&[
        ("database.url", json!(url)),
        ("database.max_connections", json!(16)),
        ("server.listen", json!("127.0.0.1:0")),
        ("server.workers", json!(1)),
        ("mall.endpoint", json!(format!("{}/push", mall.uri()))),
        (
            "mall.signing_secret",
            json!("whsec_YmVuY2htYXJrLXNpZ25pbmcta2V5"),
        ),
        ("poll.enabled", json!(true)),
        ("poll.tick_secs", json!(1)),
        ("poll.batches_per_tick", json!(1000)),
        ("queue.prefetch", json!(16)),
        ("carriers.sandbox.base_url", json!(carrier_url)),
        ("carriers.sandbox.batch_size", json!(50)),
        ("carriers.sandbox.requests_per_second", json!(1000)),
        ("log.filter", json!("error")),
    ])?;
    let running = Application::build(settings).await?.start().await?;
    let mut rss = Vec::new();
    let t = Instant::now();
    for _ in 0..poll_seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(rss_mib());
    }
    let metrics = &running.gateway.metrics;
    let requests = metrics.polls.with_label_values(&["sandbox", "ok"]).get();
    let elapsed = t.elapsed().as_secs_f64();
    running.stop().await;
    let mode = if news {
        "every poll brings a new event: ingest + push"
    } else {
        "polls bring nothing new: claim, request, reschedule"
    };
    println!(
        "\ngateway poller for {elapsed:.0} s (batches of 50, carrier and mall on loopback; {mode}):"
    );
    println!(
        "    {requests} poll requests = {} shipments polled, {:.0} shipments/s ({:.1} requests/s)",
        requests * 50,
        (requests * 50) as f64 / elapsed,
        requests as f64 / elapsed
    );
    print_rss(&rss);
    Ok(())
}

fn print_rss(rss: &[f64]) {
    let (low, high) = rss
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let quartiles: Vec<String> = [0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|q| {
            let i = ((rss.len() as f64 * q).ceil() as usize).clamp(1, rss.len()) - 1;
            format!("{:.1}", rss[i])
        })
        .collect();
    println!(
        "    RSS of the process while polling: {low:.1}–{high:.1} MiB (first second {:.1}; at 1/4, 1/2, 3/4, end: {})",
        rss.first().unwrap_or(&0.0),
        quartiles.join(", ")
    );
}
