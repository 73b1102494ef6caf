//! The support console: search (a tracking number in any spelling, an order id, a shipment id),
//! the shipment page (status in English and Chinese, timeline in local time with zones, pushes
//! to the mall with every attempt, polling and subscription state) and its two actions, refresh
//! now and replay a dead letter (admin).
//!
//! Every value from a carrier (descriptions, locations, raw codes) reaches the page through the
//! templates' escaping; the page's live part is re-rendered by the server
//! (`/support/shipments/{id}/live`) when the stream announces an update, so no carrier text is
//! ever turned into HTML by script.

use actix_web::{HttpResponse, web};
use chrono::{Duration, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::PageError;
use super::labels;
use super::layout::{Chrome, dash, local_time, page, relative, time_tag, utc};
use super::session::Staff;
use crate::domain::tokens::{Purpose, StreamClaims};
use crate::gateway::Gateway;
use crate::store::entities::{dead_letter, push_attempt, push_outbox, shipment, tracking_event};
use crate::store::states::{OutboxState, TaskKind, label};

/// Longest search text accepted.
const MAX_QUERY: usize = 200;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub notice: Option<String>,
}

fn html_response(markup: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// `GET /support`: the search form, and its results.
pub async fn search(
    staff: Staff,
    gateway: web::Data<Gateway>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.q.as_deref().unwrap_or("").trim();
    if q.len() > MAX_QUERY {
        return Err(PageError::BadRequest(format!(
            "search text longer than {MAX_QUERY} characters"
        )));
    }
    let found = if q.is_empty() {
        None
    } else {
        Some(find(&gateway, q).await?)
    };
    if let Some([only]) = found.as_deref() {
        return Ok(HttpResponse::SeeOther()
            .insert_header(("location", format!("/support/shipments/{}", only.id)))
            .finish());
    }
    let body = html! {
        section.card {
            h1 { "Find a parcel" }
            form.search method="get" action="/support" {
                label for="q" { "Tracking number, order id or shipment id" }
                div.row {
                    input #q type="search" name="q" value=(q) autofocus required maxlength=(MAX_QUERY);
                    button type="submit" { "Search" }
                }
            }
        }
        @if let Some(found) = &found {
            section.card {
                @if found.is_empty() {
                    p #no-results { "Nothing found for " strong { (q) } "." }
                } @else {
                    h2 { (found.len()) " shipments for " (q) }
                    table.list {
                        thead { tr { th { "Tracking number" } th { "Carrier" } th { "Order" } th { "Status" } th { "Updated" } } }
                        tbody {
                            @for s in found {
                                tr {
                                    td { a href={"/support/shipments/" (s.id)} { (s.tracking_number) } }
                                    td { (s.carrier_id) }
                                    td { (s.order_id.as_deref().unwrap_or("")) }
                                    td { (status_badge(s)) }
                                    td { (time_tag(s.updated_at, &relative(s.updated_at))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html_response(page(
        &Chrome::console("Search", Some(&staff)),
        body,
    )))
}

/// Shipments matching `q` as a shipment id, any spelling of a tracking number, or an order id.
async fn find(gateway: &Gateway, q: &str) -> Result<Vec<shipment::Model>, PageError> {
    let spellings = gateway.registry.number_spellings(q);
    Ok(gateway.store.search_shipments(q, &spellings).await?)
}

fn status_badge(s: &shipment::Model) -> Markup {
    let (en, zh) = labels::status(s.status.0);
    html! { span class={"badge s-" (s.status.0.as_str())} { (en) " · " (zh) } }
}

/// Everything the shipment page shows.
struct Shown {
    shipment: shipment::Model,
    events: Vec<tracking_event::Model>,
    pushes: Vec<push_outbox::Model>,
    attempts: Vec<push_attempt::Model>,
    dead: Vec<dead_letter::Model>,
}

async fn load(gateway: &Gateway, id: &str) -> Result<Shown, PageError> {
    let found = gateway
        .store
        .shipment_with_events(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("no shipment `{id}`")))?;
    let pushes = gateway.store.outbox_of_shipment(id).await?;
    let ids: Vec<String> = pushes.iter().map(|p| p.id.clone()).collect();
    let attempts = gateway.store.attempts_of(&ids).await?;
    let mut refs = ids;
    refs.push(id.to_owned());
    let dead = gateway.store.dead_letters_of(&refs).await?;
    Ok(Shown {
        shipment: found.shipment,
        events: found.events,
        pushes,
        attempts,
        dead,
    })
}

/// `GET /support/shipments/{id}`.
pub async fn shipment_page(
    staff: Staff,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let shown = load(&gateway, &id).await?;
    let s = &shown.shipment;
    let subscription = gateway.store.subscription(&s.id).await?;
    let instance = gateway.registry.get(&s.carrier_id);
    let pollable = instance
        .as_ref()
        .is_some_and(|c| c.adapter.capabilities().poll);
    // The page's own stream: this shipment, for as long as a session lasts at most.
    let claims = StreamClaims {
        order_id: None,
        shipment_ids: vec![s.id.clone()],
        exp: Utc::now() + Duration::hours(gateway.settings.web.session_hours as i64),
    };
    let stream = gateway.tokens.sign(Purpose::Stream, &claims);
    let courier = crate::push::payload::courier_name(&s.carrier_kind, s.carrier_code.as_deref());
    let body = html! {
        @if let Some(notice) = &query.notice {
            p.notice role="status" { (notice) }
        }
        section.card {
            div.head {
                div {
                    h1 { (s.tracking_number_as_sent.as_deref().unwrap_or(&s.tracking_number)) }
                    p.muted {
                        (s.carrier_id) " (" (s.carrier_kind) ")"
                        @if let Some(courier) = &courier { " · " (courier) }
                        @if let Some(order) = &s.order_id { " · order " a href={"/support?q=" (order)} { (order) } }
                    }
                    p.muted.small { "shipment " code { (s.id) } }
                }
                div.actions {
                    @if pollable {
                        form method="post" action={"/support/shipments/" (s.id) "/refresh"} {
                            input type="hidden" name="csrf" value=(staff.csrf);
                            button #refresh type="submit" { "Refresh now" }
                        }
                    }
                }
            }
        }
        div #live data-stream={"/v1/stream/sse?token=" (stream)} data-fragment={"/support/shipments/" (s.id) "/live"} {
            (live_part(&gateway, &staff, &shown))
        }
        section.card {
            h2 { "Polling and subscription" }
            dl.facts {
                dt { "Tracking" } dd { @if s.tracking { "yes" } @else { "stopped" } }
                dt { "Next poll" } dd { @match s.next_poll_at { Some(at) => (time_tag(at, &format!("{} ({})", utc(at), relative(at)))), None => (dash()) } }
                dt { "Last webhook" } dd { @match s.last_webhook_at { Some(at) => (time_tag(at, &format!("{} ({})", utc(at), relative(at)))), None => (dash()) } }
                dt { "Carrier instance" } dd {
                    @match &instance {
                        Some(instance) => {
                            @match instance.paused_for() {
                                Some(wait) => span.badge.s-exception { "paused for " (wait.as_secs()) " s (rate limited)" },
                                None => "active",
                            }
                        }
                        None => "not configured",
                    }
                }
                dt { "Last poll of the carrier" } dd {
                    @match instance.as_ref().and_then(|i| i.last_poll()) {
                        Some((at, None)) => { (time_tag(at, &relative(at))) " · ok" },
                        Some((at, Some(error))) => { (time_tag(at, &relative(at))) " · " span.error { "failed: " (error) } },
                        None => { "none by this process yet" },
                    }
                }
                dt { "Subscription" } dd {
                    @match &subscription {
                        Some(row) => {
                            (label(row.state)) " · " (row.attempts) " attempts"
                            @if let Some(error) = &row.last_error { br; span.error { (error) } }
                        }
                        None => "none needed",
                    }
                }
                @for letter in shown.dead.iter().filter(|d| d.kind != TaskKind::Push) {
                    dt { "Last " (label(letter.kind)) " error" }
                    dd.error { (letter.last_error.as_deref().unwrap_or("")) " (" (utc(letter.created_at)) ")" }
                }
            }
        }
    };
    Ok(html_response(page(
        &Chrome::console(&s.tracking_number, Some(&staff)),
        body,
    )))
}

/// `GET /support/shipments/{id}/live`: the part of the shipment page that changes (status,
/// timeline, pushes), fetched again by the page when its stream says so.
pub async fn live_fragment(
    staff: Staff,
    gateway: web::Data<Gateway>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let shown = load(&gateway, &id).await?;
    Ok(html_response(live_part(&gateway, &staff, &shown)))
}

fn live_part(gateway: &Gateway, staff: &Staff, shown: &Shown) -> Markup {
    let s = &shown.shipment;
    let (en, zh) = labels::status(s.status.0);
    html! {
        section.card {
            div.status {
                span class={"badge big s-" (s.status.0.as_str())} #status { (en) " · " (zh) }
                @if let Some(sub) = &s.sub_status {
                    span.sub {
                        (labels::sub_status_in(sub, crate::config::Language::En)) " · "
                        (labels::sub_status_in(sub, crate::config::Language::Zh))
                        " " code { (sub) }
                    }
                }
                @if let Some(raw) = &s.status_raw_code { span.muted { " raw " code { (raw) } } }
            }
            dl.facts {
                dt { "Estimated delivery" } dd { @match s.estimated_delivery { Some(at) => (time_tag(at, &utc(at))), None => (dash()) } }
                dt { "Delivered" } dd { @match s.delivered_at { Some(at) => (time_tag(at, &utc(at))), None => (dash()) } }
                dt { "Last event" } dd { @match s.last_event_at { Some(at) => (time_tag(at, &relative(at))), None => (dash()) } }
            }
            h2 { "Timeline" }
            (timeline(&shown.events))
        }
        section.card {
            h2 { "Pushes to the mall" }
            (pushes(gateway, staff, shown))
        }
    }
}

fn timeline(events: &[tracking_event::Model]) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted #timeline { "No events yet." }
        } @else {
            ol.timeline #timeline {
                @for e in events.iter().rev() {
                    @let (when, zone) = local_time(e.occurred_at, e.utc_offset_seconds, e.offset_inferred);
                    li.event {
                        div.when { (time_tag(e.occurred_at, &when)) " " span.zone { (zone) } }
                        div.what {
                            span class={"badge s-" (e.status.0.as_str())} { (labels::status(e.status.0).0) }
                            " " span.description { (e.description) }
                        }
                        div.meta {
                            @if let Some(location) = &e.location { span.location { (location) } " · " }
                            "raw " code.raw { (e.raw_code) }
                            @if let Some(sub) = &e.sub_status { " · " (labels::sub_status_in(sub, crate::config::Language::En)) }
                            " · via " (label(e.source))
                        }
                    }
                }
            }
        }
    }
}

fn pushes(gateway: &Gateway, staff: &Staff, shown: &Shown) -> Markup {
    let retry = &gateway.settings.retry;
    html! {
        @if shown.pushes.is_empty() {
            p.muted { "Nothing pushed yet." }
        } @else {
            table.list.pushes {
                thead { tr { th { "#" } th { "Type" } th { "State" } th { "Attempts" } th { "Created" } } }
                tbody {
                    @for push in shown.pushes.iter().rev() {
                        @let kind = serde_json::from_str::<serde_json::Value>(&push.payload).ok()
                            .and_then(|v| v["type"].as_str().map(str::to_owned)).unwrap_or_default();
                        tr {
                            td { (push.seq) }
                            td { code { (kind) } }
                            td {
                                span class={"state " (label(push.state))} { (label(push.state)) }
                                @if push.state == OutboxState::Pending && push.attempts > 0 {
                                    @let next = next_retry(retry, push);
                                    br; span.muted.small { "next attempt " (relative(next)) }
                                }
                                @if let Some(error) = &push.last_error { br; span.small.error { (error) } }
                            }
                            td {
                                (push.attempts)
                                ul.attempts {
                                    @for attempt in shown.attempts.iter().filter(|a| a.outbox_id == push.id) {
                                        li {
                                            (utc(attempt.attempted_at)) " → "
                                            @match attempt.http_status { Some(code) => strong { "HTTP " (code) }, None => "no answer" }
                                            " in " (attempt.duration_ms) " ms"
                                            @if let Some(error) = &attempt.error { " · " span.error { (error) } }
                                        }
                                    }
                                }
                            }
                            td { (time_tag(push.created_at, &utc(push.created_at))) }
                        }
                        @for letter in shown.dead.iter().filter(|d| d.ref_id == push.id) {
                            tr.dead {
                                td colspan="5" {
                                    "Dead letter #" (letter.id) " after " (letter.attempts) " attempts, " (utc(letter.created_at))
                                    @if let Some(error) = &letter.last_error { ": " span.error { (error) } }
                                    @match letter.replayed_at {
                                        Some(at) => { " · replayed " (utc(at)) },
                                        None => {
                                            @if staff.is_admin() {
                                                form.inline method="post" action={"/support/dead-letters/" (letter.id) "/replay"} {
                                                    input type="hidden" name="csrf" value=(staff.csrf);
                                                    input type="hidden" name="shipment" value=(shown.shipment.id);
                                                    button.replay type="submit" { "Replay" }
                                                }
                                            } @else {
                                                " · an admin can replay it"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// When a pending push's next attempt is due, about (the retry policy without its jitter).
fn next_retry(
    policy: &crate::domain::retry::RetryPolicy,
    push: &push_outbox::Model,
) -> chrono::DateTime<Utc> {
    let delay = policy.scheduled_delay(push.attempts.max(1) as u32);
    push.updated_at + Duration::milliseconds(delay.as_millis() as i64)
}
