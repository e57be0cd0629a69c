//! How many live websockets a person may hold, how fast a socket may change its view, and how
//! long one lives. Each limit ends in a clear answer: a 429 before the upgrade, or a close frame
//! with a code and a reason on an open socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wukong_cluster::Identity;

/// The limits, from the command line (`--sockets-per-person`, `--socket-views-per-second`,
/// `--socket-max-minutes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketLimits {
    /// Open sockets per signed-in person (every tab holds one).
    pub per_person: usize,
    /// View changes a socket may send per second, on average (bursts up to the same number).
    pub views_per_second: u32,
    /// A socket is closed after this long, whatever happens: the browser reconnects, and the
    /// person is checked again on the way in (in `proxy` mode that is the only recheck).
    pub max_age: Duration,
}

impl Default for SocketLimits {
    fn default() -> Self {
        SocketLimits {
            per_person: 20,
            views_per_second: 20,
            max_age: Duration::from_secs(60 * 60),
        }
    }
}

/// The open sockets per person.
#[derive(Debug)]
pub struct Sockets {
    pub limits: SocketLimits,
    open: Mutex<HashMap<String, usize>>,
    /// Every open socket, counted or not (`/metrics`).
    total: std::sync::atomic::AtomicUsize,
    /// True once the process is shutting down: every socket closes (1001) and no new one opens.
    closing: tokio::sync::watch::Sender<bool>,
}

/// One admitted socket; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    sockets: Arc<Sockets>,
    person: Option<String>,
}

impl Sockets {
    pub fn new(limits: SocketLimits) -> Arc<Sockets> {
        Arc::new(Sockets {
            limits,
            open: Mutex::new(HashMap::new()),
            total: std::sync::atomic::AtomicUsize::new(0),
            closing: tokio::sync::watch::channel(false).0,
        })
    }

    /// Shutting down (SIGTERM): every open socket closes with 1001, so its browser reconnects to
    /// another replica, and no new one is admitted.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    /// Resolves once [`Sockets::close_all`] has been called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closing| *closing).await;
    }

    /// Waits until every socket has ended, or `limit` has passed; true if all ended.
    pub async fn drained(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.open_total() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        true
    }

    /// How many live sockets are open now.
    pub fn open_total(&self) -> usize {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A place for one more socket of `who`, or why not. Without sign-in (`--auth=none`,
    /// loopback or sandbox only) everyone is the console and nobody is counted.
    pub fn admit(self: &Arc<Self>, who: &Identity) -> Result<Admitted, String> {
        if self.is_closing() {
            return Err("this console is shutting down; reconnect".into());
        }
        let Identity::Person(person) = who else {
            self.total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Admitted {
                sockets: self.clone(),
                person: None,
            });
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(person.user.clone()).or_default();
        if *count >= self.limits.per_person {
            return Err(format!(
                "you have {} live connections open (one per browser tab), the most the console allows; close some tabs",
                self.limits.per_person
            ));
        }
        *count += 1;
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Admitted {
            sockets: self.clone(),
            person: Some(person.user.clone()),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.sockets
            .total
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let Some(person) = self.person.take() else {
            return;
        };
        let mut open = self.sockets.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&person) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&person);
            }
        }
    }
}

/// A token bucket for one socket's view changes.
#[derive(Debug)]
pub struct ViewRate {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl ViewRate {
    pub fn new(per_second: u32) -> ViewRate {
        let per_second = f64::from(per_second.max(1));
        ViewRate {
            per_second,
            tokens: per_second,
            at: Instant::now(),
        }
    }

    /// Takes one view change; `false` when the socket is over its rate.
    pub fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_person: usize) -> SocketLimits {
        SocketLimits {
            per_person,
            ..SocketLimits::default()
        }
    }

    #[test]
    fn a_person_gets_at_most_their_sockets_and_a_closed_one_frees_a_place() {
        let sockets = Sockets::new(limits(2));
        let ann = Identity::person("ann", vec![]);
        let first = sockets.admit(&ann).expect("one");
        let _second = sockets.admit(&ann).expect("two");
        let refused = sockets.admit(&ann).expect_err("three is too many");
        assert!(refused.contains("2 live connections"), "{refused}");
        assert!(
            sockets.admit(&Identity::person("bob", vec![])).is_ok(),
            "others are counted on their own"
        );
        drop(first);
        assert!(sockets.admit(&ann).is_ok());
    }

    #[test]
    fn without_sign_in_nobody_is_counted() {
        let sockets = Sockets::new(limits(1));
        let held: Vec<_> = (0..5)
            .map(|_| sockets.admit(&Identity::Console).expect("admitted"))
            .collect();
        assert_eq!(held.len(), 5);
    }

    #[test]
    fn view_changes_are_limited_per_second_with_a_burst() {
        let start = Instant::now();
        let mut rate = ViewRate::new(5);
        assert!((0..5).all(|_| rate.take(start)), "a burst of five");
        assert!(!rate.take(start), "the sixth at once is too many");
        assert!(rate.take(start + Duration::from_millis(250)), "refilled");
    }
}
