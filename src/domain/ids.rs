//! Typed, prefixed ids: `shp_…` for shipments, `msg_…` for pushes (the `webhook-id`), `key_…`
//! for API keys. UUIDv7 underneath, so ids sort by creation time and index well.

use uuid::Uuid;

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

pub fn new_shipment_id() -> String {
    new_id("shp")
}

pub fn new_message_id() -> String {
    new_id("msg")
}

pub fn new_key_id() -> String {
    new_id("key")
}
