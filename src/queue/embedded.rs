//! The embedded queue: tasks are rows of `queue_tasks` in the store, so they are exactly as
//! durable as the shipments themselves and need nothing installed.
//!
//! A worker claims the oldest due row by setting `lease_until` with a conditional UPDATE (only
//! one claimant's UPDATE matches), so several processes sharing one PostgreSQL never run a task
//! twice at once; a claim whose process died expires after `lease_secs` and is taken again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, Iterable, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::Notify;

use super::{Delivery, DeliveryHandle, QueueError, Task, TaskKind};
use crate::config::QueueSettings;
use crate::health::{Health, part};
use crate::store::Store;
use crate::store::batch::Writes;
use crate::store::entities::queue_task;

#[derive(Clone, Debug)]
pub struct EmbeddedQueue {
    store: Store,
    lease: Duration,
    idle_poll: Duration,
    wake: Arc<Notify>,
    /// Held by the one worker that is looking for work, so idle workers cost one query per
    /// `idle_poll_ms` in total rather than one each.
    seeker: Arc<tokio::sync::Mutex<()>>,
    closed: Arc<AtomicBool>,
    health: Health,
}

impl EmbeddedQueue {
    pub fn new(store: Store, settings: &QueueSettings, health: &Health) -> Self {
        EmbeddedQueue {
            store,
            lease: Duration::from_secs(settings.lease_secs.max(1)),
            idle_poll: Duration::from_millis(settings.idle_poll_ms.max(10)),
            wake: Arc::new(Notify::new()),
            seeker: Arc::new(tokio::sync::Mutex::new(())),
            closed: Arc::new(AtomicBool::new(false)),
            health: health.clone(),
        }
    }

    pub async fn enqueue(&self, task: &Task, delay: Duration) -> Result<(), QueueError> {
        let now = Utc::now();
        queue_task::ActiveModel {
            kind: Set(task.kind),
            ref_id: Set(task.ref_id.clone()),
            attempt: Set(task.attempt as i32),
            available_at: Set(now + delay),
            lease_until: Set(None),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(self.store.conn())
        .await
        .map_err(crate::store::StoreError::from)?;
        if delay.is_zero() {
            self.wake.notify_one();
        }
        Ok(())
    }

    pub async fn enqueue_many(&self, tasks: &[Task]) -> Result<(), QueueError> {
        if tasks.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = tasks
            .iter()
            .map(|task| (task.kind, task.ref_id.as_str(), task.attempt))
            .collect();
        let mut writes = Writes::new(self.store.backend());
        Store::insert_task_rows(&mut writes, &rows, Utc::now());
        writes.execute(self.store.conn()).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Task rows were committed by another writer of this process: a worker looks now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn next(&self) -> Result<Delivery, QueueError> {
        let _seeking = self.seeker.lock().await;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(QueueError::Closed);
            }
            match self.claim().await {
                Ok(claimed) => {
                    self.health.ok(part::QUEUE_CONSUMER);
                    if let Some(delivery) = claimed {
                        return Ok(delivery);
                    }
                }
                Err(err) => {
                    self.health.failed(part::QUEUE_CONSUMER, &err);
                    return Err(err);
                }
            }
            // Woken early by an enqueue in this process; other processes' work is seen on the tick.
            let _ = tokio::time::timeout(self.idle_poll, self.wake.notified()).await;
        }
    }

    async fn claim(&self) -> Result<Option<Delivery>, QueueError> {
        let now = Utc::now();
        let free = Condition::any()
            .add(queue_task::Column::LeaseUntil.is_null())
            .add(queue_task::Column::LeaseUntil.lt(now));
        let candidates = queue_task::Entity::find()
            // Kinds this version does not know (a newer process wrote them during a rolling
            // upgrade) are left for a process that does.
            .filter(queue_task::Column::Kind.is_in(TaskKind::iter()))
            .filter(queue_task::Column::AvailableAt.lte(now))
            .filter(free.clone())
            .order_by_asc(queue_task::Column::AvailableAt)
            .order_by_asc(queue_task::Column::Id)
            .limit(8)
            .all(self.store.conn())
            .await
            .map_err(crate::store::StoreError::from)?;
        for row in candidates {
            let claimed = queue_task::Entity::update_many()
                .col_expr(
                    queue_task::Column::LeaseUntil,
                    Expr::value(now + self.lease),
                )
                .filter(queue_task::Column::Id.eq(row.id))
                .filter(free.clone())
                .exec(self.store.conn())
                .await
                .map_err(crate::store::StoreError::from)?;
            if claimed.rows_affected != 1 {
                continue; // another worker won this row
            }
            let task = Task {
                kind: row.kind,
                ref_id: row.ref_id,
                attempt: row.attempt.max(0) as u32,
                push: None,
            };
            return Ok(Some(Delivery {
                task,
                // Its tasks carry no ticket: the push worker always reads the row.
                redelivered: false,
                handle: DeliveryHandle::Embedded(row.id),
            }));
        }
        Ok(None)
    }

    pub async fn delete(&self, id: i64) -> Result<(), QueueError> {
        queue_task::Entity::delete_by_id(id)
            .exec(self.store.conn())
            .await
            .map_err(crate::store::StoreError::from)?;
        Ok(())
    }

    pub async fn reschedule(
        &self,
        id: i64,
        attempt: u32,
        delay: Duration,
    ) -> Result<(), QueueError> {
        queue_task::Entity::update_many()
            .col_expr(queue_task::Column::Attempt, Expr::value(attempt as i32))
            .col_expr(
                queue_task::Column::AvailableAt,
                Expr::value(Utc::now() + delay),
            )
            .col_expr(
                queue_task::Column::LeaseUntil,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .filter(queue_task::Column::Id.eq(id))
            .exec(self.store.conn())
            .await
            .map_err(crate::store::StoreError::from)?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), QueueError> {
        Ok(self.store.ping().await?)
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.wake.notify_waiters();
    }
}
