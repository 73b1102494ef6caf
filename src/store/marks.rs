//! Write-behind "enqueued" marks for pushes published to RabbitMQ.
//!
//! A push row written by ingest is published to the broker after its commit; until then it is
//! `enqueued = false`, which is what the relay ([`crate::push::relay_unenqueued`]) looks for.
//! Marking it right after the publish cost an `UPDATE` of every row (every index of the outbox,
//! since `enqueued` is in one) although most pushes are delivered, and their row rewritten by
//! the attempt record, a few milliseconds later. So the mark waits [`MARK_DELAY`] (1–2 s: the
//! publishes of a second are marked together) and then touches only the rows still pending and
//! untouched since their publish ([`Store::mark_still_pending_enqueued`]): at most one
//! statement a second, and no row written for a push already delivered. An attempt that leaves
//! its row pending marks it itself (its retry is on the queue).
//!
//! "Untouched since the publish" compares the row's `updated_at` with the publish's start, both
//! from the gateways' clocks: processes whose clocks disagree by more than the time between a
//! publish and a worker taking its push off the queue could mark a waiting push as enqueued.
//! Such a push is still sent when its predecessor is settled (which enqueues it); only the
//! relay's second chance is lost for it.
//!
//! The relay leaves rows younger than its settle time (15 s) alone, so a mark that lands
//! within that is never raced by a second publish. A mark that fails is tried again until
//! [`MARK_GIVE_UP`] after its publish, then dropped: the relay publishes those rows again and
//! the worker's turn check (or the mall's `webhook-id`) makes the copy harmless. A crash loses
//! the marks waiting in memory with the same outcome. A graceful stop flushes them
//! ([`Store::flush_enqueued_marks`]).

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Store;

/// How long a published push may be delivered before its row is marked as on the queue.
pub const MARK_DELAY: Duration = Duration::from_secs(2);
/// When the first waiting mark is due, those published up to this much after it go with it:
/// at most one statement a second, each push still given at least `MARK_DELAY - MARK_COALESCE`.
const MARK_COALESCE: Duration = Duration::from_secs(1);
/// How long a mark that fails is tried again; below the relay's settle time.
pub const MARK_GIVE_UP: Duration = Duration::from_secs(10);
/// Rows marked per statement, at most.
const MARK_BATCH: usize = 2000;

/// Pushes published together.
struct Published {
    ids: Vec<String>,
    /// When their publish began: a row updated since (an attempt, a wait) is not marked.
    at: DateTime<Utc>,
    /// When their mark is due (pushed back after a failed mark).
    due: Instant,
    /// When the mark is given up.
    give_up: Instant,
}

enum Command {
    Mark(Published),
    Flush(oneshot::Sender<()>),
}

/// The handle the store's clones share; `None` inside the marking task itself (its store must
/// not keep the channel open).
#[derive(Clone, Debug, Default)]
pub(super) struct Marks {
    sender: Option<mpsc::UnboundedSender<Command>>,
}

impl Marks {
    /// Start the marking task over `store`; it ends when every handle is dropped.
    pub(super) fn start(store: Store) -> Marks {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver));
        Marks {
            sender: Some(sender),
        }
    }
}

impl Store {
    /// Mark `ids` as on the queue in [`MARK_DELAY`], those still pending then. `published_at`
    /// is when their publish began. Without a marking task (its own store) they are marked now.
    pub async fn mark_enqueued_later(&self, ids: Vec<String>, published_at: DateTime<Utc>) {
        let now = Instant::now();
        let published = Published {
            ids,
            at: published_at,
            due: now + MARK_DELAY,
            give_up: now + MARK_GIVE_UP,
        };
        let published = match &self.marks.sender {
            Some(sender) => match sender.send(Command::Mark(published)) {
                Ok(()) => return,
                // The marking task is gone (it panicked): mark them now instead.
                Err(mpsc::error::SendError(command)) => command,
            },
            None => Command::Mark(published),
        };
        if let Command::Mark(published) = published {
            mark(self, &mut VecDeque::from([published]), Due::All).await;
        }
    }

    /// Mark every waiting push now (a graceful stop, a test).
    pub async fn flush_enqueued_marks(&self) {
        let Some(sender) = &self.marks.sender else {
            return;
        };
        let (reply, done) = oneshot::channel();
        if sender.send(Command::Flush(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Due {
    All,
    Until(Instant),
}

async fn run(store: Store, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut waiting: VecDeque<Published> = VecDeque::new();
    loop {
        let command = match waiting.front().map(|first| first.due) {
            None => commands.recv().await,
            Some(due) => tokio::select! {
                command = commands.recv() => command,
                _ = tokio::time::sleep_until(due) => {
                    mark(&store, &mut waiting, Due::Until(Instant::now() + MARK_COALESCE)).await;
                    continue;
                }
            },
        };
        match command {
            Some(Command::Mark(published)) => waiting.push_back(published),
            Some(Command::Flush(reply)) => {
                mark(&store, &mut waiting, Due::All).await;
                let _ = reply.send(());
            }
            None => {
                mark(&store, &mut waiting, Due::All).await;
                return;
            }
        }
    }
}

/// Mark the due publishes (all of them, or those due by an instant), a statement per
/// [`MARK_BATCH`] rows. A failed statement's publishes go back to wait [`MARK_DELAY`] again,
/// unless they are past [`MARK_GIVE_UP`].
async fn mark(store: &Store, waiting: &mut VecDeque<Published>, due: Due) {
    let mut retry = Vec::new();
    loop {
        let mut taken = Vec::new();
        let mut rows = 0;
        while let Some(first) = waiting.front() {
            let is_due = match due {
                Due::All => true,
                Due::Until(now) => first.due <= now,
            };
            if !is_due || (rows > 0 && rows + first.ids.len() > MARK_BATCH) {
                break;
            }
            rows += first.ids.len();
            taken.extend(waiting.pop_front());
        }
        if taken.is_empty() {
            break;
        }
        let rows: Vec<(String, DateTime<Utc>)> = taken
            .iter()
            .flat_map(|p| p.ids.iter().map(|id| (id.clone(), p.at)))
            .collect();
        if let Err(err) = store.mark_still_pending_enqueued(&rows).await {
            let now = Instant::now();
            let (again, dropped): (Vec<_>, Vec<_>) =
                taken.into_iter().partition(|p| p.give_up > now);
            let dropped: usize = dropped.iter().map(|p| p.ids.len()).sum();
            tracing::warn!(count = rows.len(), dropped, error = %err, "pushes on the queue not marked; trying again (the relay queues the dropped ones a second time)");
            retry.extend(again.into_iter().map(|p| Published {
                due: now + MARK_DELAY,
                ..p
            }));
            if due == Due::All {
                // A stop or a flush does not wait for the store to come back: what is left
                // stays waiting (a flush) or is dropped with the task (a stop).
                break;
            }
        }
    }
    // Due after everything waiting now (all of it was published before this moment).
    waiting.extend(retry);
}
