//! The HTTP API (actix-web): routes, the shared state, and the API-key extractor.
//!
//! Scopes: `mall` for the mall backend's shipment endpoints, `support` for tracking lookups,
//! `admin` for dead letters (and everything else). Carriers authenticate webhooks by their own
//! signatures, not by API keys. Ops endpoints are open: bind the server to a private interface.

mod admin;
pub mod auth;
pub mod error;
mod ops;
mod shipments;
mod track;
mod webhooks;
pub mod wire;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, web};

pub use error::ApiError;

use crate::startup::Gateway;
use crate::store::keys::Scope;

/// The authenticated caller's scope.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Scope);

impl Caller {
    pub fn require(self, needed: Scope) -> Result<(), ApiError> {
        if self.0.grants(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(needed.as_str()))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let gateway = req.app_data::<web::Data<Gateway>>().cloned();
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned());
        Box::pin(async move {
            let gateway = gateway
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("gateway state missing")))?;
            let token = token
                .filter(|t| !t.is_empty())
                .ok_or(ApiError::Unauthorized)?;
            let scope = gateway
                .api_keys
                .scope(&gateway.store, &token)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Ok(Caller(scope))
        })
    }
}

/// Every route of the gateway.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let not_allowed = || web::to(error::method_not_allowed);
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(ops::healthz))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(ops::readyz))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(ops::metrics))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/shipments")
            .route(web::post().to(shipments::register))
            .route(web::get().to(shipments::list_by_order))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/shipments/batch")
            .route(web::post().to(shipments::register_batch))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/shipments/{id}")
            .route(web::get().to(shipments::get))
            .route(web::delete().to(shipments::stop))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/shipments/{id}/refresh")
            .route(web::post().to(shipments::refresh))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/track")
            .route(web::get().to(track::by_order))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/track/{tracking_number}")
            .route(web::get().to(track::by_number))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/admin/carriers")
            .route(web::get().to(admin::carriers))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/admin/dead-letters")
            .route(web::get().to(admin::list_dead_letters))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/admin/dead-letters/{id}/replay")
            .route(web::post().to(admin::replay_dead_letter))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/webhooks/{carrier_id}")
            .route(web::post().to(webhooks::receive))
            .default_service(not_allowed()),
    );
}
