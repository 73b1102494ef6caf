//! Raw inbound webhooks: stored exactly as received before they are acknowledged, with the
//! outcome of processing, so a body we could not parse can be reprocessed after a fix.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::inbound_webhook;
use super::{Store, StoreError};

/// Processing outcomes of an inbound webhook.
pub mod outcome {
    /// Stored, not yet processed (or the process died while processing).
    pub const RECEIVED: &str = "received";
    pub const PROCESSED: &str = "processed";
    /// Processed, but some items had problems (see `error`).
    pub const PARTIAL: &str = "partial";
    /// The body could not be parsed at all; `trackgate reprocess` retries it.
    pub const FAILED: &str = "failed";
}

impl Store {
    pub async fn store_inbound_webhook(
        &self,
        carrier_id: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<i64, StoreError> {
        let headers =
            serde_json::to_string(headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = inbound_webhook::ActiveModel {
            carrier_id: Set(carrier_id.to_owned()),
            received_at: Set(Utc::now()),
            headers: Set(headers),
            body: Set(body.to_vec()),
            outcome: Set(outcome::RECEIVED.to_owned()),
            error: Set(None),
            processed_at: Set(None),
            ..Default::default()
        }
        .insert(self.conn())
        .await?;
        Ok(row.id)
    }

    pub async fn set_webhook_outcome(
        &self,
        id: i64,
        result: &str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let row = inbound_webhook::ActiveModel {
            id: Set(id),
            outcome: Set(result.to_owned()),
            error: Set(error),
            processed_at: Set(Some(Utc::now())),
            ..Default::default()
        };
        row.update(self.conn()).await?;
        Ok(())
    }

    pub async fn inbound_webhook(
        &self,
        id: i64,
    ) -> Result<Option<inbound_webhook::Model>, StoreError> {
        Ok(inbound_webhook::Entity::find_by_id(id)
            .one(self.conn())
            .await?)
    }

    /// Webhooks in the given outcomes, oldest first (what `trackgate reprocess` walks).
    pub async fn inbound_webhooks_in(
        &self,
        outcomes: &[&str],
        limit: u64,
    ) -> Result<Vec<inbound_webhook::Model>, StoreError> {
        Ok(inbound_webhook::Entity::find()
            .filter(inbound_webhook::Column::Outcome.is_in(outcomes.iter().copied()))
            .order_by_asc(inbound_webhook::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    pub async fn count_inbound_webhooks(&self) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(inbound_webhook::Entity::find().count(self.conn()).await?)
    }
}

/// Headers as stored, decoded.
pub fn decode_headers(row: &inbound_webhook::Model) -> Vec<(String, String)> {
    serde_json::from_str(&row.headers).unwrap_or_default()
}
