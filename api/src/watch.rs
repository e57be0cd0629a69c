//! How every watch of ours comes back after the apiserver went away: the console's, the
//! controller's and the KubeVirt simulator's.

use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::ExponentialBackoff;
use std::time::Duration;

/// A broken watch is tried again after 0.25 s, doubling to at most 2 s (with jitter), and the
/// delays start over after two quiet minutes (as kube's default does). kube's default doubles up
/// to 30 s: a watch broken for as long as a kube-apiserver restart takes (about 15 s) then waited
/// up to 25 s more once the apiserver was back, and the fault runs saw browsers catch up 56 s
/// after it recovered. A try every 2 s during an outage is a handful of requests per process.
pub fn backoff() -> ResetTimerBackoff<ExponentialBackoff> {
    let builder = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    ResetTimerBackoff::new(builder.into(), Duration::from_secs(120))
}
