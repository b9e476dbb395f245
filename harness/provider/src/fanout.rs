//! The hub's fan-out (P-06 §5.5): every accepted message goes to each provider with members, in
//! acceptance order: one queue and one sender per follower, which waits for a 201 before the
//! next message and retries a refusal after its `Retry-After`. Messages for this provider's own
//! clients are delivered at once, under the same lock that accepted them.

use crate::activity::Busy;
use crate::endpoints::Shared;
use crate::faults::Fault;
use crate::hub::Fanout;
use crate::state::State;
use crate::variants::Variant;
use mimi_wire::messages::notify::FanoutRest;
use mimi_wire::Encode;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// No follower has more messages of one room waiting than this; beyond it the oldest are
/// dropped (logged).
pub const MAX_QUEUED_PER_ROOM: usize = 4096;
/// Attempts per message before it is given up (logged).
const MAX_ATTEMPTS: u32 = 8;
/// Wait before a retry when the follower gives no Retry-After.
const DEFAULT_RETRY: Duration = Duration::from_millis(200);
/// How long after acceptance the variant `late-fanout` sends a notify.
const LATE_FANOUT: Duration = Duration::from_secs(1);
/// How much later than Retry-After the variant `retry-later-than-asked` retries.
const RETRY_LATER_BY: Duration = Duration::from_secs(2);
/// How long the fault `commit-fanout-delayed` holds a commit back.
const COMMIT_DELAY: Duration = Duration::from_millis(300);
/// The longest Retry-After honoured; a longer one is capped so a test fixture never stalls.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// A message waiting for its follower (its queue says which room).
struct Item {
    body: Vec<u8>,
    /// When the hub accepted it.
    accepted: tokio::time::Instant,
    /// Its count in the provider's outgoing work until it is sent or given up.
    _pending: Busy,
}

#[derive(Default)]
struct Queue {
    items: Mutex<VecDeque<Item>>,
}

/// The queues of one hub, one per follower and room: a room's messages reach a follower in
/// order, and one that waits (for a Retry-After, say) holds up no other room's.
#[derive(Default)]
pub struct FanoutQueues {
    queues: Mutex<BTreeMap<(String, String), Arc<Queue>>>,
}

impl FanoutQueues {
    fn queues(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Arc<Queue>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    /// Hands accepted messages to their recipients, in order; called with the state locked.
    pub fn dispatch(self: &Arc<Self>, state: &mut State, fanouts: Vec<Fanout>) {
        for fanout in fanouts {
            let mut body = fanout.message.to_bytes();
            if self.fault(Fault::NotifyFramedAsVector) {
                // The fault frames the messages as a vector (`FanoutMessage messages<V>`).
                let mut framed = mimi_wire::codec::Writer::default();
                framed.opaque(&body);
                body = framed.into_bytes();
            }
            // The fault hands commits to the follower queues only after a delay (as if it
            // stored the new epoch first, asynchronously).
            let delayed = self.fault(Fault::CommitFanoutDelayed)
                && matches!(fanout.message.rest, FanoutRest::Commit { .. });
            for domain in &fanout.to {
                if *domain == self.domain {
                    crate::client_actions::deliver(
                        state,
                        &fanout.room,
                        &fanout.message,
                        &self.faults,
                    );
                } else if delayed {
                    let (shared, domain, room, body) = (
                        self.clone(),
                        domain.clone(),
                        fanout.room.clone(),
                        body.clone(),
                    );
                    // Held back, it is still work left to send.
                    let held = self.peers.outgoing.begin(Some(&room));
                    tokio::spawn(async move {
                        tokio::time::sleep(COMMIT_DELAY).await;
                        shared.enqueue(&domain, &room, body);
                        drop(held);
                    });
                } else {
                    self.enqueue(domain, &fanout.room, body.clone());
                }
            }
        }
    }

    fn enqueue(self: &Arc<Self>, domain: &str, room: &str, body: Vec<u8>) {
        // The item goes in under the queues' lock, so that a send loop that finds its queue
        // empty and removes it cannot miss it.
        let mut queues = self.fanout.queues();
        let key = (domain.to_string(), room.to_string());
        let (queue, new) = match queues.get(&key) {
            Some(q) => (q.clone(), false),
            None => {
                let q = Arc::new(Queue::default());
                queues.insert(key.clone(), q.clone());
                (q, true)
            }
        };
        {
            let mut items = queue.items.lock().unwrap_or_else(|e| e.into_inner());
            if items.len() == MAX_QUEUED_PER_ROOM {
                tracing::error!(
                    follower = domain,
                    room,
                    "fan-out queue full; dropping the oldest message"
                );
                items.pop_front();
            }
            items.push_back(Item {
                body,
                accepted: tokio::time::Instant::now(),
                _pending: self.peers.outgoing.begin(Some(room)),
            });
        }
        drop(queues);
        if new {
            tokio::spawn(send_loop(Arc::downgrade(self), key, queue));
        }
    }
}

/// Sends one follower the messages of one room in order, until none is waiting (its queue is
/// then removed; the next message starts a new one) or the provider is gone.
async fn send_loop(shared: Weak<Shared>, key: (String, String), queue: Arc<Queue>) {
    let (domain, room) = (key.0.as_str(), key.1.as_str());
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        // The fault sends the newest waiting message first (after letting a burst gather).
        let newest_first = strong.fault(Fault::FanoutOutOfOrder);
        if newest_first {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let next = {
            let mut queues = strong.fanout.queues();
            let mut items = queue.items.lock().unwrap_or_else(|e| e.into_inner());
            let next = if newest_first {
                items.pop_back()
            } else {
                items.pop_front()
            };
            if next.is_none() {
                queues.remove(&key);
            }
            next
        };
        let Some(item) = next else {
            return;
        };
        if strong.variant(Variant::LateFanout) {
            tokio::time::sleep_until(item.accepted + LATE_FANOUT).await;
        }
        deliver_one(&strong, domain, room, item.body).await
    }
}

/// A 4xx other than those that say "later" (408 Request Timeout, 425 Too Early, 429 Too Many
/// Requests): a refusal of the request itself.
fn refused_for_good(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 425 | 429)
}

/// Sends one notify until the follower answers 201, or gives up; a refusal of the request
/// itself (`refused_for_good`) is not retried.
async fn deliver_one(shared: &Arc<Shared>, domain: &str, room: &str, body: Vec<u8>) {
    for attempt in 1..=MAX_ATTEMPTS {
        let wait = match shared
            .peers
            .call(domain, "notify", room, Some(room), body.clone())
            .await
        {
            Ok(r) if r.status == 201 => {
                if shared.variant(Variant::NotifyRepeats) {
                    // As if the 201 had been lost: the same body again, which must get 201 too.
                    let _ = shared
                        .peers
                        .call(domain, "notify", room, Some(room), body)
                        .await;
                }
                return;
            }
            Ok(r) if refused_for_good(r.status) => {
                // The follower refused the request itself: the same bytes again would be
                // refused again (RFC 9110 §15.5), and would only hold up the messages behind it.
                tracing::error!(
                    follower = domain,
                    room,
                    status = r.status,
                    "notify refused; not retried"
                );
                return;
            }
            Ok(r) => {
                tracing::warn!(
                    follower = domain,
                    status = r.status,
                    attempt,
                    "notify refused"
                );
                match r.retry_after {
                    Some(asked) if shared.variant(Variant::RetryLaterThanAsked) => {
                        asked.min(MAX_RETRY) + RETRY_LATER_BY
                    }
                    asked => asked.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY),
                }
            }
            Err(e) => {
                tracing::warn!(follower = domain, attempt, "notify failed: {e}");
                DEFAULT_RETRY
            }
        };
        let wait = if shared.fault(Fault::RetryAfterIgnored) {
            Duration::from_millis(10)
        } else {
            wait
        };
        tokio::time::sleep(wait).await;
    }
    tracing::error!(
        follower = domain,
        room,
        "notify given up after {MAX_ATTEMPTS} attempts"
    );
}
