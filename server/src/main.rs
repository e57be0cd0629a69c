use clap::Parser;
use leptos::config::get_configuration;
use server::config::{BackendChoice, Config};
use server::{router, AppState};
use std::process::ExitCode;
use std::sync::Arc;
use wukong_cluster::{sandbox_seed, Cluster, Console, KubeCluster, Sandbox};
use wukong_sim::Timings;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Config::parse()).await {
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
    if let Some(addr) = config.addr {
        leptos_options.site_addr = addr;
    }
    let addr = leptos_options.site_addr;

    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let home = std::env::var_os("HOME").map(Into::into);
    let cluster: Arc<dyn Cluster> = match config.backend(home, in_cluster) {
        BackendChoice::Sandbox { reason } => {
            tracing::info!(%reason, speed = config.sandbox_speed, "using the sandbox: a simulated cluster");
            Arc::new(Sandbox::start(
                sandbox_seed(),
                Timings::default().scaled(config.sandbox_speed),
            ))
        }
        BackendChoice::Kubernetes { source } => {
            tracing::info!(%source, "connecting to Kubernetes");
            let cluster = KubeCluster::connect(config.kubeconfig.as_deref())
                .await
                .map_err(|e| format!("cannot use the cluster from {source}: {e} (start with --sandbox to use the simulated cluster instead)"))?;
            Arc::new(cluster)
        }
    };
    let console = Console::start(cluster);
    let app = router(AppState {
        leptos_options,
        console,
    });

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("serving the console on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| format!("server error: {e}"))
}

async fn shutdown() {
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
