//! The fault harness: load on a real gateway (the release binary, its own process) while it
//! breaks what a gateway depends on, then a reconciliation of what the carrier side had
//! acknowledged, what the store holds and what a mall following docs/mall-integration.md has.
//! Exits 1 if anything acknowledged is missing, a push is stuck, one arrived out of order, or
//! the mall lacks an event or ends with another status than the store.
//!
//! ```sh
//! scripts/faults.sh                                              # every scenario, both stores
//! cargo bench --bench faults -- --store postgres --scenario broker-outage
//! cargo bench --bench faults -- --store mariadb --queue embedded --scenario database-restarts
//! ```
//! Scenarios: `baseline` (two gateways, no fault), `broker-outage` (RabbitMQ stopped for
//! `--outage-secs`, default 20), `database-restarts` (the database restarted three times),
//! `mall-outage` (the mall answers 503 for `--outage-secs`), `kill-9` (two gateways, each
//! killed with SIGKILL and started again). It stops and restarts the machine's own PostgreSQL,
//! MariaDB and RabbitMQ: run it on a test machine.

#[allow(dead_code)] // the RSS sampler is the load generator's
#[path = "../loadgen/gateway.rs"]
mod gateway;
mod load;
mod mall;
mod reconcile;
#[path = "../loadgen/seed.rs"]
mod seed;
mod services;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use sea_orm::{ConnectionTrait, Database};

use gateway::Gateway;
use load::Driver;
use mall::Mall;

const MALL_SECRET: &str = "whsec_ZmF1bHQtaGFybmVzcy1tYWxsLXNlY3JldC0yMDI2";
const SANDBOX_SECRET: &str = "fault-harness-sandbox-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Baseline,
    BrokerOutage,
    DatabaseRestarts,
    MallOutage,
    Kill9,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Store {
    Postgres,
    Mariadb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueueKind {
    Rabbitmq,
    Embedded,
}

#[derive(Debug, Parser)]
#[command(about = "trackgate fault harness")]
struct Args {
    #[arg(long, value_enum, default_value = "postgres")]
    store: Store,
    #[arg(long, value_enum, default_value = "rabbitmq")]
    queue: QueueKind,
    /// One scenario, or all of them when absent (broker-outage only with RabbitMQ).
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// Webhooks per second during the load.
    #[arg(long, default_value_t = 300.0)]
    rate: f64,
    #[arg(long, default_value_t = 300)]
    shipments: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// How long everything may take to reach the mall after the load and the faults end.
    #[arg(long, default_value_t = 180)]
    drain_secs: u64,
    /// Keep the scratch database and the queues afterwards (to look into a failed run).
    #[arg(long)]
    keep: bool,
    /// How long the broker (broker-outage) or the mall (mall-outage) stays down.
    #[arg(long, default_value_t = 20)]
    outage_secs: u64,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/test")]
    mysql_url: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    trackgate::startup::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scenarios: Vec<Scenario> = match args.scenario {
        Some(one) => vec![one],
        None => Scenario::value_variants()
            .iter()
            .copied()
            .filter(|s| *s != Scenario::BrokerOutage || args.queue == QueueKind::Rabbitmq)
            .collect(),
    };
    let mut failed = false;
    for scenario in scenarios {
        let verdict = runtime.block_on(run_scenario(&args, scenario))?;
        failed |= !verdict;
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// A scratch database for one scenario.
struct Scratch {
    url: String,
    admin: String,
    name: String,
    store: Store,
}

impl Scratch {
    async fn create(args: &Args) -> anyhow::Result<Scratch> {
        let name = format!("tg_fault_{}", uuid::Uuid::new_v4().simple());
        let (admin, create) = match args.store {
            Store::Postgres => (args.postgres_url.clone(), format!("CREATE DATABASE {name}")),
            Store::Mariadb => (
                args.mysql_url.clone(),
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
            ),
        };
        Database::connect(&admin)
            .await?
            .execute_unprepared(&create)
            .await?;
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Ok(Scratch {
            url,
            admin,
            name,
            store: args.store,
        })
    }

    async fn drop_database(&self) {
        let drop = match self.store {
            Store::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Store::Mariadb => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        if let Ok(admin) = Database::connect(&self.admin).await {
            let _ = admin.execute_unprepared(&drop).await;
        }
    }
}

fn gateway_env(args: &Args, scratch: &Scratch, prefix: &str, mall: &Mall) -> Vec<(String, String)> {
    let queue = match args.queue {
        QueueKind::Rabbitmq => "rabbitmq",
        QueueKind::Embedded => "embedded",
    };
    [
        ("TRACKGATE__DATABASE__URL", scratch.url.clone()),
        ("TRACKGATE__QUEUE__KIND", queue.to_owned()),
        ("TRACKGATE__QUEUE__AMQP_URL", args.amqp_url.clone()),
        ("TRACKGATE__QUEUE__PREFIX", prefix.to_owned()),
        (
            "TRACKGATE__MALL__ENDPOINT",
            format!("http://127.0.0.1:{}/push", mall.port),
        ),
        ("TRACKGATE__MALL__SIGNING_SECRET", MALL_SECRET.to_owned()),
        (
            "TRACKGATE__CARRIERS__SANDBOX__WEBHOOK_SECRET",
            SANDBOX_SECRET.to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn run_scenario(args: &Args, scenario: Scenario) -> anyhow::Result<bool> {
    let name = format!("{scenario:?}");
    println!(
        "\n## {name}: {:?} + {:?}, {} webhooks/s over {} shipments for {} s",
        args.store, args.queue, args.rate, args.shipments, args.seconds
    );
    let scratch = Scratch::create(args).await?;
    let prefix = format!("tg_fault_{}", uuid::Uuid::new_v4().simple());
    let result = run_on(args, scenario, &scratch, &prefix).await;
    if args.keep {
        println!("kept: database {} and queues {prefix}.*", scratch.url);
    } else {
        scratch.drop_database().await;
        services::delete_queues(&prefix);
    }
    result
}

async fn run_on(
    args: &Args,
    scenario: Scenario,
    scratch: &Scratch,
    prefix: &str,
) -> anyhow::Result<bool> {
    let store = reconcile::prepare(&scratch.url, args.shipments).await?;
    let mall = Mall::start(MALL_SECRET, Duration::from_millis(5))?;
    let env = gateway_env(args, scratch, prefix, &mall);
    let two = matches!(scenario, Scenario::Baseline | Scenario::Kill9);
    let ports: Vec<u16> = (0..if two { 2 } else { 1 })
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    let mut gateways = Vec::new();
    for port in &ports {
        gateways.push(Some(Gateway::spawn_at(*port, &env).await?));
    }
    let steps = ((args.rate * args.seconds as f64) / args.shipments as f64)
        .ceil()
        .max(1.0) as usize;
    let sends = load::plan(args.shipments, steps);
    let rate = sends.len() as f64 / args.seconds as f64;
    let deadline = Instant::now() + Duration::from_secs(args.seconds + args.drain_secs);
    let driver = Arc::new(Driver {
        gateways: ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect(),
        secret: SANDBOX_SECRET.to_owned(),
        base: chrono::Utc::now() - chrono::Duration::days(30),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    });
    let load = tokio::spawn(driver.run(sends, rate, deadline));
    let started = Instant::now();
    let faults_over = inflict(args, scenario, &mall, &mut gateways, &ports, &env, started).await?;
    let sent = load.await?;
    let load_over = started.elapsed();
    let drained =
        reconcile::wait_for_drain(&store, &mall, Duration::from_secs(args.drain_secs)).await?;
    let verdict = reconcile::check(&store, &mall, &sent, steps).await?;
    println!("| figure | value |\n|---|---|");
    println!(
        "| webhooks acknowledged / planned | {} / {} ({} sends, {} refused and sent again, {} never acknowledged) |",
        sent.acked.len(),
        args.shipments * steps,
        sent.sends,
        sent.refusals,
        sent.never_acked
    );
    println!(
        "| load and faults over | load {:.0} s, faults {:.0} s after the start |",
        load_over.as_secs_f64(),
        faults_over.as_secs_f64()
    );
    match drained {
        Some(at) => println!(
            "| everything at the mall | {:.1} s after the start, {:.1} s after the load and the last fault |",
            (at - started).as_secs_f64(),
            at.saturating_duration_since(started + load_over.max(faults_over))
                .as_secs_f64()
        ),
        None => println!(
            "| everything at the mall | **not within {} s** |",
            args.drain_secs
        ),
    }
    verdict.print();
    for gateway in gateways.into_iter().flatten() {
        gateway.stop();
    }
    Ok(verdict.passed() && drained.is_some())
}

/// The scenario's faults, on a timeline from the start of the load; returns when the last
/// fault is over (how long after `started`).
async fn inflict(
    args: &Args,
    scenario: Scenario,
    mall: &Mall,
    gateways: &mut [Option<Gateway>],
    ports: &[u16],
    env: &[(String, String)],
    started: Instant,
) -> anyhow::Result<Duration> {
    let at = |secs: u64| tokio::time::sleep_until((started + Duration::from_secs(secs)).into());
    match scenario {
        Scenario::Baseline => {}
        Scenario::BrokerOutage => {
            at(15).await;
            println!(
                "- {:.0} s: RabbitMQ stopped",
                started.elapsed().as_secs_f64()
            );
            services::stop_rabbitmq().await?;
            at(15 + args.outage_secs).await;
            services::start_rabbitmq().await?;
            println!(
                "- {:.0} s: RabbitMQ started",
                started.elapsed().as_secs_f64()
            );
        }
        Scenario::DatabaseRestarts => {
            for secs in [10, 25, 40] {
                at(secs).await;
                match args.store {
                    Store::Postgres => services::restart_postgres().await?,
                    Store::Mariadb => services::restart_mariadb().await?,
                }
                println!(
                    "- {:.0} s: database restarted",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Scenario::MallOutage => {
            at(10).await;
            mall.set_down(true);
            println!(
                "- {:.0} s: mall down (503)",
                started.elapsed().as_secs_f64()
            );
            at(10 + args.outage_secs).await;
            mall.set_down(false);
            println!("- {:.0} s: mall back", started.elapsed().as_secs_f64());
        }
        Scenario::Kill9 => {
            for (index, (kill, back)) in [(15, 25), (35, 45)].into_iter().enumerate() {
                at(kill).await;
                if let Some(mut gateway) = gateways[index].take() {
                    gateway.kill();
                }
                println!(
                    "- {:.0} s: gateway {index} killed (SIGKILL)",
                    started.elapsed().as_secs_f64()
                );
                at(back).await;
                gateways[index] = Some(Gateway::spawn_at(ports[index], env).await?);
                println!(
                    "- {:.0} s: gateway {index} started again",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(started.elapsed())
}
