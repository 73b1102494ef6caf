//! Support staff lookups: a tracking number across every carrier, or every parcel of an order,
//! with the full timeline and the carriers' raw codes.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::wire::{ShipmentOut, TrackByNumberOut, TrackByOrderOut};
use super::{ApiError, Caller};
use crate::gateway::Gateway;
use crate::store::shipments::ShipmentLookup;
use crate::store::states::Scope;

/// The shipments matching `lookup` with their timelines and subscriptions (one query).
async fn timelines(
    gateway: &Gateway,
    lookup: ShipmentLookup<'_>,
) -> Result<Vec<ShipmentOut>, ApiError> {
    Ok(gateway
        .store
        .timelines(lookup)
        .await?
        .into_iter()
        .map(|found| {
            ShipmentOut::new(found.shipment, Some(found.events))
                .with_subscription(found.subscription)
        })
        .collect())
}

/// `GET /v1/track/{number}`: every spelling of the number finds its shipments (each configured
/// kind's canonical spelling); `tracking_number` echoes the number as asked.
#[utoipa::path(get, path = "/v1/track/{tracking_number}", tag = "support", security(("api_key" = ["support"])),
    params(("tracking_number" = String, Path, description = "In any spelling (spaces, dashes, case)")),
    responses((status = 200, description = "Every shipment with that number, with its timeline", body = TrackByNumberOut)))]
pub async fn by_number(
    caller: Caller,
    gateway: web::Data<Gateway>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Support)?;
    let number = number.trim().to_owned();
    let spellings = gateway.registry.number_spellings(&number);
    let shipments = timelines(&gateway, ShipmentLookup::TrackingNumbers(&spellings)).await?;
    if shipments.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no shipment with tracking number `{number}`"
        )));
    }
    Ok(HttpResponse::Ok().json(TrackByNumberOut {
        tracking_number: number,
        shipments,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrackQuery {
    /// The mall's order id (required).
    #[param(required = true, min_length = 1)]
    pub order_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/track", tag = "support", security(("api_key" = ["support"])),
    params(TrackQuery),
    responses((status = 200, description = "Every parcel of the order, with its timeline", body = TrackByOrderOut)))]
pub async fn by_order(
    caller: Caller,
    gateway: web::Data<Gateway>,
    query: web::Query<TrackQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Support)?;
    let order_id = query
        .into_inner()
        .order_id
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter `order_id` is required".into()))?;
    let shipments = timelines(&gateway, ShipmentLookup::Order(&order_id)).await?;
    if shipments.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no shipment for order `{order_id}`"
        )));
    }
    Ok(HttpResponse::Ok().json(TrackByOrderOut {
        order_id,
        shipments,
    }))
}
