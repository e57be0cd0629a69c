//! `wukong-controller`: carries out `spec.lifecycleAction` of Wukongs on KubeVirt and reports
//! `status.lifecycleState`. Run two replicas for availability: a Lease picks the one that acts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info};
use wukong_controller::events::EventWriter;
use wukong_controller::kubevirt::{KubevirtClient, DEFAULT_BASE_PATH};
use wukong_controller::lease::LeaderElector;
use wukong_controller::metrics::Metrics;
use wukong_controller::reconcile::{self, Context};
use wukong_controller::schedules::{self, Scheduler};

#[derive(Parser, Debug)]
#[command(name = "wukong-controller", about = "The Wukong lifecycle controller")]
struct Args {
    /// Serves /metrics, /healthz and /readyz (plain HTTP).
    #[arg(long, env = "WUKONG_CONTROLLER_ADDR", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    /// Namespace of the leader-election Lease (in a cluster: the controller's own namespace).
    #[arg(long, env = "WUKONG_LEASE_NAMESPACE", default_value = wukong_api::lease::CONTROLLER_NAMESPACE)]
    lease_namespace: String,
    #[arg(long, env = "WUKONG_LEASE_NAME", default_value = wukong_api::lease::CONTROLLER_LEASE_NAME)]
    lease_name: String,
    /// Seconds without renewal after which another replica takes over.
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// This replica's name in the Lease (in a cluster: the pod name). Default: host name + pid.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Path of KubeVirt's subresource API on the API server.
    #[arg(long, env = "WUKONG_KUBEVIRT_BASE_PATH", default_value = DEFAULT_BASE_PATH)]
    kubevirt_base_path: String,
    /// Act on Wukongs in this namespace only (a namespace-scoped install); all namespaces if unset.
    #[arg(long, env = "WUKONG_NAMESPACE")]
    namespace: Option<String>,
    /// Log as JSON lines (namespace, name and request id are fields of every reconcile's lines).
    #[arg(long, env = "WUKONG_LOG_JSON")]
    log_json: bool,
    /// Copy a Wukong's annotations whose key starts with PREFIX onto its VirtualMachine
    /// (repeatable; the env var takes a comma-separated list). Matched literally: end a domain
    /// with `/`. None by default, because annotations steer KubeVirt (`kubevirt.io/*`) and other
    /// tools, and whoever may write a Wukong must not steer them with the controller's rights.
    #[arg(
        long = "copy-annotation-prefix",
        env = "WUKONG_COPY_ANNOTATION_PREFIX",
        value_name = "PREFIX",
        value_delimiter = ',',
        value_parser = annotation_prefix
    )]
    copy_annotation_prefixes: Vec<String>,
    /// How many Wukongs are reconciled at once (why 64: `reconcile::DEFAULT_CONCURRENCY`).
    #[arg(long, env = "WUKONG_CONCURRENCY", default_value_t = reconcile::DEFAULT_CONCURRENCY)]
    concurrency: u16,
    /// After downtime, act on a schedule's latest missed edge only if it is at most this old
    /// (e.g. `1h`, `30m`, `90s`); older edges are recorded as missed and never replayed.
    #[arg(long, env = "WUKONG_SCHEDULE_CATCH_UP", default_value = "1h", value_parser = duration)]
    schedule_catch_up: Duration,
}

/// `90s`, `30m`, `1h`, `1h30m` (jiff's friendly format).
fn duration(s: &str) -> Result<Duration, String> {
    let d: k8s_openapi::jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 1h, 30m, 90s)"))?;
    Duration::try_from(d).map_err(|_| format!("{s:?}: a duration cannot be negative"))
}

/// An empty prefix would copy every annotation: refuse it rather than guess.
fn annotation_prefix(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(
            "an empty prefix would copy every annotation; name one, e.g. example.com/".into(),
        );
    }
    Ok(s.to_owned())
}

struct Health {
    metrics: Arc<Metrics>,
    ready: AtomicBool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    // Colours only for a person at a terminal: a pod's log or a file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if args.log_json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
    let source = wukong_api::connect::Source::choose(None);
    let client = match source.config().await.and_then(|config| {
        kube::Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))
    }) {
        Ok(client) => client,
        Err(e) => {
            error!(%source, "{e}");
            return ExitCode::FAILURE;
        }
    };
    info!(%source, "connecting to Kubernetes");
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "wukong-controller".into());
        format!("{host}-{}", std::process::id())
    });
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health {
        metrics: metrics.clone(),
        ready: AtomicBool::new(false),
    });
    let listener = match TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(addr = %args.addr, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    // The address actually bound (`--addr 127.0.0.1:0` picks a free port: the tests read it here).
    let addr = listener.local_addr().unwrap_or(args.addr);
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(h): State<Arc<Health>>| async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    h.metrics.render(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(h): State<Arc<Health>>| async move {
                if h.ready.load(Ordering::Relaxed) {
                    (StatusCode::OK, "ok")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not connected to the API server yet",
                    )
                }
            }),
        )
        .with_state(health.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            error!(error = %e, "the metrics server stopped");
        }
    });
    info!(%addr, %identity, copy_annotation_prefixes = ?args.copy_annotation_prefixes, "serving /metrics, /healthz, /readyz");

    // Ready once the API server answers; standby replicas are ready too.
    if let Err(e) = client.apiserver_version().await {
        error!(error = %e, "the API server does not answer");
        return ExitCode::FAILURE;
    }
    health.ready.store(true, Ordering::Relaxed);

    let elector = LeaderElector::new(
        client.clone(),
        &args.lease_namespace,
        &args.lease_name,
        &identity,
        Duration::from_secs(args.lease_seconds.max(3)),
    );
    let events = EventWriter::new(client.clone(), "wukong-controller", &identity);
    let scheduler = Arc::new(Scheduler::new(
        client.clone(),
        events.clone(),
        metrics.clone(),
        args.schedule_catch_up,
    ));
    let ctx = Arc::new(Context::new(
        client.clone(),
        KubevirtClient::new(client, args.kubevirt_base_path.clone()),
        events,
        metrics.clone(),
        args.copy_annotation_prefixes.clone(),
        args.concurrency.max(1),
    ));
    // Act only while holding the Lease. Losing it (another replica took over, or it could not be
    // renewed for a whole lease duration, e.g. while the API server was down) stops the controller
    // at once; the process stays up and stands by to lead again.
    loop {
        tokio::select! {
            () = elector.acquire() => {}
            () = shutdown_signal() => return ExitCode::SUCCESS,
        }
        metrics.leader.set(1);
        let lost = tokio::select! {
            () = reconcile::run(ctx.clone(), args.namespace.as_deref(), shutdown_signal()) => false,
            // Never ends by itself; dropped with the reconciler or the Lease.
            () = schedules::run(scheduler.clone(), args.namespace.as_deref()) => false,
            () = elector.hold() => true,
        };
        metrics.leader.set(0);
        if !lost {
            info!("shut down");
            elector.release().await;
            return ExitCode::SUCCESS;
        }
        error!("lost the Lease: stopped acting; standing by");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
