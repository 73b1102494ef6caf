//! The HTTP side of a push: sign the stored payload per Standard Webhooks and POST it.
//!
//! Headers: `webhook-id` (the outbox id, stable across retries), `webhook-timestamp` (seconds,
//! fresh on each attempt) and `webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>`,
//! computed by the `standardwebhooks` crate, the reference implementation of the spec.

use std::sync::Arc;
use std::time::Duration;

use standardwebhooks::Webhook;

use crate::config::MallSettings;
use crate::domain::retry::{Failure, parse_retry_after};
use crate::queue::PushTicket;

#[derive(Clone)]
pub struct MallClient {
    http: reqwest::Client,
    endpoint: String,
    signers: Vec<Arc<Webhook>>,
}

impl std::fmt::Debug for MallClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MallClient")
            .field("endpoint", &crate::config::redact_url(&self.endpoint))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MallClientError {
    #[error("`mall.endpoint` is not set: set TRACKGATE__MALL__ENDPOINT to the mall's push URL")]
    NoEndpoint,
    #[error(
        "`mall.signing_secret` is not set: set TRACKGATE__MALL__SIGNING_SECRET (whsec_ + base64)"
    )]
    NoSecret,
    #[error("`mall.signing_secret` is not valid")]
    BadSecret(#[source] standardwebhooks::WebhookError),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The result of one POST.
#[derive(Debug)]
pub enum SendOutcome {
    Delivered {
        status: u16,
    },
    Failed {
        failure: Failure,
        retry_after: Option<Duration>,
        detail: String,
    },
}

impl SendOutcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, SendOutcome::Delivered { .. })
    }
    pub fn http_status(&self) -> Option<u16> {
        match self {
            SendOutcome::Delivered { status } => Some(*status),
            SendOutcome::Failed {
                failure: Failure::Status(status),
                ..
            } => Some(*status),
            SendOutcome::Failed { .. } => None,
        }
    }
    pub fn error_text(&self) -> Option<String> {
        match self {
            SendOutcome::Delivered { .. } => None,
            SendOutcome::Failed { detail, .. } => Some(detail.clone()),
        }
    }
}

impl MallClient {
    pub fn new(settings: &MallSettings) -> Result<MallClient, MallClientError> {
        if settings.endpoint.is_empty() {
            return Err(MallClientError::NoEndpoint);
        }
        let secret = settings
            .signing_secret
            .as_ref()
            .ok_or(MallClientError::NoSecret)?;
        // Several secrets (current first, then the ones being retired) sign every push, so the
        // mall can switch its verifying secret without a moment of refused pushes.
        let signers = crate::config::secret_list(secret.expose())
            .map(|one| Webhook::new(one).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(MallClientError::BadSecret)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(5000)))
            .user_agent(concat!("trackgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(MallClient {
            http,
            endpoint: settings.endpoint.clone(),
            signers,
        })
    }

    /// POST one push: outbox row `id`, with its ticket's sequence and payload.
    pub async fn send(&self, id: &str, ticket: &PushTicket) -> SendOutcome {
        let timestamp = chrono::Utc::now().timestamp();
        let signed: Result<Vec<String>, _> = self
            .signers
            .iter()
            .map(|signer| signer.sign(id, timestamp, ticket.payload.as_bytes()))
            .collect();
        let signature = match signed {
            Ok(signatures) => signatures.join(" "),
            Err(err) => {
                return SendOutcome::Failed {
                    failure: Failure::Other,
                    retry_after: None,
                    detail: format!("signing: {err}"),
                };
            }
        };
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("x-trackgate-sequence", ticket.seq.to_string())
            .body(ticket.payload.clone())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => SendOutcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                let body: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                SendOutcome::Failed {
                    failure: Failure::Status(status),
                    retry_after,
                    detail: format!("mall answered {status}: {body}"),
                }
            }
            Err(err) => {
                let failure = Failure::transport(err.is_timeout(), err.is_connect());
                SendOutcome::Failed {
                    failure,
                    retry_after: None,
                    detail: describe_transport_error(err),
                }
            }
        }
    }
}

/// A transport error as text for logs and stored errors: its cause chain, without the URL
/// (which may carry credentials, `https://user:password@…` or a `?token=`).
pub fn describe_transport_error(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
