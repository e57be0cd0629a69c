//! `wukong-bench`: measurements against the local control plane, written as JSON.
//!
//! - `load --vms N`: creates N Wukongs (spread over namespaces `bench-00`..), in parallel.
//! - `measure --console HOST:PORT --clients C`: for each sample, patches one Wukong's status
//!   message with a unique marker and times (from just before the patch) its arrival
//!   1. at a plain kube-rs watcher in this process (the floor: what the apiserver can do), and
//!   2. at a console websocket (push latency);
//!
//!   then opens C websocket clients and times one update's delivery to all of them, and reads the
//!   console's RSS/CPU (`/proc`) and the apiserver's count of open watches on wukongs. Clients
//!   look at the console's first page of `?q=bench-` (the server pages), and the patched
//!   Wukongs are picked from that page, as a person watching it would see them change.
//! - `bulk --console HOST:PORT --count 1000`: a bulk start, then a bulk stop, of `count` Wukongs
//!   through the console's `bulk_action` ("all matching the filter"), timing until the console
//!   has accepted every request and until the controller has acknowledged every one.
//! - `soak --console HOST:PORT --console-pid P --clients C --minutes M`: C clients and a steady
//!   stream of actions for M minutes; memory, sockets, tasks and watches sampled (see `soak`).
//! - `faults --console HOST:PORT --clients C --cluster-script ./dev/cluster`: bulk stops with C
//!   websocket clients watching, each with one process killed (`kill -9`) midway: the controller
//!   leader, kube-apiserver, etcd, the KubeVirt simulator (see `faults`).
//!
//! Every loop is bounded in count and time; everything talks to loopback only.

use clap::{Parser, Subcommand};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wukong_api::{Wukong, WukongSpec};

mod browsers;
mod bulk;
mod faults;
mod soak;

/// What the bench's browsers look at: the first page of the bench VMs (default page size).
const VIEW_QUERY: &str = "q=bench-";
/// Rows on that page (the console's default page size).
const PAGE_ROWS: usize = 100;

#[derive(Parser)]
#[command(
    name = "wukong-bench",
    about = "Measure the console against the local control plane"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create Wukongs until there are N in the bench namespaces.
    Load {
        #[arg(long)]
        vms: usize,
        #[arg(long, default_value_t = 10)]
        namespaces: usize,
        #[arg(long, default_value_t = 32)]
        parallel: usize,
    },
    /// Measure floor, push latency and fan-out against a running console.
    Measure {
        /// The console's address (loopback), e.g. 127.0.0.1:3400.
        #[arg(long)]
        console: String,
        /// Its process id, for RSS and CPU.
        #[arg(long)]
        console_pid: Option<u32>,
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Concurrent websocket clients for the fan-out measurement.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 5)]
        fanout_rounds: usize,
        /// Where to write the JSON result.
        #[arg(long)]
        out: Option<String>,
        /// Free-form label stored with the result (e.g. "N=10000").
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Faults during bulk stops: for each fault, the VMs of one bench namespace (bench-00, -01,
    /// ...) are stopped through the console with CLIENTS websocket clients watching, and one
    /// process is killed with kill -9 (`CLUSTER_SCRIPT kill NAME`) while the controller works.
    Faults {
        /// The console's address (loopback), e.g. 127.0.0.1:3400.
        #[arg(long)]
        console: String,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// `./dev/cluster` (its `kill` and `start` commands).
        #[arg(long)]
        cluster_script: String,
        /// Which faults, in order (default all four).
        #[arg(long, value_delimiter = ',', default_values_t = faults::FAULTS.map(String::from))]
        faults: Vec<String>,
        #[arg(long)]
        out: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// A soak: CLIENTS websocket clients and a steady stream of actions for MINUTES, sampling
    /// memory, sockets, tasks and watches.
    Soak {
        #[arg(long)]
        console: String,
        #[arg(long)]
        console_pid: u32,
        #[arg(long)]
        controller_pid: Option<u32>,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        #[arg(long, default_value_t = 5)]
        warmup_minutes: u64,
        #[arg(long, default_value_t = 2.0)]
        actions_per_second: f64,
        /// The bench namespace whose VMs are started and stopped (and watched).
        #[arg(long, default_value = "bench-00")]
        namespace: String,
        #[arg(long)]
        out: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Bulk start, then bulk stop, of COUNT Wukongs through the console.
    Bulk {
        /// The console's address (loopback), e.g. 127.0.0.1:3400.
        #[arg(long)]
        console: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long)]
        out: Option<String>,
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let client = Client::try_default()
        .await
        .map_err(|e| format!("no cluster (set KUBECONFIG): {e}"))?;
    match args.command {
        Command::Load {
            vms,
            namespaces,
            parallel,
        } => load(&client, vms, namespaces.max(1), parallel.max(1)).await,
        Command::Measure {
            console,
            console_pid,
            samples,
            clients,
            fanout_rounds,
            out,
            label,
        } => {
            let result = measure(
                &client,
                &console,
                console_pid,
                samples.clamp(1, 5000),
                clients.clamp(1, 5000),
                fanout_rounds.clamp(1, 50),
                label,
            )
            .await?;
            write_result(&result, out)
        }
        Command::Faults {
            console,
            clients,
            cluster_script,
            faults,
            out,
            label,
        } => {
            for fault in &faults {
                if !faults::FAULTS.contains(&fault.as_str()) {
                    return Err(format!(
                        "unknown fault {fault:?}: one of {:?}",
                        faults::FAULTS
                    ));
                }
            }
            let options = faults::Options {
                console,
                clients: clients.clamp(1, 5000),
                cluster_script,
                faults,
            };
            let mut result = faults::run(&client, &options).await?;
            result["label"] = json!(label);
            write_result(&result, out)
        }
        Command::Soak {
            console,
            console_pid,
            controller_pid,
            clients,
            minutes,
            warmup_minutes,
            actions_per_second,
            namespace,
            out,
            label,
        } => {
            let options = soak::Options {
                console,
                console_pid,
                controller_pid,
                clients: clients.clamp(1, 5000),
                minutes: minutes.clamp(1, 24 * 60),
                warmup_minutes: warmup_minutes.min(minutes.saturating_sub(1)),
                actions_per_second,
                namespace,
            };
            let mut result = soak::run(&client, &options).await?;
            result["label"] = json!(label);
            write_result(&result, out)
        }
        Command::Bulk {
            console,
            count,
            out,
            label,
        } => {
            let result = bulk::run(&client, &console, count.clamp(1, 10_000), label).await?;
            write_result(&result, out)
        }
    }
}

fn write_result(result: &Value, out: Option<String>) -> Result<(), String> {
    let text = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
    println!("{text}");
    if let Some(path) = out {
        std::fs::write(&path, text + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn bench_namespace(i: usize) -> String {
    format!("bench-{i:02}")
}

async fn load(
    client: &Client,
    vms: usize,
    namespaces: usize,
    parallel: usize,
) -> Result<(), String> {
    let started = Instant::now();
    for i in 0..namespaces {
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({ "metadata": { "name": bench_namespace(i) } }))
                .map_err(|e| e.to_string())?;
        match Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(format!("namespace: {e}")),
        }
    }
    let created = futures::stream::iter(0..vms)
        .map(|i| {
            let api: Api<Wukong> =
                Api::namespaced(client.clone(), &bench_namespace(i % namespaces));
            async move {
                let spec = WukongSpec {
                    cpu_cores: Some(1),
                    memory: Some("1Gi".into()),
                    ..Default::default()
                };
                match api
                    .create(
                        &PostParams::default(),
                        &Wukong::new(&format!("vm-{i:05}"), spec),
                    )
                    .await
                {
                    Ok(_) => Ok(1usize),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(0),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .buffer_unordered(parallel)
        .fold(
            Ok::<usize, String>(0),
            |acc, r: Result<usize, String>| async move { Ok(acc? + r?) },
        )
        .await?;
    let created_after = started.elapsed().as_secs_f64();
    // Measure a settled system: wait until KubeVirt (the simulator) has reported every bench VM
    // and the controller has passed it on (a state other than Unknown), or they would still be
    // creating VMs through every measurement. ("Has a state" was not enough: the controller
    // reports Unknown at once for a VM KubeVirt has not got to yet.)
    let settled = settle(client, vms, Duration::from_secs(1800)).await;
    println!(
        "{{\"created\": {created}, \"total\": {vms}, \"seconds\": {created_after:.1}, \"settled_after_seconds\": {:.1}, \"settled\": {settled}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Waits (bounded) until at least `vms` bench Wukongs have KubeVirt's state (not Unknown).
async fn settle(client: &Client, vms: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let api: Api<Wukong> = Api::all(client.clone());
    while Instant::now() < deadline {
        let mut with_state = 0;
        let mut params = kube::api::ListParams::default().limit(1000);
        loop {
            let Ok(page) = api.list(&params).await else {
                break;
            };
            with_state += page
                .items
                .iter()
                .filter(|w| {
                    w.metadata
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| ns.starts_with("bench-"))
                })
                .filter(|w| {
                    w.lifecycle_state()
                        .is_some_and(|s| !s.state.is_empty() && s.state != "Unknown")
                })
                .count();
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
        if with_state >= vms {
            return true;
        }
        eprintln!("waiting for KubeVirt and the controller: {with_state} of {vms} Wukongs have KubeVirt's state");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    false
}

/// Percentiles of a set of milliseconds.
fn summary(mut ms: Vec<f64>) -> Value {
    if ms.is_empty() {
        return json!({ "count": 0 });
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    json!({
        "count": ms.len(),
        "p50_ms": round(at(0.5)),
        "p99_ms": round(at(0.99)),
        "max_ms": round(ms[ms.len() - 1]),
    })
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Where markers were first seen: marker → instant.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

fn marker_in(text: &str) -> Option<&str> {
    let start = text.find("bench-marker-")?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// A websocket client that reports every marker it sees (and nothing else).
async fn ws_client(
    url: String,
    origin: String,
    seen: mpsc::UnboundedSender<(usize, String, Instant)>,
    id: usize,
    ready: mpsc::UnboundedSender<usize>,
    deadline: Instant,
) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let Ok(mut request) = url.into_client_request() else {
        return;
    };
    if let Ok(value) = origin.parse() {
        request.headers_mut().insert("origin", value);
    }
    let Ok(Ok((mut socket, _))) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(request),
    )
    .await
    else {
        return;
    };
    let mut snapshot = false;
    while Instant::now() < deadline {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(frame))) = tokio::time::timeout(remaining, socket.next()).await else {
            break;
        };
        let at = Instant::now();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            // The first frame may name the console's build (`LiveMessage::Hello`).
            if text.starts_with("{\"hello\"") {
                continue;
            }
            if !snapshot {
                snapshot = true;
                let _ = ready.send(id);
                continue;
            }
            if let Some(m) = marker_in(&text) {
                let _ = seen.send((id, m.to_owned(), at));
            }
        }
    }
    let _ = socket.close(None).await;
}

/// Picks `count` Wukongs (cycling) from the first page of the bench view: those a browser showing
/// that page sees change. The console sorts by name, then namespace.
async fn targets(client: &Client, count: usize) -> Result<Vec<(String, String)>, String> {
    let list = Api::<Wukong>::all(client.clone())
        .list_metadata(&kube::api::ListParams::default())
        .await
        .map_err(|e| format!("list: {e}"))?;
    let mut all: Vec<(String, String)> = list
        .items
        .iter()
        .filter_map(|w| Some((w.metadata.name.clone()?, w.metadata.namespace.clone()?)))
        .filter(|(name, ns)| ns.contains("bench-") || name.contains("bench-"))
        .collect();
    if all.is_empty() {
        return Err("no Wukongs in bench-* namespaces: run `wukong-bench load` first".into());
    }
    all.sort();
    all.truncate(PAGE_ROWS);
    Ok((0..count)
        .map(|i| {
            let (name, ns) = &all[i % all.len()];
            (ns.clone(), name.clone())
        })
        .collect())
}

async fn mark(client: &Client, ns: &str, name: &str, marker: &str) -> Result<(), String> {
    let patch = json!({ "status": { "lifecycleState": { "message": marker } } });
    Api::<Wukong>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
        .map_err(|e| format!("patch {ns}/{name}: {e}"))
}

fn proc_stats(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some((rss_kb / 1024.0, ticks / 100.0))
}

/// Open watches on wukongs, from the apiserver's own metrics.
async fn apiserver_watches(client: &Client) -> Option<f64> {
    let request = http_get("/metrics")?;
    let text = client.request_text(request).await.ok()?;
    let total = text
        .lines()
        .filter(|l| l.starts_with("apiserver_longrunning_requests{"))
        .filter(|l| l.contains("resource=\"wukongs\"") && l.contains("verb=\"WATCH\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Some(total)
}

fn http_get(path: &str) -> Option<http::Request<Vec<u8>>> {
    http::Request::builder()
        .method("GET")
        .uri(path)
        .body(Vec::new())
        .ok()
}

async fn measure(
    client: &Client,
    console: &str,
    console_pid: Option<u32>,
    samples: usize,
    clients: usize,
    fanout_rounds: usize,
    label: String,
) -> Result<Value, String> {
    let url = format!("ws://{console}/live?{VIEW_QUERY}");
    let origin = format!("http://{console}");
    let picks = targets(client, samples + fanout_rounds).await?;

    // 1. The floor: this process's own watch on all Wukongs.
    let floor_seen: Seen = Arc::default();
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let floor_seen = floor_seen.clone();
        let api: Api<Wukong> = Api::all(client.clone());
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut listed = Some(listed_tx);
            while let Some(event) = stream.next().await {
                let at = Instant::now();
                let w = match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = listed.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(w)) => w,
                    _ => continue,
                };
                let message = w
                    .status
                    .as_ref()
                    .and_then(|s| s.lifecycle_state.as_ref())
                    .and_then(|l| l.message.clone());
                if let (Some(m), Ok(mut seen)) =
                    (message.as_deref().and_then(marker_in), floor_seen.lock())
                {
                    seen.entry(m.to_owned()).or_insert(at);
                }
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(120), listed_rx)
        .await
        .map_err(|_| "the floor watcher's first list took over 120 s".to_owned())?
        .map_err(|_| "the floor watcher stopped".to_owned())?;

    // 2. Push latency: one console socket, the same patches.
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let deadline = Instant::now() + Duration::from_secs(600);
    tokio::spawn(ws_client(
        url.clone(),
        origin.clone(),
        seen_tx,
        0,
        ready_tx,
        deadline,
    ));
    tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
        .await
        .map_err(|_| "the console sent no snapshot within 60 s".to_owned())?;
    let mut floor_ms = Vec::new();
    let mut push_ms = Vec::new();
    let mut missed = 0;
    for (ns, name) in picks.iter().take(samples) {
        let marker = format!("bench-marker-{}", uuid::Uuid::new_v4().simple());
        let start = Instant::now();
        mark(client, ns, name, &marker).await?;
        let until = start + Duration::from_secs(10);
        let mut pushed = None;
        while pushed.is_none() && Instant::now() < until {
            match tokio::time::timeout(until - Instant::now(), seen_rx.recv()).await {
                Ok(Some((_, m, at))) if m == marker => pushed = Some(at),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        // The floor watcher runs in this process too and may report a moment after the socket.
        let mut floor = None;
        for _ in 0..100 {
            floor = floor_seen.lock().ok().and_then(|s| s.get(&marker).copied());
            if floor.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match (floor, pushed) {
            (Some(f), Some(p)) => {
                floor_ms.push(f.duration_since(start).as_secs_f64() * 1000.0);
                push_ms.push(p.duration_since(start).as_secs_f64() * 1000.0);
            }
            _ => missed += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 3. Fan-out: C clients, a few updates, time to reach every one of them.
    let stats_before = console_pid.and_then(proc_stats);
    let watches_before = apiserver_watches(client).await;
    let (fan_tx, mut fan_rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let opened = Instant::now();
    let fan_deadline = Instant::now() + Duration::from_secs(300);
    for id in 0..clients {
        tokio::spawn(ws_client(
            url.clone(),
            origin.clone(),
            fan_tx.clone(),
            id,
            ready_tx.clone(),
            fan_deadline,
        ));
    }
    drop(ready_tx);
    let mut connected = 0;
    while connected < clients {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(_)) => connected += 1,
            _ => break,
        }
    }
    let connect_seconds = opened.elapsed().as_secs_f64();
    let watches_during = apiserver_watches(client).await;
    let wall = Instant::now();
    let mut delivery_ms = Vec::new();
    let mut undelivered = 0;
    for (ns, name) in picks.iter().skip(samples).take(fanout_rounds) {
        let marker = format!("bench-marker-{}", uuid::Uuid::new_v4().simple());
        let start = Instant::now();
        mark(client, ns, name, &marker).await?;
        let until = start + Duration::from_secs(20);
        let mut got = std::collections::HashSet::new();
        while got.len() < connected && Instant::now() < until {
            match tokio::time::timeout(until - Instant::now(), fan_rx.recv()).await {
                Ok(Some((id, m, at))) if m == marker => {
                    if got.insert(id) {
                        delivery_ms.push(at.duration_since(start).as_secs_f64() * 1000.0);
                    }
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        undelivered += connected - got.len();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats_after = console_pid.and_then(proc_stats);
    let busy = wall.elapsed().as_secs_f64();
    let cpu_percent = match (stats_before, stats_after) {
        (Some((_, a)), Some((_, b))) => Some(round((b - a) / (busy + connect_seconds) * 100.0)),
        _ => None,
    };

    let total = Api::<Wukong>::all(client.clone())
        .list_metadata(&kube::api::ListParams::default())
        .await
        .map(|l| l.items.len())
        .ok();
    let floor = summary(floor_ms.clone());
    let push = summary(push_ms.clone());
    let ratio = |key: &str| match (floor[key].as_f64(), push[key].as_f64()) {
        (Some(f), Some(p)) if f > 0.0 => Some(round(p / f * 100.0) / 100.0),
        _ => None,
    };
    Ok(json!({
        "label": label,
        "date": jiff::Timestamp::now().to_string(),
        "wukongs": total,
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        },
        "floor_watch": floor,
        "console_push": push,
        "push_over_floor": { "p50": ratio("p50_ms"), "p99": ratio("p99_ms") },
        "missed_samples": missed,
        "fanout": {
            "clients": clients,
            "connected": connected,
            "connect_seconds": round(connect_seconds),
            "rounds": fanout_rounds,
            "delivery": summary(delivery_ms),
            "undelivered": undelivered,
        },
        "console": {
            "rss_mb_before_fanout": stats_before.map(|s| round(s.0)),
            "rss_mb_with_clients": stats_after.map(|s| round(s.0)),
            "cpu_percent_during_fanout": cpu_percent,
        },
        "apiserver_wukong_watches": {
            "before_clients": watches_before,
            "with_clients": watches_during,
        },
    }))
}
