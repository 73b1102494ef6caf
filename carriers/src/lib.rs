//! trackgate's carrier crate: everything that knows about carriers and nothing that knows about
//! the gateway.
//!
//! It is sans-IO on purpose: adapters parse bytes, verify signatures, describe the HTTP requests
//! a poll needs and map carrier codes onto the [`Status`] vocabulary. They never open a socket,
//! read config files or touch the store, which is what lets every adapter be tested from fixture
//! files alone. The gateway (`src/`) depends on this crate; this crate depends on no part of it.
//! [`catalog`] is the one table of built-in kinds everything else reads.

mod adapter;
pub mod catalog;
mod common;
pub mod couriers;
pub mod definition;
mod lenient;
mod model;
pub mod numbers;
pub mod oauth;
pub mod places;
pub mod settings;
mod status;
pub mod sub_status;

pub mod aftership;
pub mod australiapost;
pub mod detect;
pub mod dhl;
pub mod easypost;
pub mod fedex;
pub mod kuaidi100;
pub mod laposte;
pub mod mydhl;
pub mod royalmail;
pub mod sandbox;
pub mod seventeen_track;
pub mod shippo;
pub mod ups;
pub mod usps;
pub mod zones;

pub use adapter::{
    AccessToken, Capabilities, CarrierAdapter, HttpMethod, HttpRequest, Inbound, ParseError,
    PollTarget, SignatureError, SubscriptionAnswer, Unverified, Verified, WebhookAck,
    tracking_numbers,
};
pub use catalog::{BodySource, CATALOG, CarrierKind};
pub use model::{
    Instant, ParseOutcome, Problem, TrackingEvent, TrackingUpdate, apply_current_status, dedupe_key,
};
pub use numbers::NumberRule;
pub use status::{Status, UnknownStatus};
