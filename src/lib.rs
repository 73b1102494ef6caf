//! trackgate: a logistics tracking gateway between carriers and an online mall.
//!
//! Carriers' updates (webhooks and polls) are parsed by the sans-IO adapters of
//! `trackgate-carriers`, stored through the single write path in [`ingest`], and every status
//! change is pushed to the mall, signed, through the durable retry [`queue`].
//!
//! Dependencies point one way (ARCHITECTURE.md; `tests/architecture.rs` keeps it true):
//! entry points ([`cli`], [`api`], [`poller`], [`startup`], [`demo`]) → shared state
//! ([`gateway`]) → pipeline ([`intake`] → [`ingest`] → [`push`]) → ports ([`store`], [`queue`],
//! [`registry`], [`live`]) → [`metrics`], [`health`], [`telemetry`], [`config`] → [`domain`].

pub mod alerts;
pub mod api;
pub mod batching;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod gateway;
pub mod health;
pub mod ingest;
pub mod intake;
pub mod live;
pub mod metrics;
pub mod normalize;
pub mod poller;
pub mod push;
pub mod queue;
pub mod registry;
pub mod startup;
pub mod store;
pub mod subscriptions;
pub mod telemetry;
pub mod web;

pub use trackgate_carriers as carriers;
