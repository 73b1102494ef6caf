//! Subscriptions with carriers: one row per shipment whose carrier must be told to follow it
//! (Kuaidi100 `poll`, AfterShip trackings, EasyPost trackers, Shippo tracks, 17TRACK
//! registration). The row is the durable record of the work: `pending` until the carrier
//! confirms (`active`) or refuses for good (`failed`, with its message), `stopping` once the
//! shipment is stopped until the carrier is told (`stopped`). `enqueued` says whether a task for
//! it is on the queue; the relay queues rows that are not.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Subscriptions {
    Table,
    ShipmentId,
    CarrierId,
    State,
    Attempts,
    LastError,
    Enqueued,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(string(Subscriptions::ShipmentId).primary_key())
                    .col(string(Subscriptions::CarrierId))
                    .col(string(Subscriptions::State))
                    .col(integer(Subscriptions::Attempts).default(0))
                    .col(text_null(Subscriptions::LastError))
                    .col(boolean(Subscriptions::Enqueued).default(false))
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::MySql {
            // As migration 4 does for the older tables: MySQL's TIMESTAMP ends in 2038.
            let db = manager.get_connection();
            for column in ["created_at", "updated_at"] {
                db.execute_unprepared(&format!(
                    "ALTER TABLE `subscriptions` MODIFY `{column}` DATETIME(6) NOT NULL"
                ))
                .await?;
            }
            db.execute_unprepared(
                "ALTER TABLE `subscriptions` MODIFY `last_error` MEDIUMTEXT NULL",
            )
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_subscriptions_relay")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::Enqueued)
                    .col(Subscriptions::State)
                    .col(Subscriptions::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_subscriptions_carrier_state")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::CarrierId)
                    .col(Subscriptions::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}
