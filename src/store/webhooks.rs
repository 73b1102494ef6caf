//! Raw inbound webhooks: stored exactly as received before they are acknowledged, with the
//! outcome of processing, so a body we could not parse can be reprocessed after a fix.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
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

/// A verified webhook about to be stored: what [`Store::store_inbound_webhooks`] writes.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub carrier_id: String,
    /// The request headers, JSON-encoded.
    pub headers: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    /// [`outcome::RECEIVED`], or [`outcome::FAILED`] with `error` when it could not be parsed.
    pub outcome: &'static str,
    pub error: Option<String>,
}

impl NewInbound {
    pub fn new(
        carrier_id: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<NewInbound, StoreError> {
        Ok(NewInbound {
            carrier_id: carrier_id.to_owned(),
            headers: serde_json::to_string(headers)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            body,
            received_at: Utc::now(),
            outcome: outcome::RECEIVED,
            error: None,
        })
    }

    fn into_active(self) -> inbound_webhook::ActiveModel {
        let processed_at = (self.outcome != outcome::RECEIVED).then_some(self.received_at);
        inbound_webhook::ActiveModel {
            carrier_id: Set(self.carrier_id),
            received_at: Set(self.received_at),
            headers: Set(self.headers),
            body: Set(self.body),
            outcome: Set(self.outcome.to_owned()),
            error: Set(self.error),
            processed_at: Set(processed_at),
            ..Default::default()
        }
    }
}

impl Store {
    /// Store many webhooks in one transaction (one durable commit for all of them: the group
    /// commit of [`crate::intake`]) and return their ids in order. PostgreSQL and SQLite write
    /// them with one multi-row `INSERT … RETURNING id`; MySQL has no `RETURNING`, so there it is
    /// one `INSERT` per row, still under the one commit.
    pub async fn store_inbound_webhooks(
        &self,
        rows: Vec<NewInbound>,
    ) -> Result<Vec<i64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.conn().begin().await?;
        let ids = if txn.get_database_backend() == DbBackend::MySql {
            let mut ids = Vec::with_capacity(rows.len());
            for row in rows {
                ids.push(row.into_active().insert(&txn).await?.id);
            }
            ids
        } else {
            let expected = rows.len();
            let ids =
                inbound_webhook::Entity::insert_many(rows.into_iter().map(NewInbound::into_active))
                    .exec_with_returning_keys(&txn)
                    .await?;
            if ids.len() != expected {
                return Err(StoreError::Corrupt(format!(
                    "stored {expected} webhooks but got {} ids back",
                    ids.len()
                )));
            }
            ids
        };
        txn.commit().await?;
        Ok(ids)
    }

    /// Received webhooks nobody processed for `older_than` (their process died, or the
    /// in-memory hand-off was full), oldest first, from ids above `above_id`.
    pub async fn stale_received_webhooks(
        &self,
        older_than: std::time::Duration,
        above_id: i64,
        limit: u64,
    ) -> Result<Vec<inbound_webhook::Model>, StoreError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::zero());
        Ok(inbound_webhook::Entity::find()
            .filter(inbound_webhook::Column::Outcome.eq(outcome::RECEIVED))
            .filter(inbound_webhook::Column::ReceivedAt.lt(cutoff))
            .filter(inbound_webhook::Column::Id.gt(above_id))
            .order_by_asc(inbound_webhook::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

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

    /// Record the same outcome for many webhooks with one statement, inside the caller's
    /// transaction or connection.
    pub async fn set_webhook_outcomes<C: ConnectionTrait>(
        conn: &C,
        ids: &[i64],
        result: &str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        inbound_webhook::Entity::update_many()
            .col_expr(inbound_webhook::Column::Outcome, Expr::value(result))
            .col_expr(inbound_webhook::Column::Error, Expr::value(error))
            .col_expr(
                inbound_webhook::Column::ProcessedAt,
                Expr::value(Some(Utc::now())),
            )
            .filter(inbound_webhook::Column::Id.is_in(ids.iter().copied()))
            .exec(conn)
            .await?;
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
