//! A per-person limit on how many actions they may ask for (a token bucket per identity).

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
        self.take_at(who, Instant::now())
    }

    fn take_at(&self, who: &str, now: Instant) -> Result<(), Duration> {
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
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
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
            assert!(budget.take_at("ann", t0).is_ok());
        }
        let wait = budget
            .take_at("ann", t0)
            .expect_err("fourth in the same instant");
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(budget.take_at("bob", t0).is_ok(), "others are not affected");
        assert!(budget.take_at("ann", t0 + Duration::from_secs(20)).is_ok());
    }
}
