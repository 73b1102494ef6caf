//! Admin endpoints: per-carrier polling figures; dead letters listed and sent again; stored
//! webhooks by outcome (the quarantined ones above all) and reprocessed after a fix.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::wire::{
    BacklogOut, CarrierFiguresOut, CarrierRequestsOut, CarriersOut, DeadLetterOut, DeadLettersOut,
    InboundWebhookOut, InboundWebhooksOut, LatencyOut, QuotaOut, SubscriptionFiguresOut,
};
use super::{ApiError, Caller};
use crate::gateway::Gateway;
use crate::push::dead_letters;
use crate::store::states::{Scope, SubscriptionState, WebhookOutcome, from_label, label};

/// `limit` of a list: 100 when absent, else 1 to 1000 (anything else is refused, not bent).
fn list_limit(limit: Option<u64>) -> Result<u64, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and 1000, not {n}"
        ))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Also list letters already replayed.
    #[serde(default)]
    pub include_replayed: bool,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "admin", security(("api_key" = ["admin"])),
    params(ListQuery),
    responses((status = 200, description = "Dead letters, newest first", body = DeadLettersOut)))]
pub async fn list_dead_letters(
    caller: Caller,
    gateway: web::Data<Gateway>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let limit = list_limit(query.limit)?;
    let letters = gateway
        .store
        .dead_letters(query.include_replayed, limit)
        .await?;
    let out: Vec<_> = letters.into_iter().map(DeadLetterOut::from).collect();
    Ok(HttpResponse::Ok().json(DeadLettersOut { dead_letters: out }))
}

#[utoipa::path(post, path = "/v1/admin/dead-letters/{id}/replay", tag = "admin", security(("api_key" = ["admin"])),
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses((status = 202, description = "Sent again; the letter is marked replayed", body = DeadLetterOut)))]
pub async fn replay_dead_letter(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let letter = dead_letters::replay(&gateway.store, &gateway.queue, *id).await?;
    Ok(HttpResponse::Accepted().json(DeadLetterOut::from(letter)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhooksQuery {
    /// `quarantined` (the default), `failed`, `partial`, `received` or `processed`.
    #[param(value_type = Option<WebhookOutcome>)]
    pub outcome: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

/// `GET /v1/admin/webhooks?outcome=quarantined`: the newest stored webhooks with that outcome.
#[utoipa::path(get, path = "/v1/admin/webhooks", tag = "admin", security(("api_key" = ["admin"])),
    params(WebhooksQuery),
    responses((status = 200, description = "Stored webhooks with that outcome, newest first", body = InboundWebhooksOut)))]
pub async fn list_webhooks(
    caller: Caller,
    gateway: web::Data<Gateway>,
    query: web::Query<WebhooksQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let outcome = match query.outcome.as_deref() {
        None => WebhookOutcome::Quarantined,
        Some(text) => from_label(text).ok_or_else(|| {
            let valid: Vec<String> = <WebhookOutcome as sea_orm::Iterable>::iter()
                .map(label)
                .collect();
            ApiError::Validation(format!("`outcome` must be one of {}", valid.join(", ")))
        })?,
    };
    let limit = list_limit(query.limit)?;
    let rows = gateway
        .store
        .latest_inbound_webhooks(outcome, limit)
        .await?;
    let out: Vec<InboundWebhookOut> = rows.into_iter().map(InboundWebhookOut::from).collect();
    Ok(HttpResponse::Ok().json(InboundWebhooksOut { webhooks: out }))
}

/// `POST /v1/admin/webhooks/{id}/reprocess`: parse and ingest one stored webhook again.
#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/reprocess", tag = "admin", security(("api_key" = ["admin"])),
    params(("id" = i64, Path, description = "The stored webhook's id")),
    responses((status = 200, description = "What reprocessing did", body = crate::intake::ReprocessSummary)))]
pub async fn reprocess_webhook(
    caller: Caller,
    gateway: web::Data<Gateway>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    match gateway.intake.reprocess(Some(*id), true).await {
        Ok(summary) => Ok(HttpResponse::Ok().json(summary)),
        Err(crate::intake::ReprocessError::NotFound(id)) => {
            Err(ApiError::NotFound(format!("no inbound webhook {id}")))
        }
        Err(crate::intake::ReprocessError::Store(err)) => Err(err.into()),
    }
}

/// `GET /v1/admin/carriers`: per carrier instance, what polling costs and owes — requests and
/// their outcomes, 429s, latency, the shared quota used and left today, the due backlog and the
/// age of the most overdue shipment. Counters are this process's since it started; quota and
/// backlog come from the store and so cover every process.
#[utoipa::path(get, path = "/v1/admin/carriers", tag = "admin", security(("api_key" = ["admin"])),
    responses((status = 200, description = "Per carrier instance: requests, latency, quota, subscriptions, backlog", body = CarriersOut)))]
pub async fn carriers(
    caller: Caller,
    gateway: web::Data<Gateway>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let out = carrier_figures(&gateway).await?;
    Ok(HttpResponse::Ok().json(CarriersOut { carriers: out }))
}

/// The figures of every carrier instance (the admin endpoint and the console's dashboard).
pub async fn carrier_figures(gateway: &Gateway) -> Result<Vec<CarrierFiguresOut>, ApiError> {
    let now = chrono::Utc::now();
    let metrics = &gateway.metrics;
    let subscription_counts = gateway.store.subscription_counts().await?;
    let mut out = Vec::new();
    for instance in gateway.registry.all() {
        let id = instance.id.as_str();
        let count = |result: &str| metrics.polls.with_label_values(&[id, result]).get();
        let latency = metrics.carrier_seconds.with_label_values(&[id]);
        let samples = latency.get_sample_count();
        let backlog = gateway.store.backlog(id, now).await?;
        let used_today = gateway.store.requests_today(id, now).await?;
        let capabilities = instance.adapter.capabilities();
        let per_day = (instance.requests_per_day > 0).then_some(instance.requests_per_day);
        out.push(CarrierFiguresOut {
            id: id.to_owned(),
            kind: instance.adapter.kind(),
            polls: capabilities.poll,
            webhooks: capabilities.webhook,
            batch_size: capabilities.poll_batch_size,
            requests: CarrierRequestsOut {
                ok: count("ok"),
                http_errors: count("http_error"),
                network_errors: count("network_error"),
                rate_limited: metrics.carrier_rate_limited.with_label_values(&[id]).get(),
            },
            latency_ms: LatencyOut {
                count: samples,
                mean: (samples > 0).then(|| latency.get_sample_sum() * 1000.0 / samples as f64),
            },
            quota: QuotaOut {
                requests_per_second: instance.requests_per_second,
                requests_per_day: per_day,
                used_today,
                left_today: per_day.map(|day| (day as i64 - used_today as i64).max(0)),
                paused_for_secs: instance.paused_for().map(|d| d.as_secs_f64()),
            },
            subscriptions: SubscriptionFiguresOut {
                needed: instance.adapter.subscribes(),
                by_state: subscriptions_by_state(&subscription_counts, id),
                results: subscription_results(metrics, id),
            },
            backlog: BacklogOut {
                due: backlog.due,
                oldest_overdue_secs: backlog
                    .oldest_due_at
                    .map(|at| ((now - at).num_milliseconds() as f64 / 1000.0).max(0.0)),
            },
        });
    }
    Ok(out)
}

/// How many subscriptions of carrier instance `id` are in each state.
fn subscriptions_by_state(
    counts: &[(String, SubscriptionState, i64)],
    id: &str,
) -> std::collections::BTreeMap<String, i64> {
    counts
        .iter()
        .filter(|(carrier, _, _)| carrier == id)
        .map(|(_, state, count)| (label(*state), *count))
        .collect()
}

/// Subscription work of carrier instance `id` since the process started, by result.
fn subscription_results(
    metrics: &crate::metrics::Metrics,
    id: &str,
) -> std::collections::BTreeMap<&'static str, u64> {
    ["active", "refused", "retried", "dead", "stopped"]
        .into_iter()
        .map(|result| {
            let count = metrics.subscriptions.with_label_values(&[id, result]).get();
            (result, count)
        })
        .collect()
}
