//! The customer tracking page, `/t/{token}`: public and read-only, for the one shipment its
//! signed token names, until the token expires.
//!
//! It shows what a shopper needs and nothing internal: the mall's brand, the tracking number as
//! the mall sent it, the courier's name, the status in the configured language, the estimated
//! delivery and the timeline in local time with its zone. No shipment id, order id, carrier
//! instance or raw code appears, in the page or in its live feed (`/t/{token}/live` says only
//! "something changed" with a sequence; the page then fetches `/t/{token}/timeline`). An edited
//! token fails its signature (404), an expired one says so (410).

use actix_web::{HttpResponse, web};
use chrono::Utc;
use maud::{Markup, html};

use super::PageError;
use super::labels;
use super::layout::{Brand, Chrome, local_time, page, time_tag};
use crate::api::stream::{StreamAuth, open_session, sse_response};
use crate::config::Language;
use crate::domain::tokens::{LinkClaims, Purpose, StreamClaims, TokenError};
use crate::gateway::Gateway;
use crate::live::{StreamMessage, WatchRequest, sse_body};
use crate::store::entities::{shipment, tracking_event};

fn claims(gateway: &Gateway, token: &str) -> Result<LinkClaims, PageError> {
    gateway
        .tokens
        .verify::<LinkClaims>(Purpose::Tracking, token, Utc::now())
        .map_err(|err| match err {
            TokenError::Expired(_) => PageError::Gone(
                "This tracking link has expired. Ask the shop for a new one.".into(),
            ),
            _ => PageError::NotFound("This tracking link is not valid.".into()),
        })
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            lang: "en",
            title: "Track your parcel",
            number: "Tracking number",
            courier: "Carrier",
            eta: "Estimated delivery",
            delivered: "Delivered",
            history: "Shipment history",
            empty: "No updates from the carrier yet.",
        },
        Language::Zh => Words {
            lang: "zh-CN",
            title: "物流跟踪",
            number: "运单号",
            courier: "快递公司",
            eta: "预计送达",
            delivered: "签收时间",
            history: "物流详情",
            empty: "暂无物流信息。",
        },
    }
}

struct Words {
    lang: &'static str,
    title: &'static str,
    number: &'static str,
    courier: &'static str,
    eta: &'static str,
    delivered: &'static str,
    history: &'static str,
    empty: &'static str,
}

async fn load(
    gateway: &Gateway,
    token: &str,
) -> Result<(shipment::Model, Vec<tracking_event::Model>), PageError> {
    let link = claims(gateway, token)?;
    let found = gateway
        .store
        .shipment_with_events(&link.shipment_id)
        .await?
        .ok_or_else(|| PageError::NotFound("This tracking link is not valid.".into()))?;
    Ok((found.shipment, found.events))
}

/// `GET /t/{token}`.
pub async fn tracking_page(
    gateway: web::Data<Gateway>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (shipment, events) = load(&gateway, &token).await?;
    let web = &gateway.settings.web;
    let w = words(web.language);
    let courier = crate::push::payload::courier_name(
        &shipment.carrier_kind,
        shipment.carrier_code.as_deref(),
    )
    .or_else(|| {
        trackgate_carriers::catalog::find(&shipment.carrier_kind).map(|k| k.name.to_owned())
    });
    let number = shipment
        .tracking_number_as_sent
        .as_deref()
        .unwrap_or(&shipment.tracking_number);
    let body = html! {
        section.card {
            h1 { (w.title) }
            dl.facts {
                dt { (w.number) } dd #number { (number) }
                @if let Some(courier) = &courier { dt { (w.courier) } dd { (courier) } }
            }
        }
        div #live data-stream={"/t/" (token.as_str()) "/live"} data-fragment={"/t/" (token.as_str()) "/timeline"} {
            (timeline_part(web.language, &shipment, &events))
        }
    };
    let chrome = Chrome {
        title: w.title,
        staff: None,
        customer: Some(Brand {
            name: &web.brand_name,
            logo_url: &web.brand_logo_url,
        }),
        lang: w.lang,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page(&chrome, body).into_string()))
}

/// `GET /t/{token}/timeline`: the part that changes.
pub async fn timeline_fragment(
    gateway: web::Data<Gateway>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (shipment, events) = load(&gateway, &token).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(timeline_part(gateway.settings.web.language, &shipment, &events).into_string()))
}

fn timeline_part(
    language: Language,
    shipment: &shipment::Model,
    events: &[tracking_event::Model],
) -> Markup {
    let w = words(language);
    html! {
        section.card {
            div.status {
                span class={"badge big s-" (shipment.status.0.as_str())} #status { (labels::status_in(shipment.status.0, language)) }
                @if let Some(sub) = &shipment.sub_status {
                    span.sub { (labels::sub_status_in(sub, language)) }
                }
            }
            dl.facts {
                @if let Some(at) = shipment.estimated_delivery {
                    dt { (w.eta) } dd { (time_tag(at, &at.format("%Y-%m-%d").to_string())) }
                }
                @if let Some(at) = shipment.delivered_at {
                    dt { (w.delivered) } dd { (time_tag(at, &at.format("%Y-%m-%d %H:%M UTC").to_string())) }
                }
            }
            h2 { (w.history) }
            @if events.is_empty() {
                p.muted #timeline { (w.empty) }
            } @else {
                ol.timeline #timeline {
                    @for e in events.iter().rev() {
                        @let (when, zone) = local_time(e.occurred_at, e.utc_offset_seconds, e.offset_inferred);
                        li.event {
                            div.when { (time_tag(e.occurred_at, &when)) " " span.zone { (zone.replace(" (inferred)", "")) } }
                            div.what {
                                span class={"badge s-" (e.status.0.as_str())} { (labels::status_in(e.status.0, language)) }
                                " " span.description { (e.description) }
                            }
                            @if let Some(location) = &e.location { div.meta { span.location { (location) } } }
                        }
                    }
                }
            }
        }
    }
}

/// The customer feed says only that something changed (and its sequence), nothing internal.
fn render_public(message: &StreamMessage) -> Option<(&'static str, String)> {
    (message.kind == "update").then(|| ("update", format!("{{\"sequence\":{}}}", message.sequence)))
}

/// `GET /t/{token}/live`: Server-Sent Events for this page.
pub async fn live(
    gateway: web::Data<Gateway>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let link = claims(&gateway, &token)?;
    let auth = StreamAuth::Token(StreamClaims {
        order_id: None,
        shipment_ids: vec![link.shipment_id.clone()],
        exp: link.exp,
    });
    let asked = WatchRequest {
        shipments: vec![link.shipment_id],
        orders: Vec::new(),
    };
    let (session, first) = open_session(&gateway, &auth, asked, None, "page")
        .await
        .map_err(|err| PageError::Unavailable(err.to_string()))?;
    Ok(sse_response(sse_body(session, first, render_public)))
}

/// `GET /t/brand.css`: the configured accent colour (a stylesheet, so the pages' CSP needs no
/// inline styles).
pub async fn brand_css(gateway: web::Data<Gateway>) -> HttpResponse {
    // Validated as #rrggbb at load.
    let colour = &gateway.settings.web.brand_color;
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=300"))
        .body(format!(":root {{ --brand: {colour}; }}\n"))
}
