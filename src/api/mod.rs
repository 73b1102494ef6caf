//! The HTTP API (actix-web), an entry point: the server, its routes and the API-key extractor.
//!
//! Handlers translate HTTP to calls on the [`Gateway`] and results back to JSON; errors become
//! problem+json in [`error`] only. Scopes: `mall` for the mall backend's shipment endpoints,
//! `support` for tracking lookups, `admin` for dead letters (and everything else). Carriers
//! authenticate webhooks by their own signatures, not by API keys. Ops endpoints are open: bind
//! the server to a private interface.

pub mod admin;
pub mod auth;
pub mod checks;
pub mod door;
pub mod error;
pub mod json;
pub mod openapi;
mod ops;
pub mod request_id;
mod shipments;
pub mod stream;
mod track;
mod webhooks;
pub mod wire;
pub mod ws;

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::time::Duration;

use actix_web::{App, FromRequest, HttpMessage as _, HttpRequest, HttpServer, web};

pub use error::ApiError;
pub use shipments::queue_refresh;

use crate::gateway::Gateway;
use crate::store::states::Scope;
use auth::KeyCache;

/// The authenticated caller's scope.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Scope);

impl Caller {
    pub fn require(self, needed: Scope) -> Result<(), ApiError> {
        if self.0.grants(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(needed))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let gateway = req.app_data::<web::Data<Gateway>>().cloned();
        let keys = req.app_data::<web::Data<KeyCache>>().cloned();
        let door = req.app_data::<web::Data<door::Door>>().cloned();
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
            let (Some(gateway), Some(keys), Some(door)) = (gateway, keys, door) else {
                return Err(ApiError::Internal(anyhow::anyhow!("API state missing")));
            };
            let token = token
                .filter(|t| !t.is_empty())
                .ok_or(ApiError::Unauthorized)?;
            let scope = keys
                .scope(&gateway.store, &token)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            door.limits
                .api_key(&crate::store::keys::hash_token(&token))?;
            Ok(Caller(scope))
        })
    }
}

/// The span of each request names its route pattern (`/t/{token}`), never the path or query it
/// matched: stream tokens, tracking links and lookups travel in URLs and must not reach the logs.
pub struct RouteSpan;

impl tracing_actix_web::RootSpanBuilder for RouteSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        // Both set by `request_id::stamp`, the outer middleware.
        let (request_id, route) = {
            let extensions = request.extensions();
            let id = extensions
                .get::<request_id::RequestId>()
                .map(|id| id.0.clone());
            let route = extensions
                .get::<request_id::MatchedRoute>()
                .map(|r| r.0.clone());
            (id.unwrap_or_default(), route.unwrap_or_default())
        };
        // As the proxy in front reports it (X-Forwarded-For / Forwarded), else the peer.
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_owned();
        tracing::info_span!(
            "request",
            request_id = %request_id,
            client_ip = %client_ip,
            http.method = %request.method(),
            http.route = %route,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Which routes a listener serves: everything on one port (the default), or, with
/// `server.admin_listen` set, the carrier- and mall-facing routes on the main port and the
/// operator's (`/metrics`, `/v1/admin/…`) on the admin port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    All,
    Public,
    Admin,
}

/// Every route of `surface`.
pub fn routes_of(surface: Surface) -> fn(&mut web::ServiceConfig) {
    match surface {
        Surface::All => |cfg| {
            ops_routes(cfg);
            metrics_route(cfg);
            admin_routes(cfg);
            api_routes(cfg);
            openapi::routes(cfg);
        },
        Surface::Public => |cfg| {
            ops_routes(cfg);
            api_routes(cfg);
            openapi::routes(cfg);
        },
        Surface::Admin => |cfg| {
            ops_routes(cfg);
            metrics_route(cfg);
            admin_routes(cfg);
            openapi::routes(cfg);
        },
    }
}

/// Every route of the gateway (one listener).
pub fn routes(cfg: &mut web::ServiceConfig) {
    routes_of(Surface::All)(cfg)
}

fn not_allowed() -> actix_web::Route {
    web::to(error::method_not_allowed)
}

fn ops_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(ops::healthz))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(ops::readyz))
            .default_service(not_allowed()),
    );
}

fn metrics_route(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(ops::metrics))
            .default_service(not_allowed()),
    );
}

fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
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
        web::resource("/v1/admin/webhooks")
            .route(web::get().to(admin::list_webhooks))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/admin/webhooks/{id}/reprocess")
            .route(web::post().to(admin::reprocess_webhook))
            .default_service(not_allowed()),
    );
}

fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
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
        web::resource("/v1/shipments/{id}/tracking-link")
            .route(web::post().to(stream::mint_tracking_link))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/stream-tokens")
            .route(web::post().to(stream::mint_stream_token))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/stream")
            .route(web::get().to(ws::stream))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/stream/sse")
            .route(web::get().to(stream::sse))
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
        web::resource("/webhooks/{carrier_id}")
            .route(web::post().to(webhooks::receive))
            .default_service(not_allowed()),
    );
}

/// The HTTP server on `listener`, serving every API route and `pages` (the console and customer
/// pages, configured by the layer above) with the gateway's state (not started: the caller
/// spawns it).
pub fn server(
    gateway: Gateway,
    listener: TcpListener,
    surface: Surface,
    pages: fn(&mut web::ServiceConfig),
) -> std::io::Result<actix_web::dev::Server> {
    let routes = routes_of(surface);
    let settings = gateway.settings.server.clone();
    let workers = match settings.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let keys = web::Data::new(KeyCache::new(Duration::from_secs(
        settings.api_key_cache_secs,
    )));
    let door = web::Data::new(door::Door::new(&settings, gateway.metrics.clone()));
    let data = web::Data::new(gateway);
    let limit = settings.body_limit_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(door::guard))
            .wrap(tracing_actix_web::TracingLogger::<RouteSpan>::new())
            .wrap(actix_web::middleware::from_fn(request_id::stamp))
            .app_data(data.clone())
            .app_data(keys.clone())
            .app_data(door.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(error::json_error),
            )
            .app_data(web::PayloadConfig::default().limit(limit))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .configure(routes)
            .configure(pages)
            .default_service(web::to(error::not_found))
    })
    .workers(workers)
    .max_connections(settings.max_connections.max(1))
    .client_request_timeout(Duration::from_millis(settings.request_head_timeout_ms))
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
