//! Dead letters: calls that ran out of attempts. Listing and replay, shared by the admin API and
//! `trackgate dead-letters`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::queue::{QueueError, Task, TaskKind};
use crate::startup::Gateway;
use crate::store::StoreError;
use crate::store::entities::dead_letter;

#[derive(Debug, Serialize)]
pub struct DeadLetterOut {
    pub id: i64,
    /// `push` (ref_id is the outbox id / webhook-id) or `poll` (ref_id is the shipment id).
    pub kind: String,
    pub ref_id: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
}

impl From<dead_letter::Model> for DeadLetterOut {
    fn from(m: dead_letter::Model) -> Self {
        DeadLetterOut {
            id: m.id,
            kind: m.kind,
            ref_id: m.ref_id,
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            replayed_at: m.replayed_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no such dead letter")]
    NotFound,
    #[error("already replayed")]
    AlreadyReplayed,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Send a dead letter again: a fresh task with a fresh attempt budget, same `webhook-id`.
pub async fn replay(gateway: &Gateway, id: i64) -> Result<DeadLetterOut, ReplayError> {
    let letter = gateway
        .store
        .dead_letter(id)
        .await?
        .ok_or(ReplayError::NotFound)?;
    if letter.replayed_at.is_some() {
        return Err(ReplayError::AlreadyReplayed);
    }
    gateway.store.reopen_dead_letter(&letter).await?;
    let kind = if letter.kind == "poll" {
        TaskKind::Poll
    } else {
        TaskKind::Push
    };
    gateway
        .queue
        .enqueue(
            Task {
                kind,
                ref_id: letter.ref_id.clone(),
                attempt: 0,
            },
            std::time::Duration::ZERO,
        )
        .await?;
    if kind == TaskKind::Push {
        gateway.store.mark_enqueued(&letter.ref_id).await?;
    }
    tracing::info!(dead_letter = id, kind = %letter.kind, ref_id = %letter.ref_id, "dead letter replayed");
    let refreshed = gateway
        .store
        .dead_letter(id)
        .await?
        .ok_or(ReplayError::NotFound)?;
    Ok(refreshed.into())
}
