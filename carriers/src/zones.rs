//! Where a carrier gives a local time without an offset, the zone of the event's location.
//!
//! Resolution uses the country (ISO 3166 alpha-2 or alpha-3) and, for countries spanning several
//! zones, the state or province. A multi-zone country without a usable subdivision is not
//! guessed: the caller gets `None` and reports the event's time as unresolved. Split states
//! (Texas, Florida, Indiana, …) take the zone most of their population lives in.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use crate::Instant;

/// (alpha-2, alpha-3, zone) of countries that keep one zone.
const SINGLE_ZONE: &[(&str, &str, Tz)] = &[
    ("CN", "CHN", Tz::Asia__Shanghai),
    ("HK", "HKG", Tz::Asia__Hong_Kong),
    ("MO", "MAC", Tz::Asia__Macau),
    ("TW", "TWN", Tz::Asia__Taipei),
    ("JP", "JPN", Tz::Asia__Tokyo),
    ("KR", "KOR", Tz::Asia__Seoul),
    ("SG", "SGP", Tz::Asia__Singapore),
    ("MY", "MYS", Tz::Asia__Kuala_Lumpur),
    ("TH", "THA", Tz::Asia__Bangkok),
    ("VN", "VNM", Tz::Asia__Ho_Chi_Minh),
    ("PH", "PHL", Tz::Asia__Manila),
    ("IN", "IND", Tz::Asia__Kolkata),
    ("PK", "PAK", Tz::Asia__Karachi),
    ("BD", "BGD", Tz::Asia__Dhaka),
    ("AE", "ARE", Tz::Asia__Dubai),
    ("SA", "SAU", Tz::Asia__Riyadh),
    ("IL", "ISR", Tz::Asia__Jerusalem),
    ("TR", "TUR", Tz::Europe__Istanbul),
    ("GB", "GBR", Tz::Europe__London),
    ("IE", "IRL", Tz::Europe__Dublin),
    ("PT", "PRT", Tz::Europe__Lisbon),
    ("ES", "ESP", Tz::Europe__Madrid),
    ("FR", "FRA", Tz::Europe__Paris),
    ("BE", "BEL", Tz::Europe__Brussels),
    ("NL", "NLD", Tz::Europe__Amsterdam),
    ("LU", "LUX", Tz::Europe__Luxembourg),
    ("DE", "DEU", Tz::Europe__Berlin),
    ("CH", "CHE", Tz::Europe__Zurich),
    ("AT", "AUT", Tz::Europe__Vienna),
    ("IT", "ITA", Tz::Europe__Rome),
    ("DK", "DNK", Tz::Europe__Copenhagen),
    ("NO", "NOR", Tz::Europe__Oslo),
    ("SE", "SWE", Tz::Europe__Stockholm),
    ("FI", "FIN", Tz::Europe__Helsinki),
    ("PL", "POL", Tz::Europe__Warsaw),
    ("CZ", "CZE", Tz::Europe__Prague),
    ("SK", "SVK", Tz::Europe__Bratislava),
    ("HU", "HUN", Tz::Europe__Budapest),
    ("RO", "ROU", Tz::Europe__Bucharest),
    ("BG", "BGR", Tz::Europe__Sofia),
    ("GR", "GRC", Tz::Europe__Athens),
    ("UA", "UKR", Tz::Europe__Kyiv),
    ("EE", "EST", Tz::Europe__Tallinn),
    ("LV", "LVA", Tz::Europe__Riga),
    ("LT", "LTU", Tz::Europe__Vilnius),
    ("SI", "SVN", Tz::Europe__Ljubljana),
    ("HR", "HRV", Tz::Europe__Zagreb),
    ("RS", "SRB", Tz::Europe__Belgrade),
    ("IS", "ISL", Tz::Atlantic__Reykjavik),
    ("EG", "EGY", Tz::Africa__Cairo),
    ("ZA", "ZAF", Tz::Africa__Johannesburg),
    ("NG", "NGA", Tz::Africa__Lagos),
    ("KE", "KEN", Tz::Africa__Nairobi),
    ("MA", "MAR", Tz::Africa__Casablanca),
    ("NZ", "NZL", Tz::Pacific__Auckland),
    ("AR", "ARG", Tz::America__Argentina__Buenos_Aires),
    ("CL", "CHL", Tz::America__Santiago),
    ("CO", "COL", Tz::America__Bogota),
    ("PE", "PER", Tz::America__Lima),
    ("PR", "PRI", Tz::America__Puerto_Rico),
];

/// US states and territories → zone (the majority zone for split states).
fn us_state(code: &str) -> Option<Tz> {
    use Tz::*;
    Some(match code {
        "CT" | "DE" | "DC" | "FL" | "GA" | "IN" | "KY" | "ME" | "MD" | "MA" | "MI" | "NH"
        | "NJ" | "NY" | "NC" | "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV" => America__New_York,
        "AL" | "AR" | "IL" | "IA" | "KS" | "LA" | "MN" | "MS" | "MO" | "NE" | "ND" | "OK"
        | "SD" | "TN" | "TX" | "WI" => America__Chicago,
        "CO" | "ID" | "MT" | "NM" | "UT" | "WY" => America__Denver,
        "AZ" => America__Phoenix,
        "CA" | "NV" | "OR" | "WA" => America__Los_Angeles,
        "AK" => America__Anchorage,
        "HI" => Pacific__Honolulu,
        "PR" => America__Puerto_Rico,
        _ => return None,
    })
}

fn ca_province(code: &str) -> Option<Tz> {
    use Tz::*;
    Some(match code {
        "BC" => America__Vancouver,
        "AB" => America__Edmonton,
        "SK" => America__Regina,
        "MB" => America__Winnipeg,
        "ON" => America__Toronto,
        "QC" => America__Toronto,
        "NB" | "NS" | "PE" => America__Halifax,
        "NL" => America__St_Johns,
        "YT" => America__Whitehorse,
        "NT" => America__Yellowknife,
        "NU" => America__Iqaluit,
        _ => return None,
    })
}

fn au_state(code: &str) -> Option<Tz> {
    use Tz::*;
    Some(match code {
        "NSW" | "ACT" => Australia__Sydney,
        "VIC" => Australia__Melbourne,
        "QLD" => Australia__Brisbane,
        "SA" => Australia__Adelaide,
        "WA" => Australia__Perth,
        "TAS" => Australia__Hobart,
        "NT" => Australia__Darwin,
        _ => return None,
    })
}

/// The alpha-2 code of an upper-case alpha-2 or alpha-3 code the zone table knows.
pub fn country_alpha2(code: &str) -> Option<&'static str> {
    match code {
        "US" | "USA" => Some("US"),
        "CA" | "CAN" => Some("CA"),
        "AU" | "AUS" => Some("AU"),
        other => SINGLE_ZONE
            .iter()
            .find(|(a2, a3, _)| *a2 == other || *a3 == other)
            .map(|(a2, _, _)| *a2),
    }
}

/// [`local_at`] for a place in any of the shapes carriers send ([`crate::places::Place`]).
pub fn local_at_place(
    naive: NaiveDateTime,
    place: &crate::places::Place<'_>,
) -> (Instant, Option<String>) {
    let resolved = place.resolve();
    if resolved.country.is_none() && resolved.subdivision.is_none() {
        // Nothing read: keep the carrier's own words in the note.
        let words = [place.locality, place.country, place.postal_code];
        let said: Vec<&str> = words
            .into_iter()
            .flatten()
            .filter(|w| !w.trim().is_empty())
            .collect();
        return local_at(
            naive,
            (!said.is_empty()).then(|| said.join(" ")).as_deref(),
            None,
        );
    }
    local_at(naive, resolved.country, resolved.subdivision.as_deref())
}

/// The zone of a location, if it can be known without guessing.
pub fn zone_of(country: Option<&str>, subdivision: Option<&str>) -> Option<Tz> {
    let country = country?.trim().to_ascii_uppercase();
    let subdivision = subdivision.map(|s| s.trim().to_ascii_uppercase());
    let sub = subdivision.as_deref();
    match country.as_str() {
        "US" | "USA" => sub.and_then(us_state),
        "CA" | "CAN" => sub.and_then(ca_province),
        "AU" | "AUS" => sub.and_then(au_state),
        other => SINGLE_ZONE
            .iter()
            .find(|(a2, a3, _)| *a2 == other || *a3 == other)
            .map(|(_, _, tz)| *tz),
    }
}

/// A local wall-clock time resolved in `zone` (the earlier instant when a DST change makes it
/// ambiguous), flagged as inferred.
pub fn resolve_local(naive: NaiveDateTime, zone: Tz) -> Option<Instant> {
    let local = zone.from_local_datetime(&naive).earliest()?;
    Some(Instant {
        utc: local.with_timezone(&chrono::Utc),
        offset_seconds: Some(chrono::Offset::fix(local.offset()).local_minus_utc()),
        offset_inferred: true,
    })
}

/// A local time at a location. Resolved in the location's zone when it can be known (flagged as
/// inferred); otherwise taken as UTC, also flagged, with a note saying so for the caller's
/// problems list. A wall-clock time skipped by a daylight-saving change is read one hour later.
pub fn local_at(
    naive: NaiveDateTime,
    country: Option<&str>,
    subdivision: Option<&str>,
) -> (Instant, Option<String>) {
    if let Some(zone) = zone_of(country, subdivision) {
        let resolved = resolve_local(naive, zone)
            .or_else(|| resolve_local(naive + chrono::Duration::hours(1), zone));
        if let Some(instant) = resolved {
            return (instant, None);
        }
    }
    let utc = Instant {
        utc: naive.and_utc(),
        offset_seconds: None,
        offset_inferred: true,
    };
    let place = [country, subdivision]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    (
        utc,
        Some(format!(
            "no time zone known for `{place}`; local time {naive} taken as UTC"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn multi_zone_countries_need_a_subdivision() {
        assert_eq!(
            zone_of(Some("USA"), Some("nj")),
            Some(Tz::America__New_York)
        );
        assert_eq!(zone_of(Some("US"), None), None);
        assert_eq!(
            zone_of(Some("CA"), Some("BC")),
            Some(Tz::America__Vancouver)
        );
        assert_eq!(zone_of(Some("DEU"), None), Some(Tz::Europe__Berlin));
        assert_eq!(zone_of(Some("RU"), None), None, "not guessed");
        assert_eq!(zone_of(None, Some("TX")), None);
    }

    #[test]
    fn local_times_follow_daylight_saving() {
        let summer = resolve_local(at("2026-07-01T12:00:00"), Tz::America__New_York).unwrap();
        assert_eq!(summer.utc.to_rfc3339(), "2026-07-01T16:00:00+00:00");
        assert_eq!(summer.offset_seconds, Some(-4 * 3600));
        let winter = resolve_local(at("2026-01-15T12:00:00"), Tz::America__New_York).unwrap();
        assert_eq!(winter.offset_seconds, Some(-5 * 3600));
        assert!(winter.offset_inferred);
        // 02:30 on the spring-forward day does not exist in New York.
        assert!(resolve_local(at("2026-03-08T02:30:00"), Tz::America__New_York).is_none());
    }
}
