//! Carrier definitions as untrusted input: arbitrary text loaded as a definition (it loads or
//! is refused with an error naming its key path, never a panic), and when it loads, arbitrary
//! bytes parsed with it. The input is `definition text`, a NUL byte, then the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trackgate_carriers::definition::Definition;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (text, payload) = data.split_at(split);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match Definition::load(text, "fuzz.toml") {
        Err(err) => assert!(!err.key.is_empty(), "an error without a key path: {err}"),
        Ok(definition) => {
            let payload = payload.get(1..).unwrap_or_default();
            if let Ok(outcome) = definition.parse_body(payload) {
                serde_json::to_vec(&outcome).expect("a parse outcome always serializes");
            }
        }
    }
});
