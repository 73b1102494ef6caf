//! `trackgate demo`: the whole gateway on embedded defaults, with nothing installed.
//!
//! It starts the gateway (SQLite in a temporary directory, embedded queue), a sandbox carrier
//! API and a mall receiver on loopback; registers three parcels through the mall API; drives
//! them to delivered through signed webhooks and polls, including a failed delivery attempt, a
//! customs delay, a duplicate and an out-of-order event; makes the mall fail its first three
//! calls so retries show; then prints every timeline and every push the mall received, with
//! its signature check, and exits 0 only if every status change reached the mall.

mod peers;
mod report;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::startup::{Application, Running, install_crypto_provider};
use crate::store::states::{OutboxState, Scope};
use peers::{MallReceiver, SandboxCarrier};

const WEBHOOK_SECRET: &str = "demo-sandbox-webhook-secret";

struct Demo {
    http: reqwest::Client,
    base: String,
    mall_key: String,
    support_key: String,
    running: Running,
    mall: MallReceiver,
    carrier: SandboxCarrier,
}

/// One scripted carrier event: id, hours after the start, code, text, place.
type Step = (&'static str, i64, &'static str, &'static str, &'static str);

const PARCELS: [(&str, &str); 3] = [
    ("SBX1000001", "ORD-1001"),
    ("SBX1000002", "ORD-1001"),
    ("SBX1000003", "ORD-1002"),
];

impl Demo {
    async fn webhook(
        &self,
        number: &str,
        id: &str,
        time: DateTime<FixedOffset>,
        code: &str,
        description: &str,
        location: &str,
    ) -> anyhow::Result<()> {
        let body = json!({"shipments": [{"tracking_number": number, "events": [
            {"id": id, "time": time.to_rfc3339(), "code": code, "description": description, "location": location}
        ]}]})
        .to_string();
        let response = self
            .http
            .post(format!("{}/webhooks/sandbox", self.base))
            .header("content-type", "application/json")
            .header(
                trackgate_carriers::sandbox::SIGNATURE_HEADER,
                trackgate_carriers::sandbox::sign(WEBHOOK_SECRET, body.as_bytes()),
            )
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "webhook answered {}",
            response.status()
        );
        println!(
            "  sent {code} {description} @ {}",
            time.format("%Y-%m-%d %H:%M %:z")
        );
        Ok(())
    }

    async fn register(&self, number: &str, order: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/v1/shipments", self.base))
            .bearer_auth(&self.mall_key)
            .json(&json!({"carrier": "sandbox", "tracking_number": number, "order_id": order}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "register answered {}",
            response.status()
        );
        let body: Value = response.json().await?;
        Ok(body["id"].as_str().context("shipment id")?.to_owned())
    }

    async fn status_of(&self, id: &str) -> anyhow::Result<String> {
        let body: Value = self
            .http
            .get(format!("{}/v1/shipments/{id}", self.base))
            .bearer_auth(&self.mall_key)
            .send()
            .await?
            .json()
            .await?;
        Ok(body["status"].as_str().unwrap_or("?").to_owned())
    }
}

pub async fn run() -> anyhow::Result<()> {
    install_crypto_provider();
    let workdir = std::env::temp_dir().join(format!("trackgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let result = run_in(&workdir).await;
    let _ = std::fs::remove_dir_all(&workdir);
    result
}

async fn run_in(workdir: &std::path::Path) -> anyhow::Result<()> {
    let demo = Demo::start(workdir).await?;
    let mut ids = Vec::new();
    for (number, order) in PARCELS {
        ids.push(demo.register(number, order).await?);
        println!("registered {number} for order {order}");
    }
    let t0 = (Utc::now() - chrono::Duration::days(3))
        .trunc_subsecs(0)
        .with_timezone(&offset(1));
    demo.by_webhook_in_berlin(t0).await?;
    demo.by_webhook_in_shanghai(t0).await?;
    demo.by_polling(t0, &ids[2]).await?;
    demo.wait_for_every_push(&ids).await?;
    report::timelines(&demo).await?;
    report::pushes(&demo)?;
    for (id, (number, _)) in ids.iter().zip(PARCELS) {
        let status = demo.status_of(id).await?;
        if status != "delivered" {
            bail!("{number} ended as {status}, not delivered");
        }
    }
    demo.running.stop().await;
    println!("demo finished: every parcel delivered, every status change pushed and verified.");
    Ok(())
}

fn offset(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).expect("a valid offset")
}

impl Demo {
    /// The gateway on SQLite in `workdir`, the fake carrier and the mall, and two API keys.
    async fn start(workdir: &std::path::Path) -> anyhow::Result<Demo> {
        let signing_secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 8].repeat(4))
        );
        let mall = MallReceiver::start(&signing_secret, 3)?;
        let carrier = SandboxCarrier::start()?;
        let database = format!("sqlite://{}?mode=rwc", workdir.join("demo.db").display());
        let settings = Settings::with_overrides(&[
            ("database.url", json!(database)),
            ("server.listen", json!("127.0.0.1:0")),
            ("server.workers", json!(1)),
            ("mall.endpoint", json!(mall.url)),
            ("mall.signing_secret", json!(signing_secret)),
            ("retry.initial_delay_ms", json!(200)),
            ("retry.max_delay_ms", json!(2000)),
            ("poll.schedule.info_received_secs", json!(1)),
            ("poll.schedule.in_transit_secs", json!(1)),
            ("poll.schedule.out_for_delivery_secs", json!(1)),
            ("poll.schedule.exception_secs", json!(1)),
            ("poll.schedule.max_interval_secs", json!(2)),
            ("poll.tick_secs", json!(1)),
            ("queue.idle_poll_ms", json!(50)),
            ("carriers.sandbox.webhook_secret", json!(WEBHOOK_SECRET)),
            ("carriers.sandbox.base_url", json!(carrier.url)),
            ("log.filter", json!("error")),
        ])?;
        crate::telemetry::init(&settings.log);
        println!(
            "trackgate demo — SQLite at {}, embedded queue",
            workdir.join("demo.db").display()
        );
        let app = Application::build(settings).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        println!(
            "gateway on {base}; sandbox carrier on {}; mall receiver on {} (fails its first 3 calls)\n",
            carrier.url, mall.url
        );
        let running = app.start().await?;
        let store = &running.gateway.store;
        let mall_key = store.create_api_key(Scope::Mall, Some("demo mall".into()));
        let mall_key = mall_key.await?.token;
        let support_key = store.create_api_key(Scope::Support, Some("demo support".into()));
        let support_key = support_key.await?.token;
        Ok(Demo {
            http: reqwest::Client::new(),
            base,
            mall_key,
            support_key,
            running,
            mall,
            carrier,
        })
    }

    async fn send_steps(
        &self,
        number: &str,
        at: impl Fn(i64) -> DateTime<FixedOffset>,
        steps: &[Step],
    ) -> anyhow::Result<()> {
        for (id, hours, code, text, place) in steps {
            self.webhook(number, id, at(*hours), code, text, place)
                .await?;
        }
        Ok(())
    }

    /// SBX1000001: a duplicate, a failed attempt, and an event that arrives after a later one.
    async fn by_webhook_in_berlin(&self, t0: DateTime<FixedOffset>) -> anyhow::Result<()> {
        println!("\nSBX1000001 by webhook:");
        let steps: &[Step] = &[
            ("a1", 0, "CR", "Shipment information received", "Berlin, DE"),
            ("a2", 2, "PU", "Picked up by courier", "Berlin, DE"),
            ("a3", 6, "IT", "Departed sort hub", "Leipzig, DE"),
            ("a3", 6, "IT", "Departed sort hub", "Leipzig, DE"),
            (
                "a4",
                26,
                "FA",
                "Delivery attempted: recipient not home",
                "Munich, DE",
            ),
            ("a6", 50, "DL", "Delivered to recipient", "Munich, DE"),
            (
                "a5",
                49,
                "OD",
                "Out for delivery (reported late)",
                "Munich, DE",
            ),
        ];
        self.send_steps("SBX1000001", |h| t0 + chrono::Duration::hours(h), steps)
            .await?;
        println!("  (a3 was sent twice; OD arrived after DL but happened before it)");
        Ok(())
    }

    /// SBX1000002: a customs hold, times given in +08:00.
    async fn by_webhook_in_shanghai(&self, t0: DateTime<FixedOffset>) -> anyhow::Result<()> {
        println!("\nSBX1000002 by webhook, times in +08:00:");
        let steps: &[Step] = &[
            ("b1", 1, "PU", "Picked up", "Shenzhen, CN"),
            ("b2", 10, "CC", "Customs clearance started", "Shanghai, CN"),
            (
                "b3",
                20,
                "CD",
                "Held by customs: documents missing",
                "Shanghai, CN",
            ),
            ("b4", 40, "IT", "Released, in transit", "Frankfurt, DE"),
            (
                "b5",
                60,
                "DP",
                "Delivered, signed by neighbour",
                "Hamburg, DE",
            ),
        ];
        let at = |h| (t0 + chrono::Duration::hours(h)).with_timezone(&offset(8));
        self.send_steps("SBX1000002", at, steps).await
    }

    /// SBX1000003: the carrier reports each event on its API; the poller picks it up.
    async fn by_polling(&self, t0: DateTime<FixedOffset>, id: &str) -> anyhow::Result<()> {
        println!("\nSBX1000003 by polling the sandbox carrier API:");
        let steps: &[Step] = &[
            ("c1", 3, "PU", "Picked up", "Vienna, AT"),
            ("c2", 12, "IT", "In transit", "Linz, AT"),
            ("c3", 30, "OD", "Out for delivery", "Salzburg, AT"),
            ("c4", 33, "DL", "Delivered", "Salzburg, AT"),
        ];
        for (event, hours, code, text, place) in steps {
            let time = (t0 + chrono::Duration::hours(*hours)).to_rfc3339();
            let reported = json!({"id": event, "time": time, "code": code, "description": text, "location": place});
            self.carrier.add_event("SBX1000003", reported);
            let expected = trackgate_carriers::sandbox::map_code(code).0.as_str();
            wait_until(Duration::from_secs(20), || async {
                Ok(self.status_of(id).await? == expected)
            })
            .await
            .with_context(|| format!("SBX1000003 never reached {expected} by polling"))?;
            println!("  carrier reported {code}; the poller picked it up: {expected}");
        }
        Ok(())
    }

    /// Every change must reach the mall: wait until every outbox row is delivered (or folded
    /// into a later push that was).
    async fn wait_for_every_push(&self, ids: &[String]) -> anyhow::Result<()> {
        let store = self.running.gateway.store.clone();
        wait_until(Duration::from_secs(60), || async {
            let mut all = true;
            for id in ids {
                all &= store.outbox_of_shipment(id).await?.iter().all(|row| {
                    matches!(row.state, OutboxState::Delivered | OutboxState::Superseded)
                });
            }
            Ok(all)
        })
        .await
        .context("not every push reached the mall")
    }
}

async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await? {
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("gave up after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
