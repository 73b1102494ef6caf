//! When to poll a shipment next: a pure function of its status, how many polls in a row changed
//! nothing, whether its carrier is pushing updates for it, and the carrier's policy.
//!
//! The interval follows the status (a parcel out for delivery changes by the hour, one with a
//! label only by the day), doubles with every poll that changed nothing (up to a ceiling), is
//! stretched to a long safety-net interval while the carrier is pushing webhooks, and gets ±10 %
//! jitter so polls registered together do not stay synchronized. A terminal status gets one
//! grace poll (carriers sometimes correct a "delivered" within the hour) and then none; a
//! shipment without news for `expire_after_days` expires.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use trackgate_carriers::Status;

/// A carrier instance's polling policy (defaults in `[poll.schedule]`, overrides in
/// `[carriers.<id>.schedule]`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollPolicy {
    /// pending, info_received.
    pub info_received_secs: u64,
    /// picked_up, in_transit.
    pub in_transit_secs: u64,
    /// out_for_delivery, available_for_pickup.
    pub out_for_delivery_secs: u64,
    /// exception, failed_attempt, returning, unknown.
    pub exception_secs: u64,
    /// The ceiling of the exponential slow-down.
    pub max_interval_secs: u64,
    /// The one poll after a terminal status.
    pub terminal_grace_secs: u64,
    /// While the carrier pushes webhooks for a shipment, polls are only a safety net.
    pub webhook_safety_net_secs: u64,
    /// No update for this long: the shipment expires and the mall is told.
    pub expire_after_days: u64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            info_received_secs: 6 * 3600,
            in_transit_secs: 2 * 3600,
            out_for_delivery_secs: 20 * 60,
            exception_secs: 3600,
            max_interval_secs: 24 * 3600,
            terminal_grace_secs: 3600,
            webhook_safety_net_secs: 24 * 3600,
            expire_after_days: 30,
        }
    }
}

/// A carrier instance's changes to the default policy; absent keys keep the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info_received_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_transit_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_for_delivery_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_grace_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_safety_net_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_after_days: Option<u64>,
}

impl PolicyOverrides {
    pub fn apply(&self, base: PollPolicy) -> PollPolicy {
        PollPolicy {
            info_received_secs: self.info_received_secs.unwrap_or(base.info_received_secs),
            in_transit_secs: self.in_transit_secs.unwrap_or(base.in_transit_secs),
            out_for_delivery_secs: self
                .out_for_delivery_secs
                .unwrap_or(base.out_for_delivery_secs),
            exception_secs: self.exception_secs.unwrap_or(base.exception_secs),
            max_interval_secs: self.max_interval_secs.unwrap_or(base.max_interval_secs),
            terminal_grace_secs: self.terminal_grace_secs.unwrap_or(base.terminal_grace_secs),
            webhook_safety_net_secs: self
                .webhook_safety_net_secs
                .unwrap_or(base.webhook_safety_net_secs),
            expire_after_days: self.expire_after_days.unwrap_or(base.expire_after_days),
        }
    }
}

/// What the schedule needs to know about a shipment after a poll.
#[derive(Debug, Clone, Copy)]
pub struct PollFacts {
    pub status: Status,
    /// Polls in a row that brought no new event.
    pub unchanged_polls: i32,
    pub grace_polled: bool,
    /// The newest event, or the registration when that is later.
    pub last_activity_at: DateTime<Utc>,
    /// The newest event that came by webhook.
    pub last_webhook_at: Option<DateTime<Utc>>,
}

/// The decision for one shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// `None`: poll no more.
    pub next_poll_at: Option<DateTime<Utc>>,
    pub grace_polled: bool,
    /// The shipment has been silent too long: mark it `expired` (and tell the mall).
    pub expire: bool,
}

impl PollPolicy {
    fn base_interval(&self, status: Status) -> u64 {
        match status {
            Status::Pending | Status::InfoReceived => self.info_received_secs,
            Status::PickedUp | Status::InTransit => self.in_transit_secs,
            Status::OutForDelivery | Status::AvailableForPickup => self.out_for_delivery_secs,
            _ => self.exception_secs,
        }
    }

    /// Plan the next poll; `jitter` in [-1, 1] scales the ±10 % spread (tests pass 0).
    pub fn plan(&self, facts: PollFacts, now: DateTime<Utc>, jitter: f64) -> Plan {
        if facts.status == Status::Expired {
            return Plan {
                next_poll_at: None,
                grace_polled: facts.grace_polled,
                expire: false,
            };
        }
        if facts.status.is_terminal() {
            return Plan {
                next_poll_at: (!facts.grace_polled)
                    .then(|| now + Duration::seconds(self.terminal_grace_secs as i64)),
                grace_polled: true,
                expire: false,
            };
        }
        let silence = now - facts.last_activity_at;
        if silence > Duration::days(self.expire_after_days as i64) {
            return Plan {
                next_poll_at: None,
                grace_polled: facts.grace_polled,
                expire: true,
            };
        }
        let doublings = facts.unchanged_polls.clamp(0, 16) as u32;
        let mut seconds = self
            .base_interval(facts.status)
            .saturating_mul(1u64 << doublings)
            .min(self.max_interval_secs.max(1));
        let pushing = facts.last_webhook_at.is_some_and(|at| {
            now - at < Duration::seconds(self.webhook_safety_net_secs as i64 * 2)
        });
        if pushing {
            seconds = seconds.max(self.webhook_safety_net_secs);
        }
        let spread = seconds as f64 * 0.1 * jitter.clamp(-1.0, 1.0);
        let seconds = (seconds as f64 + spread).max(1.0) as i64;
        Plan {
            next_poll_at: Some(now + Duration::seconds(seconds)),
            grace_polled: false,
            expire: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn facts(status: Status, unchanged: i32) -> PollFacts {
        PollFacts {
            status,
            unchanged_polls: unchanged,
            grace_polled: false,
            last_activity_at: now() - Duration::hours(1),
            last_webhook_at: None,
        }
    }

    fn gap(plan: Plan) -> i64 {
        (plan.next_poll_at.unwrap() - now()).num_seconds()
    }

    #[test]
    fn the_interval_follows_the_status_and_doubles_while_nothing_changes() {
        let policy = PollPolicy::default();
        assert_eq!(
            gap(policy.plan(facts(Status::OutForDelivery, 0), now(), 0.0)),
            1200
        );
        assert_eq!(
            gap(policy.plan(facts(Status::InTransit, 0), now(), 0.0)),
            7200
        );
        assert_eq!(
            gap(policy.plan(facts(Status::InTransit, 1), now(), 0.0)),
            14400
        );
        assert_eq!(
            gap(policy.plan(facts(Status::InTransit, 9), now(), 0.0)),
            86400,
            "capped"
        );
        assert_eq!(
            gap(policy.plan(facts(Status::InfoReceived, 0), now(), 0.0)),
            21600
        );
    }

    #[test]
    fn jitter_spreads_by_at_most_ten_percent() {
        let policy = PollPolicy::default();
        let early = gap(policy.plan(facts(Status::InTransit, 0), now(), -1.0));
        let late = gap(policy.plan(facts(Status::InTransit, 0), now(), 1.0));
        assert_eq!((early, late), (6480, 7920));
    }

    #[test]
    fn a_terminal_status_gets_one_grace_poll_then_none() {
        let policy = PollPolicy::default();
        let first = policy.plan(facts(Status::Delivered, 0), now(), 0.0);
        assert_eq!(gap(first), 3600);
        assert!(first.grace_polled);
        let after = PollFacts {
            grace_polled: true,
            ..facts(Status::Delivered, 0)
        };
        assert_eq!(policy.plan(after, now(), 0.0).next_poll_at, None);
    }

    #[test]
    fn webhook_carriers_are_polled_as_a_safety_net_until_pushes_stop() {
        let policy = PollPolicy::default();
        let pushing = PollFacts {
            last_webhook_at: Some(now() - Duration::hours(3)),
            ..facts(Status::OutForDelivery, 0)
        };
        assert_eq!(gap(policy.plan(pushing, now(), 0.0)), 86400);
        let stopped = PollFacts {
            last_webhook_at: Some(now() - Duration::days(3)),
            ..pushing
        };
        assert_eq!(gap(policy.plan(stopped, now(), 0.0)), 1200);
    }

    #[test]
    fn a_silent_shipment_expires() {
        let policy = PollPolicy::default();
        let silent = PollFacts {
            last_activity_at: now() - Duration::days(31),
            ..facts(Status::InTransit, 5)
        };
        let plan = policy.plan(silent, now(), 0.0);
        assert!(plan.expire);
        assert_eq!(plan.next_poll_at, None);
    }
}
