//! A head start for the cases whose waits the protocol imposes (a Retry-After the harness
//! answers with): a run cannot end before such a wait does, so the other cases of the run hold
//! back until each of them has begun its wait (or ended), for at most `HOLD`, and the waits
//! overlap the others' work instead of beginning late behind it.

use super::imposed_wait;
use crate::case::Case;
use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The longest the other cases hold back, counted from the first of them.
pub const HOLD: Duration = Duration::from_millis(500);

/// The cases of a run still to begin their imposed waits; none by default.
#[derive(Default)]
pub struct HeadStart {
    pending: Mutex<BTreeSet<String>>,
    changed: Condvar,
    /// How long the others may hold back (`HOLD`).
    hold: Duration,
    /// When the other cases stop holding back.
    until: OnceLock<Instant>,
}

impl HeadStart {
    /// A head start for those of the run's `cases` that have an imposed wait.
    pub fn of<'c>(cases: impl IntoIterator<Item = &'c Case>) -> Self {
        Self {
            pending: Mutex::new(
                (cases.into_iter())
                    .filter(|c| !imposed_wait(c).is_zero())
                    .map(|c| c.id.clone())
                    .collect(),
            ),
            changed: Condvar::new(),
            hold: HOLD,
            until: OnceLock::new(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The case has begun its imposed wait, or ended.
    pub(crate) fn begun(&self, case: &str) {
        let mut pending = self.pending();
        if pending.remove(case) {
            self.changed.notify_all();
        }
    }

    /// Before a case starts: one with a head start goes at once; any other waits until those
    /// have begun their waits, or `HOLD` after the first case held back.
    pub(crate) fn hold(&self, case: &str) {
        let pending = self.pending();
        if pending.is_empty() || pending.contains(case) {
            return;
        }
        let until = *self.until.get_or_init(|| Instant::now() + self.hold);
        let left = until.saturating_duration_since(Instant::now());
        let (mut pending, _) = (self.changed)
            .wait_timeout_while(pending, left, |p| !p.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        // Past the hold, nobody waits again.
        pending.clear();
    }
}

/// Whether a request the harness answered with `status` asks its sender to wait: the
/// statuses Retry-After goes with (RFC 9110 §10.2.3, RFC 6585 §4).
pub(crate) fn asks_to_wait(status: u16) -> bool {
    matches!(status, 429 | 503)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn waiting_for(case: &str, hold: Duration) -> HeadStart {
        HeadStart {
            pending: Mutex::new(BTreeSet::from([case.to_string()])),
            changed: Condvar::new(),
            hold,
            until: OnceLock::new(),
        }
    }

    #[test]
    fn the_others_hold_until_the_head_start_has_begun() {
        let head = waiting_for("slow", Duration::from_secs(3600));
        // The case with the head start itself goes at once.
        head.hold("slow");
        assert!(head.until.get().is_none());
        let begun = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                head.hold("other");
                begun.load(Ordering::SeqCst)
            });
            begun.store(true, Ordering::SeqCst);
            head.begun("slow");
            assert!(
                other.join().unwrap(),
                "it went before the head start had begun"
            );
        });
    }

    #[test]
    fn a_head_start_that_never_begins_holds_the_others_no_longer_than_the_hold() {
        let stuck = waiting_for("stuck", Duration::ZERO);
        stuck.hold("a");
        // Past the hold, nobody holds again.
        assert!(stuck.pending().is_empty());
        stuck.hold("b");
    }

    #[test]
    fn a_run_without_imposed_waits_holds_nobody() {
        let none = HeadStart::default();
        none.hold("a");
        assert!(none.until.get().is_none());
    }
}
