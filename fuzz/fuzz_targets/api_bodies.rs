//! The HTTP API's JSON bodies (one registration, a batch) on arbitrary bytes: every input is
//! either accepted as a clean registration or refused with a problem, never a panic, and an
//! accepted registration holds nothing the store cannot keep (no U+0000, bounded lengths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trackgate::api::wire::{BatchIn, ShipmentIn};

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<ShipmentIn>(data) {
        if let Ok(checked) = input.check() {
            assert!(checked.is_storable(), "{checked:?}");
        }
    }
    if let Ok(batch) = serde_json::from_slice::<BatchIn>(data) {
        for item in batch.shipments {
            if let Ok(input) = serde_json::from_value::<ShipmentIn>(item) {
                let _ = input.check();
            }
        }
    }
});
