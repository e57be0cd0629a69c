use clap::Parser;
use leptos::config::get_configuration;
use server::auth::{Gate, Mode};
use server::config::{BackendChoice, Config, SessionStoreChoice};
use server::{router, AppState};
use std::future::IntoFuture;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use wukong_cluster::sessions::{MemorySessions, SecretSessions, SessionStore};
use wukong_cluster::{
    sandbox_seed, Access, ActionBudget, Cluster, Console, KubeAccess, KubeCluster, OpenAccess,
    Sandbox,
};
use wukong_sim::Timings;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Plain text, no colour codes, when the log goes to a file or a collector.
        .with_ansi(std::io::stdout().is_terminal());
    if config.log_json {
        // The request's span (its id, method and path) is a field of each line.
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("wukong-console: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let leptos_config =
        get_configuration(None).map_err(|e| format!("leptos configuration: {e}"))?;
    let mut leptos_options = leptos_config.leptos_options;
    // The release build hashes the site's file names and writes them to hash.txt beside the
    // binary; serve those names unless LEPTOS_HASH_FILES says otherwise.
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        leptos_options.hash_files = server::hash_file_beside_exe(&leptos_options).is_some();
    }
    let build = server::site_build(&leptos_options);
    if let Some(addr) = config.addr {
        leptos_options.site_addr = addr;
    }
    let addr = leptos_options.site_addr;

    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let home = std::env::var_os("HOME").map(Into::into);
    let backend = config.backend(home, in_cluster);
    let sandbox = matches!(backend, BackendChoice::Sandbox { .. });
    // Checked before connecting: a console that would be open to everyone does not start.
    let mode = config.auth_mode(sandbox, addr)?;
    let edge = config.edge(addr)?;
    let mut kube_client = None;
    let (cluster, access): (Arc<dyn Cluster>, Arc<dyn Access>) = match backend {
        BackendChoice::Sandbox { reason } => {
            tracing::info!(%reason, speed = config.sandbox_speed, "using the sandbox: a simulated cluster");
            let sandbox = Sandbox::start(
                sandbox_seed(),
                Timings::default().scaled(config.sandbox_speed),
            );
            (Arc::new(sandbox), Arc::new(OpenAccess))
        }
        BackendChoice::Kubernetes { source } => {
            tracing::info!(%source, "connecting to Kubernetes");
            let cluster = KubeCluster::connect(config.kubeconfig.as_deref())
                .await
                .map_err(|e| format!("cannot use the cluster from {source}: {e} (start with --sandbox to use the simulated cluster instead)"))?
                .with_controller_lease(config.controller_lease.0.clone());
            let access = KubeAccess::new(
                cluster.client(),
                Duration::from_secs(config.rbac_cache_seconds.max(1)),
            );
            access.clone().forget_on_rbac_changes();
            kube_client = Some(cluster.client());
            (Arc::new(cluster), access)
        }
    };
    match &mode {
        Mode::None => tracing::warn!(
            "no sign-in (--auth=none): everyone who can reach {addr} acts as the console itself"
        ),
        Mode::Token(_) => tracing::info!("sign-in with Kubernetes tokens (--auth=token)"),
        Mode::Proxy(p) => {
            tracing::info!(trusted = ?p.trusted, user_header = %p.user_header, "identity from an authenticating proxy (--auth=proxy)")
        }
    }
    tracing::info!(hosts = %edge.hosts, hsts = edge.https, "answering to these host names only (--public-url, --allowed-hosts)");
    let mut console = Console::start(cluster, access.clone());
    console.budget = Arc::new(ActionBudget::new(config.actions_per_minute));
    console.bulk_budget = Arc::new(ActionBudget::new(config.bulk_vms_per_minute));
    console.bulk_max_vms = config.bulk_max_vms.max(1);
    let sessions: Arc<dyn SessionStore> = match (&mode, config.session_store, kube_client) {
        (Mode::Token(_), SessionStoreChoice::Secrets, Some(client)) => {
            let namespace = session_namespace(&config);
            tracing::info!(%namespace, "keeping sign-in sessions as Secrets (--session-store=secrets): any replica serves any person");
            SecretSessions::start(client, &namespace)
                .await
                .map_err(|e| e.to_string())?
        }
        (Mode::Token(_), _, _) => {
            tracing::warn!("keeping sign-in sessions in this process's memory (--session-store=memory): run one replica only; a restart signs everyone out");
            Arc::new(MemorySessions::default())
        }
        _ => Arc::new(MemorySessions::default()),
    };
    let gate = Gate::with_sessions(
        mode,
        access,
        config.socket_limits(),
        config.sign_in_attempts_per_minute,
        sessions,
    );
    gate.sweep_every_minute();
    let state = AppState {
        leptos_options,
        console,
        gate: gate.clone(),
        edge,
        build,
    };
    if let Some(metrics_addr) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(metrics_addr)
            .await
            .map_err(|e| format!("cannot listen on {metrics_addr} (--metrics-addr): {e}"))?;
        tracing::info!("serving /metrics on http://{metrics_addr}");
        let metrics = server::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, metrics).await {
                tracing::error!("the /metrics listener stopped: {e}");
            }
        });
    }
    let app = router(state);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("serving the console on http://{addr}");
    // The peer address is needed to trust an authenticating proxy (--auth=proxy).
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let sockets = gate.sockets().clone();
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Stop accepting (axum does once this returns), close every live socket with 1001,
        // let the requests in flight finish.
        tracing::info!(
            sockets = sockets.open_total(),
            "shutting down: closing live sockets, finishing requests in flight"
        );
        sockets.close_all();
        let _ = stopping.send(());
    });
    let grace = Duration::from_secs(config.shutdown_seconds);
    let served = tokio::select! {
        served = serve.into_future() => served,
        // Past the grace period after the signal, the process ends whatever is still open.
        () = async {
            let _ = stopped.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(seconds = grace.as_secs(), "requests still in flight after the shutdown grace period; exiting");
            Ok(())
        }
    };
    // Sockets are upgraded connections, which axum does not wait for: give their close frames a
    // moment to go out.
    if !gate.sockets().drained(Duration::from_secs(2)).await {
        tracing::warn!(
            sockets = gate.sockets().open_total(),
            "live sockets did not close in time"
        );
    }
    tracing::info!("stopped");
    served.map_err(|e| format!("server error: {e}"))
}

/// `--session-namespace`, else the pod's own namespace (the downward API's POD_NAMESPACE, or
/// its ServiceAccount's), else wukong-system.
fn session_namespace(config: &Config) -> String {
    config
        .session_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            wukong_api::connect::Source::choose(config.kubeconfig.as_deref()).pod_namespace()
        })
        .unwrap_or_else(|| wukong_api::lease::CONTROLLER_NAMESPACE.to_owned())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
