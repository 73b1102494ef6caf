//! Driving HTTP load: flat out (a fixed number of connections, each sending as soon as its
//! previous request is answered) or at a fixed rate (open loop: each request has a scheduled
//! time, and latency counts from that time, so a stalled server cannot hide its queueing —
//! no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// What to send as request `i`, and what to note when it leaves.
pub trait Source: Send + Sync + 'static {
    fn len(&self) -> usize;
    fn request(&self, i: usize) -> (String, Vec<u8>);
    /// GET instead of POST (the body is then ignored).
    fn get(&self) -> bool {
        false
    }
    fn sent(&self, _i: usize, _micros: u64) {}
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latency of each answered request, µs.
    pub latencies: Vec<u32>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

pub fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Send every request of `source`; `rate` 0 means flat out over `connections` connections.
/// `content_type` and `headers` go on every request.
pub async fn run(
    client: &reqwest::Client,
    source: Arc<dyn Source>,
    connections: usize,
    rate: f64,
    started: Instant,
    headers: &[(&'static str, String)],
    limit: Option<Duration>,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let begin = Instant::now();
    let headers: Arc<Vec<(&'static str, String)>> = Arc::new(headers.to_vec());
    let mut tasks = Vec::new();
    if rate <= 0.0 {
        for _ in 0..connections {
            let (client, source, next, headers) = (
                client.clone(),
                source.clone(),
                next.clone(),
                headers.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut outcome = Outcome::default();
                loop {
                    if limit.is_some_and(|l| begin.elapsed() >= l) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= source.len() {
                        break;
                    }
                    let sent = Instant::now();
                    send(&client, &*source, i, &headers, started, sent, &mut outcome).await;
                }
                outcome
            }));
        }
    } else {
        let in_flight = Arc::new(Semaphore::new(connections.max(1) * 16));
        let interval = Duration::from_secs_f64(1.0 / rate);
        let total = source.len();
        let mut i = 0;
        while i < total && limit.is_none_or(|l| begin.elapsed() < l) {
            let scheduled = begin + interval * i as u32;
            tokio::time::sleep_until(scheduled.into()).await;
            let permit = in_flight.clone().acquire_owned().await.expect("open");
            let (client, source, headers) = (client.clone(), source.clone(), headers.clone());
            tasks.push(tokio::spawn(async move {
                let mut outcome = Outcome::default();
                send(
                    &client,
                    &*source,
                    i,
                    &headers,
                    started,
                    scheduled,
                    &mut outcome,
                )
                .await;
                drop(permit);
                outcome
            }));
            i += 1;
        }
    }
    let mut total = Outcome::default();
    for task in tasks {
        let outcome = task.await.expect("sender task");
        total.ok += outcome.ok;
        total.failed += outcome.failed;
        if total.first_error.is_none() {
            total.first_error = outcome.first_error;
        }
        total.latencies.extend(outcome.latencies);
    }
    total.elapsed = begin.elapsed();
    total
}

async fn send(
    client: &reqwest::Client,
    source: &dyn Source,
    i: usize,
    headers: &[(&'static str, String)],
    started: Instant,
    since: Instant,
    outcome: &mut Outcome,
) {
    let (url, body) = source.request(i);
    let mut request = if source.get() {
        client.get(url)
    } else {
        client.post(url).body(body)
    };
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    source.sent(i, started.elapsed().as_micros() as u64);
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            let _ = response.bytes().await;
            outcome.ok += 1;
            outcome.latencies.push(since.elapsed().as_micros() as u32);
        }
        Ok(response) => {
            outcome.failed += 1;
            if outcome.first_error.is_none() {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                outcome.first_error = Some(format!("{status}: {text}"));
            }
        }
        Err(err) => {
            outcome.failed += 1;
            outcome.first_error.get_or_insert_with(|| err.to_string());
        }
    }
}

/// Percentile `p` (0–100) of sorted µs values, in ms.
pub fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}
