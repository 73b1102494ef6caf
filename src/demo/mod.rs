//! `trackgate demo`: the whole gateway on embedded defaults, with nothing installed.
//!
//! It starts the gateway (SQLite in a temporary directory, embedded queue), a sandbox carrier
//! API and a mall receiver on loopback; registers three parcels through the mall API; drives
//! them to delivered through signed webhooks and polls, including a failed delivery attempt, a
//! customs delay, a duplicate and an out-of-order event; makes the mall fail its first three
//! calls so retries show; then prints every timeline and every push the mall received, with
//! its signature check, and exits 0 only if every status change reached the mall.

mod peers;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::startup::{Application, install_crypto_provider};
use crate::store::keys::Scope;
use peers::{MallReceiver, SandboxCarrier};

const WEBHOOK_SECRET: &str = "demo-sandbox-webhook-secret";

struct Demo {
    http: reqwest::Client,
    base: String,
    mall_key: String,
}

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
    let signing_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes())
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
    let mall_key = running
        .gateway
        .store
        .create_api_key(Scope::Mall, Some("demo mall".into()))
        .await?
        .token;
    let support_key = running
        .gateway
        .store
        .create_api_key(Scope::Support, Some("demo support".into()))
        .await?
        .token;
    let demo = Demo {
        http: reqwest::Client::new(),
        base: base.clone(),
        mall_key,
    };

    let parcels = [
        ("SBX1000001", "ORD-1001"),
        ("SBX1000002", "ORD-1001"),
        ("SBX1000003", "ORD-1002"),
    ];
    let mut ids = Vec::new();
    for (number, order) in parcels {
        ids.push(demo.register(number, order).await?);
        println!("registered {number} for order {order}");
    }

    let berlin = FixedOffset::east_opt(3600).expect("offset");
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("offset");
    let t0 = (Utc::now() - chrono::Duration::days(3))
        .trunc_subsecs(0)
        .with_timezone(&berlin);
    let h = |hours: i64| t0 + chrono::Duration::hours(hours);
    println!("\nSBX1000001 by webhook:");
    for (id, hours, code, text, place) in [
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
    ] {
        demo.webhook("SBX1000001", id, h(hours), code, text, place)
            .await?;
    }
    println!("  (a3 was sent twice; OD arrived after DL but happened before it)");

    println!("\nSBX1000002 by webhook, times in +08:00:");
    let s = |hours: i64| h(hours).with_timezone(&shanghai);
    for (id, hours, code, text, place) in [
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
    ] {
        demo.webhook("SBX1000002", id, s(hours), code, text, place)
            .await?;
    }

    println!("\nSBX1000003 by polling the sandbox carrier API:");
    for (id, hours, code, text, place) in [
        ("c1", 3, "PU", "Picked up", "Vienna, AT"),
        ("c2", 12, "IT", "In transit", "Linz, AT"),
        ("c3", 30, "OD", "Out for delivery", "Salzburg, AT"),
        ("c4", 33, "DL", "Delivered", "Salzburg, AT"),
    ] {
        carrier.add_event("SBX1000003", json!({"id": id, "time": h(hours).to_rfc3339(), "code": code, "description": text, "location": place}));
        let expected = trackgate_carriers::sandbox::map_code(code).0.as_str();
        wait_until(Duration::from_secs(20), || async {
            Ok(demo.status_of(&ids[2]).await? == expected)
        })
        .await
        .with_context(|| format!("SBX1000003 never reached {expected} by polling"))?;
        println!("  carrier reported {code}; the poller picked it up: {expected}");
    }

    // Every status change must reach the mall: wait until every outbox row is delivered.
    let store = running.gateway.store.clone();
    wait_until(Duration::from_secs(60), || async {
        let mut all = true;
        for id in &ids {
            all &= store
                .outbox_of_shipment(id)
                .await?
                .iter()
                .all(|row| row.state == "delivered");
        }
        Ok(all)
    })
    .await
    .context("not every push reached the mall")?;

    println!("\n=== timelines (GET /v1/track/{{tracking_number}}, support key) ===");
    for (number, _) in parcels {
        let body: Value = demo
            .http
            .get(format!("{base}/v1/track/{number}"))
            .bearer_auth(&support_key)
            .send()
            .await?
            .json()
            .await?;
        let shipment = &body["shipments"][0];
        println!(
            "\n{number}  status={}  sub_status={}  delivered_at={}",
            shipment["status"], shipment["sub_status"], shipment["delivered_at"]
        );
        for event in shipment["events"].as_array().into_iter().flatten() {
            println!(
                "  {}  {:<20} {:<24} raw={:<3} {} — {}",
                event["local_time"].as_str().unwrap_or("?"),
                event["status"].as_str().unwrap_or("?"),
                event["sub_status"].as_str().unwrap_or("-"),
                event["raw_code"].as_str().unwrap_or("?"),
                event["description"].as_str().unwrap_or(""),
                event["location"].as_str().unwrap_or(""),
            );
        }
    }

    println!("\n=== pushes the mall received (Standard Webhooks signatures verified) ===");
    let receipts = mall.receipts();
    for receipt in &receipts {
        println!(
            "  {} seq={} {:<20} {} signature={} answered={}",
            receipt.webhook_id,
            receipt.sequence,
            receipt.status,
            receipt.tracking_number,
            if receipt.signature_ok {
                "valid"
            } else {
                "INVALID"
            },
            receipt.answered
        );
    }
    let retried = receipts.iter().filter(|r| r.answered == 500).count();
    let accepted: std::collections::BTreeSet<_> = receipts
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.webhook_id.clone())
        .collect();
    println!(
        "\n{} pushes accepted by the mall; {retried} failed call(s) were retried with backoff.",
        accepted.len()
    );
    if receipts.iter().any(|r| !r.signature_ok) {
        bail!("a push arrived with an invalid signature");
    }
    for (id, (number, _)) in ids.iter().zip(parcels) {
        let status = demo.status_of(id).await?;
        if status != "delivered" {
            bail!("{number} ended as {status}, not delivered");
        }
    }
    running.stop().await;
    println!("demo finished: every parcel delivered, every status change pushed and verified.");
    Ok(())
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
