//! The HTTP API's one error type, mapped to `application/problem+json` (RFC 9457) in one place.
//!
//! Each variant has a stable `code` clients can switch on. A 5xx logs its cause chain and
//! tells the client nothing internal; a store that cannot hand out a connection is a 503 with
//! `Retry-After`, since waiting is the right reaction.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::intake::{AcceptError, Rejected};
use crate::push::dead_letters::ReplayError;
use crate::store::StoreError;
use crate::store::states::{Scope, label};

/// 503s for an unreachable dependency, logged at a sampled rate.
static UNREACHABLE_LOG: std::sync::LazyLock<super::door::RejectionLog> =
    std::sync::LazyLock::new(|| super::door::RejectionLog::new(std::time::Duration::from_secs(10)));

/// The body of every error answer (`application/problem+json`, RFC 9457).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:trackgate:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's name.
    pub title: &'static str,
    pub status: u16,
    /// What went wrong, for a person: which field, which limit, what to do.
    pub detail: String,
    /// Stable: switch on this, never on `detail`.
    #[schema(value_type = ProblemCode)]
    pub code: &'static str,
    /// `unparseable_payload`: the stored webhook's id, for reprocessing after a fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_webhook_id: Option<i64>,
    /// `carrier_not_detected` / `carrier_ambiguous` / `carrier_not_configured`: the carriers
    /// whose number formats fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub candidates: Option<serde_json::Value>,
}

/// Every problem `code`, with the HTTP status it comes with and when.
pub const CODES: &[(&str, u16, &str)] = &[
    ("malformed_json", 400, "The body is not JSON."),
    (
        "bad_request",
        400,
        "A query or path parameter is missing or malformed, or a cursor is not one we issued.",
    ),
    (
        "unparseable_payload",
        400,
        "A carrier webhook whose signature was valid but whose body could not be parsed: stored raw (`inbound_webhook_id`) for reprocessing.",
    ),
    (
        "unauthorized",
        401,
        "No API key, or an unknown or revoked one.",
    ),
    (
        "invalid_signature",
        401,
        "A carrier webhook whose signature did not verify: nothing was stored.",
    ),
    (
        "invalid_token",
        401,
        "A stream token or tracking link that is not ours or was edited.",
    ),
    (
        "token_expired",
        401,
        "A stream token past its expiry: mint a new one.",
    ),
    (
        "forbidden",
        403,
        "The API key's scope does not allow this request.",
    ),
    (
        "outside_token_scope",
        403,
        "The stream token does not cover what was asked.",
    ),
    (
        "not_found",
        404,
        "No such shipment, dead letter, webhook or route.",
    ),
    (
        "unknown_carrier",
        404,
        "No carrier instance with that id is configured.",
    ),
    (
        "method_not_allowed",
        405,
        "The route exists, the method does not.",
    ),
    (
        "request_timeout",
        408,
        "The body did not arrive within `server.body_timeout_secs`.",
    ),
    (
        "payload_too_large",
        413,
        "The body is over `server.body_limit_bytes`.",
    ),
    (
        "unsupported_media_type",
        415,
        "Send `Content-Type: application/json`.",
    ),
    (
        "validation_failed",
        422,
        "The body is JSON but a field is wrong: the detail names it.",
    ),
    (
        "carrier_not_detected",
        422,
        "No carrier was named and no known carrier uses the number's format.",
    ),
    (
        "carrier_ambiguous",
        422,
        "No carrier was named and several fit the number's format (see `candidates`).",
    ),
    (
        "carrier_not_configured",
        422,
        "The number's format names a carrier no instance is configured for.",
    ),
    (
        "rate_limited",
        429,
        "Over a rate limit: wait `Retry-After` seconds.",
    ),
    (
        "internal",
        500,
        "A bug: the request id in the `x-request-id` header finds its log lines.",
    ),
    (
        "unavailable",
        503,
        "The database or the broker is unreachable or busy: retry after `Retry-After`.",
    ),
    (
        "too_many_streams",
        503,
        "This gateway serves its maximum of live streams: retry later.",
    ),
];

/// The `code` of a [`Problem`]: one of [`CODES`].
pub struct ProblemCode;

impl utoipa::PartialSchema for ProblemCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let meanings: Vec<String> = CODES
            .iter()
            .map(|(code, status, meaning)| format!("- `{code}` ({status}): {meaning}"))
            .collect();
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(CODES.iter().map(|(code, _, _)| *code)))
            .description(Some(meanings.join("\n")))
            .into()
    }
}

impl utoipa::ToSchema for ProblemCode {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ProblemCode")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid API key: send `Authorization: Bearer <token>`")]
    Unauthorized,
    #[error("this API key's scope does not allow this request (needs `{}`)", label(*.0))]
    Forbidden(Scope),
    #[error("{0}")]
    NotFound(String),
    #[error("no carrier instance `{0}` is configured")]
    UnknownCarrier(String),
    #[error("{detail}")]
    CarrierUndetermined {
        code: &'static str,
        detail: String,
        candidates: serde_json::Value,
    },
    #[error("webhook signature rejected: {0}")]
    InvalidSignature(String),
    #[error(
        "the carrier body could not be parsed: {detail} (stored as inbound webhook {inbound_id} for reprocessing)"
    )]
    UnparseablePayload { detail: String, inbound_id: i64 },
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("unsupported content type: {0}")]
    UnsupportedMediaType(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("too many requests: try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the request was not received within {0} s")]
    RequestTimeout(u64),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A service we depend on (database, broker) failed in a way waiting may fix.
    #[error("temporarily unavailable: {detail}")]
    Unreachable {
        detail: &'static str,
        #[source]
        cause: anyhow::Error,
    },
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("the token expired at {0}; ask for a new one")]
    TokenExpired(chrono::DateTime<chrono::Utc>),
    #[error("{0}")]
    OutsideTokenScope(String),
    #[error("this gateway already serves its maximum of {0} live streams; try again later")]
    TooManyStreams(usize),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::Validation(_) => "validation_failed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::UnknownCarrier(_) => "unknown_carrier",
            ApiError::CarrierUndetermined { code, .. } => code,
            ApiError::InvalidSignature(_) => "invalid_signature",
            ApiError::UnparseablePayload { .. } => "unparseable_payload",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Unavailable(_) | ApiError::Unreachable { .. } => "unavailable",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::TokenExpired(_) => "token_expired",
            ApiError::OutsideTokenScope(_) => "outside_token_scope",
            ApiError::TooManyStreams(_) => "too_many_streams",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self.status_code() {
            StatusCode::BAD_REQUEST => "Bad Request",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not Found",
            StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
            StatusCode::REQUEST_TIMEOUT => "Request Timeout",
            StatusCode::TOO_MANY_REQUESTS => "Too Many Requests",
            StatusCode::PAYLOAD_TOO_LARGE => "Payload Too Large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported Media Type",
            StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
            StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() {
            ApiError::Unreachable {
                detail: "the database is busy or unreachable",
                cause: err.into(),
            }
        } else {
            ApiError::Internal(err.into())
        }
    }
}

impl From<crate::domain::tokens::TokenError> for ApiError {
    fn from(err: crate::domain::tokens::TokenError) -> Self {
        match err {
            crate::domain::tokens::TokenError::Expired(at) => ApiError::TokenExpired(at),
            other => ApiError::InvalidToken(other.to_string()),
        }
    }
}

impl From<crate::live::WatchError> for ApiError {
    fn from(err: crate::live::WatchError) -> Self {
        use crate::live::WatchError;
        match err {
            WatchError::Empty | WatchError::BadCursor => ApiError::BadRequest(err.to_string()),
            WatchError::NotFound(_) => ApiError::NotFound(err.to_string()),
            WatchError::TooMany(_) => ApiError::Validation(err.to_string()),
            WatchError::Store(err) => err.into(),
        }
    }
}

impl From<Rejected> for ApiError {
    fn from(rejected: Rejected) -> Self {
        match rejected.cause {
            trackgate_carriers::SignatureError::NotSupported => ApiError::NotFound(format!(
                "carrier `{}` does not send webhooks",
                rejected.carrier_id
            )),
            cause => ApiError::InvalidSignature(cause.to_string()),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(err: AcceptError) -> Self {
        match err {
            AcceptError::Unparseable { inbound_id, cause } => ApiError::UnparseablePayload {
                detail: cause.to_string(),
                inbound_id,
            },
            AcceptError::NotStored(failure) => ApiError::Unreachable {
                detail: "could not store the webhook; send it again",
                cause: failure.into(),
            },
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(err: ReplayError) -> Self {
        match err {
            ReplayError::NotFound(_) => ApiError::NotFound(err.to_string()),
            ReplayError::AlreadyReplayed(_) => ApiError::Validation(err.to_string()),
            ReplayError::Store(err) => err.into(),
            ReplayError::Queue(err) => ApiError::Unreachable {
                detail: "the queue is unreachable",
                cause: err.into(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_)
            | ApiError::BadRequest(_)
            | ApiError::UnparseablePayload { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::CarrierUndetermined { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unauthorized
            | ApiError::InvalidSignature(_)
            | ApiError::InvalidToken(_)
            | ApiError::TokenExpired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::OutsideTokenScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::UnknownCarrier(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_)
            | ApiError::Unreachable { .. }
            | ApiError::TooManyStreams(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            ApiError::Unreachable { detail, cause } => {
                // An outage answers every request 503: one line per few seconds says it.
                if let Some(stands_for) = UNREACHABLE_LOG.note(detail) {
                    tracing::warn!(
                        error = format!("{cause:#}"),
                        requests = stands_for,
                        "{detail}"
                    )
                }
            }
            _ => {}
        }
        let body = Problem {
            kind: format!("urn:trackgate:problem:{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code(),
            inbound_webhook_id: match self {
                ApiError::UnparseablePayload { inbound_id, .. } => Some(*inbound_id),
                _ => None,
            },
            candidates: match self {
                ApiError::CarrierUndetermined { candidates, .. } => Some(candidates.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("retry-after", "1"));
        }
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.insert_header(("retry-after", retry_after_secs.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED && matches!(self, ApiError::Unauthorized) {
            response.insert_header(("www-authenticate", "Bearer"));
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// Map actix's JSON extractor errors onto problems.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let problem = match err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
            ApiError::PayloadTooLarge(limit)
        }
        E::ContentType => {
            ApiError::UnsupportedMediaType("send `Content-Type: application/json`".into())
        }
        E::Deserialize(err) if err.is_data() => ApiError::Validation(err.to_string()),
        E::Deserialize(err) => ApiError::MalformedJson(err.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    };
    problem.into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(err.to_string()).into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(err.to_string()).into()
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant: a new variant must be added here, and its code to [`CODES`].
    fn every_variant() -> Vec<ApiError> {
        let undetermined = |code| ApiError::CarrierUndetermined {
            code,
            detail: String::new(),
            candidates: serde_json::Value::Null,
        };
        vec![
            ApiError::MalformedJson(String::new()),
            ApiError::Validation(String::new()),
            ApiError::BadRequest(String::new()),
            ApiError::Unauthorized,
            ApiError::Forbidden(Scope::Admin),
            ApiError::NotFound(String::new()),
            ApiError::UnknownCarrier(String::new()),
            undetermined("carrier_not_detected"),
            undetermined("carrier_ambiguous"),
            undetermined("carrier_not_configured"),
            ApiError::InvalidSignature(String::new()),
            ApiError::UnparseablePayload {
                detail: String::new(),
                inbound_id: 1,
            },
            ApiError::PayloadTooLarge(1),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::RateLimited {
                retry_after_secs: 1,
            },
            ApiError::RequestTimeout(1),
            ApiError::Unavailable(String::new()),
            ApiError::Unreachable {
                detail: "",
                cause: anyhow::anyhow!("down"),
            },
            ApiError::InvalidToken(String::new()),
            ApiError::TokenExpired(chrono::Utc::now()),
            ApiError::OutsideTokenScope(String::new()),
            ApiError::TooManyStreams(1),
            ApiError::Internal(anyhow::anyhow!("bug")),
        ]
    }

    #[test]
    fn every_code_is_published_with_its_status() {
        for err in every_variant() {
            let status = err.status_code().as_u16();
            assert!(
                CODES.contains(&(err.code(), status, lookup(err.code()))),
                "`{}` ({status}) is not in CODES with that status",
                err.code()
            );
        }
        let used: Vec<&str> = every_variant().iter().map(ApiError::code).collect();
        for (code, _, _) in CODES {
            assert!(
                used.contains(code),
                "CODES lists `{code}`, which no error uses"
            );
        }
    }

    fn lookup(code: &str) -> &'static str {
        CODES
            .iter()
            .find(|(known, _, _)| *known == code)
            .map(|(_, _, meaning)| *meaning)
            .unwrap_or("")
    }

    #[test]
    fn an_answer_is_a_problem_with_its_code() {
        let response = ApiError::UnparseablePayload {
            detail: "x".into(),
            inbound_id: 7,
        }
        .error_response();
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
    }
}
