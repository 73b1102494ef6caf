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
    top_up(receiver, &mut batch, max);
    Some(batch)
}

/// Add to `batch` every item already waiting, until it holds `max`; never waits.
pub fn top_up<T>(receiver: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, max: usize) {
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_takes_what_waits_up_to_max_and_top_up_never_waits() {
        let (sender, mut receiver) = mpsc::channel(16);
        for i in 0..5 {
            sender.send(i).await.unwrap();
        }
        let mut batch = recv_batch(&mut receiver, 3).await.unwrap();
        assert_eq!(batch, [0, 1, 2]);
        top_up(&mut receiver, &mut batch, 4);
        assert_eq!(batch, [0, 1, 2, 3], "topped up to max, no further");
        top_up(&mut receiver, &mut batch, 10);
        assert_eq!(batch, [0, 1, 2, 3, 4]);
        // Nothing waits: it returns at once with the batch unchanged.
        top_up(&mut receiver, &mut batch, 10);
        assert_eq!(batch.len(), 5);
        drop(sender);
        assert!(recv_batch(&mut receiver, 3).await.is_none());
    }
}
