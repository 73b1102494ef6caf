//! Built-in alert state, shared by every gateway process: which alerts are firing, when each was
//! last sent, and when any process last saw its condition hold. Sending is claimed with
//! conditional writes, so when several processes see the same condition, exactly one of them
//! sends the alert, its repeats and its resolution; and an alert one process sees (its share of
//! the bad signatures, say) is not resolved by another that does not.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::entities::alert;
use super::{Store, StoreError};

/// What this process won the right to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The alert started (or started again after it was resolved).
    Fired,
    /// Still holding, and the repeat interval has passed since it was last sent.
    Repeated,
}

impl Store {
    /// The alert `key` holds now: `Some` when this process should send it.
    pub async fn claim_alert(
        &self,
        key: &str,
        summary: &str,
        now: DateTime<Utc>,
        repeat_every: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        let inserted = alert::Entity::insert(alert::ActiveModel {
            key: Set(key.to_owned()),
            firing: Set(true),
            summary: Set(summary.to_owned()),
            fired_at: Set(now),
            last_sent_at: Set(now),
            held_at: Set(now),
            resolved_at: Set(None),
        })
        .on_conflict(
            OnConflict::column(alert::Column::Key)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self.conn())
        .await?;
        if inserted == 1 {
            return Ok(Some(Claim::Fired));
        }
        alert::Entity::update_many()
            .col_expr(alert::Column::HeldAt, Expr::value(now))
            .filter(alert::Column::Key.eq(key))
            .exec(self.conn())
            .await?;
        let refired = alert::Entity::update_many()
            .col_expr(alert::Column::Firing, Expr::value(true))
            .col_expr(alert::Column::Summary, Expr::value(summary))
            .col_expr(alert::Column::FiredAt, Expr::value(now))
            .col_expr(alert::Column::LastSentAt, Expr::value(now))
            .col_expr(
                alert::Column::ResolvedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(alert::Column::Key.eq(key))
            .filter(alert::Column::Firing.eq(false))
            .exec(self.conn())
            .await?;
        if refired.rows_affected == 1 {
            return Ok(Some(Claim::Fired));
        }
        let repeated = alert::Entity::update_many()
            .col_expr(alert::Column::Summary, Expr::value(summary))
            .col_expr(alert::Column::LastSentAt, Expr::value(now))
            .filter(alert::Column::Key.eq(key))
            .filter(alert::Column::Firing.eq(true))
            .filter(alert::Column::LastSentAt.lte(now - repeat_every))
            .exec(self.conn())
            .await?;
        Ok((repeated.rows_affected == 1).then_some(Claim::Repeated))
    }

    /// The alert `key` no longer holds here, nor anywhere for `grace`: `Some(fired_at)` when
    /// this process should send the resolution.
    pub async fn resolve_alert(
        &self,
        key: &str,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(row) = alert::Entity::find_by_id(key.to_owned())
            .one(self.conn())
            .await?
        else {
            return Ok(None);
        };
        let resolved = alert::Entity::update_many()
            .col_expr(alert::Column::Firing, Expr::value(false))
            .col_expr(alert::Column::ResolvedAt, Expr::value(now))
            .filter(alert::Column::Key.eq(key))
            .filter(alert::Column::Firing.eq(true))
            .filter(alert::Column::HeldAt.lt(now - grace))
            .exec(self.conn())
            .await?;
        Ok((resolved.rows_affected == 1).then_some(row.fired_at))
    }

    /// The keys of every alert firing now.
    pub async fn firing_alerts(&self) -> Result<Vec<String>, StoreError> {
        Ok(alert::Entity::find()
            .select_only()
            .column(alert::Column::Key)
            .filter(alert::Column::Firing.eq(true))
            .into_tuple()
            .all(self.conn())
            .await?)
    }
}
