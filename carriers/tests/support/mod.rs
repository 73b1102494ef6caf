//! Which parser reads which payload: shared by the fixture tests, the karrio conformance test
//! and the parser benchmarks, so all three exercise exactly the same code paths.

#![allow(dead_code)] // each user takes the half it needs

use trackgate_carriers::{
    ParseError, ParseOutcome, aftership, australiapost, dhl, easypost, fedex, kuaidi100, laposte,
    mydhl, royalmail, sandbox, seventeen_track, shippo, ups, usps,
};

/// A parser of one carrier's poll responses.
pub type Parser = fn(&[u8]) -> Result<ParseOutcome, ParseError>;

/// The parser of a fixture under `fixtures/carriers/<kind>/`.
pub fn parse_with(kind: &str, body: &[u8]) -> Result<ParseOutcome, ParseError> {
    match kind {
        "sandbox" => sandbox::parse(body),
        "kuaidi100" => kuaidi100::parse(body),
        "easypost" => easypost::parse_event(body),
        "shippo" => shippo::parse_webhook_body(body),
        "aftership" => aftership::parse_webhook_body(body),
        "ups" => ups::parse_poll(body),
        "fedex" => fedex::parse_poll(body),
        "dhl" => dhl::parse_poll(body),
        "usps" => usps::parse_poll(body),
        "17track" if body.starts_with(b"{\"code\"") => seventeen_track::parse_poll(body),
        "17track" => seventeen_track::parse_push(body),
        "kuaidi100-query" => kuaidi100::parse_query(body),
        "laposte" => laposte::parse_poll(body),
        "australiapost" => australiapost::parse_poll(body),
        "royalmail" => royalmail::parse_poll(body),
        "mydhl" => mydhl::parse_poll(body),
        other => panic!("fixtures for unknown carrier kind `{other}`"),
    }
}

/// karrio carrier name → our parser of that carrier's poll responses.
pub fn parser_for(carrier: &str) -> Option<Parser> {
    match carrier {
        "easypost" => Some(easypost::parse_poll),
        "ups" => Some(ups::parse_poll),
        "fedex" => Some(fedex::parse_poll),
        "dhl_universal" => Some(dhl::parse_poll),
        // USPS's domestic and international tracking share the v3 API and its response.
        "usps" | "usps_international" => Some(usps::parse_poll),
        // La Poste's Suivi API serves Colissimo too.
        "laposte" | "colissimo" => Some(laposte::parse_poll),
        "australiapost" => Some(australiapost::parse_poll),
        "royalmail" => Some(royalmail::parse_poll),
        "mydhl" => Some(mydhl::parse_poll),
        _ => None,
    }
}
