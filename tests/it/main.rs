//! trackgate's integration suite: one binary, the real app on port 0, real HTTP fakes for the
//! mall and the carriers, and the real PostgreSQL and RabbitMQ for the `_on_postgres_rabbitmq`
//! variants of the core scenarios.

mod helpers;

mod alerts;
mod api;
mod browser;
mod carrier_polls;
mod cli;
mod contract;
mod definitions;
mod deploy;
mod door;
mod healing;
mod ingest;
mod live;
mod live_processes;
mod live_ws;
mod numbers;
mod pages;
mod poison;
mod poll;
mod push;
mod push_records;
mod restart;
mod scheduling;
mod subscriptions;
mod webhooks;
