//! Poll scheduling in the store: claiming due shipments under a lease, writing each one's next
//! poll, and the shared per-carrier request pacing — the pieces that let several gateway
//! processes share one database with no coordinator of their own.
//!
//! Claims: on PostgreSQL and MySQL/MariaDB the due rows are selected `FOR UPDATE SKIP LOCKED`
//! inside a transaction and leased to this process, so concurrent claimers take disjoint
//! batches without waiting on each other; on SQLite (one process, one connection) the same
//! transaction serializes claims. A lease that runs out (its process crashed) makes the rows
//! claimable again. Pacing: one `carrier_pacers` row per carrier instance holds the earliest
//! instant the next request may leave; each request takes the next slot under a row lock, so
//! requests from every process are spaced by `1 / requests_per_second` (plus 10 % headroom)
//! and none exceeds the per-day quota.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::entities::{carrier_pacer, shipment};
use super::{Store, StoreError};

/// Routine work.
pub const PRIORITY_ROUTINE: i32 = 0;
/// A shipment just registered.
pub const PRIORITY_NEW: i32 = 1;
/// A refresh the mall or support asked for.
pub const PRIORITY_REFRESH: i32 = 2;

/// What a claimer writes back after polling one shipment.
#[derive(Debug, Clone)]
pub struct NextPoll {
    pub shipment_id: String,
    /// `None`: no more polls (terminal after its grace poll, expired, or stopped).
    pub next_poll_at: Option<DateTime<Utc>>,
    pub unchanged_polls: i32,
    pub grace_polled: bool,
}

/// A slot from the shared pacer: when the request may leave, or that today's quota is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    At(DateTime<Utc>),
    QuotaExhausted { until: DateTime<Utc> },
}

/// Backlog figures of one carrier instance, for `/v1/admin/carriers`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Backlog {
    pub due: u64,
    pub oldest_due_at: Option<DateTime<Utc>>,
}

fn due_condition(carrier_id: &str, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(shipment::Column::CarrierId.eq(carrier_id))
        .add(shipment::Column::Tracking.eq(true))
        .add(shipment::Column::NextPollAt.lte(now))
        .add(
            Condition::any()
                .add(shipment::Column::LeaseUntil.is_null())
                .add(shipment::Column::LeaseUntil.lt(now)),
        )
}

impl Store {
    /// Claim up to `limit` due shipments of a carrier instance for `owner` until `now + lease`:
    /// refreshes first, then new registrations, then the longest overdue.
    pub async fn claim_due(
        &self,
        carrier_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<shipment::Model>, StoreError> {
        let txn = self.conn().begin().await?;
        let mut query = shipment::Entity::find()
            .filter(due_condition(carrier_id, now))
            .order_by_desc(shipment::Column::PollPriority)
            .order_by_asc(shipment::Column::NextPollAt)
            .limit(limit);
        if self.backend() != DbBackend::Sqlite {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(rows);
        }
        shipment::Entity::update_many()
            .col_expr(shipment::Column::LeaseUntil, Expr::value(now + lease))
            .col_expr(shipment::Column::LeaseOwner, Expr::value(owner))
            .filter(shipment::Column::Id.is_in(rows.iter().map(|r| r.id.clone())))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows)
    }

    /// These shipments, in one query.
    pub async fn shipments_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<shipment::Model>, StoreError> {
        Ok(shipment::Entity::find()
            .filter(shipment::Column::Id.is_in(ids.iter().cloned()))
            .all(self.conn())
            .await?)
    }

    /// Write each polled shipment's next poll and release its lease.
    pub async fn finish_polls(&self, next: &[NextPoll]) -> Result<(), StoreError> {
        for poll in next {
            shipment::Entity::update_many()
                .col_expr(shipment::Column::NextPollAt, Expr::value(poll.next_poll_at))
                .col_expr(
                    shipment::Column::UnchangedPolls,
                    Expr::value(poll.unchanged_polls),
                )
                .col_expr(
                    shipment::Column::GracePolled,
                    Expr::value(poll.grace_polled),
                )
                .col_expr(
                    shipment::Column::PollPriority,
                    Expr::value(PRIORITY_ROUTINE),
                )
                .col_expr(
                    shipment::Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    shipment::Column::LeaseOwner,
                    Expr::value(Option::<String>::None),
                )
                .filter(shipment::Column::Id.eq(&poll.shipment_id))
                .exec(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Give back every lease `owner` holds (graceful shutdown): the rows are claimable at once.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let result = shipment::Entity::update_many()
            .col_expr(
                shipment::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                shipment::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .filter(shipment::Column::LeaseOwner.eq(owner))
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected)
    }

    /// Ask for a shipment to be polled before routine work; `false` if it does not exist.
    pub async fn request_refresh(&self, id: &str) -> Result<bool, StoreError> {
        let result = shipment::Entity::update_many()
            .col_expr(shipment::Column::NextPollAt, Expr::value(Utc::now()))
            .col_expr(
                shipment::Column::PollPriority,
                Expr::value(PRIORITY_REFRESH),
            )
            .col_expr(shipment::Column::Tracking, Expr::value(true))
            .col_expr(shipment::Column::GracePolled, Expr::value(false))
            .filter(shipment::Column::Id.eq(id))
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// How much polling a carrier instance owes right now.
    pub async fn backlog(
        &self,
        carrier_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Backlog, StoreError> {
        let due = shipment::Entity::find()
            .filter(due_condition(carrier_id, now))
            .count(self.conn())
            .await?;
        let oldest = shipment::Entity::find()
            .filter(due_condition(carrier_id, now))
            .order_by_asc(shipment::Column::NextPollAt)
            .one(self.conn())
            .await?
            .and_then(|s| s.next_poll_at);
        Ok(Backlog {
            due,
            oldest_due_at: oldest,
        })
    }

    /// Take the next request slot of a carrier instance, shared by every process: requests are
    /// spaced by `1.1 / per_second` seconds (10 % headroom), and at most `per_day` leave per UTC
    /// day (0: no daily cap).
    pub async fn take_request_slot(
        &self,
        carrier_id: &str,
        per_second: u32,
        per_day: u32,
        now: DateTime<Utc>,
    ) -> Result<Slot, StoreError> {
        // 10 % headroom: network and scheduling jitter must not push two requests closer
        // together than the carrier's own counter allows.
        let spacing_ms = (1100 / i64::from(per_second.max(1))).max(1);
        let today = (now.timestamp().div_euclid(86_400)) as i32;
        let now_ms = now.timestamp_millis();
        let txn = self.conn().begin().await?;
        let _ = carrier_pacer::Entity::insert(carrier_pacer::ActiveModel {
            carrier_id: Set(carrier_id.to_owned()),
            next_at_ms: Set(now_ms),
            day: Set(today),
            day_used: Set(0),
        })
        .on_conflict_do_nothing_on([carrier_pacer::Column::CarrierId])
        .exec_without_returning(&txn)
        .await?;
        let mut query = carrier_pacer::Entity::find_by_id(carrier_id.to_owned());
        if self.backend() != DbBackend::Sqlite {
            query = query.lock(LockType::Update);
        }
        let pacer = query
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Corrupt("carrier pacer vanished".into()))?;
        let used = if pacer.day == today {
            pacer.day_used
        } else {
            0
        };
        if per_day > 0 && used >= per_day as i32 {
            txn.commit().await?;
            let midnight =
                DateTime::from_timestamp((i64::from(today) + 1) * 86_400, 0).unwrap_or(now);
            return Ok(Slot::QuotaExhausted { until: midnight });
        }
        let slot_ms = pacer.next_at_ms.max(now_ms);
        let mut active: carrier_pacer::ActiveModel = pacer.into();
        active.next_at_ms = Set(slot_ms + spacing_ms);
        active.day = Set(today);
        active.day_used = Set(used + 1);
        active.update(&txn).await?;
        txn.commit().await?;
        Ok(Slot::At(
            DateTime::from_timestamp_millis(slot_ms).unwrap_or(now),
        ))
    }

    /// Requests made today and the daily quota's remainder, per the shared pacer.
    pub async fn requests_today(
        &self,
        carrier_id: &str,
        now: DateTime<Utc>,
    ) -> Result<i32, StoreError> {
        let today = (now.timestamp().div_euclid(86_400)) as i32;
        Ok(carrier_pacer::Entity::find_by_id(carrier_id.to_owned())
            .one(self.conn())
            .await?
            .filter(|p| p.day == today)
            .map(|p| p.day_used)
            .unwrap_or(0))
    }
}
