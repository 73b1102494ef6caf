//! Push outbox, delivery attempts and dead letters.
//!
//! An outbox row is `pending` until the mall accepts it (`delivered`), refuses it for good with
//! 410 (`gone`) or runs out of attempts (`dead`, with a `dead_letters` row an operator can replay).
//! A shipment's pushes go in sequence order: only its earliest pending row may be sent
//! ([`Store::pending_of_shipment`]); a later one waits un-enqueued until that one is settled. When
//! several are pending at the head's turn, they are folded into the newest
//! ([`Store::fold_pending_pushes`]) and the others are `superseded`. Attempts are recorded in
//! [`super::attempts`].

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Order, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value,
};

use super::attempts::NextPush;
use super::entities::{dead_letter, push_attempt, push_outbox};
use super::states::{OutboxState, TaskKind};
use super::{Store, StoreError};

/// Two arrays (ids, publish times): one statement text for any number of rows. Each id is
/// looked up through the primary key and its row locked there, in id order (the ids sorted
/// first; a `LATERAL` subquery with `FOR UPDATE` is not flattened, so the plan is a nested
/// loop over them), and the lock re-checks the row's state, so a push delivered meanwhile is
/// not written. The form before joined the ids to the table and left the plan to the
/// statistics: on tables not yet analyzed it read every pending, unmarked row through
/// `ix_push_outbox_state` — the pushes waiting behind their shipment's head, a backlog that a
/// mall outage grows — 145 ms a call over a long flat-out run.
pub const MARK_STILL_PENDING_ON_POSTGRES: &str = "\
UPDATE push_outbox AS p SET enqueued = true \
WHERE p.id = ANY (ARRAY( \
  SELECT l.id FROM (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS v (id, published_at) \
                    ORDER BY v.id OFFSET 0) AS v \
  CROSS JOIN LATERAL (SELECT q.id FROM push_outbox AS q \
      WHERE q.id = v.id AND q.state = 'pending' AND NOT q.enqueued AND q.updated_at < v.published_at \
      FOR UPDATE) AS l))";

impl Store {
    pub async fn outbox_row(&self, id: &str) -> Result<Option<push_outbox::Model>, StoreError> {
        Ok(push_outbox::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?)
    }

    pub async fn mark_enqueued(&self, id: &str) -> Result<(), StoreError> {
        push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::Enqueued, Expr::value(true))
            .filter(push_outbox::Column::Id.eq(id))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Mark rows as on the queue. On PostgreSQL the rows are locked in id order first, the
    /// order the batched attempt record ([`super::attempts`]) locks them in, so the two never
    /// deadlock (a push can be delivered and recorded before its mark lands). MySQL updates
    /// by primary-key range, in key order already; SQLite has one writer.
    pub async fn mark_enqueued_many(&self, ids: &[String]) -> Result<(), StoreError> {
        let filter = if self.backend() == DbBackend::Postgres {
            // One statement text for every number of ids (prepared once per connection).
            let wanted = Expr::cust_with_values(
                r#""push_outbox"."id" IN (SELECT unnest($1::text[]))"#,
                [super::batch::pg_text_array(ids)],
            );
            let in_order = Query::select()
                .column(push_outbox::Column::Id)
                .from(push_outbox::Entity)
                .and_where(wanted)
                .order_by(push_outbox::Column::Id, Order::Asc)
                .lock(LockType::Update)
                .to_owned();
            push_outbox::Column::Id.in_subquery(in_order)
        } else {
            push_outbox::Column::Id.is_in(ids.iter().cloned())
        };
        push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::Enqueued, Expr::value(true))
            .filter(filter)
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Mark published rows as on the queue where they are still pending, not marked, and
    /// unchanged since their publish began (`(id, published_at)`): a row delivered, attempted
    /// (the attempt marks it) or taken off the queue to wait since then is left as it is. Rows
    /// are locked in id order as in [`Self::mark_enqueued_many`]. See [`super::marks`].
    pub async fn mark_still_pending_enqueued(
        &self,
        published: &[(String, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        if published.is_empty() {
            return Ok(());
        }
        if self.backend() == DbBackend::Postgres {
            let ids = super::batch::pg_text_array(published.iter().map(|(id, _)| id));
            let ats = super::batch::pg_array(
                published
                    .iter()
                    .map(|(_, at)| Some(at.to_rfc3339_opts(SecondsFormat::Micros, true))),
            );
            self.conn()
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    MARK_STILL_PENDING_ON_POSTGRES,
                    [Value::from(ids), Value::from(ats)],
                ))
                .await?;
            return Ok(());
        }
        // One `id IN (…) AND updated_at < t` per publish moment.
        let mut by_moment: Vec<(DateTime<Utc>, Vec<String>)> = Vec::new();
        for (id, at) in published {
            match by_moment.last_mut() {
                Some((moment, ids)) if moment == at => ids.push(id.clone()),
                _ => by_moment.push((*at, vec![id.clone()])),
            }
        }
        let unchanged = by_moment
            .into_iter()
            .fold(Condition::any(), |any, (at, ids)| {
                any.add(
                    Condition::all()
                        .add(push_outbox::Column::Id.is_in(ids))
                        .add(push_outbox::Column::UpdatedAt.lt(at)),
                )
            });
        push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::Enqueued, Expr::value(true))
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .filter(push_outbox::Column::Enqueued.eq(false))
            .filter(unchanged)
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Pending rows not on the queue (the process died between commit and enqueue, the broker
    /// was down, or the row waited for an earlier push), oldest first — only each shipment's
    /// earliest pending row, the one that may be sent next. Only rows untouched for `settle` are
    /// returned, so a row whose enqueue is under way right now is not queued a second time.
    pub async fn unenqueued_outbox_ids(
        &self,
        settle: std::time::Duration,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        let before = Utc::now() - settle;
        let earlier = Alias::new("earlier");
        let earlier_pending = Query::select()
            .expr(Expr::val(1))
            .from_as(push_outbox::Entity, earlier.clone())
            .and_where(
                Expr::col((earlier.clone(), push_outbox::Column::ShipmentId))
                    .equals((push_outbox::Entity, push_outbox::Column::ShipmentId)),
            )
            .and_where(
                Expr::col((earlier.clone(), push_outbox::Column::State)).eq(OutboxState::Pending),
            )
            .and_where(
                Expr::col((earlier, push_outbox::Column::Seq))
                    .lt(Expr::col((push_outbox::Entity, push_outbox::Column::Seq))),
            )
            .to_owned();
        Ok(push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::Id)
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .filter(push_outbox::Column::Enqueued.eq(false))
            .filter(push_outbox::Column::UpdatedAt.lt(before))
            .filter(Expr::exists(earlier_pending).not())
            .order_by_asc(push_outbox::Column::CreatedAt)
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await?)
    }

    /// Fold a shipment's pending pushes into the newest one (its payload then carries all their
    /// events: [`crate::push::payload::PushPayload::fold`] decides how), the others
    /// `superseded`, in one transaction holding the rows. Returns the newest, folded, or `None`
    /// when fewer than two were pending.
    pub async fn fold_pending_pushes(
        &self,
        shipment_id: &str,
        fold: impl FnOnce(Vec<String>) -> Result<String, StoreError>,
    ) -> Result<Option<NextPush>, StoreError> {
        let txn = self.begin_write().await?;
        let rows = push_outbox::Entity::find()
            .filter(push_outbox::Column::ShipmentId.eq(shipment_id))
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .order_by_asc(push_outbox::Column::Seq)
            .lock_exclusive()
            .all(&txn)
            .await?;
        // A push already attempted keeps its bytes (the mall may have it under its webhook-id).
        let Some((newest, older)) = rows
            .split_last()
            .filter(|(newest, older)| !older.is_empty() && newest.attempts == 0)
        else {
            txn.commit().await?;
            return Ok(None);
        };
        let payload = fold(rows.iter().map(|row| row.payload.clone()).collect())?;
        let now = Utc::now();
        push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::Payload, Expr::value(payload.clone()))
            .col_expr(push_outbox::Column::UpdatedAt, Expr::value(now))
            .filter(push_outbox::Column::Id.eq(&newest.id))
            .exec(&txn)
            .await?;
        push_outbox::Entity::update_many()
            .col_expr(
                push_outbox::Column::State,
                Expr::value(OutboxState::Superseded),
            )
            .col_expr(
                push_outbox::Column::LastError,
                Expr::value(format!("folded into {}", newest.id)),
            )
            .col_expr(push_outbox::Column::UpdatedAt, Expr::value(now))
            .filter(push_outbox::Column::Id.is_in(older.iter().map(|row| row.id.clone())))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(NextPush {
            id: newest.id.clone(),
            shipment_id: newest.shipment_id.clone(),
            seq: newest.seq,
            payload,
        }))
    }

    /// A push that must wait for an earlier one of its shipment: off the queue until that one
    /// is settled (which enqueues it) or the relay finds it.
    pub async fn mark_waiting(&self, id: &str) -> Result<(), StoreError> {
        push_outbox::Entity::update_many()
            .col_expr(push_outbox::Column::Enqueued, Expr::value(false))
            .col_expr(push_outbox::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(push_outbox::Column::Id.eq(id))
            .filter(push_outbox::Column::State.eq(OutboxState::Pending))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    pub async fn push_attempts(
        &self,
        outbox_id: &str,
    ) -> Result<Vec<push_attempt::Model>, StoreError> {
        Ok(push_attempt::Entity::find()
            .filter(push_attempt::Column::OutboxId.eq(outbox_id))
            .order_by_asc(push_attempt::Column::Id)
            .all(self.conn())
            .await?)
    }

    pub async fn outbox_of_shipment(
        &self,
        shipment_id: &str,
    ) -> Result<Vec<push_outbox::Model>, StoreError> {
        Ok(push_outbox::Entity::find()
            .filter(push_outbox::Column::ShipmentId.eq(shipment_id))
            .order_by_asc(push_outbox::Column::Seq)
            .all(self.conn())
            .await?)
    }

    pub async fn add_dead_letter(
        &self,
        kind: TaskKind,
        ref_id: &str,
        attempts: i32,
        last_error: Option<String>,
    ) -> Result<dead_letter::Model, StoreError> {
        Ok(new_dead_letter(kind, ref_id, attempts, last_error)
            .insert(self.conn())
            .await?)
    }

    /// Dead letters, newest first; `include_replayed` also lists those already sent again.
    pub async fn dead_letters(
        &self,
        include_replayed: bool,
        limit: u64,
    ) -> Result<Vec<dead_letter::Model>, StoreError> {
        let mut query = dead_letter::Entity::find();
        if !include_replayed {
            query = query.filter(dead_letter::Column::ReplayedAt.is_null());
        }
        Ok(query
            .order_by_desc(dead_letter::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    pub async fn dead_letter(&self, id: i64) -> Result<Option<dead_letter::Model>, StoreError> {
        Ok(dead_letter::Entity::find_by_id(id).one(self.conn()).await?)
    }

    /// Mark a dead letter replayed and, for a push, make its outbox row pending again.
    pub async fn reopen_dead_letter(&self, letter: &dead_letter::Model) -> Result<(), StoreError> {
        let now = Utc::now();
        if letter.kind == TaskKind::Push {
            push_outbox::Entity::update_many()
                .col_expr(
                    push_outbox::Column::State,
                    Expr::value(OutboxState::Pending),
                )
                .col_expr(push_outbox::Column::Attempts, Expr::value(0))
                .col_expr(push_outbox::Column::Enqueued, Expr::value(false))
                .col_expr(push_outbox::Column::UpdatedAt, Expr::value(now))
                .filter(push_outbox::Column::Id.eq(&letter.ref_id))
                .exec(self.conn())
                .await?;
        }
        let mut active: dead_letter::ActiveModel = letter.clone().into();
        active.replayed_at = Set(Some(now));
        active.update(self.conn()).await?;
        Ok(())
    }
}

pub(super) fn new_dead_letter(
    kind: TaskKind,
    ref_id: &str,
    attempts: i32,
    last_error: Option<String>,
) -> dead_letter::ActiveModel {
    dead_letter::ActiveModel {
        kind: Set(kind),
        ref_id: Set(ref_id.to_owned()),
        attempts: Set(attempts),
        last_error: Set(last_error),
        created_at: Set(Utc::now()),
        replayed_at: Set(None),
        ..Default::default()
    }
}
