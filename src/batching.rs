//! Group commit in memory: take everything waiting on a channel at once.
//!
//! Shared by the intake's writers and processing workers and by the push recorder: each waits
//! for one item, then takes every other one already queued, so a batch is as large as the
//! backlog and a quiet gateway never waits for a timer.

use tokio::sync::mpsc;

/// Wait for one item, then take every other one already waiting, up to `max`: a batch as large
/// as the backlog, never waiting for more. `None` once the channel is closed.
pub async fn recv_batch<T>(receiver: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = receiver.recv().await?;
    let mut batch = Vec::with_capacity(max.min(64));
    batch.push(first);
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}
