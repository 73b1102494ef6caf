//! `trackgate` load generator: drives a running gateway (the real binary, its own process) over
//! loopback HTTP and measures it next to the machine's ceilings, in one run.
//!
//! ```sh
//! cargo bench --bench loadgen -- --store sqlite                 # SQLite + embedded queue
//! cargo bench --bench loadgen -- --store postgres               # PostgreSQL + RabbitMQ
//! cargo bench --bench loadgen -- --store postgres --rate 1000   # fixed rate (open loop)
//! cargo bench --bench loadgen -- --track                        # support lookups, 1M shipments
//! ```
//! Intake runs send signed Kuaidi100 callbacks (a shipment's history growing by one event per
//! callback; a share duplicated, a share out of order) and end with a reconciliation against
//! the store and the fake mall: the run fails (exit 1) if anything acknowledged is missing.

mod ceilings;
mod cpu;
mod drive;
mod gateway;
mod intake;
mod mall;
mod plan;
mod reconcile;
mod seed;
mod statements;
mod track;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(about = "trackgate load generator")]
pub struct Args {
    /// sqlite (embedded queue) or postgres (RabbitMQ queue unless --queue embedded).
    #[arg(long, default_value = "sqlite")]
    store: String,
    #[arg(long)]
    queue: Option<String>,
    /// Webhooks to send (intake runs).
    #[arg(long, default_value_t = 60_000)]
    webhooks: usize,
    /// Webhooks per second; 0 = flat out over --connections connections.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Share of callbacks sent twice, and of steps swapped with the next one.
    #[arg(long, default_value_t = 0.1)]
    duplicates: f64,
    #[arg(long, default_value_t = 0.1)]
    out_of_order: f64,
    /// How long the fake mall takes to answer a push.
    #[arg(long, default_value_t = 5)]
    mall_delay_ms: u64,
    /// Skip the ceilings (HTTP, store, RabbitMQ).
    #[arg(long)]
    no_ceilings: bool,
    /// Seconds each ceiling (and each --track phase) runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// How long to wait for every webhook to be ingested and pushed after the last ack.
    #[arg(long, default_value_t = 600)]
    drain_timeout_secs: u64,
    /// Support lookups (`GET /v1/track/{n}`) against --track-shipments shipments (PostgreSQL).
    #[arg(long)]
    track: bool,
    #[arg(long, default_value_t = 1_000_000)]
    track_shipments: u64,
    /// PostgreSQL: `ANALYZE` the scratch database every this many seconds while webhooks are
    /// sent (0 = never, the default: the run then starts on tables autovacuum has not yet
    /// analyzed, as a new deployment does; with it, plans follow the tables' growth as they do
    /// in a deployment autovacuum has been keeping for a while).
    #[arg(long, default_value_t = 0)]
    analyze_every_secs: u64,
    /// Extra gateway configuration, KEY=VALUE (e.g. TRACKGATE__INTAKE__MAX_BATCH=1).
    #[arg(long = "gateway-env")]
    gateway_env: Vec<String>,
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
    /// Internal: serve the do-nothing HTTP ceiling on this port.
    #[arg(long, hide = true)]
    serve_noop: Option<u16>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(port) = args.serve_noop {
        return ceilings::serve_noop(port);
    }
    trackgate::startup::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let passed = runtime.block_on(async {
        let scratch = Scratch::create(&args).await?;
        let result = if args.track {
            track::run(&args, &scratch).await
        } else {
            intake::run(&args, &scratch).await
        };
        scratch.drop_database().await?;
        result
    })?;
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

/// Environment for the gateway child: the store, the queue, and --gateway-env.
pub fn gateway_env(args: &Args, database_url: &str, prefix: &str) -> Vec<(String, String)> {
    let queue = args.queue.clone().unwrap_or_else(|| {
        if args.store == "postgres" {
            "rabbitmq"
        } else {
            "embedded"
        }
        .into()
    });
    let mut env = vec![
        (
            "TRACKGATE__DATABASE__URL".to_owned(),
            database_url.to_owned(),
        ),
        ("TRACKGATE__QUEUE__KIND".to_owned(), queue),
        (
            "TRACKGATE__QUEUE__AMQP_URL".to_owned(),
            args.amqp_url.clone(),
        ),
        ("TRACKGATE__QUEUE__PREFIX".to_owned(), prefix.to_owned()),
        // The pipeline's capacity, not the admission limit a production gateway keeps per
        // carrier instance (5,000 webhooks/s by default): every callback here comes from one
        // carrier instance, and flat out the gateway now goes past it (a refused callback is
        // counted as not acknowledged). --gateway-env can set it back.
        (
            "TRACKGATE__SERVER__WEBHOOK_RATE_PER_SECOND".to_owned(),
            "0".to_owned(),
        ),
    ];
    for pair in &args.gateway_env {
        if let Some((key, value)) = pair.split_once('=') {
            env.push((key.to_owned(), value.to_owned()));
        }
    }
    env
}

/// A scratch database: a new PostgreSQL database, or a SQLite file in a temporary directory.
pub struct Scratch {
    pub url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    pub async fn create(args: &Args) -> anyhow::Result<Scratch> {
        use sea_orm::ConnectionTrait;
        let name = format!("tg_bench_{}", uuid::Uuid::new_v4().simple());
        if args.store == "postgres" || args.track {
            let admin = sea_orm::Database::connect(&args.postgres_url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let url = format!("{}/{name}", args.postgres_url.rsplit_once('/').unwrap().0);
            Ok(Scratch {
                url,
                admin: Some((args.postgres_url.clone(), name)),
                _dir: None,
            })
        } else {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("trackgate.db").display()
            );
            Ok(Scratch {
                url,
                admin: None,
                _dir: Some(dir),
            })
        }
    }

    /// A store on the scratch database, migrated.
    pub async fn store(&self) -> anyhow::Result<trackgate::store::Store> {
        let settings = trackgate::config::Settings::with_overrides(&[(
            "database.url",
            serde_json::json!(self.url),
        )])?;
        let store = trackgate::store::Store::connect(&settings.database).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(|d| d.path())
    }

    pub async fn drop_database(&self) -> anyhow::Result<()> {
        use sea_orm::ConnectionTrait;
        if let Some((admin_url, name)) = &self.admin {
            let admin = sea_orm::Database::connect(admin_url).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

/// The machine this ran on, for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores ({cpu})")
}
