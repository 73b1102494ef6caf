//! The `subscription` task: bring a shipment's subscription with its carrier to what its row
//! wants — subscribe while `pending`, unsubscribe while `stopping` — through the same send path
//! as polls (the instance's limiter, the shared pacer, a 429 pausing the instance).
//!
//! Every branch settles the task: the carrier confirmed (`active`, acked); refused for good or
//! the request cannot be built as configured (`failed` with the carrier's message, acked — never
//! a retry loop); unavailable (5xx, 429, a timeout) retried with the retry policy's backoff and,
//! out of attempts, `failed` and dead-lettered (a replay tries again). A row that changed state
//! meanwhile (a stop during a subscribe) is left to the task of its newer wish.

use chrono::Utc;
use trackgate_carriers::{PollTarget, SubscriptionAnswer};

use super::{PollError, Poller, poll_target};
use crate::domain::retry::{Decision, Failure, decide, random_jitter};
use crate::queue::{Settlement, Task, TaskKind};
use crate::registry::CarrierInstance;
use crate::store::StoreError;
use crate::store::states::{SubscriptionState, label};
use crate::store::subscriptions::SubscriptionSettled;

/// What one carrier request came to.
enum Outcome {
    Done,
    Refused(String),
    Unavailable(PollError),
}

impl Poller {
    /// Handle a `subscription` task; the settlement its delivery gets. A store failure is an
    /// `Err` (the caller retries the task).
    pub async fn handle_subscription(&self, task: &Task) -> Result<Settlement, StoreError> {
        let Some(row) = self.store.subscription(&task.ref_id).await? else {
            return Ok(Settlement::Ack);
        };
        let from = row.state;
        if !matches!(
            from,
            SubscriptionState::Pending | SubscriptionState::Stopping
        ) {
            return Ok(Settlement::Ack); // a duplicate task: already settled
        }
        let shipment = self.store.get_shipment(&task.ref_id).await?;
        let (Some(shipment), Some(instance)) = (shipment, self.registry.get(&row.carrier_id))
        else {
            let gone = settle(
                SubscriptionState::Failed,
                row.attempts as u32,
                Some("the shipment or its carrier instance is gone".into()),
            );
            self.store
                .settle_subscription(&task.ref_id, from, gone)
                .await?;
            return Ok(Settlement::Ack);
        };
        let target = poll_target(&shipment);
        let outcome = match from {
            SubscriptionState::Pending => self.subscribe(&instance, &target).await,
            _ => self.unsubscribe(&instance, &target).await,
        };
        let attempt = task.attempt + 1;
        let carrier = instance.id.as_str();
        let (settled, settlement, result) = match outcome {
            Outcome::Done => {
                let state = match from {
                    SubscriptionState::Pending => SubscriptionState::Active,
                    _ => SubscriptionState::Stopped,
                };
                (settle(state, attempt, None), Settlement::Ack, label(state))
            }
            Outcome::Refused(message) if from == SubscriptionState::Stopping => {
                // We stop listening either way; the carrier's words are kept.
                let settled = settle(SubscriptionState::Stopped, attempt, Some(message));
                (settled, Settlement::Ack, "stopped".to_owned())
            }
            Outcome::Refused(message) => {
                tracing::warn!(carrier, shipment_id = %task.ref_id, %message, "subscription refused");
                let settled = settle(SubscriptionState::Failed, attempt, Some(message));
                (settled, Settlement::Ack, "refused".to_owned())
            }
            Outcome::Unavailable(err) => {
                let decision = decide(
                    &self.retry,
                    attempt,
                    err.failure,
                    err.retry_after,
                    random_jitter(),
                );
                match decision {
                    Decision::RetryAfter(delay) => {
                        let settled = settle(from, attempt, Some(err.detail));
                        (settled, Settlement::Retry(delay), "retried".to_owned())
                    }
                    _ => {
                        // Failed with its dead letter, in one transaction (the store's).
                        let settled = SubscriptionSettled {
                            dead_letter: true,
                            ..settle(SubscriptionState::Failed, attempt, Some(err.detail))
                        };
                        (settled, Settlement::DeadLetter, "dead".to_owned())
                    }
                }
            }
        };
        let became = settled.state;
        if !self
            .store
            .settle_subscription(&task.ref_id, from, settled)
            .await?
        {
            return Ok(Settlement::Ack); // a newer wish took the row over; its task settles it
        }
        self.metrics
            .subscriptions
            .with_label_values(&[carrier, &result])
            .inc();
        if settlement == Settlement::DeadLetter {
            self.metrics
                .dead_letters
                .with_label_values(&[&label(TaskKind::Subscription)])
                .inc();
        }
        if became == SubscriptionState::Active && instance.adapter.capabilities().poll {
            // Aggregators answer for a number some time after it is registered (17TRACK).
            let next = Utc::now()
                + chrono::Duration::seconds(self.settings.after_registration_secs as i64);
            self.store.schedule_poll(&[shipment.id], next).await?;
        }
        Ok(settlement)
    }

    async fn subscribe(&self, instance: &CarrierInstance, target: &PollTarget) -> Outcome {
        let callback = self
            .callback_base
            .as_deref()
            .map(|base| format!("{}/webhooks/{}", base.trim_end_matches('/'), instance.id));
        let request = match instance
            .adapter
            .subscription_request(target, callback.as_deref())
        {
            Ok(request) => request,
            Err(err) => return Outcome::Refused(err.to_string()),
        };
        match self.send(instance, request).await {
            Ok((status, _, body)) => {
                match instance.adapter.parse_subscription_response(status, &body) {
                    SubscriptionAnswer::Active => Outcome::Done,
                    SubscriptionAnswer::Refused(message) => Outcome::Refused(message),
                    SubscriptionAnswer::Unavailable(message) => {
                        Outcome::Unavailable(unavailable(status, message))
                    }
                }
            }
            Err(err) => Outcome::Unavailable(err),
        }
    }

    async fn unsubscribe(&self, instance: &CarrierInstance, target: &PollTarget) -> Outcome {
        let Some(request) = instance.adapter.unsubscription_request(target) else {
            return Outcome::Done; // the carrier offers no way to stop: we stop listening
        };
        match self.send(instance, request).await {
            // Gone already is stopped too.
            Ok((status, _, _)) if (200..300).contains(&status) || status == 404 => Outcome::Done,
            Ok((status, _, body)) => match SubscriptionAnswer::from_status(status, &body) {
                SubscriptionAnswer::Unavailable(message) => {
                    Outcome::Unavailable(unavailable(status, message))
                }
                SubscriptionAnswer::Refused(message) => Outcome::Refused(message),
                SubscriptionAnswer::Active => Outcome::Done,
            },
            Err(err) => Outcome::Unavailable(err),
        }
    }
}

fn settle(
    state: SubscriptionState,
    attempts: u32,
    last_error: Option<String>,
) -> SubscriptionSettled {
    SubscriptionSettled {
        state,
        attempts: attempts as i32,
        last_error,
        dead_letter: false,
    }
}

fn unavailable(status: u16, message: String) -> PollError {
    PollError {
        failure: Failure::Status(status),
        retry_after: None,
        detail: message,
        cause: None,
    }
}
