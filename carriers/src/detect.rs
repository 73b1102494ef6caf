//! Carrier detection from a tracking number's format, with check digits where the format has one.
//!
//! Returns candidates ranked by confidence rather than a guess: a number that fits several
//! formats (a 12-digit number is a valid FedEx Express number one time in ten, and also looks
//! like a ZTO waybill) yields every candidate. `High` means a distinctive format whose check
//! digit (if any) verified; `Medium` a valid check digit on a format other carriers share;
//! `Low` a pattern without a check digit.
//!
//! Check digits: UPS `1Z` (mod 10 over the 15 characters after `1Z`, letters mapped by
//! `(ascii - 63) mod 10`); USPS IMpb (mod 10, weights 3,1 from the right); FedEx Express 12-digit
//! (weights 1,3,7 from the right, mod 11, 10 → 0); FedEx Ground 15-digit (mod 10, weights 3,1);
//! DHL Express 10-digit (first nine digits mod 7); UPU S10 (weights 8,6,4,2,3,5,9,7, mod 11).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The carrier, as a person would name it.
    pub carrier: &'static str,
    /// Adapter kinds that can track it, preferred first (the carrier's own API, then aggregators).
    pub kinds: &'static [&'static str],
    pub confidence: Confidence,
    pub reason: String,
}

/// Upper-case, without spaces and dashes: how numbers are compared with the formats.
pub fn canonical(number: &str) -> String {
    crate::NumberRule::Compact.canonical(number)
}

fn digits(text: &str) -> Option<Vec<u32>> {
    text.chars().map(|c| c.to_digit(10)).collect()
}

/// Sum of `values` from the right with cycling `weights`.
fn weighted_from_right(values: &[u32], weights: &[u32]) -> u32 {
    values
        .iter()
        .rev()
        .zip(weights.iter().cycle())
        .map(|(v, w)| v * w)
        .sum()
}

fn ups_check(number: &str) -> bool {
    let body: Vec<u32> = number[2..17]
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                c as u32 - '0' as u32
            } else {
                (c as u32 - 63) % 10
            }
        })
        .collect();
    let sum: u32 = body
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 1 { v * 2 } else { *v })
        .sum();
    number[17..].parse::<u32>().ok() == Some((10 - sum % 10) % 10)
}

fn mod10_3_1(all: &[u32]) -> bool {
    let (body, check) = all.split_at(all.len() - 1);
    (10 - weighted_from_right(body, &[3, 1]) % 10) % 10 == check[0]
}

fn fedex_express_check(all: &[u32]) -> bool {
    let (body, check) = all.split_at(11);
    weighted_from_right(body, &[1, 3, 7]) % 11 % 10 == check[0]
}

fn dhl_express_check(all: &[u32]) -> bool {
    let body = all[..9]
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(*d));
    body % 7 == u64::from(all[9])
}

fn s10_check(serial: &[u32], check: u32) -> bool {
    let sum: u32 = serial
        .iter()
        .zip([8, 6, 4, 2, 3, 5, 9, 7])
        .map(|(d, w)| d * w)
        .sum();
    let expected = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        n => n,
    };
    expected == check
}

fn s10_operator(country: &str) -> (&'static str, &'static [&'static str]) {
    match country {
        "US" => ("USPS", &["usps", "17track", "aftership"]),
        "CN" => ("China Post / EMS", &["kuaidi100", "17track", "aftership"]),
        "DE" => ("Deutsche Post DHL", &["dhl", "17track", "aftership"]),
        "GB" => ("Royal Mail", &["royalmail", "17track", "aftership"]),
        "FR" => ("La Poste", &["laposte", "17track", "aftership"]),
        "AU" => ("Australia Post", &["australiapost", "17track", "aftership"]),
        _ => ("national postal operator", &["17track", "aftership"]),
    }
}

fn push(
    out: &mut Vec<Candidate>,
    carrier: &'static str,
    kinds: &'static [&'static str],
    confidence: Confidence,
    reason: impl Into<String>,
) {
    out.push(Candidate {
        carrier,
        kinds,
        confidence,
        reason: reason.into(),
    });
}

/// A number as the rules see it: canonical text and, when it is all digits, its digits.
struct Number {
    text: String,
    digits: Option<Vec<u32>>,
}

impl Number {
    fn len(&self) -> usize {
        self.text.len()
    }
    /// `prefix` followed by nothing but ASCII digits.
    fn prefix_then_digits(&self, prefix: &str) -> bool {
        self.text
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
    }
}

/// One number format: adds the candidates it recognizes.
type Rule = fn(&Number, &mut Vec<Candidate>);

/// Every format we recognize, each with its check digit where it has one.
const RULES: &[Rule] = &[
    ups_1z,
    upu_s10,
    usps_impb,
    fedex_express,
    fedex_ground,
    dhl_express,
    zto,
    yunda,
    sf_express,
    jd_logistics,
    yto_express,
    yunexpress,
    cainiao,
    dhl_piece,
];

/// Every carrier whose format `number` fits, most confident first.
pub fn detect(number: &str) -> Vec<Candidate> {
    let text = canonical(number);
    if !text.is_ascii() {
        return Vec::new(); // no tracking number format uses other characters
    }
    let number = Number {
        digits: digits(&text),
        text,
    };
    let mut out = Vec::new();
    for rule in RULES {
        rule(&number, &mut out);
    }
    out.sort_by_key(|c| c.confidence);
    out
}

const UPS: &[&str] = &["ups", "17track", "aftership"];
const USPS: &[&str] = &["usps", "17track", "aftership"];
const FEDEX: &[&str] = &["fedex", "17track", "aftership"];
const CHINA: &[&str] = &["kuaidi100", "17track"];

fn ups_1z(n: &Number, out: &mut Vec<Candidate>) {
    let t = &n.text;
    if n.len() == 18
        && t.starts_with("1Z")
        && t[2..].chars().all(|c| c.is_ascii_alphanumeric())
        && t[17..].chars().all(|c| c.is_ascii_digit())
        && ups_check(t)
    {
        push(
            out,
            "UPS",
            UPS,
            Confidence::High,
            "1Z number with a valid check digit",
        );
    }
}

fn upu_s10(n: &Number, out: &mut Vec<Candidate>) {
    if n.len() != 13 {
        return;
    }
    let (prefix, rest) = n.text.split_at(2);
    let (serial, country) = rest.split_at(9);
    if prefix.chars().all(|c| c.is_ascii_uppercase())
        && country.chars().all(|c| c.is_ascii_uppercase())
        && let Some(d) = digits(serial)
        && s10_check(&d[..8], d[8])
    {
        let (carrier, kinds) = s10_operator(country);
        let reason = format!("UPU S10 international number ({country}) with a valid check digit");
        push(out, carrier, kinds, Confidence::High, reason);
    }
}

/// USPS IMpb, possibly behind a `420` + ZIP (5 or 9 digits) routing prefix.
fn usps_impb(n: &Number, out: &mut Vec<Candidate>) {
    let Some(d) = &n.digits else { return };
    let core: &[u32] = match n.len() {
        30 if n.text.starts_with("420") => &d[8..],
        34 if n.text.starts_with("420") => &d[12..],
        20 | 22 => &d[..],
        _ => return,
    };
    if core[0] != 9 || !mod10_3_1(core) {
        return;
    }
    let reason = "USPS IMpb barcode with a valid check digit";
    push(out, "USPS", USPS, Confidence::High, reason);
    if core[..2] == [9, 2] {
        let reason = "92… IMpb numbers are also used by FedEx Ground Economy";
        push(out, "FedEx", FEDEX, Confidence::Low, reason);
    }
}

fn fedex_express(n: &Number, out: &mut Vec<Candidate>) {
    if let Some(d) = &n.digits
        && n.len() == 12
        && fedex_express_check(d)
    {
        let reason = "12 digits with a valid FedEx Express check digit";
        push(out, "FedEx", FEDEX, Confidence::Medium, reason);
    }
}

fn fedex_ground(n: &Number, out: &mut Vec<Candidate>) {
    if let Some(d) = &n.digits
        && n.len() == 15
        && mod10_3_1(d)
    {
        let reason = "15 digits with a valid FedEx Ground check digit";
        push(out, "FedEx", FEDEX, Confidence::Medium, reason);
    }
}

fn dhl_express(n: &Number, out: &mut Vec<Candidate>) {
    if let Some(d) = &n.digits
        && n.len() == 10
        && dhl_express_check(d)
    {
        let kinds = &["dhl", "mydhl", "17track", "aftership"];
        let reason = "10 digits with a valid DHL Express (mod 7) check digit";
        push(out, "DHL Express", kinds, Confidence::Medium, reason);
    }
}

fn zto(n: &Number, out: &mut Vec<Candidate>) {
    if n.digits.is_some() && n.len() == 12 && n.text.starts_with('7') {
        let reason = "12-digit number starting with 7, ZTO's waybill pattern";
        push(out, "ZTO Express", CHINA, Confidence::Low, reason);
    }
}

fn yunda(n: &Number, out: &mut Vec<Candidate>) {
    if n.digits.is_some()
        && n.len() == 13
        && ["43", "46", "31"].iter().any(|p| n.text.starts_with(p))
    {
        let reason = "13-digit number in Yunda's ranges";
        push(out, "Yunda Express", CHINA, Confidence::Low, reason);
    }
}

fn sf_express(n: &Number, out: &mut Vec<Candidate>) {
    if (n.len() == 14 || n.len() == 15) && n.prefix_then_digits("SF") {
        let reason = "SF + 12 or 13 digits (querying SF also needs the phone's last 4 digits)";
        push(out, "SF Express", CHINA, Confidence::High, reason);
    }
}

fn jd_logistics(n: &Number, out: &mut Vec<Candidate>) {
    if (13..=15).contains(&n.len())
        && n.text.starts_with("JD")
        && n.text[2..].chars().all(|c| c.is_ascii_alphanumeric())
    {
        let reason = "JD + 11 to 13 letters and digits";
        push(out, "JD Logistics", CHINA, Confidence::High, reason);
    }
}

fn yto_express(n: &Number, out: &mut Vec<Candidate>) {
    if n.len() == 15 && n.prefix_then_digits("YT") {
        push(
            out,
            "YTO Express",
            CHINA,
            Confidence::High,
            "YT + 13 digits",
        );
    }
}

fn yunexpress(n: &Number, out: &mut Vec<Candidate>) {
    if n.len() == 18 && n.prefix_then_digits("YT") {
        let kinds = &["17track", "aftership"];
        push(out, "YunExpress", kinds, Confidence::High, "YT + 16 digits");
    }
}

fn cainiao(n: &Number, out: &mut Vec<Candidate>) {
    if n.len() == 16 && n.prefix_then_digits("LP") {
        let kinds = &["17track", "kuaidi100", "aftership"];
        push(out, "Cainiao", kinds, Confidence::High, "LP + 14 digits");
    }
}

fn dhl_piece(n: &Number, out: &mut Vec<Candidate>) {
    if (n.len() == 21 || n.len() == 24) && n.prefix_then_digits("JJD") {
        let kinds = &["dhl", "17track", "aftership"];
        push(out, "DHL", kinds, Confidence::Medium, "JJD piece number");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best(number: &str) -> Option<(&'static str, Confidence)> {
        detect(number).first().map(|c| (c.carrier, c.confidence))
    }

    #[test]
    fn ups_1z_numbers_need_a_valid_check_digit() {
        assert_eq!(best("1Z999AA10123456784"), Some(("UPS", Confidence::High)));
        assert_eq!(
            best("1z 999 aa1 01 2345 6784"),
            Some(("UPS", Confidence::High)),
            "spaces and case do not matter"
        );
        assert_eq!(best("1Z999AA10123456785"), None);
    }

    #[test]
    fn usps_impb_with_and_without_routing_prefix() {
        assert_eq!(
            best("9400109104250532908587"),
            Some(("USPS", Confidence::High))
        );
        assert_eq!(
            best("420945039400109104250532908587"),
            Some(("USPS", Confidence::High))
        );
        assert_eq!(best("9400109104250532908588"), None);
    }

    #[test]
    fn fedex_express_and_ground() {
        let express = detect("776094337676");
        assert!(
            express
                .iter()
                .any(|c| c.carrier == "FedEx" && c.confidence == Confidence::Medium)
        );
        assert!(
            express.iter().any(|c| c.carrier == "ZTO Express"),
            "12 digits starting with 7 are ambiguous"
        );
        assert_eq!(best("568838414941"), Some(("FedEx", Confidence::Medium)));
        assert_eq!(best("568838414942"), None);
        assert_eq!(best("449044304137821"), Some(("FedEx", Confidence::Medium)));
    }

    #[test]
    fn dhl_express_mod_7() {
        assert_eq!(
            best("1815115363"),
            Some(("DHL Express", Confidence::Medium))
        );
        assert_eq!(best("1815115364"), None);
    }

    #[test]
    fn upu_s10_names_the_postal_operator_of_its_country() {
        assert_eq!(best("EW112720413FR"), Some(("La Poste", Confidence::High)));
        assert_eq!(
            best("RR123456785SE"),
            Some(("national postal operator", Confidence::High))
        );
        assert_eq!(best("EE123456785US"), Some(("USPS", Confidence::High)));
        assert_eq!(best("EE123456785CN").unwrap().0, "China Post / EMS");
        assert_eq!(best("EE123456784US"), None, "bad check digit");
    }

    #[test]
    fn chinese_carriers_by_prefix() {
        assert_eq!(
            best("SF1400012345678"),
            Some(("SF Express", Confidence::High))
        );
        assert_eq!(
            best("JDVA12345678901"),
            Some(("JD Logistics", Confidence::High))
        );
        assert_eq!(
            best("YT9693083639795"),
            Some(("YTO Express", Confidence::High))
        );
        assert_eq!(
            best("LP00123456789012"),
            Some(("Cainiao", Confidence::High))
        );
        assert_eq!(best("784123456789").map(|b| b.0), Some("ZTO Express"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_input(text in ".{0,40}", digits in "[0-9A-Z]{8,34}") {
            let _ = detect(&text);
            let _ = detect(&digits);
        }
    }

    #[test]
    fn nonsense_matches_nothing() {
        assert!(detect("中文中文中文中文1").is_empty());
        assert!(detect("hello").is_empty());
        assert!(detect("").is_empty());
    }
}
