//! Poll hints on shipments: the carrier's code at an aggregator (`carrier_code`: Kuaidi100's
//! `com`, a 17TRACK carrier number) and the last four digits of a phone number (`phone_last4`),
//! which SF Express via Kuaidi100 requires before it answers a query.
//!
//! Only the last four digits are stored: that is all any carrier asks for, and a full phone
//! number is personal data the gateway has no use for.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Shipments {
    Table,
    CarrierCode,
    PhoneLast4,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds a single column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .add_column(string_null(Shipments::CarrierCode))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Shipments::Table)
                    .add_column(string_len_null(Shipments::PhoneLast4, 4))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Shipments::CarrierCode, Shipments::PhoneLast4] {
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
