//! A carrier saying it no longer tracks a shipment: the shipment stops being polled, inside the
//! batch's transaction. Rare (an expired or cancelled number), so it is not set-based.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::IngestReport;
use crate::store::StoreError;
use crate::store::entities::shipment;

/// Stop polling the registered shipments a carrier said it no longer tracks, inside the
/// caller's transaction.
pub(super) async fn stop_tracking(
    txn: &DatabaseTransaction,
    carrier_id: &str,
    numbers: &[String],
    report: &mut IngestReport,
) -> Result<(), StoreError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let tracked = shipment::Entity::find()
        .filter(shipment::Column::CarrierId.eq(carrier_id))
        .filter(shipment::Column::TrackingNumber.is_in(numbers.iter().cloned()))
        .filter(shipment::Column::Tracking.eq(true))
        .all(txn)
        .await?;
    if tracked.is_empty() {
        return Ok(());
    }
    shipment::Entity::update_many()
        .col_expr(shipment::Column::Tracking, Expr::value(false))
        .col_expr(
            shipment::Column::NextPollAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(shipment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(shipment::Column::Id.is_in(tracked.iter().map(|s| s.id.clone())))
        .exec(txn)
        .await?;
    report
        .stopped
        .extend(tracked.into_iter().map(|s| s.tracking_number));
    Ok(())
}
