//! The carrier side of the fault harness: signed sandbox webhooks at a fixed rate, one new event
//! per webhook whose code moves the status every time (so every webhook is a push), with a share
//! sent twice and a share swapped with the next. A webhook not acknowledged is sent again a
//! second later to the next gateway, as a carrier behind a load balancer would, until it is
//! acknowledged or the run's deadline passes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

/// Codes that each move the status or sub-status away from the previous one.
pub const CODES: [&str; 6] = ["IT", "AR", "CC", "OD", "FA", "CD"];

pub fn number(shipment: usize) -> String {
    format!("FLT{shipment:06}")
}

/// The webhook for step `step` of `shipment`: one event, a minute after the previous one.
pub fn body(shipment: usize, step: usize, base: DateTime<Utc>) -> Vec<u8> {
    let time = base + chrono::Duration::minutes(step as i64);
    serde_json::json!({"shipments": [{"tracking_number": number(shipment), "events": [{
        "id": format!("e{step}"),
        "time": time.to_rfc3339(),
        "code": CODES[step % CODES.len()],
        "description": format!("step {step}"),
        "location": "Leipzig, DE",
    }]}]})
    .to_string()
    .into_bytes()
}

/// The order of sends: every shipment's steps round-robin, 10 % sent twice, 10 % swapped.
pub fn plan(shipments: usize, steps: usize) -> Vec<(usize, usize)> {
    let mut sends = Vec::with_capacity(shipments * steps * 11 / 10);
    for step in 0..steps {
        for shipment in 0..shipments {
            sends.push((shipment, step));
            if (shipment + step) % 10 == 3 {
                sends.push((shipment, step));
            }
        }
    }
    for i in (0..sends.len().saturating_sub(1)).step_by(10) {
        sends.swap(i, i + 1);
    }
    sends
}

/// What the carrier side saw.
#[derive(Debug, Default)]
pub struct Sent {
    /// (shipment, step) of every acknowledged webhook.
    pub acked: BTreeSet<(usize, usize)>,
    pub sends: u64,
    pub refusals: u64,
    pub never_acked: u64,
}

pub struct Driver {
    pub gateways: Vec<String>,
    pub secret: String,
    pub base: DateTime<Utc>,
    pub client: reqwest::Client,
}

impl Driver {
    /// Send `sends` at `rate` per second; retry refusals until `deadline`.
    pub async fn run(
        self: Arc<Self>,
        sends: Vec<(usize, usize)>,
        rate: f64,
        deadline: Instant,
    ) -> Sent {
        let sent = Arc::new(Mutex::new(Sent::default()));
        let next_gateway = Arc::new(AtomicUsize::new(0));
        let attempts = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(Semaphore::new(512));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (shipment, step)) in sends.into_iter().enumerate() {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            let permit = in_flight.clone().acquire_owned().await.expect("open");
            let (driver, sent, next_gateway, attempts) = (
                self.clone(),
                sent.clone(),
                next_gateway.clone(),
                attempts.clone(),
            );
            tasks.spawn(async move {
                let acked = driver
                    .deliver(shipment, step, &next_gateway, &attempts, &sent, deadline)
                    .await;
                let mut sent = sent.lock().unwrap();
                if acked {
                    sent.acked.insert((shipment, step));
                } else {
                    sent.never_acked += 1;
                }
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        let mut result = std::mem::take(&mut *sent.lock().unwrap());
        result.sends = attempts.load(Ordering::Relaxed);
        result
    }

    async fn deliver(
        &self,
        shipment: usize,
        step: usize,
        next_gateway: &AtomicUsize,
        attempts: &AtomicU64,
        sent: &Mutex<Sent>,
        deadline: Instant,
    ) -> bool {
        let body = body(shipment, step, self.base);
        let signature = trackgate::carriers::sandbox::sign(&self.secret, &body);
        loop {
            let gateway =
                &self.gateways[next_gateway.fetch_add(1, Ordering::Relaxed) % self.gateways.len()];
            attempts.fetch_add(1, Ordering::Relaxed);
            let answer = self
                .client
                .post(format!("{gateway}/webhooks/sandbox"))
                .header("content-type", "application/json")
                .header(trackgate::carriers::sandbox::SIGNATURE_HEADER, &signature)
                .body(body.clone())
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return true;
            }
            sent.lock().unwrap().refusals += 1;
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
