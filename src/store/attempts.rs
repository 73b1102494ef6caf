//! Push attempts and their outcomes, recorded for many pushes at once.
//!
//! Pushes that finish together are recorded together (rows locked in id order, as
//! [`Store::mark_enqueued_many`] does, so concurrent writers of the outbox cannot deadlock):
//! each attempt's row in `push_attempts`, its outbox row's new state (marked enqueued: a row
//! left pending has its retry on the queue, and no separate mark is needed, see
//! [`super::marks`]) and — so the worker can queue it at once — each shipment's next pending
//! push. On PostgreSQL that is one statement (data-modifying CTEs over `unnest` of one array
//! per column); MySQL and SQLite, which have no such CTEs, take one transaction of three statements
//! for the whole batch. A push going `dead` is recorded on its own with its dead letter
//! ([`Store::record_dead_push`]) so a dead push is always listed and replayable.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, TransactionTrait, Value,
};

use super::batch::pg_array;
use super::entities::{push_attempt, push_outbox};
use super::outbox::new_dead_letter;
use super::states::{OutboxState, TaskKind, label};
use super::{Store, StoreError};

/// One delivery attempt and the state it leaves its outbox row in.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub outbox_id: String,
    pub attempt: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub state: OutboxState,
    pub at: DateTime<Utc>,
}

/// A shipment's next pending push, found when the one before it was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPush {
    pub id: String,
    pub shipment_id: String,
    pub seq: i64,
    pub payload: String,
}

/// A pending push of a shipment, as the worker checks it before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPush {
    pub id: String,
    pub seq: i64,
    pub attempts: i32,
}

const RECORD_ON_POSTGRES: &str = "\
WITH v AS (SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::int4[], $5::text[], \
      $6::int8[], $7::timestamptz[]) AS v (id, attempt, state, http_status, error, duration_ms, at)), \
l AS (SELECT id FROM push_outbox WHERE id IN (SELECT id FROM v) ORDER BY id FOR UPDATE), \
o AS (UPDATE push_outbox AS p SET attempts = v.attempt, state = v.state, last_error = v.error, \
      updated_at = v.at, enqueued = true, \
      delivered_at = CASE WHEN v.state = 'delivered' THEN v.at ELSE p.delivered_at END \
      FROM v JOIN l ON l.id = v.id WHERE p.id = v.id RETURNING p.id, p.shipment_id, p.seq), \
a AS (INSERT INTO push_attempts (outbox_id, attempt, attempted_at, http_status, error, duration_ms) \
      SELECT id, attempt, at, http_status, error, duration_ms FROM v) \
SELECT o.id AS settled, n.id, n.shipment_id, n.seq, n.payload FROM o \
JOIN LATERAL (SELECT q.id, q.shipment_id, q.seq, q.payload FROM push_outbox AS q \
      WHERE q.shipment_id = o.shipment_id AND q.state = 'pending' AND q.seq > o.seq \
      ORDER BY q.seq LIMIT 1) AS n ON true";

impl Store {
    /// The shipment's pending pushes, earliest first, at most `limit`: the first is the only
    /// one that may be sent now. One statement.
    pub async fn pending_of_shipment(
        &self,
        shipment_id: &str,
        limit: u64,
    ) -> Result<Vec<PendingPush>, StoreError> {
        let rows: Vec<(String, i64, i32)> = push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::Id)
            .column(push_outbox::Column::Seq)
            .column(push_outbox::Column::Attempts)
            .filter(push_outbox::Column::ShipmentId.eq(shipment_id))
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .order_by_asc(push_outbox::Column::Seq)
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, seq, attempts)| PendingPush { id, seq, attempts })
            .collect())
    }

    /// Record attempts (none of them `dead`) and their rows' new states; returns, by settled
    /// outbox id, the shipment's next pending push for those that have one.
    pub async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<HashMap<String, NextPush>, StoreError> {
        if records.is_empty() {
            return Ok(HashMap::new());
        }
        if self.backend() == DbBackend::Postgres {
            return self.record_attempts_in_one_statement(records).await;
        }
        let txn = self.begin_write().await?;
        let mut state = CaseStatement::new();
        let mut attempts = CaseStatement::new();
        let mut last_error = CaseStatement::new();
        let mut delivered_at = CaseStatement::new();
        let mut any_delivered = false;
        for record in records {
            let this = || Expr::col(push_outbox::Column::Id).eq(record.outbox_id.clone());
            state = state.case(this(), Expr::value(record.state));
            attempts = attempts.case(this(), Expr::value(record.attempt));
            last_error = last_error.case(this(), Expr::value(record.error.clone()));
            if record.state == OutboxState::Delivered {
                delivered_at = delivered_at.case(this(), Expr::value(record.at));
                any_delivered = true;
            }
        }
        let ids: Vec<String> = records.iter().map(|r| r.outbox_id.clone()).collect();
        let mut update = push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::State, state.into())
            .col_expr(push_outbox::Column::Attempts, attempts.into())
            .col_expr(push_outbox::Column::LastError, last_error.into())
            .col_expr(push_outbox::Column::UpdatedAt, Expr::value(Utc::now()))
            // A row left pending has its retry on the queue ([`super::marks`]).
            .col_expr(push_outbox::Column::Enqueued, Expr::value(true));
        if any_delivered {
            // A `CASE` needs at least one branch; the others keep their value.
            let delivered_at = delivered_at.finally(Expr::col(push_outbox::Column::DeliveredAt));
            update = update.col_expr(push_outbox::Column::DeliveredAt, delivered_at.into());
        }
        update
            .filter(push_outbox::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        push_attempt::Entity::insert_many(records.iter().map(attempt_row))
            .exec_without_returning(&txn)
            .await?;
        // Only what finding the next push needs, not the settled rows' payloads.
        let settled: Vec<(String, String, i64)> = push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::Id)
            .column(push_outbox::Column::ShipmentId)
            .column(push_outbox::Column::Seq)
            .filter(push_outbox::Column::Id.is_in(ids))
            .into_tuple()
            .all(&txn)
            .await?;
        let shipments: Vec<String> = settled.iter().map(|(_, s, _)| s.clone()).collect();
        let pending = push_outbox::Entity::find()
            .filter(push_outbox::Column::ShipmentId.is_in(shipments))
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .order_by_asc(push_outbox::Column::Seq)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(settled
            .into_iter()
            .filter_map(|(id, shipment_id, seq)| {
                let next = pending
                    .iter()
                    .find(|p| p.shipment_id == shipment_id && p.seq > seq)?;
                let next = NextPush {
                    id: next.id.clone(),
                    shipment_id: next.shipment_id.clone(),
                    seq: next.seq,
                    payload: next.payload.clone(),
                };
                Some((id, next))
            })
            .collect())
    }

    async fn record_attempts_in_one_statement(
        &self,
        records: &[AttemptRecord],
    ) -> Result<HashMap<String, NextPush>, StoreError> {
        // Seven arrays, one per column: the statement's text is the same for any number of
        // attempts, so each connection prepares it once.
        let column = |value: fn(&AttemptRecord) -> Option<String>| {
            Value::from(pg_array(records.iter().map(value)))
        };
        let values = vec![
            column(|r| Some(r.outbox_id.clone())),
            column(|r| Some(r.attempt.to_string())),
            column(|r| Some(label(r.state))),
            column(|r| r.http_status.map(|status| status.to_string())),
            column(|r| r.error.clone()),
            column(|r| Some(r.duration_ms.to_string())),
            column(|r| Some(r.at.to_rfc3339_opts(SecondsFormat::Micros, true))),
        ];
        let sql = RECORD_ON_POSTGRES;
        let answered = self
            .conn()
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
        let mut next = HashMap::new();
        for row in answered {
            let settled: String = row.try_get("", "settled")?;
            next.insert(
                settled,
                NextPush {
                    id: row.try_get("", "id")?,
                    shipment_id: row.try_get("", "shipment_id")?,
                    seq: row.try_get("", "seq")?,
                    payload: row.try_get("", "payload")?,
                },
            );
        }
        Ok(next)
    }

    /// Record the last attempt of a push that goes `dead`, with its dead letter, in one
    /// transaction: a dead push is always listed and replayable.
    pub async fn record_dead_push(&self, record: &AttemptRecord) -> Result<(), StoreError> {
        let txn = self.conn().begin().await?;
        attempt_row(record).insert(&txn).await?;
        new_dead_letter(
            TaskKind::Push,
            &record.outbox_id,
            record.attempt,
            record.error.clone(),
        )
        .insert(&txn)
        .await?;
        push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::State, Expr::value(OutboxState::Dead))
            .col_expr(push_outbox::Column::Attempts, Expr::value(record.attempt))
            .col_expr(
                push_outbox::Column::LastError,
                Expr::value(record.error.clone()),
            )
            .col_expr(push_outbox::Column::UpdatedAt, Expr::value(record.at))
            .filter(push_outbox::Column::Id.eq(&record.outbox_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

fn attempt_row(record: &AttemptRecord) -> push_attempt::ActiveModel {
    push_attempt::ActiveModel {
        outbox_id: Set(record.outbox_id.clone()),
        attempt: Set(record.attempt),
        attempted_at: Set(record.at),
        http_status: Set(record.http_status),
        error: Set(record.error.clone()),
        duration_ms: Set(record.duration_ms),
        ..Default::default()
    }
}
