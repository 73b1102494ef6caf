//! Subscriptions with carriers, one row per shipment that needs one (migration 7).
//!
//! The row is the durable half of the work: registering a shipment writes it `pending` in the
//! registration's own transaction, so a crash before the queue heard of it loses nothing (the
//! relay queues rows that are not `enqueued`). A second registration of the same shipment is
//! not a second subscription: a `pending` or `active` row is left alone. Stopping a shipment
//! turns its row `stopping` the same way. The worker settles a row only if it is still in the
//! state the worker started from, so a stop that arrives while a subscribe is in flight wins.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::subscription;
use super::states::{SubscriptionState, TaskKind};
use super::{Store, StoreError};

/// How a worker leaves a row.
#[derive(Debug, Clone)]
pub struct SubscriptionSettled {
    pub state: SubscriptionState,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Out of attempts: a `dead_letters` row is written with the new state, in its transaction.
    pub dead_letter: bool,
}

/// Want `shipment_id` subscribed with `carrier_id`. True when a task must be queued for it: a
/// new row, or one that had failed or was stopped — or, `again`, one the store has as `active`
/// but the carrier says it does not know; false for a row already `pending` (its task exists
/// or the relay makes one) or `active`. The row as it now stands comes with the answer.
pub(super) async fn want_subscribed<C: ConnectionTrait>(
    db: &C,
    shipment_id: &str,
    carrier_id: &str,
    now: DateTime<Utc>,
    again: bool,
) -> Result<(bool, subscription::Model), StoreError> {
    let found = subscription::Entity::find_by_id(shipment_id.to_owned())
        .one(db)
        .await?;
    match found {
        None => {
            let row = subscription::ActiveModel {
                shipment_id: Set(shipment_id.to_owned()),
                carrier_id: Set(carrier_id.to_owned()),
                state: Set(SubscriptionState::Pending),
                attempts: Set(0),
                last_error: Set(None),
                enqueued: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
            Ok((true, row))
        }
        Some(row) if row.state == SubscriptionState::Pending => Ok((false, row)),
        Some(row) if row.state == SubscriptionState::Active && !again => Ok((false, row)),
        Some(row) => {
            reset(db, shipment_id, SubscriptionState::Pending, now).await?;
            let row = subscription::Model {
                state: SubscriptionState::Pending,
                attempts: 0,
                last_error: None,
                enqueued: false,
                updated_at: now,
                ..row
            };
            Ok((true, row))
        }
    }
}

/// Want `shipment_id`'s subscription ended. True when a task must be queued (it was pending or
/// active); a failed one never existed at the carrier and is simply `stopped`.
pub(super) async fn want_unsubscribed<C: ConnectionTrait>(
    db: &C,
    shipment_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found = subscription::Entity::find_by_id(shipment_id.to_owned())
        .one(db)
        .await?;
    match found.map(|row| row.state) {
        Some(SubscriptionState::Pending | SubscriptionState::Active) => {
            reset(db, shipment_id, SubscriptionState::Stopping, now).await?;
            Ok(true)
        }
        Some(SubscriptionState::Failed) => {
            reset(db, shipment_id, SubscriptionState::Stopped, now).await?;
            Ok(false)
        }
        _ => Ok(false),
    }
}

async fn reset<C: ConnectionTrait>(
    db: &C,
    shipment_id: &str,
    state: SubscriptionState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    subscription::Entity::update_many()
        .col_expr(subscription::Column::State, Expr::value(state))
        .col_expr(subscription::Column::Attempts, Expr::value(0))
        .col_expr(subscription::Column::LastError, Expr::value(None::<String>))
        .col_expr(subscription::Column::Enqueued, Expr::value(false))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::ShipmentId.eq(shipment_id))
        .exec(db)
        .await?;
    Ok(())
}

impl Store {
    pub async fn subscription(
        &self,
        shipment_id: &str,
    ) -> Result<Option<subscription::Model>, StoreError> {
        Ok(subscription::Entity::find_by_id(shipment_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// The subscriptions of these shipments (those that have one).
    pub async fn subscriptions_of(
        &self,
        shipment_ids: &[String],
    ) -> Result<Vec<subscription::Model>, StoreError> {
        if shipment_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(subscription::Entity::find()
            .filter(subscription::Column::ShipmentId.is_in(shipment_ids.iter().cloned()))
            .all(self.conn())
            .await?)
    }

    /// Want a subscription made again, even one the store has as `active`: the carrier said it
    /// does not know the number, or a dead letter is replayed. True when a task is to be queued.
    pub async fn want_subscribed_again(
        &self,
        shipment_id: &str,
        carrier_id: &str,
    ) -> Result<bool, StoreError> {
        let (queue_it, _) =
            want_subscribed(self.conn(), shipment_id, carrier_id, Utc::now(), true).await?;
        Ok(queue_it)
    }

    pub async fn mark_subscriptions_enqueued(&self, ids: &[String]) -> Result<(), StoreError> {
        subscription::Entity::update_many()
            .col_expr(subscription::Column::Enqueued, Expr::value(true))
            .filter(subscription::Column::ShipmentId.is_in(ids.iter().cloned()))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Rows that want work and have no task on the queue, untouched for `settle` (a younger
    /// one is probably being queued by its writer right now), oldest first.
    pub async fn unenqueued_subscriptions(
        &self,
        settle: std::time::Duration,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(subscription::Entity::find()
            .select_only()
            .column(subscription::Column::ShipmentId)
            .filter(subscription::Column::Enqueued.eq(false))
            .filter(
                subscription::Column::State
                    .is_in([SubscriptionState::Pending, SubscriptionState::Stopping]),
            )
            .filter(subscription::Column::UpdatedAt.lt(Utc::now() - settle))
            .order_by_asc(subscription::Column::UpdatedAt)
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await?)
    }

    /// Leave a row as a worker decided — only if it is still `from` (else a newer wish, a stop
    /// or a re-subscription, arrived meanwhile and its own task settles it). A row leaving
    /// `pending`/`stopping` has no task any more; one staying there keeps its (retry) task. A
    /// dead letter (`settled.dead_letter`) is written in the same transaction, only if settled.
    pub async fn settle_subscription(
        &self,
        shipment_id: &str,
        from: SubscriptionState,
        settled: SubscriptionSettled,
    ) -> Result<bool, StoreError> {
        let still_queued = settled.state == from;
        let txn = self.begin_write().await?;
        let result = subscription::Entity::update_many()
            .col_expr(subscription::Column::State, Expr::value(settled.state))
            .col_expr(
                subscription::Column::Attempts,
                Expr::value(settled.attempts),
            )
            .col_expr(
                subscription::Column::LastError,
                Expr::value(settled.last_error.clone()),
            )
            .col_expr(subscription::Column::Enqueued, Expr::value(still_queued))
            .col_expr(subscription::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(subscription::Column::ShipmentId.eq(shipment_id))
            .filter(subscription::Column::State.eq(from))
            .exec(&txn)
            .await?;
        let settled_now = result.rows_affected > 0;
        if settled_now && settled.dead_letter {
            super::outbox::new_dead_letter(
                TaskKind::Subscription,
                shipment_id,
                settled.attempts,
                settled.last_error,
            )
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(settled_now)
    }

    /// `trackgate subscriptions resync`: every `active` row (of one carrier instance) back to
    /// `pending`, aged past the relay's settle time so the running gateway queues it at its next
    /// round. Returns how many.
    pub async fn resync_subscriptions(&self, carrier_id: Option<&str>) -> Result<u64, StoreError> {
        let aged = Utc::now() - chrono::Duration::minutes(5);
        let mut update = subscription::Entity::update_many()
            .col_expr(
                subscription::Column::State,
                Expr::value(SubscriptionState::Pending),
            )
            .col_expr(subscription::Column::Attempts, Expr::value(0))
            .col_expr(subscription::Column::Enqueued, Expr::value(false))
            .col_expr(subscription::Column::UpdatedAt, Expr::value(aged))
            .filter(subscription::Column::State.eq(SubscriptionState::Active));
        if let Some(carrier_id) = carrier_id {
            update = update.filter(subscription::Column::CarrierId.eq(carrier_id));
        }
        Ok(update.exec(self.conn()).await?.rows_affected)
    }

    /// (carrier instance, state, how many) over every subscription.
    pub async fn subscription_counts(
        &self,
    ) -> Result<Vec<(String, SubscriptionState, i64)>, StoreError> {
        Ok(subscription::Entity::find()
            .select_only()
            .column(subscription::Column::CarrierId)
            .column(subscription::Column::State)
            .column_as(subscription::Column::ShipmentId.count(), "count")
            .group_by(subscription::Column::CarrierId)
            .group_by(subscription::Column::State)
            .into_tuple()
            .all(self.conn())
            .await?)
    }
}
