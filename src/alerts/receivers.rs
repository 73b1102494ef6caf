//! Where alert messages go: a signed JSON webhook (Standard Webhooks, like pushes), a
//! Slack-compatible incoming webhook, DingTalk and WeCom group robots, and e-mail over SMTP.
//!
//! Delivery runs on its own task behind a bounded channel: the evaluator hands a message over
//! and goes on, so a slow or failing receiver never holds up anything else. Each receiver gets
//! each message on its own, retried with exponential backoff up to `alerts.delivery_attempts`;
//! a message that still fails is logged and counted (`trackgate_alert_deliveries_total`), and
//! an alert that still holds is sent again at its repeat interval anyway.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::mpsc;

use super::{AlertMessage, State};
use crate::config::{AlertEmail, AlertSettings, ChatRobot, SmtpTls};
use crate::metrics::Metrics;

/// The messages waiting for delivery beyond which new ones are dropped (and counted).
const QUEUE: usize = 256;

#[derive(Clone)]
enum Receiver {
    Webhook {
        url: String,
        signer: Option<Arc<standardwebhooks::Webhook>>,
    },
    Slack(String),
    DingTalk {
        url: String,
        secret: Option<String>,
    },
    WeCom(String),
    Email(Arc<AlertEmail>),
}

impl Receiver {
    fn name(&self) -> &'static str {
        match self {
            Receiver::Webhook { .. } => "webhook",
            Receiver::Slack(_) => "slack",
            Receiver::DingTalk { .. } => "dingtalk",
            Receiver::WeCom(_) => "wecom",
            Receiver::Email(_) => "email",
        }
    }
}

/// The receivers configured in `[alerts]`.
fn configured(settings: &AlertSettings) -> anyhow::Result<Vec<Receiver>> {
    let mut receivers = Vec::new();
    if let Some(hook) = &settings.webhook {
        let signer = match &hook.secret {
            Some(secret) => Some(Arc::new(
                standardwebhooks::Webhook::new(secret.expose())
                    .map_err(|e| anyhow::anyhow!("`alerts.webhook.secret`: {e}"))?,
            )),
            None => None,
        };
        receivers.push(Receiver::Webhook {
            url: hook.url.clone(),
            signer,
        });
    }
    let robot_url = |robot: &Option<ChatRobot>| robot.as_ref().map(|r| r.url.expose().to_owned());
    if let Some(url) = robot_url(&settings.slack) {
        receivers.push(Receiver::Slack(url));
    }
    if let Some(robot) = &settings.dingtalk {
        receivers.push(Receiver::DingTalk {
            url: robot.url.expose().to_owned(),
            secret: robot.secret.as_ref().map(|s| s.expose().to_owned()),
        });
    }
    if let Some(url) = robot_url(&settings.wecom) {
        receivers.push(Receiver::WeCom(url));
    }
    if let Some(email) = &settings.email {
        receivers.push(Receiver::Email(Arc::new(email.clone())));
    }
    Ok(receivers)
}

/// The sending side of the delivery task.
#[derive(Clone)]
pub struct Deliveries {
    sender: mpsc::Sender<AlertMessage>,
    metrics: Metrics,
}

impl Deliveries {
    /// Start the delivery task for the configured receivers.
    pub fn start(settings: &AlertSettings, metrics: Metrics) -> anyhow::Result<Deliveries> {
        let receivers = configured(settings)?;
        let (sender, mut messages) = mpsc::channel::<AlertMessage>(QUEUE);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.delivery_timeout_ms.max(100)))
            .build()?;
        let attempts = settings.delivery_attempts.max(1);
        let counted = metrics.clone();
        tokio::spawn(async move {
            while let Some(message) = messages.recv().await {
                for receiver in &receivers {
                    let (receiver, message, http, metrics) = (
                        receiver.clone(),
                        message.clone(),
                        http.clone(),
                        counted.clone(),
                    );
                    tokio::spawn(async move {
                        let send = || deliver(&http, &receiver, &message);
                        let result = send
                            .retry(
                                ExponentialBuilder::default()
                                    .with_min_delay(Duration::from_millis(500))
                                    .with_max_times(attempts as usize - 1)
                                    .with_jitter(),
                            )
                            .await;
                        let outcome = if result.is_ok() { "sent" } else { "failed" };
                        metrics
                            .ops
                            .alert_deliveries
                            .with_label_values(&[receiver.name(), outcome])
                            .inc();
                        if let Err(err) = result {
                            tracing::warn!(receiver = receiver.name(), alert = %message.key, error = %format!("{err:#}"), "alert not delivered after {attempts} attempts");
                        }
                    });
                }
            }
        });
        Ok(Deliveries { sender, metrics })
    }

    /// Hand a message to the delivery task; never waits.
    pub fn send(&self, message: AlertMessage) {
        if let Err(err) = self.sender.try_send(message) {
            self.metrics
                .ops
                .alert_deliveries
                .with_label_values(&["all", "dropped"])
                .inc();
            tracing::warn!(error = %err, "alert dropped: the delivery queue is full");
        }
    }
}

/// One attempt to one receiver.
async fn deliver(
    http: &reqwest::Client,
    receiver: &Receiver,
    message: &AlertMessage,
) -> anyhow::Result<()> {
    let text = message.text();
    let request = match receiver {
        Receiver::Webhook { url, signer } => {
            let body = serde_json::to_vec(message)?;
            let mut request = http
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(signer) = signer {
                let id = format!("alert_{}", uuid::Uuid::now_v7().simple());
                let now = chrono::Utc::now();
                let signature = signer
                    .sign(&id, now.timestamp(), &body)
                    .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
                request = request
                    .header("webhook-id", id)
                    .header("webhook-timestamp", now.timestamp().to_string())
                    .header("webhook-signature", signature);
            }
            request
        }
        Receiver::Slack(url) => http.post(url).json(&json!({ "text": text })),
        Receiver::DingTalk { url, secret } => {
            let url = match secret {
                Some(secret) => {
                    dingtalk_signed(url, secret, chrono::Utc::now().timestamp_millis())?
                }
                None => url.clone(),
            };
            http.post(url)
                .json(&json!({ "msgtype": "text", "text": { "content": text } }))
        }
        Receiver::WeCom(url) => http
            .post(url)
            .json(&json!({ "msgtype": "text", "text": { "content": text } })),
        Receiver::Email(email) => return send_email(email, message).await,
    };
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "answered {status}: {}", snippet(&body));
    // DingTalk and WeCom answer 200 with an error code in the body.
    if matches!(receiver, Receiver::DingTalk { .. } | Receiver::WeCom(_))
        && let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body)
        && let Some(code) = answer["errcode"].as_i64()
    {
        anyhow::ensure!(code == 0, "robot refused: {}", snippet(&body));
    }
    Ok(())
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

/// DingTalk's "加签": `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret,
/// "{timestamp}\n{secret}")) added to the robot URL.
pub fn dingtalk_signed(url: &str, secret: &str, timestamp_ms: i64) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    let sign = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let mut url = url::Url::parse(url)?;
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign);
    Ok(url.to_string())
}

async fn send_email(email: &AlertEmail, message: &AlertMessage) -> anyhow::Result<()> {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    let mut builder = lettre::Message::builder()
        .from(email.from.parse::<Mailbox>()?)
        .subject(message.title())
        .header(ContentType::TEXT_PLAIN);
    for to in &email.to {
        builder = builder.to(to.parse::<Mailbox>()?);
    }
    let mail = builder.body(message.text())?;
    let mut transport = match email.tls {
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&email.smtp_host)?,
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&email.smtp_host)?
        }
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.smtp_host),
    }
    .port(email.smtp_port);
    if let (Some(user), Some(password)) = (&email.username, &email.password) {
        transport =
            transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    transport.build().send(mail).await?;
    Ok(())
}

impl AlertMessage {
    /// One line: what, where, and whether it holds.
    pub fn title(&self) -> String {
        let state = match self.state {
            State::Firing => "FIRING",
            State::Repeat => "STILL FIRING",
            State::Resolved => "RESOLVED",
        };
        format!("[trackgate {state}] {}", self.summary)
    }

    /// The message for people (chat and e-mail).
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}\nrule: {}  subject: {}  severity: {}\nsince: {}",
            self.title(),
            self.rule,
            self.subject,
            self.severity,
            crate::domain::time::format(&self.started_at)
        );
        if let Some(at) = &self.resolved_at {
            text.push_str(&format!("  resolved: {}", crate::domain::time::format(at)));
        }
        text.push_str(&format!(
            "\nwhat to do: {}\ngateway: {}",
            self.runbook, self.gateway
        ));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from DingTalk's documentation of robot signing, recomputed.
    #[test]
    fn dingtalk_signature_is_added_to_the_url() {
        let url = dingtalk_signed(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            "SEC000",
            1_700_000_000_000,
        )
        .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let pairs: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs["access_token"], "abc");
        assert_eq!(pairs["timestamp"], "1700000000000");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"SEC000").unwrap();
        mac.update(b"1700000000000\nSEC000");
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(pairs["sign"], expected);
    }
}
