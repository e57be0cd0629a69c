//! Shared by the controller's integration tests: the local control plane (`./dev/cluster up`, with
//! the KubeVirt simulator behind the aggregation layer), a fresh namespace per test, and controller
//! processes of the test's own, scoped to that namespace (so tests run in parallel and never meet
//! the dev cluster's controller, which `./dev/test` stops first).
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::{LifecycleAction, Wukong};
use wukong_lifecycle::{Action, VmState};

/// The annotations the KubeVirt simulator reads from a VM, copied there from the Wukong.
pub const SIM_ANNOTATION_PREFIX: &str = "sim.novasphere.dev/";

/// How a controller replica finds the cluster.
enum Launch {
    /// The admin kubeconfig (KUBECONFIG).
    Kubeconfig,
    /// As in a pod: the ServiceAccount files in `dir`, the apiserver at `host:port`.
    InPod {
        dir: PathBuf,
        host: String,
        port: u16,
    },
}

pub fn kubeconfig_path() -> PathBuf {
    std::env::var_os("WUKONG_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.dev/kubeconfig"))
}

pub async fn client() -> Client {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "no kubeconfig at {} ({e}); start the local control plane with ./dev/cluster up",
            path.display()
        )
    });
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable kubeconfig");
    Client::try_from(config).expect("a client")
}

pub struct Harness {
    pub client: Client,
    pub ns: String,
    pub wukongs: Api<Wukong>,
    pub vms: Api<VirtualMachine>,
    pub vmis: Api<VirtualMachineInstance>,
    /// More arguments for the controllers this test starts from now on.
    pub extra_args: Vec<String>,
}

/// A controller process of the test's own.
pub struct Controller {
    pub child: Child,
    pub metrics_port: u16,
}

impl Controller {
    /// The sum of `wukong_controller_requests_total` samples with this outcome.
    pub async fn requests(&self, outcome: &str) -> f64 {
        metric_sum(
            self.metrics_port,
            "wukong_controller_requests_total",
            outcome,
        )
        .await
    }

    /// Waits up to `within` for the count of `outcome` to reach `want`, and returns the last count.
    /// The controller counts a request after its status write returns, and a watcher can see that
    /// write before the controller does, so a count read right after the acknowledgment can lag.
    pub async fn requests_reaching(&self, outcome: &str, want: f64, within: Duration) -> f64 {
        let started = Instant::now();
        loop {
            let n = self.requests(outcome).await;
            if n >= want || started.elapsed() >= within {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

pub async fn metric_sum(port: u16, name: &str, contains: &str) -> f64 {
    let Ok(text) = fetch(port, "/metrics").await else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(contains))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The port in the controller's "serving /metrics" log line (`addr=127.0.0.1:PORT`).
fn serving_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("serving /metrics"))?;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))?;
    addr.rsplit(':').next()?.parse().ok()
}

/// A bare HTTP/1.0 GET on loopback (no client library needed for three endpoints).
pub async fn fetch(port: u16, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

impl Harness {
    /// Where the test's controller `identity` writes its log.
    pub fn log_path(&self, identity: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{identity}.log", self.ns))
    }

    /// The last lines of every controller log of this test, for a failure message.
    pub fn log_tails(&self) -> String {
        let Ok(dir) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
            return String::new();
        };
        let mut out = String::new();
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&format!("{}-", self.ns)) {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!(
                "\n--- {} (last 40 lines) ---\n",
                entry.path().display()
            ));
            out.push_str(&lines[lines.len().saturating_sub(40)..].join("\n"));
        }
        out
    }

    /// A fresh namespace `it-<prefix>-<random>` (namespaces never finish deleting here).
    pub async fn new(prefix: &str) -> Harness {
        let client = client().await;
        let ns = format!(
            "it-{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let namespace: Namespace =
            serde_json::from_value(json!({ "metadata": { "name": ns } })).expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create the test namespace");
        Harness {
            wukongs: Api::namespaced(client.clone(), &ns),
            vms: Api::namespaced(client.clone(), &ns),
            vmis: Api::namespaced(client.clone(), &ns),
            client,
            ns,
            extra_args: Vec::new(),
        }
    }

    /// Starts a controller replica for this namespace (its Lease lives there too).
    pub async fn controller(&mut self, identity: &str) -> Controller {
        self.controller_as(identity, Launch::Kubeconfig).await
    }

    /// Starts a controller replica as in a pod: its ServiceAccount `wukong-system/wukong-controller`
    /// (deploy/base/rbac/controller.yaml, as ./dev/cluster installs it), found from
    /// `KUBERNETES_SERVICE_HOST`/`_PORT` and the ServiceAccount files in a directory of the test's
    /// own (`WUKONG_SERVICE_ACCOUNT_DIR`), with no kubeconfig and no other environment. Its Lease
    /// is in wukong-system (the only namespace its Role allows), named after this test's namespace.
    pub async fn controller_in_pod(&mut self, identity: &str) -> Controller {
        let request: k8s_openapi::api::authentication::v1::TokenRequest = serde_json::from_value(
            json!({ "spec": { "audiences": [], "expirationSeconds": 3600 } }),
        )
        .expect("a token request");
        let answer: k8s_openapi::api::authentication::v1::TokenRequest =
            Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
                self.client.clone(),
                "wukong-system",
            )
            .create_subresource(
                "token",
                "wukong-controller",
                &PostParams::default(),
                &request,
            )
            .await
            .expect("a token for the controller's ServiceAccount (./dev/cluster installs it)");
        let token = answer.status.and_then(|s| s.token).expect("a token");
        let kubeconfig =
            kube::config::Kubeconfig::read_from(kubeconfig_path()).expect("kubeconfig");
        let cluster = kubeconfig
            .clusters
            .first()
            .and_then(|c| c.cluster.clone())
            .expect("a cluster");
        let ca = cluster
            .certificate_authority_data
            .map(|d| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .expect("base64")
            })
            .expect("the CA in the kubeconfig");
        let url: http::Uri = cluster.server.expect("a server").parse().expect("a URL");
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{identity}-sa", self.ns));
        std::fs::create_dir_all(&dir).expect("the ServiceAccount dir");
        std::fs::write(dir.join("token"), token).expect("token");
        std::fs::write(dir.join("ca.crt"), ca).expect("ca.crt");
        std::fs::write(dir.join("namespace"), "wukong-system").expect("namespace");
        self.controller_as(
            identity,
            Launch::InPod {
                dir,
                host: url.host().expect("a host").to_owned(),
                port: url.port_u16().unwrap_or(443),
            },
        )
        .await
    }

    async fn controller_as(&mut self, identity: &str, launch: Launch) -> Controller {
        // WUKONG_CONTROLLER_BIN: the release build (./dev/test), for realistic timings.
        let exe = std::env::var_os("WUKONG_CONTROLLER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wukong-controller")));
        let log = std::fs::File::create(self.log_path(identity)).expect("a controller log file");
        let mut command = Command::new(exe);
        let lease_namespace = match &launch {
            Launch::Kubeconfig => {
                command.env("KUBECONFIG", kubeconfig_path());
                self.ns.clone()
            }
            Launch::InPod { dir, host, port } => {
                command
                    .env_clear()
                    .env("KUBERNETES_SERVICE_HOST", host)
                    .env("KUBERNETES_SERVICE_PORT", port.to_string())
                    .env("WUKONG_SERVICE_ACCOUNT_DIR", dir)
                    .args(["--lease-name", &format!("it-{}", self.ns)]);
                "wukong-system".to_owned()
            }
        };
        let mut child = command
            .args([
                "--namespace",
                &self.ns,
                "--lease-namespace",
                &lease_namespace,
                "--lease-seconds",
                "6",
                "--identity",
                identity,
                // A port of its own choosing, read back from its log: a port picked here and
                // handed over could be taken by another test's controller in between, and then
                // that one would answer this one's readiness check.
                "--addr",
                "127.0.0.1:0",
                // The simulator reads these from the VM (a guest that ignores ACPI or never
                // boots); nothing else reaches it.
                "--copy-annotation-prefix",
                SIM_ANNOTATION_PREFIX,
            ])
            .args(&self.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,kube=warn".into()),
            )
            // Its log goes to a file of the test's own, quoted when a wait fails.
            .stdout(Stdio::from(log.try_clone().expect("the controller log")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start wukong-controller");
        let log_path = self.log_path(identity);
        let started = Instant::now();
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&log_path)
                .ok()
                .as_deref()
                .and_then(serving_port)
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the controller exited ({status}) before serving{}",
                    self.log_tails()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "controller not serving{}",
                self.log_tails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        while fetch(port, "/readyz")
            .await
            .map_or(true, |r| !r.contains("200 OK"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "controller not ready{}",
                self.log_tails()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Controller {
            child,
            metrics_port: port,
        }
    }

    /// Creates a Wukong. `extra` is merged into its spec; `annotations` go on its metadata.
    pub async fn create(&self, name: &str, spec: Value, annotations: Value) -> Wukong {
        let wukong: Wukong = serde_json::from_value(json!({
            "apiVersion": "vm.novasphere.dev/v1alpha1",
            "kind": "Wukong",
            "metadata": { "name": name, "namespace": self.ns, "annotations": annotations },
            "spec": spec,
        }))
        .expect("a Wukong");
        self.wukongs
            .create(&PostParams::default(), &wukong)
            .await
            .expect("create the Wukong")
    }

    /// Writes `spec.lifecycleAction` as the console does; returns the request id.
    pub async fn request(&self, name: &str, action: Action, grace: Option<u32>) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.request_with_id(name, action, grace, &id).await;
        id
    }

    pub async fn request_with_id(&self, name: &str, action: Action, grace: Option<u32>, id: &str) {
        let mut request =
            LifecycleAction::for_action(action, grace, id.to_owned()).expect("not delete");
        request.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        // Exactly the console's write: the whole request replaces the previous one.
        let patch = request.merge_patch(&wukong_api::Preconditions::default());
        self.wukongs
            .patch(
                name,
                &PatchParams {
                    field_manager: Some("wukong-console".into()),
                    ..PatchParams::default()
                },
                &Patch::Merge(&patch),
            )
            .await
            .expect("write the request");
    }

    pub async fn get(&self, name: &str) -> Wukong {
        self.wukongs.get(name).await.expect("get the Wukong")
    }

    pub fn state_of(w: &Wukong) -> VmState {
        w.vm_state()
    }

    pub fn message_of(w: &Wukong) -> String {
        w.lifecycle_state()
            .and_then(|s| s.message.clone())
            .unwrap_or_default()
    }

    /// Polls until `pred` holds for the Wukong; returns it. Panics with the last state seen.
    pub async fn wait_until(
        &self,
        name: &str,
        within: Duration,
        what: &str,
        pred: impl Fn(&Wukong) -> bool,
    ) -> Wukong {
        let started = Instant::now();
        loop {
            let w = self.get(name).await;
            if pred(&w) {
                return w;
            }
            assert!(
                started.elapsed() < within,
                "{}/{name}: not {what} within {within:?}; state {} ({:?}){}",
                self.ns,
                w.vm_state(),
                w.lifecycle_state(),
                self.log_tails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_state(&self, name: &str, state: VmState, within: Duration) -> Wukong {
        self.wait_until(name, within, state.as_str(), |w| w.vm_state() == state)
            .await
    }

    pub async fn wait_acked(&self, name: &str, id: &str, within: Duration) -> Wukong {
        self.wait_until(name, within, "acknowledged", |w| {
            w.lifecycle_state()
                .and_then(|s| s.observed_request_id.as_deref())
                == Some(id)
        })
        .await
    }

    pub async fn vmi_uid(&self, name: &str) -> Option<String> {
        self.vmis
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|v| v.metadata.uid)
    }

    pub async fn delete(&self, name: &str) {
        self.wukongs
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete the Wukong");
    }
}

/// A Manual VM that is running (auto-started) and its harness-side name.
pub fn manual(auto_start: bool) -> Value {
    json!({ "runStrategy": "Manual", "startStrategy": { "autoStart": auto_start }, "cpuCores": 1, "memory": "1Gi" })
}

pub fn strategy(rs: &str, auto_start: bool) -> Value {
    json!({ "runStrategy": rs, "startStrategy": { "autoStart": auto_start } })
}

pub fn none() -> Value {
    json!({})
}
