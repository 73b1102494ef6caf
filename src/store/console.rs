//! Reads for the support console and its dashboard: the search, everything known about one
//! shipment's pushes (attempts and dead letters in one query each) and the push backlog's size
//! and age.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{dead_letter, push_attempt, push_outbox, shipment};
use super::states::OutboxState;
use super::{Store, StoreError};

/// The undelivered pushes: how many, and since when the oldest has waited.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushBacklog {
    pub pending: u64,
    pub oldest_created_at: Option<DateTime<Utc>>,
    pub dead_letters: u64,
}

impl Store {
    /// The console's search, in one query: shipments whose id or order id is `text`, or whose
    /// tracking number is one of `numbers` (its spellings), most recently updated first.
    pub async fn search_shipments(
        &self,
        text: &str,
        numbers: &[String],
    ) -> Result<Vec<shipment::Model>, StoreError> {
        let mut matches = Condition::any()
            .add(shipment::Column::Id.eq(text))
            .add(shipment::Column::OrderId.eq(text));
        if !numbers.is_empty() {
            matches = matches.add(shipment::Column::TrackingNumber.is_in(numbers.iter().cloned()));
        }
        Ok(shipment::Entity::find()
            .filter(matches)
            .order_by_desc(shipment::Column::UpdatedAt)
            .all(self.conn())
            .await?)
    }

    /// Every attempt of these pushes, oldest first.
    pub async fn attempts_of(
        &self,
        outbox_ids: &[String],
    ) -> Result<Vec<push_attempt::Model>, StoreError> {
        if outbox_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(push_attempt::Entity::find()
            .filter(push_attempt::Column::OutboxId.is_in(outbox_ids.iter().cloned()))
            .order_by_asc(push_attempt::Column::Id)
            .all(self.conn())
            .await?)
    }

    /// Dead letters (replayed or not) of these references: a shipment's pushes by outbox id,
    /// its polls and subscription by shipment id. Newest first.
    pub async fn dead_letters_of(
        &self,
        ref_ids: &[String],
    ) -> Result<Vec<dead_letter::Model>, StoreError> {
        if ref_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(dead_letter::Entity::find()
            .filter(dead_letter::Column::RefId.is_in(ref_ids.iter().cloned()))
            .order_by_desc(dead_letter::Column::Id)
            .all(self.conn())
            .await?)
    }

    /// Pending pushes (not yet accepted by the mall), the oldest one's age, open dead letters.
    pub async fn push_backlog(&self) -> Result<PushBacklog, StoreError> {
        let pending = push_outbox::Entity::find()
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .count(self.conn())
            .await?;
        let oldest_created_at: Option<DateTime<Utc>> = push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::CreatedAt)
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .order_by_asc(push_outbox::Column::CreatedAt)
            .limit(1)
            .into_tuple()
            .one(self.conn())
            .await?;
        let dead_letters = dead_letter::Entity::find()
            .filter(dead_letter::Column::ReplayedAt.is_null())
            .count(self.conn())
            .await?;
        Ok(PushBacklog {
            pending,
            oldest_created_at,
            dead_letters,
        })
    }
}
