//! The request id: taken from the client's `x-request-id` when it is a sane token (so a mall's
//! or nginx's id follows the request through), else made up; recorded on the request's span, so
//! every log line of the request carries it, and returned in the `x-request-id` header of every
//! answer, errors included, so a report from the mall finds its log lines.

use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};

pub const HEADER: &str = "x-request-id";

/// The id of the request being served, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The route pattern the request matched (`/v1/shipments/{id}`), found once per request and
/// kept in its extensions for the span and the metrics.
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub String);

/// A client's id is kept when it is 1–64 characters of `[A-Za-z0-9._:-]` (no spaces, nothing
/// that could forge a log line); anything else is replaced.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub fn of(req: &ServiceRequest) -> RequestId {
    let given = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id));
    RequestId(match given {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::now_v7().simple().to_string(),
    })
}

/// Outermost middleware: sets the id before the request's span is made, puts it on the answer
/// whatever the answer is, and counts the answer in `trackgate_http_requests_total` by route
/// pattern (never the path: ids and tokens would make the labels unbounded).
pub async fn stamp(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = of(&req);
    let value = HeaderValue::from_str(&id.0).expect("checked or generated: a valid header value");
    // Read before the call: holding a clone of the request during it would keep actix from
    // reusing the request.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(no route)".to_owned());
    req.extensions_mut().insert(id);
    req.extensions_mut().insert(MatchedRoute(route.clone()));
    let method = method_label(req.method());
    let metrics = req
        .app_data::<actix_web::web::Data<crate::gateway::Gateway>>()
        .map(|gateway| gateway.metrics.clone());
    let started = std::time::Instant::now();
    // Handlers' errors arrive as answers; only a middleware's own refusal (the door's request
    // deadline) arrives as an error, which actix answers without this header.
    let mut response = next.call(req).await?.map_into_boxed_body();
    response
        .headers_mut()
        .insert(HeaderName::from_static(HEADER), value);
    if let Some(metrics) = metrics {
        metrics.ops.observe_http(
            &route,
            method,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

/// The method as a label: the standard ones, everything else as `other` (bounded).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_tokens_are_taken_from_the_client() {
        assert!(acceptable("req-42"));
        assert!(acceptable("0195f3c2-7a1b-7000-8000-000000000000"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("x\r\ninjected: 1"));
        assert!(!acceptable(&"a".repeat(65)));
    }
}
