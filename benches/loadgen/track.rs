//! The support-lookup run: `GET /v1/track/{n}` against a PostgreSQL store holding
//! `--track-shipments` shipments (two events each), next to pgbench's key lookup on the same
//! table in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sea_orm::ConnectionTrait;
use trackgate::store::states::Scope;

use crate::drive::{self, Source, percentile_ms};
use crate::gateway::{Gateway, RssSampler};
use crate::{Args, Scratch, ceilings, gateway_env, machine};

struct Lookups {
    base: String,
    shipments: u64,
}

impl Source for Lookups {
    fn len(&self) -> usize {
        usize::MAX
    }
    fn request(&self, _i: usize) -> (String, Vec<u8>) {
        let n = rand::rng().random_range(1..=self.shipments);
        (format!("{}/v1/track/TRK{n:09}", self.base), Vec::new())
    }
    fn get(&self) -> bool {
        true
    }
}

pub async fn run(args: &Args, scratch: &Scratch) -> anyhow::Result<bool> {
    let store = scratch.store().await?;
    let n = args.track_shipments;
    let loading = Instant::now();
    load(store.conn(), n).await?;
    let loaded = loading.elapsed();
    let key = store
        .create_api_key(Scope::Support, Some("loadgen".into()))
        .await?;
    let gateway = spawn_gateway(args, scratch).await?;
    println!(
        "# trackgate support lookups: PostgreSQL, {n} shipments × 2 events, {}",
        machine()
    );
    println!(
        "loaded in {:.1} s; {} connections, {} s per phase, the per-key rate limit lifted\n",
        loaded.as_secs_f64(),
        args.connections,
        args.seconds
    );
    let (pg_lookup, pg_same_work) = pgbench_ceilings(args, scratch, n)?;
    let rss = RssSampler::start(gateway.pid());
    let source = Arc::new(Lookups {
        base: gateway.base.clone(),
        shipments: n,
    });
    let headers = [("authorization", format!("Bearer {}", key.token))];
    let mut outcome = drive::run(
        &drive::client(args.connections),
        source,
        args.connections,
        0.0,
        Instant::now(),
        &headers,
        Some(Duration::from_secs(args.seconds)),
    )
    .await;
    outcome.latencies.sort_unstable();
    report(&outcome, pg_lookup, pg_same_work, &rss);
    let passed = outcome.failed == 0;
    gateway.stop();
    Ok(passed)
}

/// `n` shipments with two events each, straight into PostgreSQL.
async fn load(db: &sea_orm::DatabaseConnection, n: u64) -> anyhow::Result<()> {
    db.execute_unprepared(&format!(
        "INSERT INTO shipments (id, carrier_id, carrier_kind, tracking_number, order_id, status, \
           tracking, push_seq, created_at, updated_at, poll_priority, unchanged_polls, grace_polled) \
         SELECT 'shp_trk_' || g, 'sandbox', 'sandbox', 'TRK' || lpad(g::text, 9, '0'), 'ORD-' || g, \
           'in_transit', true, 2, now(), now(), 0, 0, false \
         FROM generate_series(1, {n}) g"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "INSERT INTO tracking_events (shipment_id, dedupe_key, occurred_at, utc_offset_seconds, \
           offset_inferred, status, sub_status, raw_code, description, location, source, received_at) \
         SELECT 'shp_trk_' || g, 'key-' || e, now() - (3 - e) * interval '1 hour', 3600, false, \
           CASE e WHEN 1 THEN 'picked_up' ELSE 'in_transit' END, NULL, CASE e WHEN 1 THEN 'PU' ELSE 'IT' END, \
           'Scan at the hub', 'Berlin, DE', 'webhook', now() \
         FROM generate_series(1, {n}) g, generate_series(1, 2) e"
    ))
    .await?;
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

async fn spawn_gateway(args: &Args, scratch: &Scratch) -> anyhow::Result<Gateway> {
    let prefix = format!("tg_bench_{}", std::process::id());
    let mut env = gateway_env(args, &scratch.url, &prefix);
    env.push(("TRACKGATE__QUEUE__KIND".into(), "embedded".into()));
    // The lookup path's capacity, not the per-key limit (1,000/s by default) that a mall's
    // one key would hit: every request here uses the same key.
    env.push(("TRACKGATE__SERVER__API_RATE_PER_SECOND".into(), "0".into()));
    env.push((
        "TRACKGATE__MALL__ENDPOINT".into(),
        "http://127.0.0.1:9/unused".into(),
    ));
    env.push((
        "TRACKGATE__MALL__SIGNING_SECRET".into(),
        "whsec_dW51c2VkLXNlY3JldC1mb3ItbG9va3Vwcw==".into(),
    ));
    Gateway::spawn(&env).await
}

/// pgbench's key lookup, and the same work as the lookup done as two SELECTs.
fn pgbench_ceilings(args: &Args, scratch: &Scratch, n: u64) -> anyhow::Result<(f64, f64)> {
    let lookup = "\\set n random(1, {N})\nSELECT * FROM shipments WHERE tracking_number = 'TRK' || lpad(:n::text, 9, '0');\n"
        .replace("{N}", &n.to_string());
    let pg_lookup = ceilings::pgbench(&scratch.url, &lookup, 16, args.seconds)?;
    let same_work = "\\set n random(1, {N})\nSELECT * FROM shipments WHERE tracking_number = 'TRK' || lpad(:n::text, 9, '0');\nSELECT * FROM tracking_events WHERE shipment_id = 'shp_trk_' || :n;\n"
        .replace("{N}", &n.to_string());
    let pg_same_work = ceilings::pgbench(&scratch.url, &same_work, 16, args.seconds)?;
    Ok((pg_lookup, pg_same_work))
}

fn report(outcome: &drive::Outcome, pg_lookup: f64, pg_same_work: f64, rss: &RssSampler) {
    let rate = outcome.rate();
    let lat = &outcome.latencies;
    println!("| figure | value |\n|---|---|");
    println!(
        "| `GET /v1/track/{{n}}` answered | **{rate:.0}/s** ({} ok, {} failed{}) |",
        outcome.ok,
        outcome.failed,
        outcome
            .first_error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    println!(
        "| latency p50 / p99 / p99.9 / max | {:.2} / {:.2} / {:.2} / {:.2} ms |",
        percentile_ms(lat, 50.0),
        percentile_ms(lat, 99.0),
        percentile_ms(lat, 99.9),
        percentile_ms(lat, 100.0)
    );
    println!(
        "| pgbench key lookup (1 SELECT by tracking number, 16 clients) | {pg_lookup:.0} tx/s |"
    );
    println!(
        "| pgbench, shipment and events as two SELECTs (the lookup makes one join) | {pg_same_work:.0} tx/s |"
    );
    println!(
        "| lookups / pgbench key lookup | **{:.1}%** |",
        rate / pg_lookup * 100.0
    );
    println!(
        "| lookups / pgbench shipment + events | {:.1}% |",
        rate / pg_same_work * 100.0
    );
    println!("| gateway RSS max | {:.1} MiB |", rss.max_mib());
}
