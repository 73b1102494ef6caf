//! What a stranger can send to the live streams and the pages: tokens of every purpose (query
//! strings, cookies, tracking links), resume cursors, WebSocket client messages. No panic; a
//! token that verifies was signed with the key; a cursor that parses prints back the same.
#![no_main]

use chrono::Utc;
use libfuzzer_sys::fuzz_target;
use trackgate::domain::tokens::{
    LinkClaims, Purpose, SessionClaims, StreamClaims, TokenSigner,
};
use trackgate::live::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = TokenSigner::new(b"fuzz-key-fuzz-key-fuzz-key-fuzz-key".to_vec());
    let now = Utc::now();
    let _ = signer.verify::<StreamClaims>(Purpose::Stream, text, now);
    let _ = signer.verify::<LinkClaims>(Purpose::Tracking, text, now);
    let _ = signer.verify::<SessionClaims>(Purpose::Session, text, now);
    let _ = signer.check_tag(Purpose::Csrf, "session", text);
    if let Ok(cursor) = Cursor::parse(text) {
        let printed = cursor.to_string();
        assert_eq!(Cursor::parse(&printed).unwrap(), cursor);
    }
    let _ = trackgate::api::ws::parse_client_message(text);
});
