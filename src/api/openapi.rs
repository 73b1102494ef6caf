//! The machine-readable contract: an OpenAPI 3.1 document generated from the handlers' own
//! types (`#[utoipa::path]` on each handler, `ToSchema` on each body), served at
//! `/openapi.json`, with Swagger UI at `/docs` from assets compiled into the binary.
//!
//! Three things are added to what utoipa derives, here and nowhere else, so that handlers stay
//! short: the problem+json answers each operation can give (which depend only on whether it
//! takes a key and a body), the `x-request-id` header every answer carries, and the one
//! timestamp pattern on every `date-time` (see [`crate::domain::time`]). The push payload's JSON
//! Schema (`docs/push.schema.json`) is cut from the same document.

use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::error::Problem;
use crate::push::payload::PushPayload;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trackgate",
        description = "The logistics tracking gateway between a mall and its carriers. \
            Mall endpoints register shipments and read them; support endpoints look them up; \
            admin endpoints operate the gateway; carriers post to `/webhooks/{carrier_id}`. \
            Status changes are pushed to the mall as `Push` (see docs/mall-integration.md). \
            Every error is `application/problem+json` with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::shipments::register,
        super::shipments::register_batch,
        super::shipments::list_by_order,
        super::shipments::get,
        super::shipments::stop,
        super::shipments::refresh,
        super::stream::mint_tracking_link,
        super::stream::mint_stream_token,
        super::stream::sse,
        super::ws::stream,
        super::track::by_number,
        super::track::by_order,
        super::admin::carriers,
        super::admin::list_dead_letters,
        super::admin::replay_dead_letter,
        super::admin::list_webhooks,
        super::admin::reprocess_webhook,
        super::webhooks::receive,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    components(schemas(Problem, PushPayload, crate::domain::schema::SubStatus)),
    tags(
        (name = "shipments", description = "The mall backend: register shipments, read them, stop tracking (scope `mall`)."),
        (name = "live", description = "Live updates for browsers and the mall: stream tokens, SSE, WebSocket, tracking links."),
        (name = "support", description = "Support staff lookups (scope `support`)."),
        (name = "admin", description = "Operating the gateway (scope `admin`)."),
        (name = "carriers", description = "Webhooks from carriers, verified by each carrier's own signature."),
        (name = "ops", description = "Liveness, readiness, metrics."),
    ),
)]
struct ApiDoc;

/// The document, generated once.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    complete(&mut document);
    document
});

/// The OpenAPI document as JSON.
pub fn document() -> &'static Value {
    &DOCUMENT
}

/// `GET /openapi.json`.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .json(document())
}

/// Swagger UI at `/docs/`, its assets from the binary, reading `/openapi.json`.
pub fn docs_service() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
        .config(utoipa_swagger_ui::Config::from("/openapi.json"))
}

/// `GET /docs`: to the UI's own address (it serves its assets relative to `/docs/`).
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("location", "/docs/"))
        .finish()
}

/// What utoipa does not derive: security scheme, problem answers, headers, timestamp pattern.
fn complete(document: &mut Value) {
    let components = document["components"]
        .as_object_mut()
        .expect("components exist");
    components.insert(
        "securitySchemes".into(),
        json!({ "api_key": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key made with `trackgate keys create --scope mall|support|admin`. \
                A wider scope grants the narrower ones (admin ⊃ support, admin ⊃ mall).",
        }}),
    );
    components.insert(
        "headers".into(),
        json!({ "RequestId": {
            "description": "This request's id: every log line of the request carries it. Sent \
                back as given when the request had a valid `x-request-id`, else made up.",
            "schema": { "type": "string" },
        }}),
    );
    let mut responses = Map::new();
    for (status, meaning) in PROBLEM_STATUSES {
        responses.insert(
            format!("Problem{status}"),
            json!({
                "description": meaning,
                "headers": { "x-request-id": { "$ref": "#/components/headers/RequestId" } },
                "content": { "application/problem+json": {
                    "schema": { "$ref": "#/components/schemas/Problem" }
                }},
            }),
        );
    }
    components.insert("responses".into(), Value::Object(responses));
    if let Some(paths) = document["paths"].as_object_mut() {
        for operations in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in operations.values_mut().filter_map(Value::as_object_mut) {
                add_problems(operation);
            }
        }
    }
    link_created_shipments(document);
    require_present_fields(document);
    pin_timestamps(document);
}

/// Fields of answers and pushes that may be left out (`skip_serializing_if`); every other field
/// of them is always present, `null` when it has no value.
const MAY_BE_ABSENT: &[&str] = &[
    "subscription",
    "events",
    "shipment",
    "error",
    "inbound_webhook_id",
    "candidates",
];

/// utoipa leaves `Option` fields out of `required`; in what the gateway sends they are always
/// there (as `null`), and a client generator should know it. Request bodies keep them optional.
fn require_present_fields(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        let sent =
            name.ends_with("Out") || matches!(name.as_str(), "Push" | "PushEvent" | "Problem");
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        if !sent {
            continue;
        }
        let required: Vec<Value> = properties
            .keys()
            .filter(|field| !MAY_BE_ABSENT.contains(&field.as_str()))
            .map(|field| json!(field))
            .collect();
        schema["required"] = Value::Array(required);
    }
}

/// OpenAPI links from a registration to what can be done with the shipment it returns, so a
/// client generator (and schemathesis's stateful phase) can follow them.
fn link_created_shipments(document: &mut Value) {
    let by_id = |path: &str, method: &str| {
        json!({
            "operationRef": format!("#/paths/{}/{method}", path.replace('/', "~1")),
            "parameters": { "id": "$response.body#/id" },
        })
    };
    let links = json!({
        "GetShipment": by_id("/v1/shipments/{id}", "get"),
        "RefreshShipment": by_id("/v1/shipments/{id}/refresh", "post"),
        "TrackingLink": by_id("/v1/shipments/{id}/tracking-link", "post"),
        "StopTracking": by_id("/v1/shipments/{id}", "delete"),
    });
    for status in ["200", "201"] {
        if let Some(response) = document
            .pointer_mut(&format!("/paths/~1v1~1shipments/post/responses/{status}"))
            .and_then(Value::as_object_mut)
        {
            response.insert("links".into(), links.clone());
        }
    }
}

/// (status, when) for the problem answers an operation can give.
const PROBLEM_STATUSES: [(u16, &str); 12] = [
    (
        400,
        "Malformed request (problem codes `malformed_json`, `bad_request`, `unparseable_payload`)",
    ),
    (
        401,
        "No valid credentials (`unauthorized`, `invalid_signature`, `invalid_token`, `token_expired`)",
    ),
    (
        403,
        "Not allowed for this key or token (`forbidden`, `outside_token_scope`)",
    ),
    (404, "Not found (`not_found`, `unknown_carrier`)"),
    (405, "Method not allowed (`method_not_allowed`)"),
    (408, "The body was too slow (`request_timeout`)"),
    (413, "The body is too large (`payload_too_large`)"),
    (415, "Not JSON (`unsupported_media_type`)"),
    (422, "A field is wrong (`validation_failed`, `carrier_*`)"),
    (429, "Rate limited (`rate_limited`); see `Retry-After`"),
    (500, "A bug (`internal`)"),
    (
        503,
        "A dependency is down or busy (`unavailable`, `too_many_streams`); see `Retry-After`",
    ),
];

fn add_problems(operation: &mut Map<String, Value>) {
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|options| !options.is_empty());
    let has_body = operation.contains_key("requestBody");
    // Carriers authenticate by their own signature: 401 without an API key scheme.
    let signed = operation
        .get("tags")
        .and_then(Value::as_array)
        .is_some_and(|tags| tags.iter().any(|t| t == "carriers"));
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut().filter_map(Value::as_object_mut) {
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("headers are an object");
        headers.insert(
            "x-request-id".into(),
            json!({ "$ref": "#/components/headers/RequestId" }),
        );
    }
    for (status, _) in PROBLEM_STATUSES {
        let applies = match status {
            401 => secured || signed,
            403 => secured,
            408 | 413 | 415 | 422 => has_body || secured,
            _ => true,
        };
        let key = status.to_string();
        if applies && !responses.contains_key(&key) {
            responses.insert(
                key,
                json!({ "$ref": format!("#/components/responses/Problem{status}") }),
            );
        }
    }
}

/// Every `date-time` string gets the one pattern we write ([`crate::domain::time::PATTERN`]).
fn pin_timestamps(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("date-time") {
                map.insert("pattern".into(), json!(crate::domain::time::PATTERN));
            }
            map.values_mut().for_each(pin_timestamps);
        }
        Value::Array(items) => items.iter_mut().for_each(pin_timestamps),
        _ => {}
    }
}

/// The JSON Schema (2020-12) of the push body: `Push` and what it refers to, cut from the
/// OpenAPI document (whose schemas are JSON Schema 2020-12 in OpenAPI 3.1).
pub fn push_schema() -> Value {
    let schemas = &document()["components"]["schemas"];
    let mut defs = Map::new();
    let mut pending = vec!["Push".to_owned()];
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let mut schema = schemas[&name].clone();
        collect_refs(&mut schema, &mut pending);
        defs.insert(name, schema);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://trackgate.dev/schemas/push.json",
        "title": "trackgate push",
        "description": "The body of every push to the mall (docs/mall-integration.md). Generated \
            from the gateway's own types: `cargo run -- openapi --push-schema`.",
        "$ref": "#/$defs/Push",
        "$defs": defs,
    })
}

/// Rewrite `#/components/schemas/X` to `#/$defs/X`, noting each X.
fn collect_refs(value: &mut Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(name) = target.strip_prefix("#/components/schemas/")
            {
                found.push(name.to_owned());
                *target = format!("#/$defs/{name}");
            }
            map.values_mut().for_each(|v| collect_refs(v, found));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}

/// The routes of the contract itself.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi_json))
        .route("/docs", web::get().to(docs_redirect))
        .service(docs_service());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_route() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/v1/shipments",
            "/v1/shipments/{id}",
            "/v1/track/{tracking_number}",
            "/webhooks/{carrier_id}",
            "/v1/admin/dead-letters/{id}/replay",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
        let statuses = &doc["components"]["schemas"]["Status"]["enum"];
        assert_eq!(statuses.as_array().unwrap().len(), 14);
    }

    #[test]
    fn every_operation_lists_its_problems_and_every_timestamp_its_pattern() {
        let doc = document();
        let get = &doc["paths"]["/v1/shipments/{id}"]["get"]["responses"];
        assert!(get["401"]["$ref"].is_string() && get["404"]["$ref"].is_string());
        let mut unpinned = 0;
        let mut pinned = 0;
        count_timestamps(doc, &mut pinned, &mut unpinned);
        assert!(
            pinned > 10 && unpinned == 0,
            "{pinned} pinned, {unpinned} not"
        );
    }

    fn count_timestamps(value: &Value, pinned: &mut usize, unpinned: &mut usize) {
        match value {
            Value::Object(map) => {
                if map.get("format").and_then(Value::as_str) == Some("date-time") {
                    match map.get("pattern") {
                        Some(_) => *pinned += 1,
                        None => *unpinned += 1,
                    }
                }
                map.values()
                    .for_each(|v| count_timestamps(v, pinned, unpinned));
            }
            Value::Array(items) => items
                .iter()
                .for_each(|v| count_timestamps(v, pinned, unpinned)),
            _ => {}
        }
    }
}
