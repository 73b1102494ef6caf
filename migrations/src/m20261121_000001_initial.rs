//! The first schema: shipments, their deduplicated events, raw inbound webhooks, the push outbox
//! with its delivery attempts, dead letters, the embedded queue and API keys.
//!
//! Times are `timestamp with time zone` (UTC); JSON documents are stored as text so one
//! definition serves SQLite and PostgreSQL alike.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Shipments {
    Table,
    Id,
    CarrierId,
    CarrierKind,
    TrackingNumber,
    OrderId,
    Status,
    SubStatus,
    StatusRawCode,
    LastEventAt,
    DeliveredAt,
    EstimatedDelivery,
    Metadata,
    Tracking,
    PushSeq,
    NextPollAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TrackingEvents {
    Table,
    Id,
    ShipmentId,
    DedupeKey,
    OccurredAt,
    UtcOffsetSeconds,
    OffsetInferred,
    Status,
    SubStatus,
    RawCode,
    Description,
    Location,
    Source,
    InboundWebhookId,
    ReceivedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum InboundWebhooks {
    Table,
    Id,
    CarrierId,
    ReceivedAt,
    Headers,
    Body,
    Outcome,
    Error,
    ProcessedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PushOutbox {
    Table,
    Id,
    ShipmentId,
    Seq,
    Payload,
    State,
    Attempts,
    Enqueued,
    LastError,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PushAttempts {
    Table,
    Id,
    OutboxId,
    Attempt,
    AttemptedAt,
    HttpStatus,
    Error,
    DurationMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum DeadLetters {
    Table,
    Id,
    Kind,
    RefId,
    Attempts,
    LastError,
    CreatedAt,
    ReplayedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum QueueTasks {
    Table,
    Id,
    Kind,
    RefId,
    Attempt,
    AvailableAt,
    LeaseUntil,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    Scope,
    TokenHash,
    Prefix,
    Name,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Shipments::Table)
                    .col(string(Shipments::Id).primary_key())
                    .col(string(Shipments::CarrierId))
                    .col(string(Shipments::CarrierKind))
                    .col(string(Shipments::TrackingNumber))
                    .col(string_null(Shipments::OrderId))
                    .col(string(Shipments::Status))
                    .col(string_null(Shipments::SubStatus))
                    .col(string_null(Shipments::StatusRawCode))
                    .col(timestamp_with_time_zone_null(Shipments::LastEventAt))
                    .col(timestamp_with_time_zone_null(Shipments::DeliveredAt))
                    .col(timestamp_with_time_zone_null(Shipments::EstimatedDelivery))
                    .col(text_null(Shipments::Metadata))
                    .col(boolean(Shipments::Tracking))
                    .col(big_integer(Shipments::PushSeq))
                    .col(timestamp_with_time_zone_null(Shipments::NextPollAt))
                    .col(timestamp_with_time_zone(Shipments::CreatedAt))
                    .col(timestamp_with_time_zone(Shipments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_shipments_carrier_number",
            Shipments::Table,
            &[Shipments::CarrierId, Shipments::TrackingNumber],
            true,
        )
        .await?;
        index(
            manager,
            "ix_shipments_tracking_number",
            Shipments::Table,
            &[Shipments::TrackingNumber],
            false,
        )
        .await?;
        index(
            manager,
            "ix_shipments_order_id",
            Shipments::Table,
            &[Shipments::OrderId],
            false,
        )
        .await?;
        index(
            manager,
            "ix_shipments_next_poll",
            Shipments::Table,
            &[Shipments::Tracking, Shipments::NextPollAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(InboundWebhooks::Table)
                    .col(big_pk_auto(InboundWebhooks::Id))
                    .col(string(InboundWebhooks::CarrierId))
                    .col(timestamp_with_time_zone(InboundWebhooks::ReceivedAt))
                    .col(text(InboundWebhooks::Headers))
                    .col(binary(InboundWebhooks::Body))
                    .col(string(InboundWebhooks::Outcome))
                    .col(text_null(InboundWebhooks::Error))
                    .col(timestamp_with_time_zone_null(InboundWebhooks::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_inbound_webhooks_outcome",
            InboundWebhooks::Table,
            &[InboundWebhooks::Outcome],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(TrackingEvents::Table)
                    .col(big_pk_auto(TrackingEvents::Id))
                    .col(string(TrackingEvents::ShipmentId))
                    .col(string(TrackingEvents::DedupeKey))
                    .col(timestamp_with_time_zone(TrackingEvents::OccurredAt))
                    .col(integer_null(TrackingEvents::UtcOffsetSeconds))
                    .col(boolean(TrackingEvents::OffsetInferred))
                    .col(string(TrackingEvents::Status))
                    .col(string_null(TrackingEvents::SubStatus))
                    .col(string(TrackingEvents::RawCode))
                    .col(text(TrackingEvents::Description))
                    .col(string_null(TrackingEvents::Location))
                    .col(string(TrackingEvents::Source))
                    .col(big_integer_null(TrackingEvents::InboundWebhookId))
                    .col(timestamp_with_time_zone(TrackingEvents::ReceivedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tracking_events_shipment")
                            .from(TrackingEvents::Table, TrackingEvents::ShipmentId)
                            .to(Shipments::Table, Shipments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_tracking_events_dedupe",
            TrackingEvents::Table,
            &[TrackingEvents::ShipmentId, TrackingEvents::DedupeKey],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(PushOutbox::Table)
                    .col(string(PushOutbox::Id).primary_key())
                    .col(string(PushOutbox::ShipmentId))
                    .col(big_integer(PushOutbox::Seq))
                    .col(text(PushOutbox::Payload))
                    .col(string(PushOutbox::State))
                    .col(integer(PushOutbox::Attempts))
                    .col(boolean(PushOutbox::Enqueued))
                    .col(text_null(PushOutbox::LastError))
                    .col(timestamp_with_time_zone(PushOutbox::CreatedAt))
                    .col(timestamp_with_time_zone(PushOutbox::UpdatedAt))
                    .col(timestamp_with_time_zone_null(PushOutbox::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_push_outbox_state",
            PushOutbox::Table,
            &[PushOutbox::State, PushOutbox::Enqueued],
            false,
        )
        .await?;
        index(
            manager,
            "ix_push_outbox_shipment",
            PushOutbox::Table,
            &[PushOutbox::ShipmentId, PushOutbox::Seq],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(PushAttempts::Table)
                    .col(big_pk_auto(PushAttempts::Id))
                    .col(string(PushAttempts::OutboxId))
                    .col(integer(PushAttempts::Attempt))
                    .col(timestamp_with_time_zone(PushAttempts::AttemptedAt))
                    .col(integer_null(PushAttempts::HttpStatus))
                    .col(text_null(PushAttempts::Error))
                    .col(big_integer(PushAttempts::DurationMs))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_push_attempts_outbox",
            PushAttempts::Table,
            &[PushAttempts::OutboxId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .col(big_pk_auto(DeadLetters::Id))
                    .col(string(DeadLetters::Kind))
                    .col(string(DeadLetters::RefId))
                    .col(integer(DeadLetters::Attempts))
                    .col(text_null(DeadLetters::LastError))
                    .col(timestamp_with_time_zone(DeadLetters::CreatedAt))
                    .col(timestamp_with_time_zone_null(DeadLetters::ReplayedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(QueueTasks::Table)
                    .col(big_pk_auto(QueueTasks::Id))
                    .col(string(QueueTasks::Kind))
                    .col(string(QueueTasks::RefId))
                    .col(integer(QueueTasks::Attempt))
                    .col(timestamp_with_time_zone(QueueTasks::AvailableAt))
                    .col(timestamp_with_time_zone_null(QueueTasks::LeaseUntil))
                    .col(timestamp_with_time_zone(QueueTasks::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_queue_tasks_available",
            QueueTasks::Table,
            &[QueueTasks::AvailableAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::Scope))
                    .col(string(ApiKeys::TokenHash))
                    .col(string(ApiKeys::Prefix))
                    .col(string_null(ApiKeys::Name))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_api_keys_token_hash",
            ApiKeys::Table,
            &[ApiKeys::TokenHash],
            true,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiKeys::Table.into_iden(),
            QueueTasks::Table.into_iden(),
            DeadLetters::Table.into_iden(),
            PushAttempts::Table.into_iden(),
            PushOutbox::Table.into_iden(),
            TrackingEvents::Table.into_iden(),
            InboundWebhooks::Table.into_iden(),
            Shipments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: &[C],
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + Clone + 'static,
    C: IntoIden + Clone + 'static,
{
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(column.clone());
    }
    if unique {
        statement.unique();
    }
    manager.create_index(statement.to_owned()).await
}
