//! [`DefinedAdapter`]: a definition with one instance's settings, implementing the same
//! [`CarrierAdapter`] contract as the hand-written adapters, so the gateway cannot tell them
//! apart — it verifies, rate-limits, polls and ingests a defined kind exactly as a built-in one.

use std::collections::HashMap;

use super::{Definition, request};
use crate::catalog::AdapterSettings;
use crate::{
    AccessToken, Capabilities, CarrierAdapter, HttpRequest, Inbound, ParseError, ParseOutcome,
    PollTarget, SignatureError, Unverified, Verified, WebhookAck,
};

/// An instance of a defined carrier: the definition and the instance's settings.
#[derive(Debug)]
pub struct DefinedAdapter {
    definition: &'static Definition,
    settings: HashMap<String, String>,
}

impl DefinedAdapter {
    /// Settings are checked against the definition's: an unknown one is an error, as for the
    /// built-in kinds.
    pub fn new(
        definition: &'static Definition,
        given: &AdapterSettings,
    ) -> Result<Self, serde_json::Error> {
        use serde::de::Error as _;
        let mut settings = HashMap::new();
        for (name, spec) in &definition.settings {
            if let Some(default) = &spec.default {
                settings.insert(name.clone(), default.clone());
            }
        }
        for (name, value) in given {
            if !definition.settings.contains_key(name) {
                return Err(serde_json::Error::custom(format!(
                    "unknown setting `{name}` for `{}` (it declares: {})",
                    definition.kind,
                    definition
                        .settings
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let text = match value {
                serde_json::Value::String(s) => s.trim().to_owned(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            if !text.is_empty() {
                settings.insert(name.clone(), text);
            }
        }
        Ok(DefinedAdapter {
            definition,
            settings,
        })
    }

    fn can_poll(&self) -> bool {
        self.definition.poll.as_ref().is_some_and(|p| {
            p.settings_used()
                .iter()
                .all(|n| self.settings.contains_key(n))
        })
    }
}

impl CarrierAdapter for DefinedAdapter {
    fn kind(&self) -> &'static str {
        &self.definition.kind
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: self.definition.webhook.is_some(),
            poll: self.can_poll(),
            poll_batch_size: self.definition.poll.as_ref().map_or(1, |p| p.batch_size),
        }
    }

    fn verify_webhook(
        &self,
        inbound: Inbound<Unverified>,
    ) -> Result<Inbound<Verified>, SignatureError> {
        let webhook = self
            .definition
            .webhook
            .as_ref()
            .ok_or(SignatureError::NotSupported)?;
        let secret = self
            .settings
            .get(&webhook.secret)
            .ok_or(SignatureError::NotConfigured)?;
        webhook
            .scheme
            .check(&inbound, secret, chrono::Utc::now().timestamp())?;
        Ok(inbound.into_verified())
    }

    fn parse_webhook(&self, inbound: &Inbound<Verified>) -> Result<ParseOutcome, ParseError> {
        let webhook = self
            .definition
            .webhook
            .as_ref()
            .ok_or(ParseError::NotSupported("webhooks"))?;
        let payload = webhook.scheme.payload(inbound.body());
        let tree = self.definition.format.read(&payload)?;
        match &webhook.root {
            None => self.definition.parse_tree(&tree, None),
            Some(root) => {
                let node = root.first(&tree).ok_or_else(|| {
                    ParseError::Body(format!("no `{}` in the webhook", root.text))
                })?;
                self.definition.parse_tree(node, None)
            }
        }
    }

    fn webhook_ack(&self, stored: bool) -> WebhookAck {
        match &self.definition.webhook {
            Some(w) if stored => w.ack.clone(),
            Some(w) => w.retry_ack.clone(),
            None => WebhookAck {
                status: if stored { 200 } else { 503 },
                content_type: "application/json",
                body: format!("{{\"ok\":{stored}}}"),
            },
        }
    }

    fn token_request(&self) -> Option<HttpRequest> {
        self.definition.poll.as_ref()?.token_request(&self.settings)
    }

    fn parse_token_response(&self, body: &[u8]) -> Result<AccessToken, ParseError> {
        crate::oauth::parse_token_response(body)
    }

    fn build_poll_request(
        &self,
        targets: &[PollTarget],
        token: Option<&AccessToken>,
    ) -> Result<HttpRequest, ParseError> {
        let poll = self
            .definition
            .poll
            .as_ref()
            .ok_or(ParseError::NotSupported("polling"))?;
        poll.request(&request::Values {
            targets,
            separator: &poll.separator,
            token,
            settings: &self.settings,
        })
    }

    fn parse_poll_response(&self, body: &[u8]) -> Result<ParseOutcome, ParseError> {
        self.definition.parse_body(body)
    }

    fn parse_poll_answer(
        &self,
        targets: &[PollTarget],
        body: &[u8],
    ) -> Result<ParseOutcome, ParseError> {
        self.definition.parse_answer(targets, body)
    }
}
