//! What the provider still has to send on its own on link B: fan-out messages queued, being
//! delivered or waiting to be retried, and link-B requests in flight, in all and per room. The
//! driver API's `awaitIdle` answers from it, so that a harness checking that nothing more
//! arrives stops waiting as soon as nothing more can, instead of sleeping a fixed period; a
//! harness that asks about its own rooms does not wait for other rooms' work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Pending outgoing work: how much in all, and how much of it is for each room (a room with
/// none has no entry, so this stays as small as the work pending).
#[derive(Default)]
struct Pending {
    total: usize,
    rooms: HashMap<String, usize>,
}

impl Pending {
    /// Whether none of `rooms` (every piece of work, when None) is pending.
    fn idle(&self, rooms: Option<&[String]>) -> bool {
        match rooms {
            None => self.total == 0,
            Some(rooms) => rooms.iter().all(|r| !self.rooms.contains_key(r)),
        }
    }
}

/// The pending outgoing work, shared by everything that sends.
#[derive(Clone, Default)]
pub struct Activity(Arc<watch::Sender<Pending>>);

/// One piece of pending outgoing work, for a room or for none; it is done when this is dropped
/// (however it ends: sent, given up, dropped from a full queue, or the provider stopped).
pub struct Busy {
    pending: Arc<watch::Sender<Pending>>,
    room: Option<String>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.pending.send_modify(|p| {
            p.total = p.total.saturating_sub(1);
            if let Some(room) = &self.room {
                if let Some(n) = p.rooms.get_mut(room) {
                    *n -= 1;
                    if *n == 0 {
                        p.rooms.remove(room);
                    }
                }
            }
        });
    }
}

impl Activity {
    /// Counts one piece of work, for `room` if it is one's, until the returned guard is dropped.
    pub fn begin(&self, room: Option<&str>) -> Busy {
        self.0.send_modify(|p| {
            p.total += 1;
            if let Some(room) = room {
                *p.rooms.entry(room.to_string()).or_default() += 1;
            }
        });
        Busy {
            pending: self.0.clone(),
            room: room.map(str::to_string),
        }
    }

    /// How many pieces of work are pending now: for these rooms, or in all when None.
    pub fn pending(&self, rooms: Option<&[String]>) -> usize {
        let pending = self.0.borrow();
        match rooms {
            None => pending.total,
            Some(rooms) => rooms.iter().filter_map(|r| pending.rooms.get(r)).sum(),
        }
    }

    /// How many rooms have pending work now.
    pub fn busy_rooms(&self) -> usize {
        self.0.borrow().rooms.len()
    }

    /// Waits until nothing is pending for `rooms` (for any room or none, when None), for at
    /// most `within`; whether it got there.
    pub async fn settled(&self, rooms: Option<&[String]>, within: Duration) -> bool {
        let mut pending = self.0.subscribe();
        tokio::time::timeout(within, pending.wait_for(|p| p.idle(rooms)))
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
        assert!(activity.settled(None, Duration::ZERO).await);
        let first = activity.begin(None);
        let second = activity.begin(None);
        assert_eq!(activity.pending(None), 2);
        assert!(!activity.settled(None, Duration::ZERO).await);
        drop(first);
        assert!(!activity.settled(None, Duration::ZERO).await);
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.settled(None, Duration::from_secs(60)).await }
        });
        drop(second);
        assert!(waiting.await.unwrap());
        assert_eq!(activity.pending(None), 0);
    }

    #[tokio::test]
    async fn a_room_settles_while_another_room_is_still_busy() {
        let activity = Activity::default();
        let (a, b) = (
            vec!["mimi://x/r/a".to_string()],
            vec!["mimi://x/r/b".to_string()],
        );
        let busy_a = activity.begin(Some(&a[0]));
        let busy_b = activity.begin(Some(&b[0]));
        let unroomed = activity.begin(None);
        assert_eq!(activity.pending(Some(&a)), 1);
        assert_eq!(activity.pending(None), 3);
        assert!(!activity.settled(Some(&a), Duration::ZERO).await);
        let waiting = tokio::spawn({
            let (activity, a) = (activity.clone(), a.clone());
            async move { activity.settled(Some(&a), Duration::from_secs(60)).await }
        });
        drop(busy_a);
        // Room B's work and the work of no room do not hold the wait on room A.
        assert!(waiting.await.unwrap());
        assert!(!activity.settled(Some(&b), Duration::ZERO).await);
        assert!(!activity.settled(None, Duration::ZERO).await);
        // A room with nothing pending keeps no entry.
        assert_eq!(activity.busy_rooms(), 1);
        drop(busy_b);
        assert_eq!(activity.busy_rooms(), 0);
        assert!(activity.settled(Some(&b), Duration::ZERO).await);
        assert!(!activity.settled(None, Duration::ZERO).await);
        drop(unroomed);
        assert!(activity.settled(None, Duration::ZERO).await);
    }
}
