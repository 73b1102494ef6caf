//! The RabbitMQ backend: a durable work queue, one wait queue per retry delay, a dead-letter
//! queue, publisher confirms, manual acks, and reconnection after the broker restarts.
//!
//! Topology (all durable, names under `queue.prefix`): exchange `{p}.work` (direct) bound to
//! queue `{p}.work`; wait queues `{p}.retry.{ms}` whose queue TTL dead-letters expired messages
//! back to `{p}.work`; and `{p}.dead`. RabbitMQ has no delayed delivery without a plugin, and a
//! per-message TTL in one shared wait queue blocks behind its longest message, so each delay gets
//! its own queue. Delays are rounded *up* to two significant digits (1 234 ms → 1 300 ms), which
//! keeps the number of wait queues small while a `Retry-After` is never undercut.
//!
//! Every publish waits for the broker's confirm, and is `mandatory`, so an unroutable message
//! (a wait queue deleted behind our back) comes back as an error instead of vanishing. The
//! consumer and the publisher each hold a connection; either one reconnects with exponential
//! backoff when the broker goes away, and unacked deliveries are redelivered by the broker.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, mpsc};

use super::{Delivery, DeliveryHandle, QueueError, Task};
use crate::config::QueueSettings;
use crate::health::{Health, part};

const ROUTING_KEY: &str = "task";
/// Longest wait for one publish, connection included: an unreachable broker must not hang callers.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct RabbitQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    prefix: String,
    prefetch: u16,
    /// The confirm-mode channel and the connection that must outlive it.
    publisher: Mutex<Option<(Connection, Channel)>>,
    declared_waits: std::sync::Mutex<HashSet<u64>>,
    deliveries: Mutex<mpsc::Receiver<Delivery>>,
    sender: mpsc::Sender<Delivery>,
    consumer_started: AtomicBool,
    closed: AtomicBool,
    health: Health,
}

/// Round a delay up to two significant digits of milliseconds (at least 1 ms).
pub fn quantize_delay_ms(delay: Duration) -> u64 {
    let ms = delay.as_millis().clamp(1, u64::MAX as u128) as u64;
    let digits = ms.ilog10() + 1;
    if digits <= 2 {
        return ms;
    }
    let unit = 10u64.pow(digits - 2);
    ms.div_ceil(unit) * unit
}

impl RabbitQueue {
    /// Connect and declare the topology; fails if the broker cannot be reached now.
    pub async fn connect(
        settings: &QueueSettings,
        health: &Health,
    ) -> Result<RabbitQueue, QueueError> {
        let (sender, receiver) = mpsc::channel(settings.prefetch as usize);
        let queue = RabbitQueue {
            inner: Arc::new(Inner {
                url: settings.amqp_connection_url(),
                prefix: settings.prefix.clone(),
                prefetch: settings.prefetch,
                publisher: Mutex::new(None),
                declared_waits: std::sync::Mutex::new(HashSet::new()),
                deliveries: Mutex::new(receiver),
                sender,
                consumer_started: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                health: health.clone(),
            }),
        };
        queue.publisher_channel().await?;
        Ok(queue)
    }

    fn work_name(&self) -> String {
        format!("{}.work", self.inner.prefix)
    }
    fn dead_name(&self) -> String {
        format!("{}.dead", self.inner.prefix)
    }

    async fn open_channel(&self) -> Result<(Connection, Channel), QueueError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("trackgate/{}", self.inner.prefix).into());
        let connection = Connection::connect(&self.inner.url, properties).await?;
        let channel = connection.create_channel().await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.work_name().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(self.work_name().into(), durable, FieldTable::default())
            .await?;
        channel
            .queue_bind(
                self.work_name().into(),
                self.work_name().into(),
                ROUTING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(self.dead_name().into(), durable, FieldTable::default())
            .await?;
        Ok((connection, channel))
    }

    /// The confirm-mode publishing channel, reconnecting if the broker went away.
    async fn publisher_channel(&self) -> Result<Channel, QueueError> {
        let mut slot = self.inner.publisher.lock().await;
        if let Some((_, channel)) = slot.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let (connection, channel) = self.open_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.inner
            .declared_waits
            .lock()
            .expect("not poisoned")
            .clear();
        *slot = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn wait_queue(&self, channel: &Channel, ms: u64) -> Result<String, QueueError> {
        let name = format!("{}.retry.{ms}", self.inner.prefix);
        if self
            .inner
            .declared_waits
            .lock()
            .expect("not poisoned")
            .contains(&ms)
        {
            return Ok(name);
        }
        let mut args = FieldTable::default();
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms as i64));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.work_name().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(ROUTING_KEY.into()),
        );
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await?;
        self.inner
            .declared_waits
            .lock()
            .expect("not poisoned")
            .insert(ms);
        Ok(name)
    }

    async fn publish_once(
        &self,
        task: &Task,
        delay: Duration,
        dead: bool,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_vec(task).expect("a task always serializes");
        let publish = self.publish_confirmed(&body, task.attempt, delay, dead);
        tokio::time::timeout(PUBLISH_TIMEOUT, publish)
            .await
            .map_err(|_| QueueError::NotConfirmed)?
    }

    async fn publish_confirmed(
        &self,
        body: &[u8],
        attempt: u32,
        delay: Duration,
        dead: bool,
    ) -> Result<(), QueueError> {
        let channel = self.publisher_channel().await?;
        let (exchange, routing_key) = if dead {
            (String::new(), self.dead_name())
        } else if delay.is_zero() {
            (self.work_name(), ROUTING_KEY.to_owned())
        } else {
            let ms = quantize_delay_ms(delay);
            (String::new(), self.wait_queue(&channel, ms).await?)
        };
        let mut headers = FieldTable::default();
        headers.insert(
            "x-trackgate-attempt".into(),
            AMQPValue::LongLongInt(i64::from(attempt)),
        );
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await?
            .await?;
        if !confirm.is_ack() || confirm.take_message().is_some() {
            // Nacked, or returned as unroutable: forget declarations so the retry redeclares.
            self.inner
                .declared_waits
                .lock()
                .expect("not poisoned")
                .clear();
            return Err(QueueError::NotConfirmed);
        }
        Ok(())
    }

    /// A few quick tries: enough to ride over a reconnect, short enough that a webhook is not
    /// held for long while the broker is down (the outbox relay and broker redelivery cover the
    /// rest: a publish that fails leaves the outbox row un-enqueued or the delivery unsettled).
    fn publish_backoff() -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(3)
            .with_jitter()
    }

    /// Publish durably (confirmed), retrying across a reconnect.
    pub async fn publish(&self, task: &Task, delay: Duration) -> Result<(), QueueError> {
        (|| self.publish_once(task, delay, false))
            .retry(Self::publish_backoff())
            .notify(|err, wait| tracing::debug!(error = %err, ?wait, "rabbitmq publish failed; retrying"))
            .await
    }

    pub async fn publish_dead(&self, task: &Task) -> Result<(), QueueError> {
        (|| self.publish_once(task, Duration::ZERO, true))
            .retry(Self::publish_backoff())
            .await
    }

    pub async fn next(&self) -> Result<Delivery, QueueError> {
        if !self.inner.consumer_started.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.clone().consume_forever());
        }
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(QueueError::Closed);
        }
        let mut receiver = self.inner.deliveries.lock().await;
        receiver.recv().await.ok_or(QueueError::Closed)
    }

    /// Consume `{p}.work` and forward deliveries to workers, reconnecting forever.
    async fn consume_forever(self) {
        let mut failures = 0u32;
        while !self.inner.closed.load(Ordering::Relaxed) {
            match self.consume_until_disconnected().await {
                Ok(()) => failures = 0,
                Err(err) => {
                    failures += 1;
                    self.inner.health.failed(part::QUEUE_CONSUMER, &err);
                    let wait = Duration::from_millis(200 * 2u64.pow(failures.min(5)));
                    tracing::warn!(error = %err, ?wait, "rabbitmq consumer disconnected; reconnecting");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn consume_until_disconnected(&self) -> Result<(), QueueError> {
        let (connection, channel) = self.open_channel().await?;
        channel
            .basic_qos(self.inner.prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                self.work_name().into(),
                format!("trackgate-{}", uuid::Uuid::new_v4().simple()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue = %self.work_name(), "rabbitmq consumer started");
        self.inner.health.ok(part::QUEUE_CONSUMER);
        while let Some(next) = consumer.next().await {
            let delivery = next?;
            let task: Task = match serde_json::from_slice(&delivery.data) {
                Ok(task) => task,
                Err(err) => {
                    // Poison on the queue (not a task of ours): kept in the dead queue for an
                    // operator, then acknowledged so it never comes back.
                    tracing::error!(error = %err, "unreadable task; moving it to the dead-letter queue");
                    let copy = self.publish_confirmed(&delivery.data, 0, Duration::ZERO, true);
                    match tokio::time::timeout(PUBLISH_TIMEOUT, copy).await {
                        Ok(Ok(())) => delivery.acker.ack(Default::default()).await?,
                        _ => delivery.acker.reject(Default::default()).await?,
                    };
                    continue;
                }
            };
            let handed = Delivery {
                task,
                redelivered: delivery.redelivered,
                handle: DeliveryHandle::Rabbit(delivery.acker),
            };
            if self.inner.sender.send(handed).await.is_err() {
                break; // workers are gone: shutting down; the broker redelivers unacked tasks
            }
        }
        drop(connection);
        if self.inner.closed.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(QueueError::Amqp(lapin::Error::from(
                lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
            )))
        }
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        self.publisher_channel().await.map(|_| ())
    }

    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
    }

    /// Delete every queue and the exchange of this prefix (tests use a prefix per run).
    pub async fn delete_topology(&self, delays_ms: &[u64]) -> Result<(), QueueError> {
        let channel = self.publisher_channel().await?;
        let mut names = vec![self.work_name(), self.dead_name()];
        names.extend(
            delays_ms
                .iter()
                .map(|ms| format!("{}.retry.{ms}", self.inner.prefix)),
        );
        for name in names {
            channel
                .queue_delete(name.as_str().into(), Default::default())
                .await?;
        }
        channel
            .exchange_delete(self.work_name().into(), Default::default())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_two_significant_digits() {
        assert_eq!(quantize_delay_ms(Duration::from_millis(0)), 1);
        assert_eq!(quantize_delay_ms(Duration::from_millis(57)), 57);
        assert_eq!(quantize_delay_ms(Duration::from_millis(1234)), 1300);
        assert_eq!(quantize_delay_ms(Duration::from_millis(1200)), 1200);
        assert_eq!(quantize_delay_ms(Duration::from_secs(3600)), 3_600_000);
        assert_eq!(
            quantize_delay_ms(Duration::from_millis(3_600_001)),
            3_700_000
        );
    }
}
