//! Group commit for push attempts: the attempts of pushes that finish at the same moment are
//! recorded with one statement ([`Store::record_attempts`]).
//!
//! A worker hands its attempt over and waits for the answer (the record comes before the task
//! is settled, so a crash in between redelivers a task whose row is already settled). The
//! recorder takes every attempt waiting when it is free, records them together, and answers
//! each with its shipment's next pending push, if any. When the gateway is quiet a batch is one
//! attempt and no timer adds latency; under load the batch grows with the number of pushes in
//! flight. A failed record fails every attempt of its batch; each worker then retries its task.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::attempts::{AttemptRecord, NextPush};
use crate::store::{Store, StoreError};

/// Attempts recorded per statement, at most.
const MAX_BATCH: usize = 256;

/// An attempt waiting to be recorded, and where its answer goes.
type Pending = (
    AttemptRecord,
    oneshot::Sender<Result<Option<NextPush>, Arc<StoreError>>>,
);

/// The handle workers record their attempts through; cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    sender: mpsc::Sender<Pending>,
}

/// Why an attempt was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(Arc<StoreError>),
    #[error("the push recorder has stopped")]
    Closed,
}

impl Recorder {
    /// Start the recorder task; it ends when every handle is dropped.
    pub fn start(store: Store) -> Recorder {
        let (sender, receiver) = mpsc::channel(MAX_BATCH * 2);
        tokio::spawn(run(store, receiver));
        Recorder { sender }
    }

    /// Record one attempt (with whatever else finished now); the shipment's next pending push.
    pub async fn record(&self, attempt: AttemptRecord) -> Result<Option<NextPush>, RecordError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((attempt, reply))
            .await
            .map_err(|_| RecordError::Closed)?;
        answer
            .await
            .map_err(|_| RecordError::Closed)?
            .map_err(RecordError::Store)
    }
}

async fn run(store: Store, mut receiver: mpsc::Receiver<Pending>) {
    while let Some(batch) = crate::batching::recv_batch(&mut receiver, MAX_BATCH).await {
        let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        match store.record_attempts(&records).await {
            Ok(mut next) => {
                for (record, reply) in records.iter().zip(replies) {
                    let _ = reply.send(Ok(next.remove(&record.outbox_id)));
                }
            }
            Err(err) => {
                tracing::warn!(count = records.len(), error = %err, "push attempts not recorded; their tasks are retried");
                let err = Arc::new(err);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}
