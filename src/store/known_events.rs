//! The write path's read of what a batch's shipments already have: each stored event's dedupe
//! key and the facts the status rule looks at — not the whole row (descriptions, locations and
//! provenance are only ever written by ingest, never read back by it).
//!
//! On PostgreSQL the read is one statement of fixed text that looks each shipment's events up
//! through the `(shipment_id, dedupe_key)` index, shipment by shipment (`unnest` joined
//! `LATERAL` to a subquery the planner may not flatten). The plan does not depend on the
//! table's statistics: a list (`shipment_id IN (…)`) on a table not yet analyzed — every new
//! deployment, and any database where autovacuum is off — is estimated at 0.5 % of the table
//! per listed shipment, so a batch of 50 shipments "reads a quarter of the table" and gets a
//! sequential scan: measured flat out on a fresh database, 3.3 ms a batch and a fifth of
//! PostgreSQL's time, growing with the table. Per shipment, an equality on the index's leading
//! column is an index scan at every table size (checked from an empty table up, generic plan
//! and custom). MySQL and SQLite keep the list, which their planners read through the index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, Statement, Value,
};

use super::entities::tracking_event;
use super::states::StoredStatus;
use super::{Store, StoreError};
use crate::domain::status::EventFacts;

/// One statement text for any number of shipments (prepared once per connection); `$1` is a
/// text array of shipment ids.
pub const KNOWN_EVENTS_ON_POSTGRES: &str = "\
SELECT e.shipment_id, e.dedupe_key, e.occurred_at, e.status, e.sub_status, e.raw_code \
FROM unnest($1::text[]) AS v (id) \
CROSS JOIN LATERAL (SELECT t.shipment_id, t.dedupe_key, t.occurred_at, t.status, t.sub_status, \
t.raw_code FROM tracking_events AS t WHERE t.shipment_id = v.id OFFSET 0) AS e";

/// A stored event as ingest needs it: its key (is an incoming event new?) and its facts (the
/// shipment's status is re-derived from all of them).
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct KnownEvent {
    pub shipment_id: String,
    pub dedupe_key: String,
    pub occurred_at: DateTime<Utc>,
    pub status: StoredStatus,
    pub sub_status: Option<String>,
    pub raw_code: String,
}

impl KnownEvent {
    /// The status rule's view of it.
    pub fn facts(&self) -> EventFacts<'_> {
        EventFacts {
            occurred_at: self.occurred_at,
            status: self.status.0,
            sub_status: self.sub_status.as_deref(),
            raw_code: &self.raw_code,
            dedupe_key: &self.dedupe_key,
        }
    }
}

impl From<&tracking_event::Model> for KnownEvent {
    fn from(event: &tracking_event::Model) -> KnownEvent {
        KnownEvent {
            shipment_id: event.shipment_id.clone(),
            dedupe_key: event.dedupe_key.clone(),
            occurred_at: event.occurred_at,
            status: event.status,
            sub_status: event.sub_status.clone(),
            raw_code: event.raw_code.clone(),
        }
    }
}

impl Store {
    /// The known events of these shipments, grouped by shipment (one statement).
    pub async fn known_events_of_shipments<C: ConnectionTrait>(
        conn: &C,
        shipment_ids: &[String],
    ) -> Result<HashMap<String, Vec<KnownEvent>>, StoreError> {
        let mut grouped: HashMap<String, Vec<KnownEvent>> = HashMap::new();
        if shipment_ids.is_empty() {
            return Ok(grouped);
        }
        let backend = conn.get_database_backend();
        let events = if backend == DbBackend::Postgres {
            let ids = super::batch::pg_text_array(shipment_ids);
            KnownEvent::find_by_statement(Statement::from_sql_and_values(
                backend,
                KNOWN_EVENTS_ON_POSTGRES,
                [Value::from(ids)],
            ))
            .all(conn)
            .await?
        } else {
            use tracking_event::Column as C;
            tracking_event::Entity::find()
                .select_only()
                .columns([
                    C::ShipmentId,
                    C::DedupeKey,
                    C::OccurredAt,
                    C::Status,
                    C::SubStatus,
                    C::RawCode,
                ])
                .filter(C::ShipmentId.is_in(shipment_ids.iter().cloned()))
                .into_model::<KnownEvent>()
                .all(conn)
                .await?
        };
        for event in events {
            grouped
                .entry(event.shipment_id.clone())
                .or_default()
                .push(event);
        }
        Ok(grouped)
    }
}
