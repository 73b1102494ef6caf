//! Ops endpoints: liveness, readiness (database and queue reachable, background work making
//! progress) and Prometheus metrics.

use actix_web::{HttpResponse, web};
use std::time::Duration;

use super::wire::{BackgroundWork, LiveOut, ReadyOut};
use crate::gateway::Gateway;

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "The process answers", body = LiveOut)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(LiveOut { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready", body = ReadyOut),
    (status = 503, description = "Not ready: what is wrong", body = ReadyOut, headers(("retry-after" = String)))))]
pub async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let database = gateway.store.ping().await.map_err(|e| e.to_string());
    let queue = gateway.queue.ping().await.map_err(|e| e.to_string());
    // Long enough to ride over a broker reconnect, short enough for an orchestrator to act.
    let grace = Duration::from_secs(gateway.settings.server.unready_after_secs);
    let stuck = gateway.health.problems(grace);
    let ready = database.is_ok() && queue.is_ok() && stuck.is_empty();
    let describe = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let work: std::collections::BTreeMap<String, String> = stuck
        .iter()
        .map(|p| {
            let why = format!(
                "failing for {} s ({} failures): {}",
                p.failing_for.as_secs(),
                p.failures,
                p.last_error
            );
            (p.part.to_owned(), why)
        })
        .collect();
    let body = ReadyOut {
        status: if ready { "ready" } else { "unavailable" },
        database: describe(&database),
        queue: describe(&queue),
        background_work: if work.is_empty() {
            BackgroundWork::Ok("ok")
        } else {
            BackgroundWork::Failing(work)
        },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("retry-after", "1"))
            .json(body)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(gateway: web::Data<Gateway>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(gateway.metrics.render())
}
