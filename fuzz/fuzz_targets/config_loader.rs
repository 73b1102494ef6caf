//! The configuration loader on arbitrary TOML overlaid on the defaults: a clear error or valid
//! settings, never a panic; valid settings always print (check-config) without their secrets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trackgate::config::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = Settings::from_toml(text) {
        let printed = settings.redacted_toml();
        assert!(!printed.starts_with("# cannot render"), "{printed}");
    }
});
