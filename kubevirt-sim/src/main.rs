//! `wukong-kubevirt-sim`: a KubeVirt SIMULATOR, not KubeVirt.
//!
//! For clusters without KubeVirt (the local control plane, CI, demos) it plays
//! - virt-controller: turns VirtualMachines into VirtualMachineInstances as their run strategy and
//!   `status.stateChangeRequests` say, and keeps `status.printableStatus` and friends;
//! - virt-handler: moves VMIs through their phases, pauses them, shuts guests down by ACPI within
//!   the grace period or kills them when it runs out;
//! - virt-api: serves `subresources.kubevirt.io/v1` (start, stop, restart, pause, unpause) over
//!   HTTPS behind kube-apiserver's aggregation layer, with KubeVirt's validation and answers.
//!
//! The behaviour is `wukong_sim::virt` (pure, tested); this binary projects it onto the API server.
//! Guests are simulated: annotate a VirtualMachine `sim.novasphere.dev/ignore-acpi: "true"` for a
//! guest that ignores ACPI, `sim.novasphere.dev/fail-boot: "true"` for one that never boots.

mod front_proxy;
mod http;
mod hypervisor;
mod subject;
#[cfg(test)]
mod test_pki;
mod tls;

use clap::Parser;
use front_proxy::AllowedNames;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use wukong_sim::Timings;

#[derive(Parser, Debug)]
#[command(
    name = "wukong-kubevirt-sim",
    about = "A KubeVirt simulator for clusters without KubeVirt (not KubeVirt)"
)]
struct Args {
    /// Where the aggregated API listens (HTTPS).
    #[arg(
        long,
        env = "WUKONG_KUBEVIRT_SIM_ADDR",
        default_value = "127.0.0.1:8443"
    )]
    addr: SocketAddr,
    /// Serving certificate (PEM); must name the APIService's Service, `<svc>.<ns>.svc`.
    #[arg(long)]
    tls_cert: PathBuf,
    #[arg(long)]
    tls_key: PathBuf,
    /// Required: accept only clients with a certificate from this CA (PEM): kube-apiserver's
    /// front-proxy CA, its `--requestheader-client-ca-file`. There is no anonymous mode: anyone
    /// who reaches the port could otherwise act as any user through the X-Remote-* headers.
    #[arg(long, value_name = "FRONT_PROXY_CA_PEM")]
    client_ca: PathBuf,
    /// Subject CNs a client certificate may have (repeat the flag or separate with commas), as
    /// kube-apiserver's own `--requestheader-allowed-names`: the name in its
    /// `--proxy-client-cert-file`. None: any name the client CA signed (the apiserver's semantics).
    #[arg(long, value_name = "CN", value_delimiter = ',')]
    requestheader_allowed_names: Vec<String>,
    /// Simulated time runs this many times faster (boot 3 s, ACPI shutdown 4 s at 1).
    #[arg(long, env = "WUKONG_KUBEVIRT_SIM_SPEED", default_value_t = 1.0)]
    speed: f64,
    /// Log as JSON lines.
    #[arg(long, env = "WUKONG_LOG_JSON")]
    log_json: bool,
    /// Also serve /healthz and /readyz over plain HTTP here, for a kubelet's probes (the
    /// aggregated API's port takes only clients with a front-proxy certificate). Ready once
    /// the API server has answered.
    #[arg(long, env = "WUKONG_KUBEVIRT_SIM_PROBE_ADDR")]
    probe_addr: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    if !(args.speed.is_finite() && args.speed > 0.0) {
        error!(speed = args.speed, "--speed must be a positive number");
        return ExitCode::FAILURE;
    }
    let allowed_names = AllowedNames::new(args.requestheader_allowed_names);
    if allowed_names.is_any() {
        warn!(
            "no --requestheader-allowed-names: any client certificate {} signed is accepted",
            args.client_ca.display()
        );
    }
    let config = match tls::server_config(
        &args.tls_cert,
        &args.tls_key,
        &args.client_ca,
        allowed_names.clone(),
    ) {
        Ok(config) => config,
        Err(e) => {
            error!("TLS: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    let listener = match TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(addr = %args.addr, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    if let Some(addr) = args.probe_addr {
        let probes = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                error!(%addr, error = %e, "cannot listen for probes");
                return ExitCode::FAILURE;
            }
        };
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let router = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route(
                "/readyz",
                axum::routing::get({
                    let ready = ready.clone();
                    move || async move {
                        if ready.load(std::sync::atomic::Ordering::Relaxed) {
                            (axum::http::StatusCode::OK, "ok")
                        } else {
                            (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                "the API server has not answered yet",
                            )
                        }
                    }
                }),
            );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(probes, router).await {
                error!(error = %e, "the probe server stopped");
            }
        });
        let client = client.clone();
        tokio::spawn(async move {
            while client.apiserver_version().await.is_err() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            ready.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        info!(%addr, "serving /healthz and /readyz");
    }
    let timings = Timings::default().scaled(args.speed);
    info!(addr = %args.addr, speed = args.speed, ?timings, clients = %allowed_names, "KubeVirt simulator ready");
    let (calls, receiver) = mpsc::channel(256);
    let hypervisor = hypervisor::Hypervisor::new(client, timings);
    tokio::select! {
        () = hypervisor.run(receiver) => error!("the VirtualMachine watch ended"),
        () = tls::serve(listener, config, http::router(calls)) => {}
        _ = tokio::signal::ctrl_c() => info!("interrupted"),
        () = terminate() => info!("terminated"),
    }
    ExitCode::SUCCESS
}

async fn terminate() {
    #[cfg(unix)]
    {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    #[test]
    fn the_client_ca_is_required() {
        let e = Args::try_parse_from(["wukong-kubevirt-sim", "--tls-cert", "c", "--tls-key", "k"])
            .expect_err("no --client-ca, no start");
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert!(
            e.to_string().contains("--client-ca <FRONT_PROXY_CA_PEM>"),
            "{e}"
        );
    }

    #[test]
    fn allowed_names_repeat_and_split_on_commas_like_the_apiserver_flag() {
        let args = Args::try_parse_from([
            "wukong-kubevirt-sim",
            "--tls-cert=c",
            "--tls-key=k",
            "--client-ca=ca",
            "--requestheader-allowed-names=front-proxy-client,aggregator",
            "--requestheader-allowed-names",
            "other",
        ])
        .expect("valid flags");
        assert_eq!(
            args.requestheader_allowed_names,
            ["front-proxy-client", "aggregator", "other"]
        );
        let none = Args::try_parse_from([
            "wukong-kubevirt-sim",
            "--tls-cert=c",
            "--tls-key=k",
            "--client-ca=ca",
        ])
        .expect("valid flags");
        assert!(AllowedNames::new(none.requestheader_allowed_names).is_any());
    }
}
