//! The machine's own limits, measured in the same run so results are ratios, not absolute
//! numbers that drift: a do-nothing actix-web handler (same client, same connections), the
//! store's one-row durable commit rate (pgbench on PostgreSQL, a tight loop on SQLite), a key
//! lookup (pgbench), and RabbitMQ persistent publishes with confirms.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, Database};

use crate::drive::{self, Source};

/// `loadgen --serve-noop PORT`: the HTTP ceiling's server, in its own process like the gateway,
/// with as many workers as the gateway.
pub fn serve_noop(port: u16) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::default().limit(1 << 20))
                .default_service(web::to(|_body: web::Bytes| async {
                    HttpResponse::Ok().finish()
                }))
        })
        .listen(listener)?
        .run()
        .await
    })?;
    Ok(())
}

pub struct Noop(Child);

impl Noop {
    pub fn spawn(port: u16) -> anyhow::Result<Noop> {
        let child = Command::new(std::env::current_exe()?)
            .args(["--serve-noop", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Noop(child))
    }
}

impl Drop for Noop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Repeat {
    url: String,
    body: Vec<u8>,
    count: usize,
}

impl Source for Repeat {
    fn len(&self) -> usize {
        self.count
    }
    fn request(&self, _i: usize) -> (String, Vec<u8>) {
        (self.url.clone(), self.body.clone())
    }
}

/// Requests/s a do-nothing handler answers, flat out, with the same client and body size.
pub async fn http_noop(connections: usize, body_len: usize, seconds: u64) -> anyhow::Result<f64> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let _server = Noop::spawn(port)?;
    let url = format!("http://127.0.0.1:{port}/noop");
    let client = drive::client(connections);
    let started = Instant::now();
    while client.post(&url).send().await.is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "noop server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let source = Arc::new(Repeat {
        url,
        body: vec![b'x'; body_len],
        count: usize::MAX,
    });
    let outcome = drive::run(
        &client,
        source,
        connections,
        0.0,
        started,
        &[("content-type", "application/x-www-form-urlencoded".into())],
        Some(Duration::from_secs(seconds)),
    )
    .await;
    Ok(outcome.rate())
}

/// Run pgbench with `script` for `seconds` on `clients` clients; its tps.
pub fn pgbench(url: &str, script: &str, clients: u32, seconds: u64) -> anyhow::Result<f64> {
    let file = std::env::temp_dir().join(format!("tg-pgbench-{}.sql", std::process::id()));
    std::fs::write(&file, script)?;
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&file)
        .arg(url)
        .output()
        .map_err(|err| {
            anyhow::anyhow!("pgbench (postgresql-client) is needed for the ceilings: {err}")
        })?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix("tps = ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench output: {text}"))
}

/// PostgreSQL's one-row durable INSERT rate (one transaction per row, 16 clients) with a row
/// the size of a stored webhook.
pub async fn pg_insert(url: &str, body_len: usize, seconds: u64) -> anyhow::Result<f64> {
    let db = Database::connect(url).await?;
    db.execute_unprepared(
        "DROP TABLE IF EXISTS ceiling_insert; \
         CREATE TABLE ceiling_insert (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)",
    )
    .await?;
    let script = format!("INSERT INTO ceiling_insert (body) VALUES (repeat('x', {body_len}));\n");
    let tps = pgbench(url, &script, 16, seconds)?;
    db.execute_unprepared("DROP TABLE ceiling_insert").await?;
    Ok(tps)
}

/// SQLite's one-row durable INSERT rate with the gateway's settings (WAL, synchronous=NORMAL),
/// one connection, one transaction per row.
pub async fn sqlite_insert(
    dir: &std::path::Path,
    body_len: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("ceiling.db").display());
    let db = Database::connect(&url).await?;
    for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"] {
        db.execute_unprepared(pragma).await?;
    }
    db.execute_unprepared(
        "CREATE TABLE ceiling_insert (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    )
    .await?;
    let statement = format!(
        "INSERT INTO ceiling_insert (body) VALUES ('{}')",
        "x".repeat(body_len)
    );
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        db.execute_unprepared(&statement).await?;
        count += 1;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// RabbitMQ persistent publishes with confirms: (with `window` in flight, one at a time).
pub async fn rabbit_confirms(
    amqp_url: &str,
    messages: usize,
    window: usize,
) -> anyhow::Result<(f64, f64)> {
    let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = format!("tg_ceiling_{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let body = vec![b'x'; 96];
    let properties = BasicProperties::default().with_delivery_mode(2);
    let publish = || {
        channel.basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            &body,
            properties.clone(),
        )
    };
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for _ in 0..messages {
        if pending.len() >= window {
            let confirm = pending.pop_front().expect("a publish is pending");
            confirm.await?;
        }
        pending.push_back(publish().await?);
    }
    for confirm in pending {
        confirm.await?;
    }
    let windowed = messages as f64 / started.elapsed().as_secs_f64();
    let one_by_one_count = (messages / 4).max(1);
    let started = Instant::now();
    for _ in 0..one_by_one_count {
        publish().await?.await?;
    }
    let one_by_one = one_by_one_count as f64 / started.elapsed().as_secs_f64();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = connection.close(200, "done".into()).await;
    Ok((windowed, one_by_one))
}
