//! An index on `push_outbox (shipment_id, state, seq)`: "this shipment's pending pushes, in
//! order" is asked for every webhook batch (which shipments have a push pending) and before
//! every push (is this one the earliest). With only `(shipment_id, seq)` and `(state, enqueued)`
//! PostgreSQL's generic plans intersect both indexes and read every pending row of the outbox
//! for each shipment — milliseconds per shipment under a backlog. With this one it is a single
//! index probe on every backend.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum PushOutbox {
    Table,
    ShipmentId,
    State,
    Seq,
}

const NAME: &str = "ix_push_outbox_shipment_state";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(PushOutbox::Table)
                    .col(PushOutbox::ShipmentId)
                    .col(PushOutbox::State)
                    .col(PushOutbox::Seq)
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
