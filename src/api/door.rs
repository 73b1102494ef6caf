//! At the door: what every request passes before and after its handler.
//!
//! * A deadline for the whole request (`server.request_timeout_secs`): a client that sends its
//!   body slowly gets 408 instead of holding memory and a worker (the head has its own, shorter
//!   deadline, `server.request_head_timeout_ms`, enforced by actix).
//! * U+0000 in the path or the query is refused with 400 before any handler runs: no store can
//!   keep it in text, and it is never a valid id, number or order.
//! * Keyed rate limits ([`Limits`], governor): per carrier instance for webhooks, per API key
//!   for the API, each process on its own; a request over the limit gets 429 with
//!   `Retry-After`.
//! * Every refused request (4xx) is counted in `trackgate_http_rejected_total{code}` and logged
//!   at a sampled rate — at most one line per code every `server.rejected_log_every_secs`, with
//!   the number of refusals it stands for — so a flood of bad requests cannot flood the log.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::web;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;
use crate::config::ServerSettings;
use crate::metrics::Metrics;

/// The keyed rate limiters, shared by every worker thread of the server.
pub struct Limits {
    webhooks: Option<DefaultKeyedRateLimiter<String>>,
    api_keys: Option<DefaultKeyedRateLimiter<String>>,
}

fn keyed(per_second: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(per_second)?;
    // A burst of one second's worth: short spikes pass, a sustained flood does not.
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(rate),
    ))
}

impl Limits {
    pub fn new(settings: &ServerSettings) -> Limits {
        Limits {
            webhooks: keyed(settings.webhook_rate_per_second),
            api_keys: keyed(settings.api_rate_per_second),
        }
    }

    fn check(limiter: &Option<DefaultKeyedRateLimiter<String>>, key: &str) -> Result<(), ApiError> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// One more webhook for carrier instance `carrier_id`.
    pub fn webhook(&self, carrier_id: &str) -> Result<(), ApiError> {
        Self::check(&self.webhooks, carrier_id)
    }

    /// One more request with the API key whose hash is `key_hash`.
    pub fn api_key(&self, key_hash: &str) -> Result<(), ApiError> {
        Self::check(&self.api_keys, key_hash)
    }
}

/// Sampled logging of refused requests: per problem code, the first refusal and then at most
/// one line per interval, carrying how many it stands for.
pub struct RejectionLog {
    every: Duration,
    last: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl RejectionLog {
    pub fn new(every: Duration) -> RejectionLog {
        RejectionLog {
            every,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Count one refusal; `Some(n)` when a line should be written now, standing for `n`.
    pub fn note(&self, code: &'static str) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match last.get_mut(code) {
            Some((at, suppressed)) if now.duration_since(*at) < self.every => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let stands_for = *suppressed + 1;
                *at = now;
                *suppressed = 0;
                Some(stands_for)
            }
            None => {
                last.insert(code, (now, 0));
                Some(1)
            }
        }
    }
}

/// What the door needs, as app data.
pub struct Door {
    pub limits: Limits,
    pub rejections: RejectionLog,
    pub request_timeout: Duration,
    pub metrics: Metrics,
}

impl Door {
    pub fn new(settings: &ServerSettings, metrics: Metrics) -> Door {
        Door {
            limits: Limits::new(settings),
            rejections: RejectionLog::new(Duration::from_secs(
                settings.rejected_log_every_secs.max(1),
            )),
            request_timeout: Duration::from_secs(settings.request_timeout_secs.max(1)),
            metrics,
        }
    }
}

/// U+0000 anywhere in the path or query, raw or percent-encoded.
fn has_nul(req: &ServiceRequest) -> bool {
    let uri = req.uri().to_string();
    uri.contains('\0') || uri.to_ascii_lowercase().contains("%00")
}

/// The middleware: NUL guard, deadline, and the count and sampled log of refusals. (It never
/// holds a clone of the request across the inner call: routing needs the request unshared.)
pub async fn guard(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(door) = req.app_data::<web::Data<Door>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let path = req.path().to_owned();
    if has_nul(&req) {
        let refusal = ApiError::BadRequest("U+0000 is not allowed in a path or query".into());
        return Ok(req.error_response(refuse(&door, refusal, &path)));
    }
    match tokio::time::timeout(door.request_timeout, next.call(req)).await {
        Ok(Ok(response)) => {
            if response.status().is_client_error() {
                let code = response
                    .response()
                    .error()
                    .and_then(|err| err.as_error::<ApiError>())
                    .map(ApiError::code)
                    .unwrap_or("refused");
                note_refusal(&door, code, response.status().as_u16(), &path);
            }
            Ok(response.map_into_boxed_body())
        }
        Ok(Err(err)) => Err(err),
        Err(_) => {
            let refusal = ApiError::RequestTimeout(door.request_timeout.as_secs());
            Err(refuse(&door, refusal, &path))
        }
    }
}

/// Count and (sampled) log a refusal made here, and turn it into the error actix answers with.
fn refuse(door: &Door, refusal: ApiError, path: &str) -> actix_web::Error {
    use actix_web::ResponseError as _;
    note_refusal(door, refusal.code(), refusal.status_code().as_u16(), path);
    refusal.into()
}

fn note_refusal(door: &Door, code: &'static str, status: u16, path: &str) {
    door.metrics.http_rejected.with_label_values(&[code]).inc();
    if let Some(stands_for) = door.rejections.note(code) {
        tracing::warn!(
            code,
            status,
            path,
            refusals = stands_for,
            "requests refused (one line per code every few seconds)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_once_per_interval_and_counted_in_between() {
        let log = RejectionLog::new(Duration::from_millis(50));
        assert_eq!(log.note("invalid_signature"), Some(1));
        assert_eq!(log.note("invalid_signature"), None);
        assert_eq!(log.note("invalid_signature"), None);
        assert_eq!(log.note("unauthorized"), Some(1), "codes are sampled apart");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(log.note("invalid_signature"), Some(3));
    }

    #[test]
    fn a_key_over_its_rate_is_refused_with_a_wait() {
        let settings = ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            body_limit_bytes: 1,
            workers: 1,
            api_key_cache_secs: 0,
            request_head_timeout_ms: 1000,
            body_timeout_secs: 1,
            request_timeout_secs: 1,
            max_connections: 1,
            webhook_rate_per_second: 2,
            api_rate_per_second: 0,
            rejected_log_every_secs: 1,
            unready_after_secs: 1,
            public_url: None,
            admin_listen: None,
        };
        let limits = Limits::new(&settings);
        assert!(limits.webhook("kuaidi100").is_ok());
        assert!(limits.webhook("kuaidi100").is_ok());
        let refused = limits.webhook("kuaidi100").unwrap_err();
        assert!(matches!(
            refused,
            ApiError::RateLimited {
                retry_after_secs: 1
            }
        ));
        assert!(
            limits.webhook("sandbox").is_ok(),
            "instances are limited apart"
        );
        for _ in 0..100 {
            assert!(limits.api_key("k").is_ok(), "0 means no limit");
        }
    }
}
