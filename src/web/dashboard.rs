//! The console's dashboard: webhooks/s and pushes/s now, the push backlog and its oldest age, open
//! dead letters, per-carrier health (the `/v1/admin/carriers` figures), and a chart of the last
//! hour drawn as inline SVG on the server (no chart library, no script).
//!
//! Rates and the chart come from this process's counters, sampled every ten seconds
//! ([`crate::metrics::Metrics::sample`]); the backlog, dead letters, quotas and due polls come
//! from the store and so cover every process. Fleet-wide rates belong to Prometheus.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use maud::{Markup, html};

use super::PageError;
use super::layout::{Chrome, dash, page, relative};
use super::session::Staff;
use crate::gateway::Gateway;
use crate::metrics::Sample;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;

/// Per-second rates between consecutive samples: (seconds ago, webhooks/s, pushes/s).
fn rates(history: &[Sample]) -> Vec<(f64, f64, f64)> {
    let now = Utc::now();
    history
        .windows(2)
        .map(|pair| {
            let secs = ((pair[1].at - pair[0].at).num_milliseconds() as f64 / 1000.0).max(0.001);
            let ago = (now - pair[1].at).num_milliseconds() as f64 / 1000.0;
            (
                ago,
                pair[1].webhooks.saturating_sub(pair[0].webhooks) as f64 / secs,
                pair[1].pushes.saturating_sub(pair[0].pushes) as f64 / secs,
            )
        })
        .collect()
}

/// The seconds the chart spans: the samples' age, at least a minute, at most an hour (a
/// process that just started fills the width with what it has).
fn span(rates: &[(f64, f64, f64)]) -> f64 {
    rates
        .first()
        .map_or(60.0, |oldest| oldest.0 + 10.0)
        .clamp(60.0, 3600.0)
}

/// An SVG polyline's points for one series.
fn points(rates: &[(f64, f64, f64)], pick: fn(&(f64, f64, f64)) -> f64, top: f64) -> String {
    let span = span(rates);
    rates
        .iter()
        .map(|rate| {
            let x = WIDTH * (1.0 - (rate.0 / span).min(1.0));
            let y = HEIGHT - HEIGHT * pick(rate) / top;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn chart(rates: &[(f64, f64, f64)]) -> Markup {
    let top = rates.iter().map(|r| r.1.max(r.2)).fold(1.0_f64, f64::max) * 1.1;
    html! {
        figure.chart {
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label="webhooks and pushes per second, last hour" preserveAspectRatio="none" {
                line.axis x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
                polyline.webhooks fill="none" points=(points(rates, |r| r.1, top)) {}
                polyline.pushes fill="none" points=(points(rates, |r| r.2, top)) {}
            }
            figcaption {
                span.key.webhooks { "webhooks/s" } " " span.key.pushes { "pushes/s" }
                " · last " (format!("{:.0}", span(rates) / 60.0)) " min, this process · top of scale " (format!("{top:.1}")) "/s"
            }
        }
    }
}

/// `GET /support/dashboard`.
pub async fn dashboard(
    staff: Staff,
    gateway: web::Data<Gateway>,
) -> Result<HttpResponse, PageError> {
    let history = gateway.metrics.history();
    let rates = rates(&history);
    let now_rate = rates.last().copied();
    let backlog = gateway.store.push_backlog().await?;
    let carriers = crate::api::admin::carrier_figures(&gateway)
        .await
        .map_err(|err| PageError::Internal(err.to_string()))?;
    let body = html! {
        section.card {
            h1 { "Dashboard" }
            div.tiles {
                div.tile { span.value #webhooks-rate { (format!("{:.1}", now_rate.map_or(0.0, |r| r.1))) } span.label { "webhooks/s" } }
                div.tile { span.value #pushes-rate { (format!("{:.1}", now_rate.map_or(0.0, |r| r.2))) } span.label { "pushes/s" } }
                div.tile { span.value #backlog { (backlog.pending) } span.label { "pushes waiting" } }
                div.tile {
                    span.value { @match backlog.oldest_created_at { Some(at) => (relative(at)), None => (dash()) } }
                    span.label { "oldest waiting push" }
                }
                div.tile.warn[backlog.dead_letters > 0] { span.value #dead-letters { (backlog.dead_letters) } span.label { "dead letters" } }
            }
            @if rates.is_empty() {
                p.muted { "The chart fills in as the gateway runs (a sample every 10 s)." }
            } @else {
                (chart(&rates))
            }
        }
        section.card {
            h2 { "Carriers" }
            div.scroll {
                table.list {
                    thead { tr { th { "Instance" } th { "Kind" } th { "OK" } th { "Errors" } th { "429" } th { "Mean ms" } th { "Quota today" } th { "Due" } th { "Oldest overdue" } th { "State" } } }
                    tbody {
                        @for c in &carriers {
                            tr {
                                td { (c.id) }
                                td { (c.kind) }
                                td { (c.requests.ok) }
                                td { (c.requests.http_errors + c.requests.network_errors) }
                                td { (c.requests.rate_limited) }
                                td { @match c.latency_ms.mean { Some(ms) => (format!("{ms:.0}")), None => (dash()) } }
                                td {
                                    (c.quota.used_today)
                                    @if let Some(limit) = c.quota.requests_per_day { " / " (limit) }
                                }
                                td { (c.backlog.due) }
                                td { @match c.backlog.oldest_overdue_secs { Some(s) => (format!("{s:.0} s")), None => (dash()) } }
                                td {
                                    @match c.quota.paused_for_secs {
                                        Some(secs) => span.badge.s-exception { "paused " (format!("{secs:.0}")) " s" },
                                        None => span.badge.s-delivered { "ok" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page(&Chrome::console("Dashboard", Some(&staff)), body).into_string()))
}
