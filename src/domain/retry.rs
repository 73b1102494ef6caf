//! The retry delay: one pure function, tested without a clock.
//!
//! Attempt n (1-based) that failed waits `initial * 2^(n-1)`, capped at `max`, then ±20% jitter.
//! Rate limiting (429), 503 and timeouts wait at least five initial delays (the peer is
//! overloaded; hammering it helps nobody). A `Retry-After` raises the wait to what the peer asked,
//! capped at `max`. `410 Gone` stops for good; after `max_attempts` failures the call is a
//! dead letter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[retry]`: how failed pushes and polls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Attempts in all; the last failed one makes the call a dead letter.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based) before jitter, floors and
    /// `Retry-After`: `initial * 2^(attempt-1)`, capped at `max`.
    pub fn scheduled_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        Duration::from_millis(self.initial_delay_ms)
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(Duration::from_millis(self.max_delay_ms))
    }
}

/// How an outbound call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Status(u16),
    Timeout,
    Connect,
    Other,
}

impl Failure {
    /// Classify a transport error (no HTTP status was received): the HTTP client says whether
    /// it timed out or could not connect.
    pub fn transport(timed_out: bool, could_not_connect: bool) -> Failure {
        if timed_out {
            Failure::Timeout
        } else if could_not_connect {
            Failure::Connect
        } else {
            Failure::Other
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    DeadLetter,
    /// The peer said the resource is gone (410): stop without a dead letter.
    Stop,
}

/// Decide what follows failed attempt `attempt` (1-based). `jitter` is in [-1, 1].
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    failure: Failure,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Decision {
    if failure == Failure::Status(410) {
        return Decision::Stop;
    }
    if attempt >= policy.max_attempts {
        return Decision::DeadLetter;
    }
    let max = Duration::from_millis(policy.max_delay_ms);
    let initial = Duration::from_millis(policy.initial_delay_ms);
    let scheduled = policy.scheduled_delay(attempt);
    let jittered = scheduled.mul_f64((1.0 + 0.2 * jitter.clamp(-1.0, 1.0)).max(0.0));
    let floor = match failure {
        Failure::Status(429) | Failure::Status(503) | Failure::Timeout => initial.saturating_mul(5),
        _ => Duration::ZERO,
    };
    let wanted = jittered
        .max(floor)
        .max(retry_after.unwrap_or(Duration::ZERO));
    Decision::RetryAfter(wanted.min(max))
}

/// The wait before a task runs again after our own infrastructure (the database, the broker)
/// failed it: 1 s doubling with each try to at most 30 s, ±20 % jitter. Short, because the task
/// itself is fine and should go as soon as the fault is over; capped, so a long outage does not
/// push work far into the future. `tries` is the task's attempt count so far.
pub fn stall_delay(tries: u32, jitter: f64) -> Duration {
    let base = Duration::from_secs(1u64 << tries.min(5)).min(Duration::from_secs(30));
    base.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0))
}

/// Parse `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&chrono::Utc) - now)
        .to_std()
        .ok()
        .or(Some(Duration::ZERO))
}

/// Fresh jitter in [-1, 1].
pub fn random_jitter() -> f64 {
    rand::random_range(-1.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        initial_delay_ms: 1000,
        max_delay_ms: 60_000,
        max_attempts: 5,
    };

    fn delay(decision: Decision) -> Duration {
        match decision {
            Decision::RetryAfter(d) => d,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn delays_double_from_the_initial_delay() {
        let s = |n| delay(decide(&POLICY, n, Failure::Status(500), None, 0.0)).as_millis();
        assert_eq!([s(1), s(2), s(3), s(4)], [1000, 2000, 4000, 8000]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(
            delay(decide(&POLICY, 2, Failure::Connect, None, 1.0)).as_millis(),
            2400
        );
        assert_eq!(
            delay(decide(&POLICY, 2, Failure::Connect, None, -1.0)).as_millis(),
            1600
        );
    }

    #[test]
    fn delays_are_capped_at_the_maximum() {
        let policy = RetryPolicy {
            max_attempts: 50,
            ..POLICY
        };
        assert_eq!(
            delay(decide(&policy, 30, Failure::Other, None, 1.0)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_raises_the_delay_but_not_past_the_maximum() {
        let d = delay(decide(
            &POLICY,
            1,
            Failure::Status(429),
            Some(Duration::from_secs(30)),
            0.0,
        ));
        assert_eq!(d, Duration::from_secs(30));
        let d = delay(decide(
            &POLICY,
            1,
            Failure::Status(503),
            Some(Duration::from_secs(600)),
            0.0,
        ));
        assert_eq!(d, Duration::from_secs(60));
    }

    #[test]
    fn rate_limits_and_timeouts_wait_at_least_five_initial_delays() {
        assert_eq!(
            delay(decide(&POLICY, 1, Failure::Status(429), None, 0.0)),
            Duration::from_secs(5)
        );
        assert_eq!(
            delay(decide(&POLICY, 1, Failure::Timeout, None, 0.0)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn gone_stops_and_the_last_attempt_dead_letters() {
        assert_eq!(
            decide(&POLICY, 1, Failure::Status(410), None, 0.0),
            Decision::Stop
        );
        assert_eq!(
            decide(&POLICY, 5, Failure::Status(500), None, 0.0),
            Decision::DeadLetter
        );
    }

    #[test]
    fn stalled_tasks_come_back_within_half_a_minute() {
        let delays: Vec<u64> = (0..8).map(|n| stall_delay(n, 0.0).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(stall_delay(0, 1.0), Duration::from_millis(1200));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
