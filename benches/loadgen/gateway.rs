//! The gateway under test: the real `trackgate serve` binary in its own process, configured
//! through environment variables (as in production), on a scratch database; and the process's
//! resident memory, sampled while it works.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Gateway {
    child: Child,
    pub base: String,
}

impl Gateway {
    pub async fn spawn(env: &[(String, String)]) -> anyhow::Result<Gateway> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Self::spawn_at(port, env).await
    }

    /// Start the gateway on `port` (again, after a kill) and wait until it is ready.
    pub async fn spawn_at(port: u16, env: &[(String, String)]) -> anyhow::Result<Gateway> {
        // TRACKGATE_BENCH_BINARY runs another build (e.g. an older commit) for before/after.
        let binary = std::env::var("TRACKGATE_BENCH_BINARY")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_trackgate").to_owned());
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("TRACKGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("TRACKGATE__POLL__ENABLED", "false")
            .env("TRACKGATE__LOG__FILTER", "warn")
            .stdout(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn()?;
        let gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(response) = http.get(format!("{}/readyz", gateway.base)).send().await
                && response.status().is_success()
            {
                return Ok(gateway);
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the gateway did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies wherever it is.
    #[allow(dead_code)] // the fault harness's
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (graceful stop, as in production).
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Sample a process's RSS every 100 ms until dropped; keeps the maximum and the last value.
pub struct RssSampler {
    pub max_kib: Arc<AtomicU64>,
    pub last_kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let (max_kib, last_kib) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (max, last) = (max_kib.clone(), last_kib.clone());
        let task = tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid) {
                    max.fetch_max(kib, Ordering::Relaxed);
                    last.store(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        RssSampler {
            max_kib,
            last_kib,
            task,
        }
    }

    pub fn max_mib(&self) -> f64 {
        self.max_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }

    pub fn last_mib(&self) -> f64 {
        self.last_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}
