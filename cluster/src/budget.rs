//! A per-key limit on how often something may happen (a token bucket per key): actions and bulk
//! writes per person, sign-in attempts per client address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `per_minute` actions per person per minute, refilled continuously; a burst may use
/// the whole minute's allowance at once.
pub struct ActionBudget {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl ActionBudget {
    pub fn new(per_minute: u32) -> ActionBudget {
        ActionBudget {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one action from `who`'s allowance, or says how long until the next one is free.
    pub fn take(&self, who: &str) -> Result<(), Duration> {
        self.take_many(who, 1)
    }

    /// Takes `count` at once, or nothing and says how long until they can be taken. More than a
    /// minute's allowance is taken only from a full bucket and leaves it in debt (the next ones
    /// wait until it has refilled), so a large request is possible but not faster than the rate.
    pub fn take_many(&self, who: &str, count: u32) -> Result<(), Duration> {
        self.take_at(who, count, Instant::now())
    }

    fn take_at(&self, who: &str, count: u32, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute.max(1));
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Full buckets carry no information: forget them so the map stays small.
        buckets.retain(|_, b| {
            b.tokens + per_second * now.duration_since(b.at).as_secs_f64() < capacity
        });
        let bucket = buckets.entry(who.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = (bucket.tokens + per_second * now.duration_since(bucket.at).as_secs_f64())
            .min(capacity);
        bucket.at = now;
        let count = f64::from(count);
        let needed = count.min(capacity);
        if bucket.tokens >= needed {
            bucket.tokens -= count;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (needed - bucket.tokens) / per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_uses_the_allowance_and_time_refills_it_per_person() {
        let budget = ActionBudget::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(budget.take_at("ann", 1, t0).is_ok());
        }
        let wait = budget
            .take_at("ann", 1, t0)
            .expect_err("fourth in the same instant");
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            budget.take_at("bob", 1, t0).is_ok(),
            "others are not affected"
        );
        assert!(budget
            .take_at("ann", 1, t0 + Duration::from_secs(20))
            .is_ok());
    }

    #[test]
    fn many_at_once_are_taken_whole_or_not_at_all() {
        let budget = ActionBudget::new(60);
        let t0 = Instant::now();
        assert!(budget.take_at("ann", 50, t0).is_ok());
        let wait = budget.take_at("ann", 20, t0).expect_err("only 10 are left");
        assert_eq!(wait.as_secs(), 10, "{wait:?}");
        assert!(budget.take_at("ann", 10, t0).is_ok(), "nothing was taken");
        // More than a minute's worth: only from a full bucket, then the next minutes are spent.
        let wait = budget
            .take_at("bob", 1, t0)
            .and_then(|()| budget.take_at("bob", 90, t0));
        assert_eq!(wait.expect_err("not full").as_secs(), 1);
        assert!(budget
            .take_at("bob", 90, t0 + Duration::from_secs(1))
            .is_ok());
        let wait = budget
            .take_at("bob", 1, t0 + Duration::from_secs(1))
            .expect_err("in debt");
        assert_eq!(wait.as_secs(), 31, "{wait:?}");
    }
}
