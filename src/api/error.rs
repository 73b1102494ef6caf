//! The HTTP API's one error type, mapped to `application/problem+json` (RFC 9457) in one place.
//!
//! Each variant has a stable `code` clients can switch on. A 5xx logs its cause chain and
//! tells the client nothing internal; a store that cannot hand out a connection is a 503 with
//! `Retry-After`, since waiting is the right reaction.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::intake::{AcceptError, Rejected};
use crate::push::dead_letters::ReplayError;
use crate::store::StoreError;
use crate::store::states::{Scope, label};

/// 503s for an unreachable dependency, logged at a sampled rate.
static UNREACHABLE_LOG: std::sync::LazyLock<super::door::RejectionLog> =
    std::sync::LazyLock::new(|| super::door::RejectionLog::new(std::time::Duration::from_secs(10)));

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
            ApiError::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
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
        let mut body = json!({
            "type": format!("urn:trackgate:problem:{}", self.code()),
            "title": self.title(),
            "status": status.as_u16(),
            "detail": self.to_string(),
            "code": self.code(),
        });
        if let ApiError::UnparseablePayload { inbound_id, .. } = self {
            body["inbound_webhook_id"] = json!(inbound_id);
        }
        if let ApiError::CarrierUndetermined { candidates, .. } = self {
            body["candidates"] = candidates.clone();
        }
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
        response.body(body.to_string())
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
