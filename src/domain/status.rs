//! The shipment status rule: a pure function of the set of a shipment's events.
//!
//! Events are ordered by the key (occurred_at, terminal first-or-last, rank, dedupe key) and the
//! greatest event with a known status decides the shipment's status and sub-status. Because the
//! result is the maximum of a set under a total order, it cannot depend on arrival order or on
//! duplicates: that is the whole argument for idempotency. Terminal statuses (`delivered`,
//! `returned`, `cancelled`) sort after non-terminal ones at the same instant, so they yield only
//! to a strictly later event. `unknown` events stay in the timeline but never move the status
//! unless no event is known at all; a shipment with no events is `pending`.

use chrono::{DateTime, Utc};
use trackgate_carriers::Status;

/// The facts about one event that the rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts<'a> {
    pub occurred_at: DateTime<Utc>,
    pub status: Status,
    pub sub_status: Option<&'a str>,
    pub raw_code: &'a str,
    pub dedupe_key: &'a str,
}

/// A shipment's derived state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedStatus {
    pub status: Status,
    pub sub_status: Option<String>,
    pub raw_code: Option<String>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

fn order_key<'a>(event: &EventFacts<'a>) -> (DateTime<Utc>, bool, u8, &'a str) {
    (
        event.occurred_at,
        event.status.is_terminal(),
        event.status.rank(),
        event.dedupe_key,
    )
}

/// Derive a shipment's status from its events, in any order and with any duplicates.
pub fn derive_status<'a>(events: impl IntoIterator<Item = EventFacts<'a>>) -> DerivedStatus {
    let mut winner: Option<EventFacts<'a>> = None;
    let mut newest_unknown: Option<EventFacts<'a>> = None;
    let mut last_event_at: Option<DateTime<Utc>> = None;
    for event in events {
        last_event_at = last_event_at.max(Some(event.occurred_at));
        let slot = if event.status == Status::Unknown {
            &mut newest_unknown
        } else {
            &mut winner
        };
        if slot
            .as_ref()
            .is_none_or(|current| order_key(&event) > order_key(current))
        {
            *slot = Some(event);
        }
    }
    match winner.or(newest_unknown) {
        None => DerivedStatus {
            status: Status::Pending,
            sub_status: None,
            raw_code: None,
            last_event_at: None,
            delivered_at: None,
        },
        Some(event) => DerivedStatus {
            status: event.status,
            sub_status: event.sub_status.map(str::to_owned),
            raw_code: Some(event.raw_code.to_owned()),
            last_event_at,
            delivered_at: (event.status == Status::Delivered).then_some(event.occurred_at),
        },
    }
}

/// The timeline order: oldest first, ties broken exactly as the status rule breaks them.
pub fn timeline_cmp(a: &EventFacts<'_>, b: &EventFacts<'_>) -> std::cmp::Ordering {
    order_key(a).cmp(&order_key(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 8, minute, 0).unwrap()
    }

    fn facts(minute: u32, status: Status, key: &'static str) -> EventFacts<'static> {
        EventFacts {
            occurred_at: at(minute),
            status,
            sub_status: None,
            raw_code: "X",
            dedupe_key: key,
        }
    }

    #[test]
    fn no_events_is_pending() {
        assert_eq!(derive_status([]).status, Status::Pending);
    }

    #[test]
    fn a_late_arriving_older_event_does_not_move_the_status_back() {
        let derived = derive_status([
            facts(30, Status::OutForDelivery, "b"),
            facts(10, Status::InTransit, "a"),
        ]);
        assert_eq!(derived.status, Status::OutForDelivery);
        assert_eq!(derived.last_event_at, Some(at(30)));
    }

    #[test]
    fn delivered_yields_only_to_a_strictly_later_event() {
        let same_time = derive_status([
            facts(30, Status::Delivered, "a"),
            facts(30, Status::InTransit, "z"),
        ]);
        assert_eq!(same_time.status, Status::Delivered);
        assert_eq!(same_time.delivered_at, Some(at(30)));
        let later = derive_status([
            facts(30, Status::Delivered, "a"),
            facts(31, Status::Returning, "b"),
        ]);
        assert_eq!(later.status, Status::Returning);
        assert_eq!(later.delivered_at, None);
    }

    #[test]
    fn unknown_events_do_not_override_a_known_status() {
        let derived = derive_status([
            facts(10, Status::InTransit, "a"),
            facts(20, Status::Unknown, "b"),
        ]);
        assert_eq!(derived.status, Status::InTransit);
        assert_eq!(derived.last_event_at, Some(at(20)));
        assert_eq!(
            derive_status([facts(20, Status::Unknown, "b")]).status,
            Status::Unknown
        );
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    proptest! {
        /// Any permutation of any multiset drawn from one event set gives the same status and
        /// the same timeline: the rule is a function of the set.
        #[test]
        fn status_and_timeline_depend_only_on_the_set_of_events(
            raw in proptest::collection::vec((0u32..6, arb_status()), 1..12),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..30),
            seed in any::<u64>(),
        ) {
            let keys: Vec<String> = (0..raw.len()).map(|i| format!("k{i}")).collect();
            let events: Vec<EventFacts> = raw.iter().zip(&keys)
                .map(|((minute, status), key)| EventFacts {
                    occurred_at: at(*minute), status: *status, sub_status: None,
                    raw_code: "X", dedupe_key: key,
                })
                .collect();
            // The same events, plus duplicates, shuffled.
            let mut fed = events.clone();
            fed.extend(picks.iter().map(|i| events[i.index(events.len())].clone()));
            let mut state = seed;
            for i in (1..fed.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                fed.swap(i, (state >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(derive_status(events.clone()), derive_status(fed.clone()));

            let timeline = |list: &[EventFacts]| {
                let mut unique: Vec<EventFacts> = Vec::new();
                for e in list { if !unique.iter().any(|u| u.dedupe_key == e.dedupe_key) { unique.push(e.clone()); } }
                unique.sort_by(timeline_cmp);
                unique.into_iter().map(|e| e.dedupe_key.to_owned()).collect::<Vec<_>>()
            };
            prop_assert_eq!(timeline(&events), timeline(&fed));
        }

        /// A terminal status never gives way to an event at the same instant or earlier.
        #[test]
        fn terminal_status_holds_against_events_not_strictly_later(
            terminal in proptest::sample::select(vec![Status::Delivered, Status::Returned, Status::Cancelled]),
            others in proptest::collection::vec((0u32..=30, arb_status()), 0..8),
        ) {
            let keys: Vec<String> = (0..others.len()).map(|i| format!("o{i}")).collect();
            let mut events = vec![facts(30, terminal, "t")];
            events.extend(others.iter().zip(&keys).filter(|((_, s), _)| !s.is_terminal()).map(|((m, s), k)| EventFacts {
                occurred_at: at(*m), status: *s, sub_status: None, raw_code: "X", dedupe_key: k,
            }));
            prop_assert_eq!(derive_status(events).status, terminal);
        }
    }
}
