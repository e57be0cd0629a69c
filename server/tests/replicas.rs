//! The console as a platform team runs it (issue 16), against the real kube-apiserver
//! (`./dev/cluster up`; `./dev/test` runs these):
//! - two replicas of the real binary behind a round-robin proxy on loopback, sessions kept as
//!   Secrets: a person signs in through one, acts and sees the change live through the other,
//!   both restart and the person is still signed in; a sign-out through one ends the session on
//!   both, and so does deleting the person's ServiceAccount (the token stops being accepted);
//! - the console finding its cluster as in a pod: only `KUBERNETES_SERVICE_HOST`/`_PORT` and the
//!   ServiceAccount files (`token`, `ca.crt`, `namespace`) in the directory a pod would have
//!   them, moved by `WUKONG_SERVICE_ACCOUNT_DIR`; no kubeconfig anywhere.

mod apiserver;
#[path = "../../cluster/tests/common/mod.rs"]
mod common;

use apiserver::{apply_rbac, bind, ensure_namespace, running_wukong, service_account, token};
use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams};
use kube::config::Kubeconfig;
use kube::Client;
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const CONSOLE: &str = env!("CARGO_BIN_EXE_wukong-console");

fn kubeconfig_path() -> PathBuf {
    std::env::var("WUKONG_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| format!("{}/../.dev/kubeconfig", env!("CARGO_MANIFEST_DIR")).into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn scratch(purpose: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "wukong-{purpose}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(&dir).expect("a scratch dir");
    dir
}

/// One console process; stopped (SIGTERM, then kill) when dropped.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Replica {
    fn start(command: &mut Command, addr: SocketAddr, log: &Path) -> Replica {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("a log file");
        let child = command
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the console starts");
        Replica { child, addr }
    }

    async fn ready(&mut self, log: &Path) {
        let started = Instant::now();
        loop {
            if let Ok(answer) = http(self.addr, "GET", "/readyz", None, "").await {
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the console at {} exited ({status}):\n{}",
                    self.addr,
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the console at {} was not ready within 60 s:\n{}",
                self.addr,
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, as a kubelet stops a pod; waits for the exit.
    async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let asked = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                asked.elapsed() < Duration::from_secs(20),
                "still running 20 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A round-robin TCP proxy on loopback: connection n goes to backend n mod 2.
struct Proxy {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(backends: [SocketAddr; 2]) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(AtomicUsize::new(0));
        let log = served.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let n = next.fetch_add(1, Ordering::SeqCst) % 2;
                log.lock().expect("log").push(n);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(backends[n]).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { addr, served, task }
    }

    /// The backend the next connection goes to.
    fn next_backend(&self) -> usize {
        self.served.lock().expect("log").len() % 2
    }

    /// Wastes a connection if needed so that the next one goes to `backend`.
    async fn aim_at(&self, backend: usize) {
        if self.next_backend() != backend {
            let _ = http(self.addr, "GET", "/healthz", None, "").await;
        }
        assert_eq!(self.next_backend(), backend);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 request over its own connection; the answer's head and body as text.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 20 s"))??;
    Ok(answer)
}

/// A sample's value in Prometheus text (`name{labels} value`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l.as_bytes().get(series.len()) == Some(&b' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn sign_in(proxy: &Proxy, token: &str) -> String {
    let answer = http(
        proxy.addr,
        "POST",
        "/auth/login",
        None,
        &format!("token={token}"),
    )
    .await
    .expect("sign in");
    assert_eq!(status(&answer), 303, "{answer}");
    let set_cookie = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or(l.strip_prefix("Set-Cookie: "))
        })
        .expect("a session cookie");
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(addr: SocketAddr, cookie: &str) -> Socket {
    let mut request = format!("ws://{addr}/live")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie"));
    request
        .headers_mut()
        .insert("origin", format!("http://{addr}").parse().expect("origin"));
    tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("a handshake within 15 s")
    .expect("a live socket")
    .0
}

/// The first text frame within `seconds` that contains `needle`.
async fn frame_with(socket: &mut Socket, needle: &str, seconds: u64) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        if let Ok(Message::Text(text)) = message {
            if text.contains(needle) {
                return Some(text.to_string());
            }
        }
    }
}

/// A kubeconfig for the console's ServiceAccount, written to `dir`, with the admin one's
/// cluster and CA.
fn console_kubeconfig(dir: &Path, token: &str) -> PathBuf {
    let mut kubeconfig = Kubeconfig::read_from(kubeconfig_path()).expect("the admin kubeconfig");
    for user in &mut kubeconfig.auth_infos {
        user.auth_info =
            Some(serde_json::from_value(json!({ "token": token })).expect("auth info"));
    }
    let path = dir.join("console.kubeconfig");
    std::fs::write(
        &path,
        serde_yaml::to_string(&kubeconfig).expect("kubeconfig yaml"),
    )
    .expect("write kubeconfig");
    path
}

/// The cluster's address and CA (PEM), from the admin kubeconfig.
fn cluster_address_and_ca() -> (String, Vec<u8>) {
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path()).expect("the admin kubeconfig");
    let cluster = kubeconfig
        .clusters
        .first()
        .and_then(|c| c.cluster.clone())
        .expect("a cluster");
    let server = cluster.server.expect("a server");
    let ca = cluster
        .certificate_authority_data
        .map(|data| {
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64 CA")
        })
        .or_else(|| {
            cluster
                .certificate_authority
                .and_then(|path| std::fs::read(path).ok())
        })
        .expect("the cluster's CA");
    (server, ca)
}

/// The console's ServiceAccount with deploy/base/rbac/console.yaml, a person who leads `ns`, and a
/// Wukong there.
async fn setup(admin: &Client, purpose: &str) -> (String, String, String) {
    ensure_namespace(admin, "wukong-system").await;
    apply_rbac(admin, "console.yaml").await;
    apply_rbac(admin, "team-roles.yaml").await;
    let ns = common::fresh_namespace(admin, purpose).await;
    let person = service_account(admin, &ns, "lead").await;
    bind(
        admin,
        &ns,
        "lead",
        "wukong-team-lead",
        json!({ "kind": "ServiceAccount", "name": "lead", "namespace": ns }),
    )
    .await;
    running_wukong(admin, &ns, "vm-1").await;
    let console = token(admin, "wukong-system", "wukong-console").await;
    (ns, person, console)
}

fn replica_command(kubeconfig: &Path, addr: SocketAddr, proxy: SocketAddr) -> Command {
    let mut command = Command::new(CONSOLE);
    command
        .env_remove("KUBECONFIG")
        .args(["--kubeconfig", &kubeconfig.display().to_string()])
        .args(["--auth", "token", "--addr", &addr.to_string()])
        .args(["--allowed-hosts", &proxy.to_string()])
        .args(["--controller-lease", "none", "--token-recheck-seconds", "1"])
        .args([
            "--session-store",
            "secrets",
            "--session-namespace",
            "wukong-system",
        ]);
    command
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up"]
async fn two_replicas_share_sessions_through_restarts_and_end_them_together() {
    let (admin, _) = common::admin().await;
    let (ns, person_token, console_token) = setup(&admin, "replicas").await;
    let dir = scratch("replicas");
    let kubeconfig = console_kubeconfig(&dir, &console_token);
    let addrs: [SocketAddr; 2] = [
        ([127, 0, 0, 1], free_port()).into(),
        ([127, 0, 0, 1], free_port()).into(),
    ];
    let proxy = Proxy::start(addrs).await;
    let logs = [dir.join("replica-0.log"), dir.join("replica-1.log")];
    let start = |i: usize| {
        Replica::start(
            &mut replica_command(&kubeconfig, addrs[i], proxy.addr),
            addrs[i],
            &logs[i],
        )
    };
    let mut replicas = [start(0), start(1)];
    for (replica, log) in replicas.iter_mut().zip(&logs) {
        replica.ready(log).await;
    }

    // Signed in through replica 0.
    proxy.aim_at(0).await;
    let cookie = sign_in(&proxy, &person_token).await;

    // Live through replica 1: the row is there, and the action below shows up on it.
    proxy.aim_at(1).await;
    let mut socket = open_socket(proxy.addr, &cookie).await;
    assert!(
        frame_with(&mut socket, "vm-1", 10).await.is_some(),
        "replica 1 knows the session: its socket shows the person's VM"
    );
    // The action through replica 1 as well.
    proxy.aim_at(1).await;
    let answer = http(
        proxy.addr,
        "POST",
        "/api/request_action",
        Some(&cookie),
        &format!("namespace={ns}&name=vm-1&action=stop"),
    )
    .await
    .expect("act");
    assert_eq!(status(&answer), 200, "{answer}");
    let update = frame_with(&mut socket, "vm-1", 10)
        .await
        .expect("the request shows up live");
    assert!(
        update.contains("Stop") || update.contains("stop"),
        "{update}"
    );

    // Replica 1's /metrics counted what it did: the action, its request, the RBAC checks, the push.
    let scraped = http(addrs[1], "GET", "/metrics", None, "")
        .await
        .expect("metrics");
    for (metric, at_least) in [
        (
            r#"wukong_console_actions_total{action="stop",outcome="accepted",bulk="false"}"#,
            1.0,
        ),
        (
            r#"wukong_console_http_requests_total{route="/api/request_action",status="200"}"#,
            1.0,
        ),
        (
            r#"wukong_console_http_requests_total{route="/live",status="101"}"#,
            1.0,
        ),
        (
            r#"wukong_console_subject_access_reviews_total{result="allowed"}"#,
            1.0,
        ),
        ("wukong_console_push_seconds_count", 1.0),
        ("wukong_console_watch_restarts_total", 1.0),
        ("wukong_console_live_connections", 1.0),
    ] {
        let value = sample(&scraped, metric)
            .unwrap_or_else(|| panic!("{metric} is not in /metrics:\n{scraped}"));
        assert!(value >= at_least, "{metric} = {value}:\n{scraped}");
    }

    // Both replicas restart (SIGTERM: the socket is told to reconnect).
    let [first, second] = replicas;
    let (_, _) = tokio::join!(first.stop(), second.stop());
    let close = frame_close(&mut socket).await;
    assert_eq!(close, Some(CloseCode::Away));
    let mut replicas = [start(0), start(1)];
    for (replica, log) in replicas.iter_mut().zip(&logs) {
        replica.ready(log).await;
    }
    for backend in [0, 1] {
        proxy.aim_at(backend).await;
        let answer = http(proxy.addr, "POST", "/api/list_vms", Some(&cookie), "")
            .await
            .expect("list");
        assert_eq!(
            status(&answer),
            200,
            "still signed in on replica {backend}: {answer}"
        );
        assert!(answer.contains("vm-1"), "{answer}");
    }

    // A sign-out through replica 0 ends the session on replica 1 too, with its open socket.
    proxy.aim_at(1).await;
    let mut socket = open_socket(proxy.addr, &cookie).await;
    proxy.aim_at(0).await;
    let answer = http(proxy.addr, "POST", "/auth/logout", Some(&cookie), "")
        .await
        .expect("sign out");
    assert_eq!(status(&answer), 303, "{answer}");
    eventually_refused(&proxy, &cookie, 1, 5).await;
    assert_eq!(
        frame_close(&mut socket).await,
        Some(CloseCode::Policy),
        "the other replica's socket closes when the session ends"
    );

    // A token that stops being accepted ends the session on both replicas, and its Secret.
    let cookie = sign_in(&proxy, &person_token).await;
    for backend in [0, 1] {
        proxy.aim_at(backend).await;
        let answer = http(proxy.addr, "POST", "/api/list_vms", Some(&cookie), "")
            .await
            .expect("list");
        assert_eq!(status(&answer), 200, "{answer}");
    }
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .delete("lead", &DeleteParams::default())
        .await
        .expect("delete the person's ServiceAccount");
    // The apiserver caches a token's review for up to 10 s; the replicas ask again every second.
    eventually_refused(&proxy, &cookie, 0, 20).await;
    eventually_refused(&proxy, &cookie, 1, 5).await;
    let secrets = Api::<Secret>::namespaced(admin.clone(), "wukong-system");
    let left = secrets
        .list_metadata(&ListParams::default().labels(
            "app.kubernetes.io/managed-by=wukong-console,app.kubernetes.io/component=session",
        ))
        .await
        .expect("list session secrets");
    // Other runs' sessions may be there; none of them is this person's (both ended).
    for secret in left.items {
        let name = secret.metadata.name.unwrap_or_default();
        let full = secrets.get(&name).await;
        if let Ok(full) = full {
            let user = full
                .data
                .and_then(|d| {
                    d.get("user")
                        .map(|u| String::from_utf8_lossy(&u.0).into_owned())
                })
                .unwrap_or_default();
            assert_ne!(
                user,
                format!("system:serviceaccount:{ns}:lead"),
                "an ended session's Secret is left: {name}"
            );
        }
    }
    drop(replicas);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn frame_close(socket: &mut Socket) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Requests through `backend` are refused (401) within `seconds`.
async fn eventually_refused(proxy: &Proxy, cookie: &str, backend: usize, seconds: u64) {
    let started = Instant::now();
    loop {
        proxy.aim_at(backend).await;
        let answer = http(proxy.addr, "POST", "/api/list_vms", Some(cookie), "")
            .await
            .expect("list");
        if status(&answer) == 401 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "replica {backend} still serves an ended session: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up"]
async fn the_console_finds_its_cluster_as_in_a_pod() {
    let (admin, _) = common::admin().await;
    let (ns, person_token, console_token) = setup(&admin, "in-cluster").await;
    let dir = scratch("in-cluster");
    let account = dir.join("serviceaccount");
    std::fs::create_dir_all(&account).expect("dir");
    let (server, ca) = cluster_address_and_ca();
    std::fs::write(account.join("token"), &console_token).expect("token");
    std::fs::write(account.join("ca.crt"), ca).expect("ca");
    std::fs::write(account.join("namespace"), "wukong-system").expect("namespace");
    let url: axum::http::Uri = server.parse().expect("the server URL");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.join("console.log");
    // Nothing but what a pod has: no KUBECONFIG, an empty HOME.
    let mut command = Command::new(CONSOLE);
    command
        .env_clear()
        .env("HOME", &home)
        .env("KUBERNETES_SERVICE_HOST", url.host().expect("host"))
        .env(
            "KUBERNETES_SERVICE_PORT",
            url.port_u16().unwrap_or(443).to_string(),
        )
        .env("WUKONG_SERVICE_ACCOUNT_DIR", &account)
        .args(["--auth", "token", "--addr", &addr.to_string()])
        .args(["--controller-lease", "none"]);
    let mut console = Replica::start(&mut command, addr, &log);
    console.ready(&log).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("in-cluster"), "{text}");

    // A person signs in (a TokenReview as the console's ServiceAccount) and sees their VM; the
    // session is a Secret in the pod's namespace.
    let cookie = {
        let answer = http(
            addr,
            "POST",
            "/auth/login",
            None,
            &format!("token={person_token}"),
        )
        .await
        .expect("sign in");
        assert_eq!(status(&answer), 303, "{answer}");
        answer
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("a cookie")
            .to_owned()
    };
    let answer = http(addr, "POST", "/api/list_vms", Some(&cookie), "")
        .await
        .expect("list");
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(answer.contains("vm-1") && answer.contains(&ns), "{answer}");
    console.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
