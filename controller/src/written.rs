//! Whether the Wukong cache already shows what this controller last knew of a Wukong from the API
//! server (its own last write, or its last fresh read). A request is decided on the cached Wukong
//! only then; otherwise it is read afresh first.
//!
//! The danger a fresh read guards against is a cache that does not show our own last write yet:
//! decided on it, a request already acknowledged looks pending and goes to KubeVirt twice (a
//! restart restarts twice). Anyone else's write (the console's request, a schedule's) arriving late
//! only delays a reconcile, which its own watch event brings. So once the watch has passed our
//! last write on to the cache, the cache is at least that new, and the read is not needed: one
//! round trip less on every click's path (docs/performance.md).
//!
//! What is known is per Wukong uid and per process: a new leader knows nothing and reads afresh
//! once per Wukong. A write whose answer was lost forgets, and so does any relist: the watcher's
//! lists are consistent reads today (`ListSemantic::MostRecent`, kube's default), but one served
//! from an API server's watch cache (`any_semantic`) may be behind our writes, and nothing here
//! should depend on which is configured. A mark can also stay `Awaiting` when the watch passed
//! our write and a newer one before the write's answer came: that costs a fresh read per request
//! until the next write, never a wrong decision.
//!
//! One stale view needs no read at all: the cached Wukong still shows as pending the very request
//! our own write (not yet in the cache) acknowledged. That is the common one (a VM or VMI event of
//! the KubeVirt call wakes the Wukong between the acknowledgement's write and its watch event): the
//! cache is older than that write, so the watch has it still to bring, and its event wakes the
//! Wukong again. The turn then waits for it ([`Written::acknowledging`]) instead of reading, for
//! [`WAIT_FOR_OWN_WRITE`] at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a turn waits for the watch to bring this controller's own acknowledgement before it
/// reads the Wukong afresh after all. The watch brings it in milliseconds (p99 42 ms at 10,000
/// Wukongs, docs/performance.md); this bounds the wait if it is held up.
pub const WAIT_FOR_OWN_WRITE: Duration = Duration::from_secs(5);

/// By Wukong uid: the version this controller last knew, and whether the cache shows it.
#[derive(Debug, Default)]
pub struct Written {
    marks: Mutex<HashMap<String, Mark>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mark {
    /// The Wukong at this resourceVersion is not in the cache yet. `acknowledged`: the request its
    /// status acknowledges (`observedRequestId`); `since`: when its answer came.
    Awaiting {
        version: String,
        acknowledged: Option<String>,
        since: Instant,
    },
    /// The cache holds it, or something newer that the watch passed on after it.
    Shown,
}

impl Written {
    /// Before a write to the Wukong: until its answer comes, the stored Wukong may be newer than
    /// anything the cache will show for a while.
    pub fn writing(&self, uid: &str) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.remove(uid);
        }
    }

    /// A write or a fresh read answered with the Wukong at `version`, whose status acknowledges
    /// the request `acknowledged`. `cached` reads the version the cache holds now; it is read
    /// under the same lock as [`Written::passed`] takes, so a watch event that passed just before
    /// is not missed.
    pub fn known(
        &self,
        uid: &str,
        version: &str,
        acknowledged: Option<&str>,
        cached: impl FnOnce() -> Option<String>,
    ) {
        if let Ok(mut marks) = self.marks.lock() {
            let mark = if cached().as_deref() == Some(version) {
                Mark::Shown
            } else {
                Mark::Awaiting {
                    version: version.to_owned(),
                    acknowledged: acknowledged.map(str::to_owned),
                    since: Instant::now(),
                }
            };
            marks.insert(uid.to_owned(), mark);
        }
    }

    /// The watch passed the Wukong at `version` on to the cache (called after the cache took it).
    pub fn passed(&self, uid: &str, version: &str) {
        if let Ok(mut marks) = self.marks.lock() {
            if let Some(mark) = marks.get_mut(uid) {
                if matches!(mark, Mark::Awaiting { version: v, .. } if v == version) {
                    *mark = Mark::Shown;
                }
            }
        }
    }

    /// The Wukong was deleted.
    pub fn gone(&self, uid: &str) {
        self.writing(uid);
    }

    /// The watch listed again: the cache was replaced by a list that may be older than what we knew.
    pub fn relisted(&self) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.clear();
        }
    }

    /// Whether the cache shows what this controller last knew of the Wukong: then the cached
    /// Wukong, read after this answer, may be decided on.
    pub fn shown(&self, uid: &str) -> bool {
        self.marks
            .lock()
            .is_ok_and(|marks| marks.get(uid) == Some(&Mark::Shown))
    }

    /// Whether `request`, pending in the cached Wukong, is one our own write acknowledged, and
    /// that write, not in the cache yet, answered less than [`WAIT_FOR_OWN_WRITE`] ago. Then the
    /// cache is older than the write (a cache at or past it shows the request acknowledged: only
    /// this controller writes the status), the watch has it still to bring, and its event wakes
    /// the Wukong: the turn need not read it afresh, nor act.
    pub fn acknowledging(&self, uid: &str, request: &str) -> bool {
        self.marks.lock().is_ok_and(|marks| {
            matches!(
                marks.get(uid),
                Some(Mark::Awaiting { acknowledged: Some(a), since, .. })
                    if a == request && since.elapsed() < WAIT_FOR_OWN_WRITE
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_known_means_read_afresh() {
        assert!(!Written::default().shown("a"));
    }

    #[test]
    fn a_write_is_shown_once_the_watch_passes_it() {
        let w = Written::default();
        w.writing("a");
        w.known("a", "10", None, || Some("9".into()));
        assert!(!w.shown("a"), "the cache is still at 9");
        w.passed("a", "9");
        assert!(!w.shown("a"));
        w.passed("a", "10");
        assert!(w.shown("a"));
        // Someone else's write after ours keeps it shown.
        w.passed("a", "11");
        assert!(w.shown("a"));
    }

    #[test]
    fn a_write_the_cache_already_holds_is_shown_at_once() {
        let w = Written::default();
        w.known("a", "10", None, || Some("10".into()));
        assert!(w.shown("a"));
    }

    #[test]
    fn a_write_under_way_a_deletion_or_a_relist_forgets() {
        let w = Written::default();
        w.known("a", "10", None, || Some("10".into()));
        w.known("b", "7", None, || Some("7".into()));
        w.writing("a");
        assert!(!w.shown("a"), "a write whose answer has not come");
        assert!(w.shown("b"), "per Wukong");
        w.gone("b");
        assert!(!w.shown("b"));
        w.known("c", "3", None, || Some("3".into()));
        w.relisted();
        assert!(!w.shown("c"));
        // A pass of the old version after forgetting does not make it shown again.
        w.passed("c", "3");
        assert!(!w.shown("c"));
    }

    #[test]
    fn a_request_our_write_acknowledged_waits_for_that_write_not_a_read() {
        let w = Written::default();
        w.writing("a");
        w.known("a", "10", Some("r1"), || Some("9".into()));
        assert!(
            w.acknowledging("a", "r1"),
            "the cache at 9 still shows r1 pending"
        );
        assert!(
            !w.acknowledging("a", "r2"),
            "a newer request is read afresh"
        );
        assert!(!w.acknowledging("b", "r1"), "per Wukong");
        w.passed("a", "10");
        assert!(!w.acknowledging("a", "r1"), "shown: decided on the cache");
        // A fresh read that acknowledges nothing, a relist, a write under way: no waiting.
        w.known("a", "11", None, || Some("10".into()));
        assert!(!w.acknowledging("a", "r1"));
        w.known("a", "12", Some("r1"), || Some("11".into()));
        w.writing("a");
        assert!(
            !w.acknowledging("a", "r1"),
            "a write whose answer has not come"
        );
        w.known("a", "13", Some("r1"), || Some("12".into()));
        w.relisted();
        assert!(!w.acknowledging("a", "r1"));
    }

    #[test]
    fn the_wait_for_our_own_write_is_bounded() {
        let w = Written::default();
        w.known("a", "10", Some("r1"), || Some("9".into()));
        if let Ok(mut marks) = w.marks.lock() {
            if let Some(Mark::Awaiting { since, .. }) = marks.get_mut("a") {
                *since = since
                    .checked_sub(WAIT_FOR_OWN_WRITE)
                    .expect("the machine has been up longer than the wait");
            }
        }
        assert!(!w.acknowledging("a", "r1"), "held up too long: read afresh");
    }
}
