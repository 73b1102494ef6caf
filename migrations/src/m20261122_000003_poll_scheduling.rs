//! Poll scheduling across processes: per-shipment priority, the count of polls that changed
//! nothing (for the exponential slow-down), whether the grace poll after a terminal status was
//! made, and a lease (`lease_until`, `lease_owner`) so each due batch is claimed by exactly one
//! gateway process; `last_webhook_at` tells whether the carrier is pushing updates for the
//! shipment (then polls are only a safety net). `carrier_pacers` holds each carrier instance's shared request pacing (the
//! earliest instant the next request may leave, in ms) and its per-day request count, so rate
//! limits hold across every process sharing the database.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Shipments {
    Table,
    CarrierId,
    NextPollAt,
    PollPriority,
    UnchangedPolls,
    GracePolled,
    LeaseUntil,
    LeaseOwner,
    LastWebhookAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CarrierPacers {
    Table,
    CarrierId,
    NextAtMs,
    Day,
    DayUsed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
        let columns = [
            integer(Shipments::PollPriority).default(0).to_owned(),
            integer(Shipments::UnchangedPolls).default(0).to_owned(),
            boolean(Shipments::GracePolled).default(false).to_owned(),
            timestamp_with_time_zone_null(Shipments::LeaseUntil),
            string_null(Shipments::LeaseOwner),
            timestamp_with_time_zone_null(Shipments::LastWebhookAt),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Shipments::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                // The claim's order: a carrier's refreshes, then new shipments, then the most
                // overdue — read straight off the index, so a claim stops after one batch even
                // with a million shipments due.
                Index::create()
                    .name("ix_shipments_carrier_due")
                    .table(Shipments::Table)
                    .col(Shipments::CarrierId)
                    .col((Shipments::PollPriority, IndexOrder::Desc))
                    .col(Shipments::NextPollAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CarrierPacers::Table)
                    .col(string(CarrierPacers::CarrierId).primary_key())
                    .col(big_integer(CarrierPacers::NextAtMs))
                    .col(integer(CarrierPacers::Day))
                    .col(integer(CarrierPacers::DayUsed))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CarrierPacers::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_shipments_carrier_due")
                    .table(Shipments::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Shipments::PollPriority,
            Shipments::UnchangedPolls,
            Shipments::GracePolled,
            Shipments::LeaseUntil,
            Shipments::LeaseOwner,
            Shipments::LastWebhookAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Shipments::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
