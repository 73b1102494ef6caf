//! Whether the gateway's background work is making progress, for `/readyz`.
//!
//! Each part (queue workers, the outbox relay, the broker consumer, webhook ingest) reports
//! `ok` when it gets work done and `failed` when it cannot. A part failing without a success in
//! between for longer than the grace period makes `/readyz` answer 503 and say which part and
//! why — a gateway that accepts webhooks but delivers nothing must not look healthy. A part
//! that recovers clears itself with its next success.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The parts that report.
pub mod part {
    pub const QUEUE_WORKERS: &str = "queue workers";
    pub const OUTBOX_RELAY: &str = "outbox relay";
    pub const QUEUE_CONSUMER: &str = "queue consumer";
    pub const WEBHOOK_INGEST: &str = "webhook ingest";
}

#[derive(Debug, Clone)]
struct Failing {
    since: Instant,
    failures: u64,
    last_error: String,
}

/// One part failing for longer than the grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub part: &'static str,
    pub failing_for: Duration,
    pub failures: u64,
    pub last_error: String,
}

#[derive(Clone, Debug, Default)]
pub struct Health {
    failing: Arc<Mutex<BTreeMap<&'static str, Failing>>>,
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// `part` got work done: whatever failed before is over.
    pub fn ok(&self, part: &'static str) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if !failing.is_empty() {
            failing.remove(part);
        }
    }

    /// `part` could not get work done.
    pub fn failed(&self, part: &'static str, error: &dyn Display) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failing.entry(part).or_insert_with(|| Failing {
            since: Instant::now(),
            failures: 0,
            last_error: String::new(),
        });
        entry.failures += 1;
        entry.last_error = error.to_string();
    }

    /// The parts failing for longer than `grace`, without a success in between.
    pub fn problems(&self, grace: Duration) -> Vec<Problem> {
        let failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        failing
            .iter()
            .filter(|(_, f)| f.since.elapsed() >= grace)
            .map(|(part, f)| Problem {
                part,
                failing_for: f.since.elapsed(),
                failures: f.failures,
                last_error: f.last_error.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_a_problem_only_after_the_grace_period_and_until_it_succeeds() {
        let health = Health::new();
        health.failed(part::QUEUE_WORKERS, &"database is down");
        assert!(health.problems(Duration::from_secs(60)).is_empty());
        let problems = health.problems(Duration::ZERO);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].part, "queue workers");
        assert_eq!(problems[0].last_error, "database is down");
        health.failed(part::QUEUE_WORKERS, &"still down");
        assert_eq!(health.problems(Duration::ZERO)[0].failures, 2);
        health.ok(part::QUEUE_WORKERS);
        assert!(health.problems(Duration::ZERO).is_empty());
    }
}
