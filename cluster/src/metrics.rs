//! The console's Prometheus metrics (`/metrics`, OpenMetrics text): one set per process, counted
//! where things happen (the server's request layer, the live feed, the action server functions,
//! RBAC checks, the watch) and read by `server::metrics`. Counts and timings only: no VM, no
//! person, no namespace is ever a label, so anyone may read them (like `/healthz`).
//!
//! What each means, and the alerts on them: docs/operations.md.

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/vm/:namespace/:name`, `/api/request_action`), never the path itself.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    /// accepted, refused, rate_limited
    pub outcome: String,
    /// one VM (`false`) or a bulk action's VM (`true`)
    pub bulk: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// allowed, denied, failed
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccessLabels {
    /// cache (a person's RBAC answer reused) or cluster (asked with SubjectAccessReviews)
    pub answered_from: String,
}

pub struct ConsoleMetrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub push_seconds: Histogram,
    pub actions: Family<ActionLabels, Counter>,
    pub subject_access_reviews: Family<ReviewLabels, Counter>,
    pub access_checks: Family<AccessLabels, Counter>,
    pub watch_restarts: Counter,
    pub sessions_ended: Counter,
    // Set from the process's state when scraped (`server::metrics`).
    pub live_connections: Gauge,
    pub live_streams: Gauge,
    pub tasks: Gauge,
    pub rows: Gauge,
    pub watch_position: Gauge,
    pub watch_connected: Gauge,
    pub controller_leading: Gauge,
}

/// Push latencies: most are milliseconds; a socket that cannot keep up takes seconds.
fn push_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ]
    .into_iter()
}

impl ConsoleMetrics {
    fn new() -> ConsoleMetrics {
        let mut registry = Registry::with_prefix("wukong_console");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status (the live socket counts once, at its handshake)",
            requests.clone(),
        );
        let push_seconds = Histogram::new(push_buckets());
        registry.register(
            "push_seconds",
            "From a change seen on the watch to its frame handed to a browser's socket, per socket",
            push_seconds.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Lifecycle actions and deletes people asked for, by action and outcome (bulk: per VM)",
            actions.clone(),
        );
        let subject_access_reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "subject_access_reviews",
            "SubjectAccessReviews sent to the apiserver, by result",
            subject_access_reviews.clone(),
        );
        let access_checks = Family::<AccessLabels, Counter>::default();
        registry.register(
            "access_checks",
            "A person's rights in a namespace looked up, answered from the cache or by the cluster",
            access_checks.clone(),
        );
        let watch_restarts = Counter::default();
        registry.register(
            "watch_restarts",
            "Times the one watch on the cluster (re)listed the Wukongs, the first list included",
            watch_restarts.clone(),
        );
        let sessions_ended = Counter::default();
        registry.register(
            "sessions_ended",
            "Sign-in sessions ended: signed out, timed out, or the token no longer accepted",
            sessions_ended.clone(),
        );
        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let live_connections = gauge(
            "live_connections",
            "Open live websockets (one per browser tab)",
        );
        let live_streams = gauge(
            "live_streams",
            "Live streams subscribed to the store's deltas",
        );
        let tasks = gauge("tasks", "Tokio tasks alive in this process");
        let rows = gauge("rows", "VMs (Wukongs) in the process's one watch");
        let watch_position = gauge(
            "watch_position",
            "Changes seen on the watch so far (the live stream's seq)",
        );
        let watch_connected = gauge(
            "watch_connected",
            "1 while the watch on the cluster is connected, 0 while it reconnects",
        );
        let controller_leading = gauge(
            "controller_leading",
            "1 while a lifecycle controller holds its Lease, 0 while none does, -1 when the console cannot tell",
        );
        ConsoleMetrics {
            registry,
            requests,
            push_seconds,
            actions,
            subject_access_reviews,
            access_checks,
            watch_restarts,
            sessions_ended,
            live_connections,
            live_streams,
            tasks,
            rows,
            watch_position,
            watch_connected,
            controller_leading,
        }
    }

    /// `count` actions' outcome (`accepted`, `refused`, `rate_limited`).
    pub fn action(&self, action: &str, outcome: &str, bulk: bool, count: u64) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
                outcome: outcome.to_owned(),
                bulk,
            })
            .inc_by(count);
    }

    /// The OpenMetrics text of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// This process's metrics.
pub fn metrics() -> &'static ConsoleMetrics {
    static METRICS: LazyLock<ConsoleMetrics> = LazyLock::new(ConsoleMetrics::new);
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_help_and_type() {
        let m = metrics();
        m.action("stop", "accepted", false, 1);
        m.requests
            .get_or_create(&RequestLabels {
                route: "/api/request_action".into(),
                status: 200,
            })
            .inc();
        m.push_seconds.observe(0.003);
        let text = m.render();
        for name in [
            "wukong_console_http_requests_total",
            "wukong_console_push_seconds_bucket",
            "wukong_console_actions_total",
            "wukong_console_subject_access_reviews",
            "wukong_console_access_checks",
            "wukong_console_watch_restarts_total",
            "wukong_console_live_connections",
            "wukong_console_controller_leading",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(text.contains(
            r#"wukong_console_actions_total{action="stop",outcome="accepted",bulk="false"} 1"#
        ));
        assert!(text.ends_with("# EOF\n"));
    }
}
