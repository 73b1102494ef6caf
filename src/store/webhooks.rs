//! Raw inbound webhooks: stored exactly as received before they are acknowledged, with the
//! outcome of processing, so a body we could not parse can be reprocessed after a fix.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::entities::inbound_webhook;
use super::states::WebhookOutcome;
use super::{Store, StoreError};

/// A verified webhook about to be stored: what [`Store::store_inbound_webhooks`] writes.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub carrier_id: String,
    /// The request headers, JSON-encoded.
    pub headers: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    /// `Received`, or `Failed` with `error` when it could not be parsed.
    pub outcome: WebhookOutcome,
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
            headers: serde_json::to_string(headers).map_err(|source| StoreError::Encode {
                what: "webhook headers",
                source,
            })?,
            body,
            received_at: Utc::now(),
            outcome: WebhookOutcome::Received,
            error: None,
        })
    }

    fn into_active(self) -> inbound_webhook::ActiveModel {
        let processed_at = (self.outcome != WebhookOutcome::Received).then_some(self.received_at);
        inbound_webhook::ActiveModel {
            carrier_id: Set(self.carrier_id),
            received_at: Set(self.received_at),
            headers: Set(self.headers),
            body: Set(self.body),
            outcome: Set(self.outcome),
            error: Set(self.error),
            processed_at: Set(processed_at),
            attempts: Set(0),
            ..Default::default()
        }
    }
}

/// Largest multi-row `INSERT` we send, in bytes of row data. Over TLS, a message goes out as
/// 16 KiB records, and sqlx sets no `TCP_NODELAY`: on a link whose segments hold a whole record
/// (loopback), each record after the first waits for the server's delayed ACK (~40 ms on Linux):
/// measured 44 ms for one 40 KB insert against 1 ms for a 2 KB one. Loopback now goes without TLS
/// ([`super::Store::connect`]); statements under one record still never wait, whatever the link.
const STATEMENT_BYTES: usize = 12 * 1024;

/// Split rows into consecutive groups whose data stays under `budget` bytes (a row bigger than
/// the budget goes alone).
fn statements_under(rows: Vec<NewInbound>, budget: usize) -> Vec<Vec<NewInbound>> {
    let mut statements: Vec<Vec<NewInbound>> = Vec::new();
    let mut size = 0;
    for row in rows {
        let row_size = row.body.len() + row.headers.len() + row.carrier_id.len() + 64;
        match statements.last_mut() {
            Some(last) if size + row_size <= budget => last.push(row),
            _ => {
                statements.push(vec![row]);
                size = 0;
            }
        }
        size += row_size;
    }
    statements
}

/// One multi-row `INSERT … RETURNING id` (PostgreSQL, SQLite): the new rows' ids, in order.
async fn insert_returning_ids(
    db: &impl ConnectionTrait,
    rows: Vec<NewInbound>,
) -> Result<Vec<i64>, StoreError> {
    let expected = rows.len();
    let stored =
        inbound_webhook::Entity::insert_many(rows.into_iter().map(NewInbound::into_active))
            .exec_with_returning_keys(db)
            .await?;
    if stored.len() != expected {
        return Err(StoreError::Corrupt(format!(
            "stored {expected} webhooks but got {} ids back",
            stored.len()
        )));
    }
    Ok(stored)
}

impl Store {
    /// Store many webhooks with one durable commit for all of them (the group commit of the
    /// webhook intake) and return their ids in order. PostgreSQL and SQLite write them with
    /// multi-row `INSERT … RETURNING id`s of up to [`STATEMENT_BYTES`]; MySQL has no
    /// `RETURNING`, so there it is one `INSERT` per row, under one transaction.
    ///
    /// A batch that fits one statement is that statement alone, which commits by itself: no
    /// `BEGIN` and `COMMIT` round trips, which on a busy box are each a wait for a PostgreSQL
    /// backend to be scheduled, before the carriers get their answer. On PostgreSQL it runs on
    /// a read lane ([`super::lanes`]) when one is free, so no ping follows it either.
    pub async fn store_inbound_webhooks(
        &self,
        rows: Vec<NewInbound>,
    ) -> Result<Vec<i64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.backend();
        let mut statements = statements_under(rows, STATEMENT_BYTES);
        if backend != DbBackend::MySql && statements.len() == 1 {
            let statement = statements.pop().expect("one statement");
            return match self.lane().await {
                Some(lane) => insert_returning_ids(lane.conn(), statement).await,
                None => insert_returning_ids(self.conn(), statement).await,
            };
        }
        let txn = self.conn().begin().await?;
        let mut ids = Vec::new();
        for statement in statements {
            if backend == DbBackend::MySql {
                for row in statement {
                    ids.push(row.into_active().insert(&txn).await?.id);
                }
            } else {
                ids.extend(insert_returning_ids(&txn, statement).await?);
            }
        }
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
            .filter(inbound_webhook::Column::Outcome.eq(WebhookOutcome::Received))
            .filter(inbound_webhook::Column::ReceivedAt.lt(cutoff))
            .filter(inbound_webhook::Column::Id.gt(above_id))
            .order_by_asc(inbound_webhook::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    pub async fn set_webhook_outcome(
        &self,
        id: i64,
        result: WebhookOutcome,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let row = inbound_webhook::ActiveModel {
            id: Set(id),
            outcome: Set(result),
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
        result: WebhookOutcome,
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

    /// Count an ingest of this webhook that the database refused; at `quarantine_after` such
    /// failures it is set aside as `quarantined`. Returns whether it is now quarantined.
    pub async fn record_ingest_failure(
        &self,
        id: i64,
        error: String,
        quarantine_after: u32,
    ) -> Result<bool, StoreError> {
        let Some(row) = self.inbound_webhook(id).await? else {
            return Ok(false);
        };
        let attempts = row.attempts.saturating_add(1);
        let quarantined = attempts >= quarantine_after.max(1) as i32;
        let mut active: inbound_webhook::ActiveModel = row.into();
        active.attempts = Set(attempts);
        active.error = Set(Some(error));
        if quarantined {
            active.outcome = Set(WebhookOutcome::Quarantined);
            active.processed_at = Set(Some(Utc::now()));
        }
        active.update(self.conn()).await?;
        Ok(quarantined)
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
        outcomes: &[WebhookOutcome],
        limit: u64,
    ) -> Result<Vec<inbound_webhook::Model>, StoreError> {
        Ok(inbound_webhook::Entity::find()
            .filter(inbound_webhook::Column::Outcome.is_in(outcomes.iter().copied()))
            .order_by_asc(inbound_webhook::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    /// The newest webhooks with this outcome (the admin listing).
    pub async fn latest_inbound_webhooks(
        &self,
        outcome: WebhookOutcome,
        limit: u64,
    ) -> Result<Vec<inbound_webhook::Model>, StoreError> {
        Ok(inbound_webhook::Entity::find()
            .filter(inbound_webhook::Column::Outcome.eq(outcome))
            .order_by_desc(inbound_webhook::Column::Id)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(size: usize) -> NewInbound {
        NewInbound::new("c", &[], vec![b'x'; size]).unwrap()
    }

    #[test]
    fn statements_stay_under_the_budget_and_keep_the_order() {
        let rows: Vec<NewInbound> = (0..10).map(|i| row(1000 + i)).collect();
        let statements = statements_under(rows, 3000);
        assert!(
            statements.iter().all(|s| s.len() == 2),
            "{:?}",
            statements.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let sizes: Vec<usize> = statements.iter().flatten().map(|r| r.body.len()).collect();
        assert_eq!(sizes, (0..10).map(|i| 1000 + i).collect::<Vec<_>>());
        let alone = statements_under(vec![row(10), row(50_000), row(10)], 3000);
        assert_eq!(
            alone.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
    }
}
