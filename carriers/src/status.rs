//! The normalized status vocabulary: exactly fourteen values every carrier maps onto.
//!
//! The vocabulary is a contract with the mall (it appears in every push) and with the store, so the
//! string forms never change. `rank` orders statuses by how far along a parcel is; it only breaks
//! ties between events that carry the same instant, never overrides event time.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A normalized shipment or event status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InfoReceived,
    PickedUp,
    InTransit,
    OutForDelivery,
    AvailableForPickup,
    FailedAttempt,
    Exception,
    Returning,
    Returned,
    Delivered,
    Cancelled,
    Expired,
    Unknown,
}

impl Status {
    /// Every value, in vocabulary order.
    pub const ALL: [Status; 14] = [
        Status::Pending,
        Status::InfoReceived,
        Status::PickedUp,
        Status::InTransit,
        Status::OutForDelivery,
        Status::AvailableForPickup,
        Status::FailedAttempt,
        Status::Exception,
        Status::Returning,
        Status::Returned,
        Status::Delivered,
        Status::Cancelled,
        Status::Expired,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InfoReceived => "info_received",
            Status::PickedUp => "picked_up",
            Status::InTransit => "in_transit",
            Status::OutForDelivery => "out_for_delivery",
            Status::AvailableForPickup => "available_for_pickup",
            Status::FailedAttempt => "failed_attempt",
            Status::Exception => "exception",
            Status::Returning => "returning",
            Status::Returned => "returned",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::Unknown => "unknown",
        }
    }

    /// `delivered`, `returned` and `cancelled` end a shipment's life: only a strictly later event
    /// may move a shipment out of them (a redelivery after a mistaken scan, say).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Delivered | Status::Returned | Status::Cancelled
        )
    }

    /// Progress rank used only to order events that share one instant; terminal statuses rank
    /// highest so that, at equal time, they win.
    pub fn rank(self) -> u8 {
        match self {
            Status::Unknown => 0,
            Status::Pending => 1,
            Status::InfoReceived => 2,
            Status::PickedUp => 3,
            Status::InTransit => 4,
            Status::Exception => 5,
            Status::FailedAttempt => 6,
            Status::OutForDelivery => 7,
            Status::AvailableForPickup => 8,
            Status::Returning => 9,
            Status::Expired => 10,
            Status::Cancelled => 11,
            Status::Returned => 12,
            Status::Delivered => 13,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of the fourteen vocabulary values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a trackgate status (expected one of pending, info_received, picked_up, in_transit, out_for_delivery, available_for_pickup, failed_attempt, exception, returning, returned, delivered, cancelled, expired, unknown)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_string() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("shipped".parse::<Status>().is_err());
    }

    #[test]
    fn only_delivered_returned_and_cancelled_are_terminal() {
        let terminal: Vec<_> = Status::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [Status::Returned, Status::Delivered, Status::Cancelled]
        );
    }
}
