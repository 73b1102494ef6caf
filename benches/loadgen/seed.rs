//! Shipments registered straight in the store, in chunks of 500 rows: a benchmark needs
//! thousands before its clock starts, and the API would take longer than the run. Shared with
//! the fault harness (`benches/faults`, through `#[path]`).

use sea_orm::{DatabaseConnection, EntityTrait};
use trackgate::carriers::Status;
use trackgate::store::entities::shipment;

/// Insert `count` pending shipments of carrier instance `carrier` (of the same kind), shipment
/// `s` with id `{id_prefix}{s}`, order `ORD-{s}` and tracking number `number(s)`.
pub async fn register_shipments(
    db: &DatabaseConnection,
    carrier: &str,
    id_prefix: &str,
    count: usize,
    number: impl Fn(usize) -> String,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let rows: Vec<shipment::ActiveModel> = (0..count)
        .map(|s| {
            shipment::Model {
                id: format!("{id_prefix}{s}"),
                carrier_id: carrier.into(),
                carrier_kind: carrier.into(),
                tracking_number: number(s),
                order_id: Some(format!("ORD-{s}")),
                status: Status::Pending.into(),
                sub_status: None,
                status_raw_code: None,
                last_event_at: None,
                delivered_at: None,
                estimated_delivery: None,
                metadata: None,
                tracking: true,
                push_seq: 0,
                next_poll_at: None,
                carrier_code: None,
                phone_last4: None,
                poll_priority: 0,
                unchanged_polls: 0,
                grace_polled: false,
                lease_until: None,
                lease_owner: None,
                last_webhook_at: None,
                created_at: now,
                updated_at: now,
                tracking_number_as_sent: None,
            }
            .into()
        })
        .collect();
    for chunk in rows.chunks(500) {
        shipment::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
