//! Shipment and event queries: registration (idempotent on carrier + tracking number), lookups
//! for the mall and support APIs, and the poller's due list.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use trackgate_carriers::Status;

use super::entities::{shipment, subscription, tracking_event};
use super::states::StoredStatus;
use super::{Store, StoreError};
use crate::domain::ids::new_shipment_id;

/// What the mall registers.
#[derive(Debug, Clone)]
pub struct NewShipment {
    pub carrier_id: String,
    pub carrier_kind: String,
    /// In the carrier kind's canonical spelling.
    pub tracking_number: String,
    /// As the mall sent it (trimmed).
    pub tracking_number_as_sent: String,
    pub order_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// See [`trackgate_carriers::PollTarget`].
    pub carrier_code: Option<String>,
    pub phone_last4: Option<String>,
    /// The carrier must be asked to follow it (`CarrierAdapter::subscribes`).
    pub subscribe: bool,
}

/// A registration's result.
#[derive(Debug, Clone)]
pub struct Registered {
    pub shipment: shipment::Model,
    /// Newly created (201), not found already registered (200).
    pub created: bool,
    /// A subscription task is to be queued for it (after this commit).
    pub subscribe: bool,
    /// Its subscription with the carrier, for carriers that need one.
    pub subscription: Option<subscription::Model>,
}

/// What a support lookup searches by.
#[derive(Debug, Clone, Copy)]
pub enum ShipmentLookup<'a> {
    /// Any of these spellings (a number in each carrier kind's canonical spelling).
    TrackingNumbers(&'a [String]),
    Order(&'a str),
}

/// What a support lookup shows of one shipment: its timeline and its carrier subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub shipment: shipment::Model,
    /// In timeline order (the status rule's order).
    pub events: Vec<tracking_event::Model>,
    /// For carriers that need one.
    pub subscription: Option<subscription::Model>,
}

/// A shipment with its events, oldest first.
#[derive(Debug, Clone)]
pub struct ShipmentWithEvents {
    pub shipment: shipment::Model,
    pub events: Vec<tracking_event::Model>,
}

impl Store {
    /// Register a shipment; returns it and whether it was newly created. Registering an existing
    /// carrier + tracking number returns the existing shipment (and resumes tracking it). The
    /// carrier subscription it needs is written in the same transaction
    /// ([`super::subscriptions`]).
    pub async fn register_shipment(&self, new: NewShipment) -> Result<Registered, StoreError> {
        let now = Utc::now();
        let id = new_shipment_id();
        let model = shipment::ActiveModel {
            id: Set(id.clone()),
            carrier_id: Set(new.carrier_id.clone()),
            carrier_kind: Set(new.carrier_kind),
            tracking_number: Set(new.tracking_number.clone()),
            order_id: Set(new.order_id),
            status: Set(StoredStatus(Status::Pending)),
            sub_status: Set(None),
            status_raw_code: Set(None),
            last_event_at: Set(None),
            delivered_at: Set(None),
            estimated_delivery: Set(None),
            metadata: Set(new.metadata.map(|m| m.to_string())),
            tracking: Set(true),
            push_seq: Set(0),
            next_poll_at: Set(Some(now)),
            carrier_code: Set(new.carrier_code),
            phone_last4: Set(new.phone_last4),
            // A shipment just registered is polled before routine work.
            poll_priority: Set(crate::store::scheduling::PRIORITY_NEW),
            unchanged_polls: Set(0),
            grace_polled: Set(false),
            lease_until: Set(None),
            lease_owner: Set(None),
            last_webhook_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            tracking_number_as_sent: Set(Some(new.tracking_number_as_sent)),
        };
        let txn = self.begin_write().await?;
        shipment::Entity::insert(model)
            .on_conflict_do_nothing_on([
                shipment::Column::CarrierId,
                shipment::Column::TrackingNumber,
            ])
            .exec_without_returning(&txn)
            .await?;
        let mut existing = shipment::Entity::find()
            .filter(shipment::Column::CarrierId.eq(&new.carrier_id))
            .filter(shipment::Column::TrackingNumber.eq(&new.tracking_number))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Corrupt("shipment vanished after insert".into()))?;
        // Created when the row found is the one just written. Not from the affected-row count:
        // MySQL counts a duplicate that `ON DUPLICATE KEY UPDATE` left alone as a row too.
        let created = existing.id == id;
        if !created && !existing.tracking {
            let mut active: shipment::ActiveModel = existing.into();
            active.tracking = Set(true);
            active.updated_at = Set(now);
            existing = active.update(&txn).await?;
        }
        let (subscribe, subscription) = if new.subscribe {
            let (subscribe, row) = super::subscriptions::want_subscribed(
                &txn,
                &existing.id,
                &new.carrier_id,
                now,
                false,
            )
            .await?;
            (subscribe, Some(row))
        } else {
            (false, None)
        };
        txn.commit().await?;
        Ok(Registered {
            shipment: existing,
            created,
            subscribe,
            subscription,
        })
    }

    pub async fn find_shipment(
        &self,
        carrier_id: &str,
        tracking_number: &str,
    ) -> Result<Option<shipment::Model>, StoreError> {
        Ok(shipment::Entity::find()
            .filter(shipment::Column::CarrierId.eq(carrier_id))
            .filter(shipment::Column::TrackingNumber.eq(tracking_number))
            .one(self.conn())
            .await?)
    }

    pub async fn get_shipment(&self, id: &str) -> Result<Option<shipment::Model>, StoreError> {
        Ok(shipment::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?)
    }

    pub async fn shipment_with_events(
        &self,
        id: &str,
    ) -> Result<Option<ShipmentWithEvents>, StoreError> {
        let Some(shipment) = self.get_shipment(id).await? else {
            return Ok(None);
        };
        let events = self.events_of(&shipment.id).await?;
        Ok(Some(ShipmentWithEvents { shipment, events }))
    }

    /// A shipment's events in timeline order (the status rule's order).
    pub async fn events_of(
        &self,
        shipment_id: &str,
    ) -> Result<Vec<tracking_event::Model>, StoreError> {
        let mut events = tracking_event::Entity::find()
            .filter(tracking_event::Column::ShipmentId.eq(shipment_id))
            .all(self.conn())
            .await?;
        sort_timeline(&mut events);
        Ok(events)
    }

    /// Shipments matching `lookup` across every carrier, each with its timeline and its
    /// subscription, oldest shipment first: the support lookups' read. One query (the shipment
    /// joined to both), so one round trip: on a busy box each round trip is a context switch
    /// to PostgreSQL and back, which the lookup's profile showed as its largest cost.
    ///
    /// On PostgreSQL the read is a fixed statement decoded by position
    /// ([`super::timelines`]); elsewhere [`Store::timelines_by_select`].
    pub async fn timelines(&self, lookup: ShipmentLookup<'_>) -> Result<Vec<Timeline>, StoreError> {
        if self.conn().get_database_backend() == DbBackend::Postgres {
            return self.timelines_on_postgres(lookup).await;
        }
        self.timelines_by_select(lookup).await
    }

    /// [`Store::timelines`] as sea-orm's joined select, on any backend: MySQL's and SQLite's
    /// read, and what a test compares PostgreSQL's positional read with.
    pub async fn timelines_by_select(
        &self,
        lookup: ShipmentLookup<'_>,
    ) -> Result<Vec<Timeline>, StoreError> {
        let filter = match lookup {
            ShipmentLookup::TrackingNumbers(numbers) => {
                shipment::Column::TrackingNumber.is_in(numbers.iter().cloned())
            }
            ShipmentLookup::Order(order_id) => shipment::Column::OrderId.eq(order_id),
        };
        // `consolidate` gathers each shipment's rows (by primary key) and drops the repeats of
        // its subscription the join puts beside every event.
        let select = shipment::Entity::find()
            .filter(filter)
            .find_also_related(subscription::Entity)
            .find_also_related(tracking_event::Entity)
            .consolidate();
        let found = match self.lane().await {
            Some(lane) => select.all(lane.conn()).await?,
            None => select.all(self.conn()).await?,
        };
        let timelines = found
            .into_iter()
            .map(|(shipment, subscriptions, events)| Timeline {
                shipment,
                events,
                // At most one: the subscription's primary key is the shipment's id.
                subscription: subscriptions.into_iter().next(),
            })
            .collect();
        Ok(in_lookup_order(timelines))
    }

    /// Shipments whose number is not in their kind's canonical spelling: those migration 6
    /// left as they were because another shipment of the same carrier instance has that
    /// spelling. Each with the canonical spelling; read in pages, id order.
    pub async fn noncanonical_numbers(&self) -> Result<Vec<(shipment::Model, String)>, StoreError> {
        const PAGE: u64 = 5000;
        let mut found = Vec::new();
        let mut after = String::new();
        loop {
            let page = shipment::Entity::find()
                .filter(shipment::Column::Id.gt(after.as_str()))
                .order_by_asc(shipment::Column::Id)
                .limit(PAGE)
                .all(self.conn())
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let full = page.len() as u64 == PAGE;
            for row in page {
                let canonical = trackgate_carriers::catalog::number_rule(&row.carrier_kind)
                    .canonical(&row.tracking_number);
                if canonical != row.tracking_number {
                    found.push((row, canonical));
                }
            }
            if !full {
                break;
            }
        }
        Ok(found)
    }

    pub async fn shipments_by_order(
        &self,
        order_id: &str,
    ) -> Result<Vec<shipment::Model>, StoreError> {
        Ok(shipment::Entity::find()
            .filter(shipment::Column::OrderId.eq(order_id))
            .order_by_asc(shipment::Column::CreatedAt)
            .all(self.conn())
            .await?)
    }

    /// Stop tracking: no more polls; the history stays. Returns false when there is no such id.
    /// Stop tracking a shipment (its history stays). `None`: no such shipment; `Some(true)`:
    /// its subscription is to be ended, a task to be queued after this commit.
    pub async fn stop_tracking(&self, id: &str) -> Result<Option<bool>, StoreError> {
        let now = Utc::now();
        let txn = self.begin_write().await?;
        let Some(found) = shipment::Entity::find_by_id(id.to_owned())
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let mut active: shipment::ActiveModel = found.into();
        active.tracking = Set(false);
        active.next_poll_at = Set(None);
        active.updated_at = Set(now);
        active.update(&txn).await?;
        let unsubscribe = super::subscriptions::want_unsubscribed(&txn, id, now).await?;
        txn.commit().await?;
        Ok(Some(unsubscribe))
    }

    /// Push the next poll of these shipments to `next`.
    pub async fn schedule_poll(
        &self,
        ids: &[String],
        next: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        shipment::Entity::update_many()
            .col_expr(
                shipment::Column::NextPollAt,
                sea_orm::sea_query::Expr::value(next),
            )
            .filter(shipment::Column::Id.is_in(ids.iter().cloned()))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}

/// A lookup's answer in its order: oldest shipment first, each one's events in timeline order.
pub(super) fn in_lookup_order(mut timelines: Vec<Timeline>) -> Vec<Timeline> {
    for timeline in &mut timelines {
        sort_timeline(&mut timeline.events);
    }
    timelines.sort_by(|a, b| {
        (a.shipment.created_at, &a.shipment.id).cmp(&(b.shipment.created_at, &b.shipment.id))
    });
    timelines
}

/// Sort events (or references to them) into timeline order: the same total order the status
/// rule uses.
pub fn sort_timeline<E: std::borrow::Borrow<tracking_event::Model>>(events: &mut [E]) {
    events.sort_by(|a, b| {
        crate::domain::status::timeline_cmp(&facts(a.borrow()), &facts(b.borrow()))
    });
}

/// The status rule's view of a stored event.
pub fn facts(event: &tracking_event::Model) -> crate::domain::status::EventFacts<'_> {
    crate::domain::status::EventFacts {
        occurred_at: event.occurred_at,
        status: event.status.0,
        sub_status: event.sub_status.as_deref(),
        raw_code: &event.raw_code,
        dedupe_key: &event.dedupe_key,
    }
}
