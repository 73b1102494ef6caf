//! Support staff lookups: a tracking number across every carrier, or every parcel of an order,
//! with the full timeline and the carriers' raw codes.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::wire::ShipmentOut;
use super::{ApiError, Caller};
use crate::startup::Gateway;
use crate::store::entities::shipment;
use crate::store::keys::Scope;

async fn with_timelines(
    gateway: &Gateway,
    shipments: Vec<shipment::Model>,
) -> Result<Vec<ShipmentOut>, ApiError> {
    let mut out = Vec::with_capacity(shipments.len());
    for shipment in shipments {
        let events = gateway.store.events_of(&shipment.id).await?;
        out.push(ShipmentOut::new(shipment, Some(events)));
    }
    Ok(out)
}

pub async fn by_number(
    caller: Caller,
    gateway: web::Data<Gateway>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Support)?;
    let number = number.trim().to_owned();
    let shipments = gateway.store.shipments_by_tracking_number(&number).await?;
    if shipments.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no shipment with tracking number `{number}`"
        )));
    }
    let shipments = with_timelines(&gateway, shipments).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "tracking_number": number, "shipments": shipments })))
}

#[derive(Debug, Deserialize)]
pub struct TrackQuery {
    pub order_id: Option<String>,
}

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
    let shipments = gateway.store.shipments_by_order(&order_id).await?;
    if shipments.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no shipment for order `{order_id}`"
        )));
    }
    let shipments = with_timelines(&gateway, shipments).await?;
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "order_id": order_id, "shipments": shipments })),
    )
}
