//! Built-in alerts: one row per alert key (`dead_letters`, `carrier_failing:ups`, …) with its
//! state, when it was last sent, and when any process last saw it hold. The row is how several gateway processes agree that an
//! alert is sent once: each claims a send with a conditional update, and only the process whose
//! update changed the row sends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Alerts {
    Table,
    Key,
    Firing,
    Summary,
    FiredAt,
    LastSentAt,
    HeldAt,
    ResolvedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(string_len(Alerts::Key, 191).primary_key())
                    .col(boolean(Alerts::Firing))
                    .col(text(Alerts::Summary))
                    .col(timestamp_with_time_zone(Alerts::FiredAt))
                    .col(timestamp_with_time_zone(Alerts::LastSentAt))
                    .col(timestamp_with_time_zone(Alerts::HeldAt))
                    .col(timestamp_with_time_zone_null(Alerts::ResolvedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await
    }
}
