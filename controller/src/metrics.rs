//! Prometheus metrics: reconciles, errors by kind, requests by outcome, KubeVirt call durations by
//! action, and the stages of a request (requestedAt to taken up and to acknowledged; status writes).

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub action: String,
    /// accepted, refused (by the lifecycle rules), kubevirt_refused, forced
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub errors: Family<ErrorLabels, Counter>,
    pub requests: Family<OutcomeLabels, Counter>,
    pub action_duration: Family<ActionLabels, Histogram>,
    /// From a request's `requestedAt` (the console's clock) to its acknowledgement written.
    pub request_acknowledged: Histogram,
    /// From `requestedAt` to this controller taking the request up to act on it.
    pub request_taken_up: Histogram,
    /// Where a pending request (or an auto-start not yet reported) was read to act on: `cache` (it
    /// shows our last write) or `apiserver` (read afresh); `awaited`: not read, as the cache still
    /// showed pending a request our own write on its way acknowledged.
    pub request_reads: Family<ReadFrom, Counter>,
    pub status_write: Histogram,
    pub leader: Gauge,
    /// Schedule edges: acted on, or missed (older than the catch-up limit).
    pub schedule_edges: Family<OutcomeOnly, Counter>,
    /// What schedule edges did per selected Wukong.
    pub schedule_requests: Family<OutcomeOnly, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadFrom {
    pub from: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeOnly {
    pub outcome: String,
}

/// 5 ms to 5 minutes: a click is taken up in milliseconds, but a bulk action of a thousand VMs
/// queues for a minute or more, and a graceful stop takes its grace period; with 10 s as the last
/// bound those all fell into `+Inf`, and no quantile above it could be read.
fn buckets() -> impl Iterator<Item = f64> {
    [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    ]
    .into_iter()
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wukong_controller");
        let reconciles = Counter::default();
        registry.register("reconciles", "Reconciliations run", reconciles.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by kind",
            errors.clone(),
        );
        let requests = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "requests",
            "Lifecycle requests taken up, by action and outcome",
            requests.clone(),
        );
        let action_duration =
            Family::<ActionLabels, Histogram>::new_with_constructor(|| Histogram::new(buckets()));
        registry.register(
            "action_duration_seconds",
            "Duration of KubeVirt subresource calls by action",
            action_duration.clone(),
        );
        let request_acknowledged = Histogram::new(buckets());
        registry.register(
            "request_acknowledged_seconds",
            "From a request's requestedAt to its acknowledgement written in status",
            request_acknowledged.clone(),
        );
        let request_taken_up = Histogram::new(buckets());
        registry.register(
            "request_taken_up_seconds",
            "From a request's requestedAt to the controller taking it up to act on it",
            request_taken_up.clone(),
        );
        let request_reads = Family::<ReadFrom, Counter>::default();
        registry.register(
            "request_reads",
            "Where a pending request (or an auto-start) was read to act on: cache (it shows the controller's last write) or apiserver (read afresh); awaited: not read, the cache still showed pending a request the controller's own write on its way acknowledged",
            request_reads.clone(),
        );
        let status_write = Histogram::new(buckets());
        registry.register(
            "status_write_seconds",
            "Duration of the Wukong status writes",
            status_write.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the Lease",
            leader.clone(),
        );
        let schedule_edges = Family::<OutcomeOnly, Counter>::default();
        registry.register(
            "schedule_edges",
            "Schedule edges acted on or missed (older than --schedule-catch-up)",
            schedule_edges.clone(),
        );
        let schedule_requests = Family::<OutcomeOnly, Counter>::default();
        registry.register(
            "schedule_requests",
            "What schedule edges did per selected Wukong: requested, left_alone, later_request, not_permitted, failed",
            schedule_requests.clone(),
        );
        Metrics {
            schedule_edges,
            schedule_requests,
            registry,
            reconciles,
            errors,
            requests,
            action_duration,
            request_acknowledged,
            request_taken_up,
            request_reads,
            status_write,
            leader,
        }
    }
}

impl Metrics {
    pub fn count_request(&self, action: &str, outcome: &str) {
        self.requests
            .get_or_create(&OutcomeLabels {
                action: action.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Seconds since a request's `requestedAt` (none when it has none, or the clocks disagree).
    pub fn since_requested(request: Option<&wukong_api::LifecycleAction>) -> Option<f64> {
        let at = request?.requested_at.as_ref()?.0;
        let seconds = k8s_openapi::jiff::Timestamp::now()
            .duration_since(at)
            .as_secs_f64();
        (seconds >= 0.0).then_some(seconds)
    }

    pub fn count_schedule_edge(&self, outcome: &str) {
        self.schedule_edges
            .get_or_create(&OutcomeOnly {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn count_schedule_request(&self, outcome: &str) {
        self.schedule_requests
            .get_or_create(&OutcomeOnly {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn count_error(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
