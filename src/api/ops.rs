//! Ops endpoints: liveness, readiness (database and queue reachable) and Prometheus metrics.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::gateway::Gateway;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let database = gateway.store.ping().await.map_err(|e| e.to_string());
    let queue = gateway.queue.ping().await.map_err(|e| e.to_string());
    let ready = database.is_ok() && queue.is_ok();
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": describe(&database),
        "queue": describe(&queue),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("retry-after", "1"))
            .json(body)
    }
}

pub async fn metrics(gateway: web::Data<Gateway>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(gateway.metrics.render())
}
