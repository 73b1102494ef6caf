//! The write path's set-based statements: a batch of tracking updates is read and written with
//! a fixed number of statements, whatever the number of webhooks or shipments in it.
//!
//! Two reads: lock and read the batch's shipments (with whether a push of each is pending),
//! read their events' keys and status facts ([`super::known_events`]). Then the writes, built
//! as [`Writes`]: insert the new events, write the changed shipments back (a multi-row upsert
//! on the primary key: `ON CONFLICT … DO UPDATE` on PostgreSQL and SQLite, `ON DUPLICATE KEY
//! UPDATE` on MySQL), insert the outbox rows, insert the embedded queue's task rows, and set
//! every webhook's outcome (`CASE` on the id). On PostgreSQL the writes go as one statement;
//! on MySQL and SQLite as one statement each. Only a batch larger than a statement's parameter
//! limit is cut into chunks ([`CHUNK_PARAMS`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, CaseStatement, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, Iterable,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Statement, Value,
};

use super::entities::{inbound_webhook, push_outbox, queue_task, shipment, tracking_event};
use super::states::{OutboxState, TaskKind, WebhookOutcome};
use super::{Store, StoreError};

/// Bind parameters per statement, below every backend's limit (SQLite 32,766, PostgreSQL
/// 65,535): a batch of rows wider than this is written in chunks.
const CHUNK_PARAMS: usize = 30_000;

/// The write statements of a batch, built first and then sent together: on PostgreSQL as one
/// statement (each a data-modifying CTE of one `WITH`: they touch different rows, and all of
/// them or none take effect), elsewhere one after another in the caller's transaction.
#[derive(Debug)]
pub struct Writes {
    backend: DbBackend,
    statements: Vec<Statement>,
}

impl Writes {
    pub fn new(backend: DbBackend) -> Writes {
        Writes {
            backend,
            statements: Vec::new(),
        }
    }

    fn push(&mut self, query: impl QueryTrait) {
        self.statements.push(query.build(self.backend));
    }

    /// Send the statements.
    pub async fn execute<C: ConnectionTrait>(self, conn: &C) -> Result<(), StoreError> {
        if self.backend == DbBackend::Postgres && self.statements.len() > 1 {
            conn.execute_raw(combine(self.statements)).await?;
            return Ok(());
        }
        for statement in self.statements {
            conn.execute_raw(statement).await?;
        }
        Ok(())
    }
}

/// PostgreSQL statements as the CTEs of one: `WITH w0 AS (…), w1 AS (…) SELECT 1`, each
/// statement's `$n` placeholders renumbered after the ones before it. (The statements are built
/// by sea-query with every value bound, so a `$` followed by digits is always a placeholder.)
fn combine(statements: Vec<Statement>) -> Statement {
    let mut sql = String::from("WITH ");
    let mut values = Vec::new();
    for (i, statement) in statements.into_iter().enumerate() {
        let offset = values.len();
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("w{i} AS ("));
        sql.push_str(&renumber(&statement.sql, offset));
        sql.push(')');
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    sql.push_str(" SELECT 1");
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `sql` with every `$n` placeholder moved up by `offset`.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// A shipment row locked for the batch, and whether a push of it is still pending.
#[derive(Debug)]
pub struct LockedShipment {
    pub row: shipment::Model,
    pub push_pending: bool,
}

impl FromQueryResult for LockedShipment {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let row = shipment::Model::from_query_result(res, pre)?;
        // EXISTS is a boolean on PostgreSQL and an integer on MySQL and SQLite.
        let push_pending = res
            .try_get::<bool>(pre, "push_pending")
            .or_else(|_| res.try_get::<i64>(pre, "push_pending").map(|v| v != 0))
            .or_else(|_| res.try_get::<i32>(pre, "push_pending").map(|v| v != 0))?;
        Ok(LockedShipment { row, push_pending })
    }
}

/// A PostgreSQL array literal of text (`{"a","b"}`), bound as one text parameter and cast
/// with `::text[]`: a list of any length in one parameter, so a statement's text does not
/// change with its batch's size. Every element is quoted, `"` and `\` escaped.
pub(crate) fn pg_text_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    pg_array(items.into_iter().map(Some))
}

/// [`pg_text_array`] with `None` as SQL `NULL`; any element type whose text PostgreSQL reads
/// (numbers, RFC 3339 times) once the literal is cast (`$1::int4[]`, `$1::timestamptz[]`).
pub(crate) fn pg_array<S: AsRef<str>>(items: impl IntoIterator<Item = Option<S>>) -> String {
    let mut literal = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        let Some(item) = item else {
            literal.push_str("NULL");
            continue;
        };
        literal.push('"');
        for c in item.as_ref().chars() {
            if c == '"' || c == '\\' {
                literal.push('\\');
            }
            literal.push(c);
        }
        literal.push('"');
    }
    literal.push('}');
    literal
}

/// Rows per statement for a table of `columns` columns.
fn chunk_rows(columns: usize) -> usize {
    (CHUNK_PARAMS / columns.max(1)).max(1)
}

/// Lock and read a batch's shipments on PostgreSQL: one statement text for any batch. Each key
/// is looked up through the unique `(carrier_id, tracking_number)` index and its row locked
/// there, in the order the keys are given (a `LATERAL` subquery with `FOR UPDATE` is not
/// flattened, so the plan is a nested loop over the keys whatever the statistics say). Whether
/// a push is pending is a `LATERAL … LIMIT 1` per shipment through
/// `ix_push_outbox_shipment_state`, not an `EXISTS`: PostgreSQL may plan an `EXISTS` in the
/// select list as a hashed subplan — every pending row of the outbox read through
/// `ix_push_outbox_state` once per call — and does so for a small or empty outbox; that
/// generic plan, cached by the connection, then read the whole outbox's pending entries (dead
/// versions included, 25,000 index entries and 4,300 heap pages a call) as the run went on.
/// `$1` and `$2` are text arrays (carrier instances, tracking numbers), `$3` the pending
/// outbox state.
pub const LOCK_SHIPMENTS_ON_POSTGRES: &str = "\
SELECT s.*, pending.one IS NOT NULL AS push_pending \
FROM unnest($1::text[], $2::text[]) AS k (carrier_id, tracking_number) \
CROSS JOIN LATERAL (SELECT * FROM shipments AS t \
WHERE t.carrier_id = k.carrier_id AND t.tracking_number = k.tracking_number FOR UPDATE) AS s \
LEFT JOIN LATERAL (SELECT 1 AS one FROM push_outbox AS p \
WHERE p.shipment_id = s.id AND p.state = $3 LIMIT 1) AS pending ON true";

impl Store {
    /// Lock the shipments of these (carrier instance, tracking number) keys, each with whether
    /// a push of it is pending. One statement (`FOR UPDATE`; SQLite has one writer and no
    /// clause). Concurrent batches lock in one order, so they cannot deadlock: on PostgreSQL
    /// the keys' (sorted here), elsewhere the shipments' ids.
    ///
    /// On PostgreSQL the keys go as two arrays looked up one by one through the unique index
    /// ([`LOCK_SHIPMENTS_ON_POSTGRES`]): a plan that does not depend on statistics. The form
    /// before (`(carrier_id, tracking_number) IN (SELECT * FROM unnest(…))`, locked in id
    /// order) was hashed against a sequential scan of every shipment on tables not yet
    /// analyzed — measured at 1,000 webhooks/s on a fresh database: 0.6 ms a batch of 2.4
    /// webhooks, the heaviest statement of the run.
    pub async fn lock_shipments<C: ConnectionTrait>(
        conn: &C,
        keys: &[(String, String)],
    ) -> Result<Vec<LockedShipment>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if conn.get_database_backend() == DbBackend::Postgres {
            let mut sorted: Vec<&(String, String)> = keys.iter().collect();
            sorted.sort();
            sorted.dedup();
            let carriers = pg_text_array(sorted.iter().map(|(carrier, _)| carrier));
            let numbers = pg_text_array(sorted.iter().map(|(_, number)| number));
            return Ok(
                LockedShipment::find_by_statement(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    LOCK_SHIPMENTS_ON_POSTGRES,
                    [
                        Value::from(carriers),
                        Value::from(numbers),
                        Value::from(OutboxState::Pending),
                    ],
                ))
                .all(conn)
                .await?,
            );
        }
        let pending = Alias::new("pending");
        let pending_push = Query::select()
            .expr(Expr::val(1))
            .from_as(push_outbox::Entity, pending.clone())
            .and_where(
                Expr::col((pending.clone(), push_outbox::Column::ShipmentId))
                    .equals((shipment::Entity, shipment::Column::Id)),
            )
            .and_where(Expr::col((pending, push_outbox::Column::State)).eq(OutboxState::Pending))
            .to_owned();
        let key = Expr::tuple([
            Expr::col((shipment::Entity, shipment::Column::CarrierId)),
            Expr::col((shipment::Entity, shipment::Column::TrackingNumber)),
        ])
        .in_tuples(keys.iter().cloned());
        Ok(shipment::Entity::find()
            .expr_as(Expr::exists(pending_push), "push_pending")
            .filter(key)
            .order_by_asc(shipment::Column::Id)
            .lock_exclusive()
            .into_model::<LockedShipment>()
            .all(conn)
            .await?)
    }

    /// Insert new events; the unique `(shipment_id, dedupe_key)` index stays the last line of
    /// defence (a duplicate is skipped, not an error).
    pub fn insert_events(writes: &mut Writes, events: Vec<tracking_event::Model>) {
        let columns = tracking_event::Column::iter().count();
        for chunk in events.chunks(chunk_rows(columns)) {
            let rows = chunk.iter().map(|event| {
                let mut row: tracking_event::ActiveModel = event.clone().into();
                row.id = sea_orm::NotSet;
                row
            });
            writes.push(
                tracking_event::Entity::insert_many(rows).on_conflict_do_nothing_on([
                    tracking_event::Column::ShipmentId,
                    tracking_event::Column::DedupeKey,
                ]),
            );
        }
    }

    /// Write back what ingest changes of locked shipments: a multi-row upsert on the primary
    /// key that only ever takes its update branch (the rows exist and are locked). The other
    /// columns (polling, leases, metadata) are not touched.
    pub fn write_back_shipments(writes: &mut Writes, rows: Vec<shipment::Model>) {
        use shipment::Column as C;
        let changed = [
            C::Status,
            C::SubStatus,
            C::StatusRawCode,
            C::LastEventAt,
            C::DeliveredAt,
            C::EstimatedDelivery,
            C::PushSeq,
            C::CarrierCode,
            C::LastWebhookAt,
            C::UpdatedAt,
        ];
        let columns = shipment::Column::iter().count();
        for chunk in rows.chunks(chunk_rows(columns)) {
            let rows = chunk
                .iter()
                .map(|row| shipment::ActiveModel::from(row.clone()));
            writes.push(
                shipment::Entity::insert_many(rows)
                    .on_conflict(OnConflict::column(C::Id).update_columns(changed).to_owned()),
            );
        }
    }

    /// Insert push-outbox rows.
    pub fn insert_outbox_rows(writes: &mut Writes, rows: &[push_outbox::Model]) {
        let columns = push_outbox::Column::iter().count();
        for chunk in rows.chunks(chunk_rows(columns).min(500)) {
            let rows = chunk
                .iter()
                .map(|row| push_outbox::ActiveModel::from(row.clone()));
            writes.push(push_outbox::Entity::insert_many(rows));
        }
    }

    /// Insert embedded-queue task rows (kind, the row they refer to, attempts made), due at
    /// `available_at`. Written beside what they refer to, they need no later "enqueued" mark.
    pub fn insert_task_rows(
        writes: &mut Writes,
        tasks: &[(TaskKind, &str, u32)],
        available_at: DateTime<Utc>,
    ) {
        let now = Utc::now();
        let columns = queue_task::Column::iter().count();
        for chunk in tasks.chunks(chunk_rows(columns)) {
            let rows = chunk
                .iter()
                .map(|(kind, ref_id, attempt)| queue_task::ActiveModel {
                    kind: sea_orm::Set(*kind),
                    ref_id: sea_orm::Set((*ref_id).to_owned()),
                    attempt: sea_orm::Set(*attempt as i32),
                    available_at: sea_orm::Set(available_at),
                    lease_until: sea_orm::Set(None),
                    created_at: sea_orm::Set(now),
                    ..Default::default()
                });
            writes.push(queue_task::Entity::insert_many(rows));
        }
    }

    /// Set each webhook's outcome and error (one statement; `CASE` on the id when they differ).
    pub fn set_each_webhook_outcome(
        writes: &mut Writes,
        outcomes: &[(i64, WebhookOutcome, Option<String>)],
    ) {
        let Some((_, first_outcome, first_error)) = outcomes.first() else {
            return;
        };
        let ids: Vec<i64> = outcomes.iter().map(|(id, _, _)| *id).collect();
        let uniform = outcomes
            .iter()
            .all(|(_, o, e)| o == first_outcome && e == first_error);
        let (outcome, error): (Expr, Expr) = if uniform {
            (
                Expr::value(*first_outcome),
                Expr::value(first_error.clone()),
            )
        } else {
            let mut outcome = CaseStatement::new();
            let mut error = CaseStatement::new();
            for (id, o, e) in outcomes {
                let this = Expr::col(inbound_webhook::Column::Id).eq(*id);
                outcome = outcome.case(this.clone(), Expr::value(*o));
                error = error.case(this, Expr::value(e.clone()));
            }
            (outcome.into(), error.into())
        };
        writes.push(
            inbound_webhook::Entity::update_many()
                .col_expr(inbound_webhook::Column::Outcome, outcome)
                .col_expr(inbound_webhook::Column::Error, error)
                .col_expr(
                    inbound_webhook::Column::ProcessedAt,
                    Expr::value(Some(Utc::now())),
                )
                .filter(inbound_webhook::Column::Id.is_in(ids)),
        );
    }

    /// Which of these shipments have a push pending (one statement).
    pub async fn shipments_with_pending_push<C: ConnectionTrait>(
        conn: &C,
        shipment_ids: impl IntoIterator<Item = String>,
    ) -> Result<HashSet<String>, StoreError> {
        let found: Vec<String> = push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::ShipmentId)
            .distinct()
            .filter(push_outbox::Column::ShipmentId.is_in(shipment_ids))
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .into_tuple()
            .all(conn)
            .await?;
        Ok(found.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_statements_number_their_placeholders_in_order() {
        assert_eq!(
            renumber("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $10)", 4),
            "INSERT INTO t (a, b) VALUES ($5, $6), ($7, $14)"
        );
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
        let one = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO a VALUES ($1, $2)",
            [1.into(), 2.into()],
        );
        let two = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE b SET x = $1 WHERE id IN ($2)",
            [3.into(), 4.into()],
        );
        let combined = combine(vec![one, two]);
        assert_eq!(
            combined.sql,
            "WITH w0 AS (INSERT INTO a VALUES ($1, $2)), w1 AS (UPDATE b SET x = $3 WHERE id IN ($4)) SELECT 1"
        );
        assert_eq!(combined.values.unwrap().0.len(), 4);
    }
}
