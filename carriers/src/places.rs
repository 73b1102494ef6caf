//! Reading where an event happened out of the address shapes carriers send, so that a local
//! time without an offset can be resolved ([`crate::zones`]).
//!
//! Carriers name a place in several shapes, often only partly: an ISO country code (`DE`,
//! `DEU`), an English country name (`Germany`, `UNITED STATES`), a locality that ends in its
//! country (`LEIPZIG - GERMANY`, DHL's style) or in its state (`MEMPHIS, TN`), and sometimes
//! nothing but a postal code beside the country (17TRACK, UPS and USPS addresses without a
//! state). [`Place::resolve`] turns any of them into an ISO alpha-2 country and, where the
//! country spans several zones, a subdivision: a US ZIP code's first three digits name its
//! state, a Canadian postal code's first letter its province, an Australian postcode's first
//! digit its state. Nothing is guessed from a city name alone.

/// What a carrier says about where an event happened; any part may be missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place<'a> {
    /// An ISO 3166 alpha-2 or alpha-3 code, or an English country name.
    pub country: Option<&'a str>,
    /// A state or province code (`TX`, `BC`, `NSW`).
    pub subdivision: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    /// A free-text locality (`LEIPZIG - GERMANY`, `MEMPHIS, TN`, `Frankfurt`).
    pub locality: Option<&'a str>,
}

/// A place read: an ISO alpha-2 country and a subdivision code, either possibly unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub country: Option<&'static str>,
    pub subdivision: Option<String>,
}

impl Place<'_> {
    /// The country and subdivision, from whichever parts name them: the explicit fields first,
    /// then the locality, then (for the subdivision) the postal code.
    pub fn resolve(&self) -> Resolved {
        let (locality_country, locality_subdivision) = nonempty(self.locality)
            .map(split_locality)
            .unwrap_or_default();
        let country = nonempty(self.country)
            .and_then(country_code)
            .or(locality_country);
        let subdivision = nonempty(self.subdivision)
            .map(str::to_ascii_uppercase)
            .or(locality_subdivision)
            .or_else(|| {
                let postal = nonempty(self.postal_code)?;
                subdivision_of_postal_code(country?, postal).map(str::to_owned)
            });
        Resolved {
            country,
            subdivision,
        }
    }
}

fn nonempty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// English names (upper-case, as carriers print them) of the countries the zone table knows.
const NAMES: &[(&str, &str)] = &[
    ("CHINA", "CN"),
    ("PEOPLE'S REPUBLIC OF CHINA", "CN"),
    ("MAINLAND CHINA", "CN"),
    ("HONG KONG", "HK"),
    ("HONG KONG SAR", "HK"),
    ("MACAU", "MO"),
    ("MACAO", "MO"),
    ("TAIWAN", "TW"),
    ("JAPAN", "JP"),
    ("SOUTH KOREA", "KR"),
    ("KOREA", "KR"),
    ("REPUBLIC OF KOREA", "KR"),
    ("KOREA, REPUBLIC OF", "KR"),
    ("SINGAPORE", "SG"),
    ("MALAYSIA", "MY"),
    ("THAILAND", "TH"),
    ("VIETNAM", "VN"),
    ("VIET NAM", "VN"),
    ("PHILIPPINES", "PH"),
    ("INDIA", "IN"),
    ("PAKISTAN", "PK"),
    ("BANGLADESH", "BD"),
    ("UNITED ARAB EMIRATES", "AE"),
    ("UAE", "AE"),
    ("SAUDI ARABIA", "SA"),
    ("ISRAEL", "IL"),
    ("TURKEY", "TR"),
    ("TURKIYE", "TR"),
    ("UNITED KINGDOM", "GB"),
    ("GREAT BRITAIN", "GB"),
    ("ENGLAND", "GB"),
    ("SCOTLAND", "GB"),
    ("WALES", "GB"),
    ("NORTHERN IRELAND", "GB"),
    ("IRELAND", "IE"),
    ("PORTUGAL", "PT"),
    ("SPAIN", "ES"),
    ("FRANCE", "FR"),
    ("BELGIUM", "BE"),
    ("NETHERLANDS", "NL"),
    ("THE NETHERLANDS", "NL"),
    ("HOLLAND", "NL"),
    ("LUXEMBOURG", "LU"),
    ("GERMANY", "DE"),
    ("SWITZERLAND", "CH"),
    ("AUSTRIA", "AT"),
    ("ITALY", "IT"),
    ("DENMARK", "DK"),
    ("NORWAY", "NO"),
    ("SWEDEN", "SE"),
    ("FINLAND", "FI"),
    ("POLAND", "PL"),
    ("CZECH REPUBLIC", "CZ"),
    ("CZECHIA", "CZ"),
    ("SLOVAKIA", "SK"),
    ("HUNGARY", "HU"),
    ("ROMANIA", "RO"),
    ("BULGARIA", "BG"),
    ("GREECE", "GR"),
    ("UKRAINE", "UA"),
    ("ESTONIA", "EE"),
    ("LATVIA", "LV"),
    ("LITHUANIA", "LT"),
    ("SLOVENIA", "SI"),
    ("CROATIA", "HR"),
    ("SERBIA", "RS"),
    ("ICELAND", "IS"),
    ("EGYPT", "EG"),
    ("SOUTH AFRICA", "ZA"),
    ("NIGERIA", "NG"),
    ("KENYA", "KE"),
    ("MOROCCO", "MA"),
    ("NEW ZEALAND", "NZ"),
    ("ARGENTINA", "AR"),
    ("CHILE", "CL"),
    ("COLOMBIA", "CO"),
    ("PERU", "PE"),
    ("PUERTO RICO", "PR"),
    ("UNITED STATES", "US"),
    ("UNITED STATES OF AMERICA", "US"),
    ("U.S.A.", "US"),
    ("U.S.", "US"),
    ("CANADA", "CA"),
    ("AUSTRALIA", "AU"),
];

/// The ISO alpha-2 code of a country written as a code (alpha-2 or alpha-3) or an English
/// name; `None` for anything else.
pub fn country_code(text: &str) -> Option<&'static str> {
    let upper = text.trim().to_uppercase();
    crate::zones::country_alpha2(&upper).or_else(|| {
        NAMES
            .iter()
            .find(|(name, _)| *name == upper)
            .map(|(_, code)| *code)
    })
}

/// `LEIPZIG - GERMANY` → (DE, —); `MEMPHIS, TN` → (—, TN); `CINCINNATI HUB, OH - USA` →
/// (US, OH); `Paris, France` → (FR, —). A trailing part counts only when it reads as a country
/// (after ` - `, or by name after a comma) or as a 2–3 letter subdivision code (after a comma).
fn split_locality(locality: &str) -> (Option<&'static str>, Option<String>) {
    let mut head = locality;
    let mut country = None;
    if let Some((before, tail)) = locality.rsplit_once(" - ")
        && let Some(code) = country_code(tail)
    {
        head = before;
        country = Some(code);
    }
    let Some((_, tail)) = head.rsplit_once(',') else {
        return (country, None);
    };
    let tail = tail.trim();
    // A name, not a short code: `CA` or `IN` after a comma is a state far more often.
    if country.is_none()
        && tail.len() > 3
        && let Some(code) = country_code(tail)
    {
        return (Some(code), None);
    }
    let is_code = (2..=3).contains(&tail.len()) && tail.chars().all(|c| c.is_ascii_alphabetic());
    (country, is_code.then(|| tail.to_ascii_uppercase()))
}

/// The state or province a postal code belongs to, in the countries that span several zones.
pub fn subdivision_of_postal_code(country: &str, postal: &str) -> Option<&'static str> {
    let postal = postal.trim();
    match country {
        "US" => {
            let zip3: u32 = postal.get(..3)?.parse().ok()?;
            US_ZIP3
                .iter()
                .find(|(low, high, _)| (*low..=*high).contains(&zip3))
                .map(|(_, _, state)| *state)
        }
        "CA" => Some(match postal.chars().next()?.to_ascii_uppercase() {
            'A' => "NL",
            'B' => "NS",
            'C' => "PE",
            'E' => "NB",
            'G' | 'H' | 'J' => "QC",
            'K' | 'L' | 'M' | 'N' | 'P' => "ON",
            'R' => "MB",
            'S' => "SK",
            'T' => "AB",
            'V' => "BC",
            'Y' => "YT",
            // X covers both the Northwest Territories and Nunavut: not guessed.
            _ => return None,
        }),
        "AU" => {
            let code: u32 = postal.parse().ok().filter(|_| postal.len() == 4)?;
            Some(match code {
                800..=999 => "NT",
                200..=299 | 2600..=2618 | 2900..=2920 => "ACT",
                1000..=2599 | 2619..=2899 | 2921..=2999 => "NSW",
                3000..=3999 | 8000..=8999 => "VIC",
                4000..=4999 | 9000..=9999 => "QLD",
                5000..=5999 => "SA",
                6000..=6999 => "WA",
                7000..=7999 => "TAS",
                _ => return None,
            })
        }
        _ => None,
    }
}

/// US ZIP code prefixes (first three digits) by state, from USPS's ZIP code prefix ranges.
#[rustfmt::skip]
const US_ZIP3: &[(u32, u32, &str)] = &[
    (6, 9, "PR"), (10, 27, "MA"), (28, 29, "RI"), (30, 38, "NH"), (39, 49, "ME"), (50, 59, "VT"),
    (60, 69, "CT"), (70, 89, "NJ"), (100, 149, "NY"), (150, 196, "PA"), (197, 199, "DE"),
    (200, 205, "DC"), (206, 219, "MD"), (220, 246, "VA"), (247, 268, "WV"), (270, 289, "NC"),
    (290, 299, "SC"), (300, 319, "GA"), (320, 349, "FL"), (350, 369, "AL"), (370, 385, "TN"),
    (386, 397, "MS"), (398, 399, "GA"), (400, 427, "KY"), (430, 459, "OH"), (460, 479, "IN"),
    (480, 499, "MI"), (500, 528, "IA"), (530, 549, "WI"), (550, 567, "MN"), (570, 577, "SD"),
    (580, 588, "ND"), (590, 599, "MT"), (600, 629, "IL"), (630, 658, "MO"), (660, 679, "KS"),
    (680, 693, "NE"), (700, 714, "LA"), (716, 729, "AR"), (730, 749, "OK"), (750, 799, "TX"),
    (800, 816, "CO"), (820, 831, "WY"), (832, 838, "ID"), (840, 847, "UT"), (850, 865, "AZ"),
    (870, 884, "NM"), (885, 885, "TX"), (889, 898, "NV"), (900, 961, "CA"), (967, 968, "HI"),
    (970, 979, "OR"), (980, 994, "WA"), (995, 999, "AK"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(place: Place<'_>) -> (Option<&'static str>, Option<String>) {
        let r = place.resolve();
        (r.country, r.subdivision)
    }

    #[test]
    fn country_codes_and_names() {
        assert_eq!(country_code("de"), Some("DE"));
        assert_eq!(country_code("DEU"), Some("DE"));
        assert_eq!(country_code(" Germany "), Some("DE"));
        assert_eq!(country_code("UNITED STATES"), Some("US"));
        assert_eq!(country_code("Viet Nam"), Some("VN"));
        assert_eq!(country_code("Atlantis"), None);
    }

    #[test]
    fn a_locality_that_ends_in_its_country() {
        let place = Place {
            locality: Some("LEIPZIG - GERMANY"),
            ..Place::default()
        };
        assert_eq!(resolved(place), (Some("DE"), None));
        let place = Place {
            locality: Some("CINCINNATI HUB, OH - USA"),
            ..Place::default()
        };
        assert_eq!(resolved(place), (Some("US"), Some("OH".into())));
        let place = Place {
            locality: Some("Paris, France"),
            ..Place::default()
        };
        assert_eq!(resolved(place), (Some("FR"), None));
        let place = Place {
            locality: Some("HUB - NORTH"),
            ..Place::default()
        };
        assert_eq!(
            resolved(place),
            (None, None),
            "not a country: nothing guessed"
        );
    }

    #[test]
    fn a_city_and_state_with_the_country_beside_it() {
        let place = Place {
            country: Some("US"),
            locality: Some("MEMPHIS, TN"),
            ..Place::default()
        };
        assert_eq!(resolved(place), (Some("US"), Some("TN".into())));
    }

    #[test]
    fn postal_codes_where_that_is_all_there_is() {
        let us = Place {
            country: Some("US"),
            postal_code: Some("90001"),
            ..Place::default()
        };
        assert_eq!(resolved(us), (Some("US"), Some("CA".into())));
        let us = Place {
            country: Some("USA"),
            postal_code: Some("10001-1234"),
            ..Place::default()
        };
        assert_eq!(resolved(us).1.as_deref(), Some("NY"));
        let ca = Place {
            country: Some("CA"),
            postal_code: Some("v6b 1a1"),
            ..Place::default()
        };
        assert_eq!(resolved(ca).1.as_deref(), Some("BC"));
        let au = Place {
            country: Some("Australia"),
            postal_code: Some("6000"),
            ..Place::default()
        };
        assert_eq!(resolved(au), (Some("AU"), Some("WA".into())));
        let au = Place {
            country: Some("AU"),
            postal_code: Some("0800"),
            ..Place::default()
        };
        assert_eq!(resolved(au).1.as_deref(), Some("NT"));
        let nunavut_or_nwt = Place {
            country: Some("CA"),
            postal_code: Some("X0A 0H0"),
            ..Place::default()
        };
        assert_eq!(
            resolved(nunavut_or_nwt).1,
            None,
            "X is two territories: not guessed"
        );
        let explicit = Place {
            country: Some("US"),
            subdivision: Some("nj"),
            postal_code: Some("90001"),
            ..Place::default()
        };
        assert_eq!(
            resolved(explicit).1.as_deref(),
            Some("NJ"),
            "an explicit state wins"
        );
    }
}
