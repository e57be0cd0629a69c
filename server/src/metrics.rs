//! `/metrics` (Prometheus text format): what an operator watches on a console process. Counts
//! only, nothing about any VM or person, so it is public like `/healthz` (and, like it, answers to
//! any Host: `host::known_hosts_only`).

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use wukong_view::ControllerPresence;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.console.store.stats();
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let controller = match store.controller {
        ControllerPresence::Leading => 1,
        ControllerPresence::Absent => 0,
        ControllerPresence::Unknown => -1,
    };
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    };
    gauge(
        "wukong_console_live_connections",
        "Open live websockets (one per browser tab).",
        state.gate.sockets().open_total().to_string(),
    );
    gauge(
        "wukong_console_live_streams",
        "Live streams subscribed to the store's deltas.",
        store.browsers.to_string(),
    );
    gauge(
        "wukong_console_tasks",
        "Tokio tasks alive in this process.",
        tasks.to_string(),
    );
    gauge(
        "wukong_console_rows",
        "VMs (Wukongs) in the process's one watch.",
        store.rows.to_string(),
    );
    gauge(
        "wukong_console_watch_position",
        "Changes seen on the watch so far (the live stream's seq).",
        store.seq.to_string(),
    );
    gauge(
        "wukong_console_watch_connected",
        "1 while the watch on the cluster is connected, 0 while it reconnects.",
        u8::from(store.connected).to_string(),
    );
    gauge(
        "wukong_console_controller_leading",
        "1 while a lifecycle controller holds its Lease, 0 while none does, -1 when the console cannot tell.",
        controller.to_string(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
