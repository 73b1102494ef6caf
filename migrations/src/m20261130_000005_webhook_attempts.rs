//! Poison webhooks: `inbound_webhooks.attempts` counts the ingests of a stored webhook that the
//! database refused; after `intake.max_attempts` the webhook is set aside as `quarantined`
//! (listed by the admin API, reprocessable after a fix) instead of failing every sweep.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum InboundWebhooks {
    Table,
    Attempts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(InboundWebhooks::Table)
                    .add_column(integer(InboundWebhooks::Attempts).default(0).to_owned())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(InboundWebhooks::Table)
                    .drop_column(InboundWebhooks::Attempts)
                    .to_owned(),
            )
            .await
    }
}
