//! Mall endpoints: register shipments (one or a batch), read them, stop tracking them.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::wire::{
    BatchIn, BatchItemOut, BatchOut, ItemErrorOut, RefreshOut, ShipmentIn, ShipmentListOut,
    ShipmentOut,
};
use super::{ApiError, Caller};
use crate::gateway::Gateway;
use crate::store::shipments::{NewShipment, Registered};
use crate::store::states::Scope;

pub const MAX_BATCH: usize = 1000;

/// Check one registration and turn it into a store command: the fields
/// ([`ShipmentIn::check`]), then the carrier instance, named or detected from the number.
fn validate(gateway: &Gateway, input: ShipmentIn) -> Result<NewShipment, ApiError> {
    let checked = input.check()?;
    let carrier = match &checked.carrier {
        Some(id) => gateway
            .registry
            .get(id)
            .ok_or_else(|| ApiError::UnknownCarrier(id.clone()))?,
        None => carrier_by_format(&gateway.registry, &checked.tracking_number)?,
    };
    Ok(NewShipment {
        carrier_id: carrier.id.clone(),
        carrier_kind: carrier.adapter.kind().to_owned(),
        tracking_number: carrier.number_rule().canonical(&checked.tracking_number),
        tracking_number_as_sent: checked.tracking_number,
        order_id: checked.order_id,
        metadata: checked.metadata,
        carrier_code: checked.carrier_code,
        phone_last4: checked.phone_last4,
        subscribe: carrier.adapter.subscribes(),
    })
}

/// Choose the carrier instance for a number without one: only a single high-confidence
/// candidate that a configured instance can track is taken; anything else is answered with the
/// candidates, never a guess.
fn carrier_by_format(
    registry: &crate::registry::Registry,
    number: &str,
) -> Result<std::sync::Arc<crate::registry::CarrierInstance>, ApiError> {
    let candidates = trackgate_carriers::detect::detect(number);
    let listed = serde_json::to_value(&candidates).unwrap_or_default();
    let undetermined = |code, detail: String| ApiError::CarrierUndetermined {
        code,
        detail,
        candidates: listed.clone(),
    };
    let confident: Vec<_> = candidates
        .iter()
        .filter(|c| c.confidence == trackgate_carriers::detect::Confidence::High)
        .collect();
    match confident.as_slice() {
        [only] => registry.instance_for_kinds(only.kinds).ok_or_else(|| {
            undetermined(
                "carrier_not_configured",
                format!("`{number}` looks like a {} number, but no carrier instance of kind {} is configured", only.carrier, only.kinds.join(" or ")),
            )
        }),
        [] if candidates.is_empty() => Err(undetermined("carrier_not_detected", format!("no known carrier uses the format of `{number}`; send `carrier`"))),
        _ => Err(undetermined("carrier_ambiguous", format!("`{number}` fits several carriers' formats; send `carrier` (see candidates)"))),
    }
}

/// A registration's answer, after queuing the subscription it needs (a failure to queue is
/// left to the relay: the row is committed).
async fn answer(gateway: &Gateway, registered: Registered) -> ShipmentOut {
    if registered.subscribe {
        let id = &registered.shipment.id;
        crate::subscriptions::enqueue(&gateway.store, &gateway.queue, id).await;
    }
    ShipmentOut::new(registered.shipment, None).with_subscription(registered.subscription)
}

#[utoipa::path(post, path = "/v1/shipments", tag = "shipments", security(("api_key" = ["mall"])),
    request_body = ShipmentIn,
    responses(
        (status = 201, description = "Registered", body = ShipmentOut),
        (status = 200, description = "Already registered (same carrier and number): the existing shipment", body = ShipmentOut),
    ))]
pub async fn register(
    caller: Caller,
    gateway: web::Data<Gateway>,
    body: super::json::JsonObject<ShipmentIn>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    let new = validate(&gateway, body.into_inner())?;
    let registered = gateway.store.register_shipment(new).await?;
    let created = registered.created;
    let out = answer(&gateway, registered).await;
    Ok(if created {
        HttpResponse::Created().json(out)
    } else {
        HttpResponse::Ok().json(out)
    })
}

#[utoipa::path(post, path = "/v1/shipments/batch", tag = "shipments", security(("api_key" = ["mall"])),
    request_body = BatchIn,
    responses((status = 200, description = "One result per item, in order", body = BatchOut)))]
pub async fn register_batch(
    caller: Caller,
    gateway: web::Data<Gateway>,
    body: super::json::JsonObject<BatchIn>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    let items = body.into_inner().shipments;
    if let Some(index) = items.iter().position(|item| !item.is_object()) {
        return Err(ApiError::Validation(format!(
            "`shipments[{index}]` must be an object (a registration)"
        )));
    }
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::Validation(format!(
            "`shipments` must hold 1 to {MAX_BATCH} items, not {}",
            items.len()
        )));
    }
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let parsed = serde_json::from_value::<ShipmentIn>(item)
            .map_err(|err| ApiError::Validation(err.to_string()));
        let outcome = match parsed.and_then(|input| validate(&gateway, input)) {
            Ok(new) => gateway
                .store
                .register_shipment(new)
                .await
                .map_err(ApiError::from),
            Err(err) => Err(err),
        };
        results.push(match outcome {
            Ok(registered) => BatchItemOut {
                index,
                status: if registered.created { 201 } else { 200 },
                shipment: Some(answer(&gateway, registered).await),
                error: None,
            },
            Err(ApiError::Internal(cause)) => return Err(ApiError::Internal(cause)),
            Err(err) => {
                use actix_web::ResponseError;
                BatchItemOut {
                    index,
                    status: err.status_code().as_u16(),
                    shipment: None,
                    error: Some(ItemErrorOut {
                        code: err.code(),
                        detail: err.to_string(),
                    }),
                }
            }
        });
    }
    Ok(HttpResponse::Ok().json(BatchOut { results }))
}

#[utoipa::path(get, path = "/v1/shipments/{id}", tag = "shipments", security(("api_key" = ["mall"])),
    params(("id" = String, Path, description = "The shipment id (`shp_…`)")),
    responses((status = 200, description = "The shipment with its events, oldest first", body = ShipmentOut)))]
pub async fn get(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    let found = gateway
        .store
        .shipment_with_events(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no shipment `{id}`")))?;
    let subscription = gateway.store.subscription(&id).await?;
    Ok(HttpResponse::Ok()
        .json(ShipmentOut::new(found.shipment, Some(found.events)).with_subscription(subscription)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// The mall's order id (required).
    #[param(required = true, min_length = 1)]
    pub order_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/shipments", tag = "shipments", security(("api_key" = ["mall"])),
    params(OrderQuery),
    responses((status = 200, description = "The order's shipments (possibly none)", body = ShipmentListOut)))]
pub async fn list_by_order(
    caller: Caller,
    gateway: web::Data<Gateway>,
    query: web::Query<OrderQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    let order_id = query
        .into_inner()
        .order_id
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::BadRequest("query parameter `order_id` is required".into()))?;
    let shipments = gateway.store.shipments_by_order(&order_id).await?;
    let ids: Vec<String> = shipments.iter().map(|s| s.id.clone()).collect();
    let rows = gateway.store.subscriptions_of(&ids).await?;
    let out: Vec<ShipmentOut> = shipments
        .into_iter()
        .map(|s| ShipmentOut::new(s, None))
        .collect();
    let out = ShipmentOut::list_with_subscriptions(out, rows);
    Ok(HttpResponse::Ok().json(ShipmentListOut { shipments: out }))
}

#[utoipa::path(delete, path = "/v1/shipments/{id}", tag = "shipments", security(("api_key" = ["mall"])),
    params(("id" = String, Path, description = "The shipment id")),
    responses((status = 204, description = "No longer tracked (the carrier subscription is ended where it can be)")))]
pub async fn stop(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Mall)?;
    match gateway.store.stop_tracking(&id).await? {
        None => Err(ApiError::NotFound(format!("no shipment `{id}`"))),
        Some(unsubscribe) => {
            if unsubscribe {
                crate::subscriptions::enqueue(&gateway.store, &gateway.queue, &id).await;
            }
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

/// `POST /v1/shipments/{id}/refresh` (mall or support): poll this shipment before routine work,
/// at the carrier instance's next tick — within its rate limit, never around it. 202.
#[utoipa::path(post, path = "/v1/shipments/{id}/refresh", tag = "shipments", security(("api_key" = ["mall", "support"])),
    params(("id" = String, Path, description = "The shipment id")),
    responses((status = 202, description = "Queued for the carrier instance's next tick", body = RefreshOut)))]
pub async fn refresh(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if caller.require(Scope::Mall).is_err() {
        caller.require(Scope::Support)?;
    }
    let shipment = queue_refresh(&gateway, &id).await?;
    Ok(HttpResponse::Accepted().json(RefreshOut {
        id: shipment.id,
        refresh: "queued",
    }))
}

/// Ask for a poll of this shipment at its carrier instance's next tick (the refresh endpoint and
/// the console's button).
pub async fn queue_refresh(
    gateway: &Gateway,
    id: &str,
) -> Result<crate::store::entities::shipment::Model, ApiError> {
    let shipment = gateway
        .store
        .get_shipment(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no shipment `{id}`")))?;
    let pollable = gateway
        .registry
        .get(&shipment.carrier_id)
        .is_some_and(|c| c.adapter.capabilities().poll);
    if !pollable {
        return Err(ApiError::Validation(format!(
            "carrier instance `{}` cannot poll (not configured for polling)",
            shipment.carrier_id
        )));
    }
    gateway.store.request_refresh(id).await?;
    Ok(shipment)
}
