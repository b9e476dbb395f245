//! What the provider still has to send on its own on link B: fan-out messages queued, being
//! delivered or waiting to be retried, and link-B requests in flight. The driver API's
//! `awaitIdle` answers from it, so that a harness checking that nothing more arrives stops
//! waiting as soon as nothing more can, instead of sleeping a fixed period.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The count of pending outgoing work, shared by everything that sends.
#[derive(Clone)]
pub struct Activity(Arc<watch::Sender<usize>>);

impl Default for Activity {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

/// One piece of pending outgoing work; it is done when this is dropped (however it ends: sent,
/// given up, dropped from a full queue, or the provider stopped).
pub struct Busy(Arc<watch::Sender<usize>>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Activity {
    /// Counts one piece of work until the returned guard is dropped.
    pub fn begin(&self) -> Busy {
        self.0.send_modify(|n| *n += 1);
        Busy(self.0.clone())
    }

    /// How many pieces of work are pending now.
    pub fn pending(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until nothing is pending, for at most `within`; whether it got there.
    pub async fn settled(&self, within: Duration) -> bool {
        let mut pending = self.0.subscribe();
        tokio::time::timeout(within, pending.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settles_when_the_last_piece_of_work_is_done() {
        let activity = Activity::default();
        assert!(activity.settled(Duration::ZERO).await);
        let first = activity.begin();
        let second = activity.begin();
        assert_eq!(activity.pending(), 2);
        assert!(!activity.settled(Duration::ZERO).await);
        drop(first);
        assert!(!activity.settled(Duration::ZERO).await);
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.settled(Duration::from_secs(60)).await }
        });
        drop(second);
        assert!(waiting.await.unwrap());
        assert_eq!(activity.pending(), 0);
    }
}
