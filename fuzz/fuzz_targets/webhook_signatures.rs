//! Every webhook signature check of the catalog (the built-in adapters and the shipped
//! definitions' schemes) on arbitrary headers and bodies, with every secret configured: no
//! panic, and a body that verifies parses without one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trackgate_carriers::Inbound;
use trackgate_carriers::catalog;

#[derive(Debug, Arbitrary)]
struct Webhook {
    kind: u8,
    headers: Vec<(String, String)>,
    /// Which known signature header gets a fuzzed value (most schemes need theirs present).
    signature_header: u8,
    signature: String,
    body: Vec<u8>,
}

const SIGNATURE_HEADERS: &[&str] = &[
    "x-sandbox-signature",
    "x-hmac-signature",
    "shippo-auth-signature",
    "aftership-hmac-sha256",
    "sign",
    "x-sig",
];

fuzz_target!(|webhook: Webhook| {
    let kinds = catalog::all();
    let kind = kinds[usize::from(webhook.kind) % kinds.len()];
    if kind.webhook.is_none() {
        return;
    }
    let settings = kind
        .secrets
        .iter()
        .map(|key| ((*key).to_owned(), serde_json::json!("fuzz-secret")))
        .collect();
    let adapter = kind.build(&settings).expect("secrets are strings");
    let mut headers: Vec<(String, String)> = webhook
        .headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let name = SIGNATURE_HEADERS[usize::from(webhook.signature_header) % SIGNATURE_HEADERS.len()];
    headers.push((name.to_owned(), webhook.signature));
    if let Ok(verified) = adapter.verify_webhook(Inbound::new(headers, webhook.body)) {
        let _ = adapter.parse_webhook(&verified);
    }
});
