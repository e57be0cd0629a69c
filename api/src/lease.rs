//! Whether a leader-election Lease is held: one rule for the controller (may this replica take
//! over?) and the console (is a controller there to carry out requests?).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// The Lease the lifecycle controller's replicas elect their leader with.
pub const CONTROLLER_LEASE_NAME: &str = "wukong-controller";
/// The namespace an installation runs the controller in (`deploy/`), and so holds its Lease.
pub const CONTROLLER_NAMESPACE: &str = "wukong-system";

/// Whether someone holds `lease` at `now`: it names a holder, and that holder renewed it within
/// its `leaseDurationSeconds` (`default_duration` when the Lease does not say).
pub fn is_held(lease: &Lease, default_duration: Duration, now: Timestamp) -> bool {
    let Some(spec) = lease.spec.as_ref() else {
        return false;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    let Some(renewed) = spec.renew_time.as_ref() else {
        return false;
    };
    let duration = spec.lease_duration_seconds.map_or(default_duration, |s| {
        Duration::from_secs(u64::try_from(s).unwrap_or(0))
    });
    let until = renewed.0 + SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX);
    !holder.is_empty() && until >= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(
        holder: Option<&str>,
        renewed_secs_ago: Option<i64>,
        duration: Option<i32>,
    ) -> (Lease, Timestamp) {
        let now = Timestamp::from_second(1_800_000_000).expect("a time");
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                renew_time: renewed_secs_ago
                    .map(|ago| MicroTime(now - SignedDuration::from_secs(ago))),
                lease_duration_seconds: duration,
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        (lease, now)
    }

    #[test]
    fn a_lease_is_held_while_its_holder_renews_it_within_its_duration() {
        let d = Duration::from_secs(15);
        let held = |h, ago, dur| {
            let (l, now) = lease(h, ago, dur);
            is_held(&l, d, now)
        };
        assert!(held(Some("a"), Some(5), Some(15)));
        assert!(
            held(Some("a"), Some(15), Some(15)),
            "the last second still counts"
        );
        assert!(!held(Some("a"), Some(16), Some(15)), "expired");
        assert!(
            held(Some("a"), Some(10), None),
            "the caller's duration when unset"
        );
        assert!(!held(Some("a"), Some(20), None));
        assert!(!held(None, Some(1), Some(15)), "released: no holder");
        assert!(
            !held(Some(""), Some(1), Some(15)),
            "an empty holder is none"
        );
        assert!(!held(Some("a"), None, Some(15)), "never renewed");
        assert!(!is_held(&Lease::default(), d, Timestamp::now()), "no spec");
    }
}
