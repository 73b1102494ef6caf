//! Raw inbound webhooks: stored exactly as received before they are acknowledged, with the
//! outcome of processing, so a body we could not parse can be reprocessed after a fix.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::sqlx::postgres::{PgArguments, Postgres};
use sea_orm::sqlx::{self, Row};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnAcquireErr, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, RuntimeErr, Set, TransactionTrait,
};

use super::entities::inbound_webhook;
use super::states::{WebhookOutcome, label};
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

    /// Bytes of row data, about.
    fn size(&self) -> usize {
        self.body.len() + self.headers.len() + self.carrier_id.len() + 64
    }

    /// A webhook that could not be parsed is stored already processed (`failed`).
    fn processed_at(&self) -> Option<DateTime<Utc>> {
        (self.outcome != WebhookOutcome::Received).then_some(self.received_at)
    }

    fn into_active(self) -> inbound_webhook::ActiveModel {
        let processed_at = self.processed_at();
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

/// Rows per multi-row `INSERT` on SQLite: eight parameters a row, under its 32,766.
const SQLITE_ROWS: usize = 2048;

/// The group commit on PostgreSQL: every webhook of the batch in one `INSERT … SELECT` from
/// `unnest`, one array per column, so the statement's text is the same for any batch and each
/// connection prepares it once. Before, a multi-row `VALUES` had one text per batch size — each
/// new one parsed and planned, and pushing older ones out of the statement cache — and batches
/// were cut at 12 KiB for a TLS stall that loopback no longer has ([`super::Store::connect`]),
/// so a busy second took a transaction of several statements. The arrays are bound in binary
/// ([`postgres_insert`]): as text literals, hex-encoded bodies doubled PostgreSQL's cost of the
/// insert (145 against 76 µs a webhook at 720/s).
const STORE_ON_POSTGRES: &str = "\
INSERT INTO inbound_webhooks (carrier_id, received_at, headers, body, outcome, error, processed_at, attempts) \
SELECT carrier_id, received_at, headers, body, outcome, error, processed_at, 0 \
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[]) \
AS v (carrier_id, received_at, headers, body, outcome, error, processed_at) \
RETURNING id";

/// A group commit whose rows carry more than this gives its connection's buffers back
/// afterwards. sqlx keeps a connection's buffers at the largest message they held, for the
/// connection's life, and a burst's batch (up to `intake.max_batch` bodies: a megabyte) would
/// otherwise stay pinned on every lane and pooled connection that ever sent one. (Flat out the
/// mean batch is about 40 KB, under this; the higher RSS of a faster intake is not these
/// buffers: BENCHMARKS.md, sixth session.)
const SHRINK_AFTER_BYTES: usize = 64 * 1024;

/// A pool that handed out no connection, as sea-orm reports it (so an API answers 503).
fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}

fn query_error(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

/// [`STORE_ON_POSTGRES`] with its seven arrays bound.
fn postgres_insert(rows: &[NewInbound]) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    fn column<T>(rows: &[NewInbound], value: impl Fn(&NewInbound) -> T) -> Vec<T> {
        rows.iter().map(value).collect()
    }
    sqlx::query(STORE_ON_POSTGRES)
        .bind(column(rows, |r| r.carrier_id.clone()))
        .bind(column(rows, |r| r.received_at))
        .bind(column(rows, |r| r.headers.clone()))
        .bind(column(rows, |r| r.body.clone()))
        .bind(column(rows, |r| label(r.outcome)))
        .bind(column(rows, |r| r.error.clone()))
        .bind(column(rows, NewInbound::processed_at))
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
    /// webhook intake) and return their ids in order. PostgreSQL writes them with one statement
    /// ([`STORE_ON_POSTGRES`]), SQLite with multi-row `INSERT … RETURNING id`s; MySQL has no
    /// `RETURNING`, so there it is one `INSERT` per row, under one transaction.
    ///
    /// A batch that is one statement commits by itself: no `BEGIN` and `COMMIT` round trips,
    /// which on a busy box are each a wait for a PostgreSQL backend to be scheduled, before the
    /// carriers get their answer. On PostgreSQL it runs on a read lane ([`super::lanes`]) when
    /// one is free, so no ping follows it either.
    pub async fn store_inbound_webhooks(
        &self,
        rows: Vec<NewInbound>,
    ) -> Result<Vec<i64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match self.backend() {
            DbBackend::Postgres => self.store_on_postgres(&rows).await,
            DbBackend::MySql => {
                let txn = self.conn().begin().await?;
                let mut ids = Vec::with_capacity(rows.len());
                for row in rows {
                    ids.push(row.into_active().insert(&txn).await?.id);
                }
                txn.commit().await?;
                Ok(ids)
            }
            _ if rows.len() <= SQLITE_ROWS => insert_returning_ids(self.conn(), rows).await,
            _ => {
                let txn = self.conn().begin().await?;
                let mut ids = Vec::with_capacity(rows.len());
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let chunk: Vec<NewInbound> = rows.by_ref().take(SQLITE_ROWS).collect();
                    ids.extend(insert_returning_ids(&txn, chunk).await?);
                }
                txn.commit().await?;
                Ok(ids)
            }
        }
    }

    /// [`STORE_ON_POSTGRES`] on a read lane when one is free. The ids come back ascending: a
    /// sequence hands them out row by row in the order `unnest` yields the rows, which is the
    /// order given.
    ///
    /// A statement of more than [`SHRINK_AFTER_BYTES`] leaves its connection's buffers as they
    /// were before it.
    async fn store_on_postgres(&self, rows: &[NewInbound]) -> Result<Vec<i64>, StoreError> {
        let query = postgres_insert(rows);
        let large = rows.iter().map(NewInbound::size).sum::<usize>() > SHRINK_AFTER_BYTES;
        let answered = match self.lane().await {
            Some(lane) => {
                let answered = lane.conn().fetch_all(query).await;
                if large {
                    lane.conn().shrink_buffers().await;
                }
                answered?
            }
            None => {
                let pool = self.conn().get_postgres_connection_pool();
                let mut conn = pool.acquire().await.map_err(acquire_error)?;
                let answered = query.fetch_all(&mut *conn).await.map_err(query_error);
                if large {
                    sqlx::Connection::shrink_buffers(&mut *conn);
                }
                answered?
            }
        };
        let mut ids = answered
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(query_error)?;
        ids.sort_unstable();
        if ids.len() != rows.len() {
            return Err(StoreError::Corrupt(format!(
                "stored {} webhooks but got {} ids back",
                rows.len(),
                ids.len()
            )));
        }
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
