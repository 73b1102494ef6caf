//! Domain rules of the gateway that need no I/O: the shipment status rule, the polling schedule,
//! the retry delay, what the store can hold, and typed ids. The bottom layer: it imports nothing else of the crate.

pub mod ids;
pub mod retry;
pub mod sanitize;
pub mod schedule;
pub mod schema;
pub mod status;
pub mod time;
pub mod tokens;
