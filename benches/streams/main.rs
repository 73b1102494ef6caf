//! Live-stream load: many SSE clients, each watching one shipment, while signed webhooks arrive at
//! a fixed rate; measures the latency from sending a webhook to its update reaching the client,
//! and checks that every client got every update of its shipment once, in sequence.
//!
//! ```sh
//! cargo bench --bench streams -- --store sqlite --streams 1000 --rate 200
//! cargo bench --bench streams -- --store postgres --processes 2 --streams 1000 --rate 200
//! ```
//! With `--processes 2` the clients are connected to the first gateway and the webhooks go to the
//! second (PostgreSQL + RabbitMQ: the RabbitMQ fanout carries the news; `--queue embedded`:
//! PostgreSQL LISTEN/NOTIFY). The gateways are the real binary in their own processes.

// Shared with the load generator; this bench uses only part of each.
#[allow(dead_code)]
#[path = "../loadgen/gateway.rs"]
mod gateway;
#[allow(dead_code)]
#[path = "../loadgen/mall.rs"]
mod mall;
#[path = "../loadgen/seed.rs"]
mod seed;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

#[derive(Debug, Clone, Parser)]
#[command(about = "trackgate live-stream load")]
struct Args {
    /// sqlite (embedded queue) or postgres (RabbitMQ unless --queue embedded).
    #[arg(long, default_value = "sqlite")]
    store: String,
    #[arg(long)]
    queue: Option<String>,
    /// Gateway processes: 1, or 2 (clients on the first, webhooks to the second).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// SSE clients, one shipment each.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Webhooks to send, round-robin over the shipments (one new event each).
    #[arg(long, default_value_t = 4000)]
    updates: usize,
    /// Webhooks per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    #[arg(
        long,
        env = "TRACKGATE_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    #[arg(
        long,
        env = "TRACKGATE_BENCH_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const SECRET: &str = "bench-sandbox-secret";

/// When each (shipment, sequence) was sent and received.
#[derive(Default)]
struct Ledger {
    sent: HashMap<(usize, i64), Instant>,
    received: HashMap<(usize, i64), Instant>,
    duplicates: u64,
    out_of_order: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    trackgate::startup::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let (database_url, cleanup) = match args.store.as_str() {
        "sqlite" => (
            format!("sqlite://{}?mode=rwc", dir.path().join("tg.db").display()),
            None,
        ),
        "postgres" => {
            let name = format!("tg_bench_streams_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&args.postgres_url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let base = args.postgres_url.rsplit_once('/').unwrap().0.to_owned();
            (format!("{base}/{name}"), Some((admin, name)))
        }
        other => anyhow::bail!("--store {other}: sqlite or postgres"),
    };
    anyhow::ensure!(
        args.processes == 1 || args.store == "postgres",
        "--processes 2 needs --store postgres"
    );
    let signing = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 24])
    );
    let mall = mall::Mall::start(&signing, Duration::from_millis(5), Instant::now())?;
    let queue = args.queue.clone().unwrap_or_else(|| {
        if args.store == "postgres" {
            "rabbitmq"
        } else {
            "embedded"
        }
        .to_owned()
    });
    let prefix = format!("tgbench.{}", uuid::Uuid::new_v4().simple());
    let env: Vec<(String, String)> = [
        ("DATABASE__URL", database_url.clone()),
        (
            "MALL__ENDPOINT",
            format!("http://127.0.0.1:{}/push", mall.port),
        ),
        ("MALL__SIGNING_SECRET", signing.clone()),
        ("CARRIERS__SANDBOX__WEBHOOK_SECRET", SECRET.to_owned()),
        ("QUEUE__KIND", queue.clone()),
        ("QUEUE__AMQP_URL", args.amqp_url.clone()),
        ("QUEUE__PREFIX", prefix),
        ("SERVER__API_RATE_PER_SECOND", "0".to_owned()),
        ("LIVE__MAX_STREAMS", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("TRACKGATE__{k}"), v))
    .collect();
    let first = gateway::Gateway::spawn(&env).await?;
    let second = if args.processes == 2 {
        Some(gateway::Gateway::spawn(&env).await?)
    } else {
        None
    };
    let stream_base = first.base.clone();
    let webhook_base = second
        .as_ref()
        .map_or(first.base.clone(), |g| g.base.clone());
    let rss = gateway::RssSampler::start(first.pid());

    let store = trackgate::store::Store::connect(&trackgate::config::DatabaseSettings {
        url: database_url.clone(),
        max_connections: 4,
        statement_cache: 32,
        read_lanes: 0,
        migrate_on_start: false,
    })
    .await?;
    seed::register_shipments(store.conn(), "sandbox", "shp_bench_", args.streams, |s| {
        format!("SBXB{s:07}")
    })
    .await?;
    let key = store
        .create_api_key(trackgate::store::states::Scope::Mall, None)
        .await?
        .token;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.streams + 64)
        .build()?;
    let opened = Instant::now();
    let mut clients = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(args.streams);
    for s in 0..args.streams {
        let url = format!("{stream_base}/v1/stream/sse?shipments=shp_bench_{s}");
        let (http, key, ledger, ready) =
            (http.clone(), key.clone(), ledger.clone(), ready_tx.clone());
        clients.push(tokio::spawn(async move {
            if let Err(err) = follow(&http, &url, &key, s, &ledger, ready).await {
                eprintln!("stream {s}: {err}");
            }
        }));
    }
    for _ in 0..args.streams {
        ready_rx.recv().await;
    }
    let connect_secs = opened.elapsed().as_secs_f64();

    // Webhooks at a fixed rate (open loop), round-robin over the shipments.
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for n in 0..args.updates {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let shipment = n % args.streams;
        let sequence = (n / args.streams) as i64 + 1;
        let body = serde_json::to_vec(
            &json!({"shipments": [{"tracking_number": format!("SBXB{shipment:07}"),
            "events": [{"id": format!("b-{n}"), "time": format!("2026-11-20T00:00:00Z"),
            "code": "IT", "description": format!("scan {sequence}"), "location": "Berlin, DE"}]}]}),
        )?;
        let (http, url, ledger) = (
            http.clone(),
            format!("{webhook_base}/webhooks/sandbox"),
            ledger.clone(),
        );
        ledger
            .lock()
            .unwrap()
            .sent
            .insert((shipment, sequence), Instant::now());
        senders.spawn(async move {
            let signature = trackgate::carriers::sandbox::sign(SECRET, &body);
            // As a carrier does: a webhook not acknowledged is sent again.
            for attempt in 1..=5 {
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(trackgate::carriers::sandbox::SIGNATURE_HEADER, &signature)
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => return,
                    Ok(r) => eprintln!("webhook {n} attempt {attempt}: HTTP {}", r.status()),
                    Err(err) => eprintln!("webhook {n} attempt {attempt}: {err}"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let sent_secs = started.elapsed().as_secs_f64();
    // Wait for every update to reach its client.
    let deadline = Instant::now() + Duration::from_secs(120);
    while ledger.lock().unwrap().received.len() < args.updates && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = http
        .get(format!("{stream_base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for client in clients {
        client.abort();
    }
    report(
        &args,
        &ledger.lock().unwrap(),
        connect_secs,
        sent_secs,
        &rss,
        &metrics,
    );
    drop(second);
    drop(first);
    if let Some((admin, name)) = cleanup {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    let ledger = ledger.lock().unwrap();
    anyhow::ensure!(
        ledger.received.len() == args.updates && ledger.duplicates == 0 && ledger.out_of_order == 0,
        "not every update reached its client exactly once, in order"
    );
    Ok(())
}

/// One client: open the stream, record each update's arrival.
async fn follow(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    shipment: usize,
    ledger: &Mutex<Ledger>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> anyhow::Result<()> {
    let mut response = http.get(url).bearer_auth(key).send().await?;
    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
    let mut buffer = String::new();
    let mut ready = Some(ready);
    let mut last = 0;
    while let Some(chunk) = response.chunk().await? {
        let at = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let message: Value = serde_json::from_str(data)?;
            match message["type"].as_str() {
                Some("snapshot") => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(()).await;
                    }
                }
                Some("update") => {
                    let sequence = message["sequence"].as_i64().unwrap_or(0);
                    let mut ledger = ledger.lock().unwrap();
                    if sequence != last + 1 {
                        ledger.out_of_order += 1;
                    }
                    last = sequence;
                    if ledger.received.insert((shipment, sequence), at).is_some() {
                        ledger.duplicates += 1;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(
    args: &Args,
    ledger: &Ledger,
    connect_secs: f64,
    sent_secs: f64,
    rss: &gateway::RssSampler,
    metrics: &str,
) {
    let mut latencies: Vec<f64> = ledger
        .received
        .iter()
        .filter_map(|(key, at)| {
            let sent = ledger.sent.get(key)?;
            Some(at.duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let live: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("trackgate_live_") && !l.contains(" 0"))
        .collect();
    println!(
        "## Live streams: {} {} process(es), {} SSE clients\n",
        args.store, args.processes, args.streams
    );
    println!("| figure | value |\n|---|---|");
    println!(
        "| clients connected (each got its snapshot) | {} in {connect_secs:.2} s |",
        args.streams
    );
    println!(
        "| webhooks sent | {} at {:.0}/s ({sent_secs:.1} s) |",
        args.updates,
        args.updates as f64 / sent_secs
    );
    println!(
        "| updates received | {} of {} (duplicates {}, out of order {}) |",
        ledger.received.len(),
        args.updates,
        ledger.duplicates,
        ledger.out_of_order
    );
    println!(
        "| webhook sent → update at the client, ms | p50 {:.1} · p90 {:.1} · p99 {:.1} · max {:.1} |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| gateway RSS (the clients' process) | max {:.0} MiB, last {:.0} MiB |",
        rss.max_mib(),
        rss.last_mib()
    );
    println!("\n```\n{}\n```", live.join("\n"));
}
