//! The support lookup's read on PostgreSQL: shipments by tracking number or order, each with
//! its subscription and its events, in one statement of fixed text decoded by position.
//!
//! The lookup is the gateway's busiest read, and on PostgreSQL most of its cost is the gateway's
//! own (measured at 3,100 lookups/s on the 2-core box: the gateway 89 % of a core, PostgreSQL
//! about 65 %). sea-orm's joined select (`find_also_related` twice) builds its statement on every
//! call and decodes every column of every row by its prefixed name — a `format!` and a name
//! search per column, about a tenth of the gateway's time there. Here the statement is a
//! constant (prepared once per connection and number of spellings) and each row is read by
//! position. The shipments come through their index; each one's subscription and events through
//! theirs (`LATERAL` subqueries the planner may not flatten), so the plan does not depend on the
//! tables' statistics. MySQL and SQLite keep the sea-orm select
//! ([`super::Store::timelines_by_select`]).
//!
//! The select list and the decoders below are one list in one order: shipment columns, then
//! subscription columns, then event columns, each in its entity's field order. A test
//! (`track::the_lookups_read_on_postgres_equals_the_orms_read`) compares the two reads on the
//! same rows, so a column added to an entity and not here fails it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, TryGetable, Value};

use super::entities::{shipment, subscription, tracking_event};
use super::shipments::{ShipmentLookup, Timeline, in_lookup_order};
use super::{Store, StoreError};

/// The select list: shipment, subscription, event columns, each in its entity's field order.
macro_rules! select_list {
    () => {
        "SELECT s.id, s.carrier_id, s.carrier_kind, s.tracking_number, s.order_id, s.status, \
         s.sub_status, s.status_raw_code, s.last_event_at, s.delivered_at, \
         s.estimated_delivery, s.metadata, s.tracking, s.push_seq, s.next_poll_at, \
         s.carrier_code, s.phone_last4, s.poll_priority, s.unchanged_polls, s.grace_polled, \
         s.lease_until, s.lease_owner, s.last_webhook_at, s.created_at, s.updated_at, \
         s.tracking_number_as_sent, \
         b.shipment_id, b.carrier_id, b.state, b.attempts, b.last_error, b.enqueued, \
         b.created_at, b.updated_at, \
         e.id, e.shipment_id, e.dedupe_key, e.occurred_at, e.utc_offset_seconds, \
         e.offset_inferred, e.status, e.sub_status, e.raw_code, e.description, e.location, \
         e.source, e.inbound_webhook_id, e.received_at "
    };
}

/// Each shipment's subscription and events, through their indexes.
macro_rules! joins {
    () => {
        " LEFT JOIN LATERAL (SELECT * FROM subscriptions AS u WHERE u.shipment_id = s.id \
         OFFSET 0) AS b ON true \
         LEFT JOIN LATERAL (SELECT * FROM tracking_events AS t WHERE t.shipment_id = s.id \
         OFFSET 0) AS e ON true"
    };
}

/// Shipments with any of `count` numbers (`$1` … `$count`, distinct spellings), through
/// `ix_shipments_tracking_number`. One text per count, each a list of parameters rather than
/// one array: PostgreSQL estimates an array parameter at ten elements, so for the usual one or
/// two spellings a cached plan looked dearer than a new one and the statement was planned on
/// every call (measured: 0.3–0.4 ms of planning a lookup, more than its execution, and half
/// the lookups a second of sea-orm's select). A list of parameters is planned once per
/// connection and count.
pub fn timelines_by_numbers_on_postgres(count: usize) -> String {
    let placeholders: Vec<String> = (1..=count.max(1)).map(|i| format!("${i}")).collect();
    format!(
        concat!(
            select_list!(),
            "FROM (SELECT * FROM shipments AS n WHERE n.tracking_number IN ({}) OFFSET 0) AS s",
            joins!()
        ),
        placeholders.join(", ")
    )
}

/// The shipments of an order (`$1`), through `ix_shipments_order_id`.
pub const TIMELINES_BY_ORDER_ON_POSTGRES: &str = concat!(
    select_list!(),
    "FROM (SELECT * FROM shipments AS n WHERE n.order_id = $1 OFFSET 0) AS s",
    joins!()
);

/// Reads a row's columns left to right.
struct Columns<'a> {
    row: &'a QueryResult,
    at: usize,
}

impl Columns<'_> {
    fn next<T: TryGetable>(&mut self) -> Result<T, DbErr> {
        let value = self.row.try_get_by_index(self.at);
        self.at += 1;
        value
    }
}

/// One row of the statement: its shipment, the shipment's subscription if it has one, and one
/// of its events if it has any.
pub struct TimelineRow {
    pub shipment: shipment::Model,
    pub subscription: Option<subscription::Model>,
    pub event: Option<tracking_event::Model>,
}

impl TimelineRow {
    pub fn decode(row: &QueryResult) -> Result<TimelineRow, DbErr> {
        let mut columns = Columns { row, at: 0 };
        let shipment = shipment_of(&mut columns)?;
        let subscription = subscription_of(&mut columns)?;
        let event = event_of(&mut columns)?;
        Ok(TimelineRow {
            shipment,
            subscription,
            event,
        })
    }
}

fn shipment_of(c: &mut Columns<'_>) -> Result<shipment::Model, DbErr> {
    Ok(shipment::Model {
        id: c.next()?,
        carrier_id: c.next()?,
        carrier_kind: c.next()?,
        tracking_number: c.next()?,
        order_id: c.next()?,
        status: c.next()?,
        sub_status: c.next()?,
        status_raw_code: c.next()?,
        last_event_at: c.next()?,
        delivered_at: c.next()?,
        estimated_delivery: c.next()?,
        metadata: c.next()?,
        tracking: c.next()?,
        push_seq: c.next()?,
        next_poll_at: c.next()?,
        carrier_code: c.next()?,
        phone_last4: c.next()?,
        poll_priority: c.next()?,
        unchanged_polls: c.next()?,
        grace_polled: c.next()?,
        lease_until: c.next()?,
        lease_owner: c.next()?,
        last_webhook_at: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
        tracking_number_as_sent: c.next()?,
    })
}

/// `None` when the shipment has no subscription (its key column is NULL); the columns are
/// consumed either way.
fn subscription_of(c: &mut Columns<'_>) -> Result<Option<subscription::Model>, DbErr> {
    /// The subscription's columns in the select list (its key and seven more).
    const COLUMNS: usize = 8;
    let Some(shipment_id) = c.next::<Option<String>>()? else {
        c.at += COLUMNS - 1;
        return Ok(None);
    };
    Ok(Some(subscription::Model {
        shipment_id,
        carrier_id: c.next()?,
        state: c.next()?,
        attempts: c.next()?,
        last_error: c.next()?,
        enqueued: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
    }))
}

/// `None` when the shipment has no events (its key column is NULL).
fn event_of(c: &mut Columns<'_>) -> Result<Option<tracking_event::Model>, DbErr> {
    let Some(id) = c.next::<Option<i64>>()? else {
        return Ok(None);
    };
    Ok(Some(tracking_event::Model {
        id,
        shipment_id: c.next()?,
        dedupe_key: c.next()?,
        occurred_at: c.next()?,
        utc_offset_seconds: c.next()?,
        offset_inferred: c.next()?,
        status: c.next()?,
        sub_status: c.next()?,
        raw_code: c.next()?,
        description: c.next()?,
        location: c.next()?,
        source: c.next()?,
        inbound_webhook_id: c.next()?,
        received_at: c.next()?,
    }))
}

impl Store {
    /// [`Store::timelines`] on PostgreSQL: one fixed statement read by position
    /// ([`super::timelines`]); rows come one per (shipment, event) and are gathered here.
    pub(super) async fn timelines_on_postgres(
        &self,
        lookup: ShipmentLookup<'_>,
    ) -> Result<Vec<Timeline>, StoreError> {
        let statement = match lookup {
            ShipmentLookup::TrackingNumbers(numbers) => {
                // Distinct, or the statement's text would vary for nothing.
                let mut numbers: Vec<&String> = numbers.iter().collect();
                numbers.sort();
                numbers.dedup();
                if numbers.is_empty() {
                    return Ok(Vec::new());
                }
                Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    timelines_by_numbers_on_postgres(numbers.len()),
                    numbers
                        .into_iter()
                        .map(|number| Value::from(number.as_str())),
                )
            }
            ShipmentLookup::Order(order_id) => Statement::from_sql_and_values(
                DbBackend::Postgres,
                TIMELINES_BY_ORDER_ON_POSTGRES,
                [Value::from(order_id)],
            ),
        };
        let rows = match self.lane().await {
            Some(lane) => lane.conn().query_all_raw(statement).await?,
            None => self.conn().query_all_raw(statement).await?,
        };
        let mut timelines: Vec<Timeline> = Vec::new();
        for row in &rows {
            let TimelineRow {
                shipment,
                subscription,
                event,
            } = TimelineRow::decode(row)?;
            // A shipment's rows come together in practice (its events are its own lateral
            // join), so the search from the end finds it at once; SQL promises no order.
            let at = match timelines
                .iter()
                .rposition(|known| known.shipment.id == shipment.id)
            {
                Some(at) => at,
                None => {
                    timelines.push(Timeline {
                        shipment,
                        events: Vec::new(),
                        subscription,
                    });
                    timelines.len() - 1
                }
            };
            if let Some(event) = event {
                timelines[at].events.push(event);
            }
        }
        Ok(in_lookup_order(timelines))
    }
}
