//! Reads behind the live streams: a shipment's pushes after a sequence (what a stream client has
//! not seen yet), and the pushes written lately by any process (the `store` fanout backend).
//!
//! A stream never trusts an announcement's content: it is told *which* shipment changed and reads
//! the outbox rows after its own cursor, so a lost, repeated or reordered announcement can delay
//! an update but never skip or duplicate one. A shipment's sequence is assigned under its row lock
//! in the transaction that writes the row, so rows become visible in sequence order.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{push_outbox, shipment};
use super::{Store, StoreError};

/// One stored push as a stream sends it.
#[derive(Debug, Clone)]
pub struct StoredPush {
    pub shipment_id: String,
    pub sequence: i64,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// A push written lately: which shipment (and order) has something new, up to which sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentPush {
    pub shipment_id: String,
    pub order_id: Option<String>,
    pub sequence: i64,
}

impl Store {
    /// The shipment's pushes with a sequence above `after`, oldest first, at most `limit`.
    pub async fn pushes_after(
        &self,
        shipment_id: &str,
        after: i64,
        limit: u64,
    ) -> Result<Vec<StoredPush>, StoreError> {
        let rows: Vec<(i64, String, DateTime<Utc>)> = push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::Seq)
            .column(push_outbox::Column::Payload)
            .column(push_outbox::Column::CreatedAt)
            .filter(push_outbox::Column::ShipmentId.eq(shipment_id))
            .filter(push_outbox::Column::Seq.gt(after))
            .order_by_asc(push_outbox::Column::Seq)
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(sequence, payload, created_at)| StoredPush {
                shipment_id: shipment_id.to_owned(),
                sequence,
                payload,
                created_at,
            })
            .collect())
    }

    /// Pushes created after `since` (any process), with their shipment's order, oldest first.
    pub async fn recent_pushes(
        &self,
        since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(RecentPush, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, i64, DateTime<Utc>)> = push_outbox::Entity::find()
            .select_only()
            .column(push_outbox::Column::ShipmentId)
            .column(push_outbox::Column::Seq)
            .column(push_outbox::Column::CreatedAt)
            .filter(push_outbox::Column::CreatedAt.gt(since))
            .order_by_asc(push_outbox::Column::CreatedAt)
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = rows.iter().map(|(id, _, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        let orders: std::collections::HashMap<String, Option<String>> = shipment::Entity::find()
            .select_only()
            .column(shipment::Column::Id)
            .column(shipment::Column::OrderId)
            .filter(shipment::Column::Id.is_in(ids))
            .into_tuple::<(String, Option<String>)>()
            .all(self.conn())
            .await?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .map(|(shipment_id, sequence, at)| {
                let order_id = orders.get(&shipment_id).cloned().flatten();
                (
                    RecentPush {
                        shipment_id,
                        order_id,
                        sequence,
                    },
                    at,
                )
            })
            .collect())
    }
}
