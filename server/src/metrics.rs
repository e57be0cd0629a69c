//! `/metrics` (OpenMetrics text): what an operator watches on a console process
//! (`wukong_cluster::metrics`, docs/operations.md). Counts only, nothing about any VM or person, so
//! it is public like `/healthz` (and, like it, answers to any Host: `host::known_hosts_only`).
//! [`count_requests`] counts every answer by route pattern and status.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use wukong_cluster::metrics::{metrics as console_metrics, RequestLabels};
use wukong_view::ControllerPresence;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.console.store.stats();
    let m = console_metrics();
    m.live_connections
        .set(i64::try_from(state.gate.sockets().open_total()).unwrap_or(i64::MAX));
    m.live_streams
        .set(i64::try_from(store.browsers).unwrap_or(i64::MAX));
    m.tasks.set(
        i64::try_from(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        )
        .unwrap_or(i64::MAX),
    );
    m.rows.set(i64::try_from(store.rows).unwrap_or(i64::MAX));
    m.watch_position
        .set(i64::try_from(store.seq).unwrap_or(i64::MAX));
    m.watch_connected.set(i64::from(store.connected));
    m.controller_leading.set(match store.controller {
        ControllerPresence::Leading => 1,
        ControllerPresence::Absent => 0,
        ControllerPresence::Unknown => -1,
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

/// The server functions' paths (`/api/…`), known when the router is built.
static SERVER_FNS: LazyLock<Arc<HashSet<&'static str>>> = LazyLock::new(|| {
    Arc::new(
        leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path)
            .collect(),
    )
});

/// A request's route as a label: the pattern, never the path (a VM's name is not a label, and a
/// path nobody routes is `other`, so no request can add series).
pub fn route_label(path: &str, server_fns: &HashSet<&'static str>) -> String {
    const EXACT: [&str; 11] = [
        "/",
        "/login",
        "/healthz",
        "/readyz",
        "/metrics",
        "/live",
        "/auth/login",
        "/auth/logout",
        "/lang",
        "/theme",
        "/favicon.ico",
    ];
    if let Some(exact) = EXACT.iter().find(|e| **e == path) {
        return (*exact).to_owned();
    }
    if path.starts_with("/pkg/") {
        return "/pkg/*".to_owned();
    }
    if let Some(rest) = path.strip_prefix("/vm/") {
        if rest.split('/').filter(|s| !s.is_empty()).count() == 2 {
            return "/vm/:namespace/:name".to_owned();
        }
    }
    if server_fns.contains(path) {
        return path.to_owned();
    }
    "other".to_owned()
}

/// Middleware: counts every answer by route and status.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path(), &SERVER_FNS);
    let response = next.run(request).await;
    console_metrics()
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_patterns_and_unknown_paths_are_other() {
        let fns: HashSet<&'static str> = ["/api/request_action"].into_iter().collect();
        assert_eq!(route_label("/", &fns), "/");
        assert_eq!(
            route_label("/vm/team-a/db-01", &fns),
            "/vm/:namespace/:name"
        );
        assert_eq!(route_label("/vm/team-a", &fns), "other");
        assert_eq!(route_label("/pkg/wukong-console.abc.wasm", &fns), "/pkg/*");
        assert_eq!(
            route_label("/api/request_action", &fns),
            "/api/request_action"
        );
        assert_eq!(route_label("/api/made_up_123", &fns), "other");
        assert_eq!(route_label("/etc/passwd", &fns), "other");
    }
}
