//! How notes travel between processes: a RabbitMQ fanout exchange, PostgreSQL `LISTEN/NOTIFY`,
//! or polling the store; `local` sends nothing anywhere (one process on SQLite).
//!
//! Every backend is best effort by design: the store holds the pushes, so a note lost while a
//! broker or a listener connection was away costs latency, not data. Each listener announces
//! [`Signal::Resync`] whenever it (re)connects, so the streams re-read their cursors after any
//! gap. A process ignores its own notes coming back (it delivered them locally already).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Note;
use crate::config::{LiveBackend, QueueSettings};
use crate::domain::retry::{random_jitter, stall_delay};
use crate::metrics::Metrics;
use crate::store::Store;

/// PostgreSQL's NOTIFY channel.
const PG_CHANNEL: &str = "trackgate_live";
/// NOTIFY payloads must stay under 8,000 bytes.
const PG_PAYLOAD_MAX: usize = 7000;
/// A publish that takes longer than this is abandoned (ingest must not wait on the fanout).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// The store backend looks this far behind its last reading, for rows committed late.
const STORE_OVERLAP: Duration = Duration::from_secs(2);

/// What a backend needs.
pub(super) struct Context {
    pub queue: QueueSettings,
    pub store: Store,
    pub local: super::dispatch::Dispatch,
    pub metrics: Metrics,
    pub store_poll: Duration,
    pub shutdown: CancellationToken,
}

/// The notes of one announcement, as they travel.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    from: String,
    notes: Vec<Note>,
}

/// The sending side of the configured backend.
#[derive(Debug)]
pub(super) enum Remote {
    None,
    Rabbit {
        process: String,
        exchange: String,
        channel: Arc<Mutex<Option<Channel>>>,
    },
    Postgres {
        process: String,
        store: Store,
    },
}

impl Remote {
    pub(super) fn start(backend: LiveBackend, context: Context) -> Remote {
        let process = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            LiveBackend::Rabbitmq => {
                let channel = Arc::new(Mutex::new(None));
                let exchange = format!("{}.live", context.queue.prefix);
                tokio::spawn(rabbit_listener(
                    context,
                    process.clone(),
                    exchange.clone(),
                    channel.clone(),
                ));
                Remote::Rabbit {
                    process,
                    exchange,
                    channel,
                }
            }
            LiveBackend::Postgres => {
                let store = context.store.clone();
                tokio::spawn(postgres_listener(context, process.clone()));
                Remote::Postgres { process, store }
            }
            LiveBackend::Store => {
                tokio::spawn(store_poller(context));
                Remote::None
            }
            LiveBackend::Local | LiveBackend::Auto => Remote::None,
        }
    }

    pub(super) async fn publish(&self, notes: Vec<Note>) {
        let sent = match self {
            Remote::None => return,
            Remote::Rabbit {
                process,
                exchange,
                channel,
            } => {
                let channel = channel.lock().expect("not poisoned").clone();
                let Some(channel) = channel else {
                    return; // not connected: the listener resyncs everyone when it is
                };
                let body = envelope(process, notes);
                let publish = channel.basic_publish(
                    exchange.as_str().into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default(),
                );
                matches!(
                    tokio::time::timeout(PUBLISH_TIMEOUT, publish).await,
                    Ok(Ok(_))
                )
            }
            Remote::Postgres { process, store } => {
                let mut ok = true;
                for chunk in chunks(notes) {
                    let body = String::from_utf8(envelope(process, chunk)).expect("json");
                    let notify = store.conn().execute_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT pg_notify($1, $2)",
                        [PG_CHANNEL.into(), body.into()],
                    ));
                    ok &= matches!(
                        tokio::time::timeout(PUBLISH_TIMEOUT, notify).await,
                        Ok(Ok(_))
                    );
                }
                ok
            }
        };
        if !sent {
            tracing::debug!("live note not published; other processes catch up at their heartbeat");
        }
    }
}

fn envelope(process: &str, notes: Vec<Note>) -> Vec<u8> {
    serde_json::to_vec(&Envelope {
        from: process.to_owned(),
        notes,
    })
    .expect("notes serialize")
}

/// Notes in groups whose NOTIFY payload stays under PostgreSQL's limit.
fn chunks(notes: Vec<Note>) -> Vec<Vec<Note>> {
    let mut out: Vec<Vec<Note>> = vec![Vec::new()];
    let mut size = 0;
    for note in notes {
        let len = note.shipment_id.len() + note.order_id.as_ref().map_or(0, String::len) + 40;
        if size + len > PG_PAYLOAD_MAX && !out.last().expect("one").is_empty() {
            out.push(Vec::new());
            size = 0;
        }
        size += len;
        out.last_mut().expect("one").push(note);
    }
    out
}

/// Hand notes from another process to this process's streams.
fn deliver(context: &Context, process: &str, body: &[u8]) {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) if envelope.from != process => {
            context
                .metrics
                .live_announcements
                .with_label_values(&["received"])
                .inc_by(envelope.notes.len() as u64);
            context.local.deliver_all(&envelope.notes);
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "unreadable live note ignored"),
    }
}

/// Wait before reconnecting (the retry of our own infrastructure: 1 s doubling to 30 s, with
/// jitter); false once shutting down.
async fn pause(context: &Context, failures: &mut u32) -> bool {
    let wait = stall_delay(*failures, random_jitter());
    *failures += 1;
    tokio::select! {
        _ = context.shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

async fn rabbit_listener(
    context: Context,
    process: String,
    exchange: String,
    publisher: Arc<Mutex<Option<Channel>>>,
) {
    let mut failures = 0;
    loop {
        let result = tokio::select! {
            _ = context.shutdown.cancelled() => return,
            result = rabbit_session(&context, &process, &exchange, &publisher, &mut failures) => result,
        };
        *publisher.lock().expect("not poisoned") = None;
        if let Err(err) = result {
            tracing::warn!(error = %err, "live fanout (rabbitmq) lost; reconnecting");
        }
        if !pause(&context, &mut failures).await {
            return;
        }
    }
}

/// One connection's life: declare, bind a private queue, consume until it breaks.
async fn rabbit_session(
    context: &Context,
    process: &str,
    exchange: &str,
    publisher: &Mutex<Option<Channel>>,
    failures: &mut u32,
) -> Result<(), lapin::Error> {
    let properties = ConnectionProperties::default()
        .with_connection_name(format!("trackgate-live/{}/{process}", context.queue.prefix).into());
    let connection = Connection::connect(&context.queue.amqp_connection_url(), properties).await?;
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    // Server-named, exclusive, auto-deleted: it lives as long as this connection.
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().as_str().into(),
            exchange.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.name().as_str().into(),
            format!("live-{process}").into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    *publisher.lock().expect("not poisoned") = Some(connection.create_channel().await?);
    *failures = 0;
    context.local.resync_all();
    tracing::info!(%exchange, "live fanout (rabbitmq) connected");
    while let Some(delivery) = consumer.next().await {
        deliver(context, process, &delivery?.data);
    }
    Err(lapin::Error::from(
        lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
    ))
}

async fn postgres_listener(context: Context, process: String) {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = context.store.conn().get_postgres_connection_pool().clone();
    let mut failures = 0;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "live fanout (postgres) cannot connect; retrying");
                if !pause(&context, &mut failures).await {
                    return;
                }
                continue;
            }
        };
        if let Err(err) = listener.listen(PG_CHANNEL).await {
            tracing::warn!(error = %err, "live fanout (postgres) cannot LISTEN; retrying");
            if !pause(&context, &mut failures).await {
                return;
            }
            continue;
        }
        failures = 0;
        context.local.resync_all();
        loop {
            let next = tokio::select! {
                _ = context.shutdown.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => {
                    deliver(&context, &process, notification.payload().as_bytes())
                }
                // The connection dropped and is re-established on the next call: anything
                // sent meanwhile is gone, so everyone re-reads.
                Ok(None) => {
                    context.local.resync_all();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "live fanout (postgres) lost; reconnecting");
                    break;
                }
            }
        }
        if !pause(&context, &mut failures).await {
            return;
        }
    }
}

/// The `store` backend: every `store_poll`, the pushes written since the last look (by any
/// process), each announced once.
async fn store_poller(context: Context) {
    let mut since: DateTime<Utc> = Utc::now() - STORE_OVERLAP;
    let mut seen: HashMap<(String, i64), DateTime<Utc>> = HashMap::new();
    let mut ticker = tokio::time::interval(context.store_poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = context.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let rows = match context.store.recent_pushes(since, 2000).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "live fanout (store) cannot read recent pushes");
                continue;
            }
        };
        let newest = rows.last().map(|(_, at)| *at);
        let mut fresh = Vec::new();
        for (push, at) in rows {
            if seen
                .insert((push.shipment_id.clone(), push.sequence), at)
                .is_none()
            {
                fresh.push(Note {
                    shipment_id: push.shipment_id,
                    order_id: push.order_id,
                    sequence: push.sequence,
                });
            }
        }
        context.local.deliver_all(&fresh);
        if let Some(newest) = newest {
            // Look back a little: a row stamped earlier may commit after this reading.
            since = since.max(newest - STORE_OVERLAP);
        }
        seen.retain(|_, at| *at >= since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_payloads_stay_under_the_postgres_limit() {
        let notes: Vec<Note> = (0..500)
            .map(|i| Note {
                shipment_id: format!("shp_{i:040}"),
                order_id: Some(format!("order-{i:030}")),
                sequence: i,
            })
            .collect();
        let chunks = chunks(notes.clone());
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!(envelope("p", chunk.clone()).len() < 8000);
        }
        assert_eq!(chunks.concat(), notes);
    }
}
