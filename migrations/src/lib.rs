//! trackgate's schema history: one list of migrations that runs unchanged on SQLite,
//! PostgreSQL and MySQL/MariaDB (the last with one MySQL-only type fix-up), applied by
//! `trackgate migrate` and (unless disabled) by `trackgate serve`.
//!
//! Migrations are append-only: a shipped migration is never edited, a change is a new one.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_initial;
mod m20261122_000002_poll_hints;
mod m20261122_000003_poll_scheduling;
mod m20261122_000004_mysql_column_types;
mod m20261130_000005_webhook_attempts;
mod m20261130_000006_canonical_numbers;
mod m20261130_000007_subscriptions;
mod m20261130_000008_push_created_index;
mod m20261130_000009_console_sessions;
mod m20261130_000010_alerts;
mod m20261130_000011_pending_push_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_initial::Migration),
            Box::new(m20261122_000002_poll_hints::Migration),
            Box::new(m20261122_000003_poll_scheduling::Migration),
            Box::new(m20261122_000004_mysql_column_types::Migration),
            Box::new(m20261130_000005_webhook_attempts::Migration),
            Box::new(m20261130_000006_canonical_numbers::Migration),
            Box::new(m20261130_000007_subscriptions::Migration),
            Box::new(m20261130_000008_push_created_index::Migration),
            Box::new(m20261130_000009_console_sessions::Migration),
            Box::new(m20261130_000010_alerts::Migration),
            Box::new(m20261130_000011_pending_push_index::Migration),
        ]
    }
}
