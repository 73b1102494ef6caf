//! Every carrier parser of the catalog, webhook and poll, on arbitrary bytes: no panic, and
//! whatever comes out serializes (it is stored and pushed as JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trackgate_carriers::{BodySource, CATALOG};

fuzz_target!(|data: &[u8]| {
    let [kind, source, body @ ..] = data else {
        return;
    };
    let kind = &CATALOG[usize::from(*kind) % CATALOG.len()];
    let source = if source % 2 == 0 {
        BodySource::Webhook
    } else {
        BodySource::Poll
    };
    let adapter = kind.unconfigured();
    if let Ok(outcome) = kind.parse_unverified(adapter.as_ref(), source, body) {
        serde_json::to_vec(&outcome).expect("a parse outcome always serializes");
        for update in &outcome.updates {
            for event in &update.events {
                assert!(!event.dedupe_key.is_empty(), "{}: an event without a key", kind.kind);
            }
        }
    }
});
