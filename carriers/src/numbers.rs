//! Tracking numbers as people type them, and the one spelling the gateway keeps.
//!
//! Numbers reach the gateway from customers, spreadsheets and carrier pages: `sf1400123456789`,
//! ` SF 1400 1234 5678 9 `, `1Z-999-AA1-01-2345-6784`. Each kind has one [`NumberRule`] (its
//! catalog line), applied on registration, on lookup and to every number a carrier payload
//! names, so that every spelling finds the same shipment. The rule only removes what cannot be
//! part of the number: whitespace always (no carrier prints a number with spaces inside it, they
//! group digits for reading), dashes only where the carrier's own format has none, and case
//! (no carrier distinguishes `sf…` from `SF…`).

use crate::ParseOutcome;

/// How a kind's numbers are written canonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberRule {
    /// Letters and digits only, upper-case: the carrier's numbers never contain a dash (UPS,
    /// FedEx, DHL, USPS, the postal services), so a dash is a reader's grouping.
    Compact,
    /// Upper-case without whitespace, dashes kept (as ASCII `-`): aggregators carry couriers whose numbers do
    /// contain dashes (JD Logistics' `JDVA00012345678-1-1` names one parcel of a shipment), and
    /// dropping them would ask for another number.
    KeepDashes,
}

impl NumberRule {
    /// `raw` in this rule's canonical spelling. Idempotent; an empty result means `raw` had no
    /// number in it.
    pub fn canonical(self, raw: &str) -> String {
        raw.chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .filter_map(|c| match (is_dash(c), self) {
                // A pasted en dash or full-width hyphen is the carrier's ASCII one.
                (true, NumberRule::KeepDashes) => Some('-'),
                (true, NumberRule::Compact) => None,
                (false, _) => Some(c),
            })
            .flat_map(char::to_uppercase)
            .collect()
    }

    /// Every number `outcome` names (updates, problems, stopped, unregistered) in this rule's
    /// spelling, so the gateway matches them to the shipments registered under it.
    pub fn canonicalize_outcome(self, outcome: &mut ParseOutcome) {
        for update in &mut outcome.updates {
            update.tracking_number = self.canonical(&update.tracking_number);
        }
        for problem in &mut outcome.problems {
            if let Some(number) = &mut problem.tracking_number {
                *number = self.canonical(number);
            }
        }
        for number in outcome
            .stopped
            .iter_mut()
            .chain(outcome.unregistered.iter_mut())
        {
            *number = self.canonical(number);
        }
    }
}

/// A hyphen as typed or pasted: ASCII, the Unicode hyphens and dashes, the full-width one.
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2212}'
            | '\u{FF0D}'
    )
}

#[cfg(test)]
mod tests {
    use super::NumberRule::{Compact, KeepDashes};
    use super::*;
    use crate::{Problem, TrackingUpdate};

    #[test]
    fn every_spelling_of_a_number_is_one() {
        for typed in [
            "SF1400123456789",
            "sf1400123456789",
            " SF 1400 1234 5678 9 ",
            "sf-1400-1234-5678-9",
            "SF\t1400123456789\n",
        ] {
            assert_eq!(Compact.canonical(typed), "SF1400123456789", "{typed:?}");
        }
        assert_eq!(
            Compact.canonical("1Z–999–AA1–01–2345–6784"),
            "1Z999AA10123456784"
        );
        assert_eq!(
            Compact.canonical("1Z999AA10123456784"),
            "1Z999AA10123456784"
        );
    }

    #[test]
    fn aggregator_numbers_keep_their_dashes() {
        assert_eq!(
            KeepDashes.canonical(" jdva00012345678-1-1 "),
            "JDVA00012345678-1-1"
        );
        assert_eq!(
            KeepDashes.canonical("JDVA00012345678–1－1"),
            "JDVA00012345678-1-1"
        );
        assert_eq!(KeepDashes.canonical("7531 2345 6789"), "753123456789");
    }

    #[test]
    fn the_rule_is_idempotent() {
        for rule in [Compact, KeepDashes] {
            for typed in ["ab-12 cd", "  ", "ß-1", "ﬀ12"] {
                let once = rule.canonical(typed);
                assert_eq!(rule.canonical(&once), once, "{rule:?} {typed:?}");
            }
        }
    }

    proptest::proptest! {
        /// Canonical spellings are fixed points, never hold whitespace, and a number differs
        /// from its canonical spelling only by case, whitespace and (Compact) dashes.
        #[test]
        fn canonical_spellings_are_stable(typed in "[ a-zA-Z0-9\\-\t–]{0,40}") {
            for rule in [Compact, KeepDashes] {
                let once = rule.canonical(&typed);
                proptest::prop_assert_eq!(rule.canonical(&once), once.clone());
                proptest::prop_assert!(!once.chars().any(char::is_whitespace));
                let kept: String = typed
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || (rule == KeepDashes && is_dash(*c)))
                    .map(|c| if is_dash(c) { '-' } else { c.to_ascii_uppercase() })
                    .collect();
                proptest::prop_assert_eq!(once, kept);
            }
        }
    }

    #[test]
    fn an_outcome_names_its_numbers_canonically() {
        let mut outcome = ParseOutcome {
            updates: vec![TrackingUpdate {
                tracking_number: "zt 7531-2345".into(),
                courier: None,
                estimated_delivery: None,
                events: Vec::new(),
            }],
            problems: vec![Problem {
                tracking_number: Some("zt 7531-2345".into()),
                message: "x".into(),
            }],
            unregistered: vec!["abc 1".into()],
            stopped: vec!["def-2".into()],
        };
        KeepDashes.canonicalize_outcome(&mut outcome);
        assert_eq!(outcome.updates[0].tracking_number, "ZT7531-2345");
        assert_eq!(
            outcome.problems[0].tracking_number.as_deref(),
            Some("ZT7531-2345")
        );
        assert_eq!(outcome.unregistered, ["ABC1"]);
        assert_eq!(outcome.stopped, ["DEF-2"]);
    }
}
