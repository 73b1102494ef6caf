//! An index on `push_outbox.created_at`: the live streams' `store` fanout backend asks every
//! half second for the pushes written since its last look (by any process), and the outbox relay
//! orders its candidates by it. Without the index both scan the whole outbox.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum PushOutbox {
    Table,
    CreatedAt,
}

const NAME: &str = "ix_push_outbox_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(PushOutbox::Table)
                    .col(PushOutbox::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(PushOutbox::Table).to_owned())
            .await
    }
}
