//! Every carrier parser of the catalog — the built-in adapters and the shipped definitions —
//! webhook and poll, on arbitrary bytes: no panic, and whatever comes out serializes (it is
//! stored and pushed as JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trackgate_carriers::BodySource;
use trackgate_carriers::catalog;

fuzz_target!(|data: &[u8]| {
    let [kind, source, body @ ..] = data else {
        return;
    };
    let kinds = catalog::all();
    let kind = kinds[usize::from(*kind) % kinds.len()];
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
