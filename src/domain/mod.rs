//! Domain rules of the gateway that need no I/O: the shipment status rule and typed ids.

pub mod ids;
pub mod schedule;
pub mod status;
