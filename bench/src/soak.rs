//! `wukong-bench soak`: C websocket clients watching the pages of one bench namespace for M
//! minutes while a steady stream of single actions (start a Stopped VM, stop a Running one, each
//! VM again only once its last request is acknowledged) goes through the console. Every 30 s it
//! samples the console's and the controller's RSS, the console's open sockets (file descriptors),
//! live connections and tokio tasks (its `/metrics`), and the apiserver's open watches. After the
//! warm-up, growth is the mean of the last two minutes over the mean of the two minutes after
//! warm-up. At the end every action must be acknowledged.
//! Every loop is bounded in time; everything is on loopback.

use crate::browsers::Browsers;
use kube::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wukong_view::{Filter, View};

pub struct Options {
    pub console: String,
    pub console_pid: u32,
    pub controller_pid: Option<u32>,
    pub clients: usize,
    pub minutes: u64,
    pub warmup_minutes: u64,
    pub actions_per_second: f64,
    pub namespace: String,
}

const SAMPLE_EVERY: Duration = Duration::from_secs(30);
/// The window averaged at the start (after warm-up) and at the end.
const WINDOW: Duration = Duration::from_secs(120);

#[derive(Clone, Debug, serde::Serialize)]
struct Sample {
    minute: f64,
    console_rss_mb: Option<f64>,
    controller_rss_mb: Option<f64>,
    console_socket_fds: Option<usize>,
    console_live_connections: Option<f64>,
    console_tasks: Option<f64>,
    apiserver_watches: Option<f64>,
    actions_sent: usize,
    unacknowledged: usize,
}

pub async fn run(client: &Client, options: &Options) -> Result<Value, String> {
    let seen: crate::bulk::Seen = Arc::default();
    crate::bulk::watch(client, seen.clone()).await?;
    let mut vms: Vec<String> = seen
        .lock()
        .map(|s| {
            s.keys()
                .filter(|(ns, _)| *ns == options.namespace)
                .map(|(_, name)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    vms.sort();
    if vms.is_empty() {
        return Err(format!(
            "no Wukongs in {}: run `wukong-bench load` first",
            options.namespace
        ));
    }
    let length = Duration::from_secs(options.minutes * 60);
    let started = Instant::now();
    let deadline = started + length + Duration::from_secs(300);

    // The clients: the namespace's pages of 100, spread over them.
    let filter = Filter {
        namespace: options.namespace.clone(),
        ..Filter::default()
    };
    let browsers = Browsers::open(
        &options.console,
        options.clients,
        &filter,
        vms.len(),
        View::default().page_size,
        deadline,
    )
    .await?;

    let interval = Duration::from_secs_f64(1.0 / options.actions_per_second.clamp(0.01, 100.0));
    let mut next_action = Instant::now();
    let mut next_sample = Instant::now();
    let mut cursor = 0usize;
    let mut sent = 0usize;
    let mut refused: HashMap<String, usize> = HashMap::new();
    let mut samples = Vec::new();
    while started.elapsed() < length {
        let now = Instant::now();
        if now >= next_sample {
            next_sample += SAMPLE_EVERY;
            samples.push(sample(client, options, started, &seen, &vms, sent).await);
        }
        if now >= next_action {
            next_action += interval;
            // The next VM that is settled and has nothing pending.
            let pick = (0..vms.len()).find_map(|k| {
                let name = &vms[(cursor + k) % vms.len()];
                let state = seen
                    .lock()
                    .ok()?
                    .get(&(options.namespace.clone(), name.clone()))
                    .cloned()?;
                let (requested, observed, state) = state;
                let settled = requested == observed || requested.is_none();
                let action = match state.as_str() {
                    "Running" => "stop",
                    "Stopped" => "start",
                    _ => return None,
                };
                settled.then(|| ((cursor + k) % vms.len(), name.clone(), action))
            });
            if let Some((at, name, action)) = pick {
                cursor = at + 1;
                // A short grace period: the simulated guest shuts down within it.
                let body = format!(
                    "namespace={}&name={name}&action={action}{}",
                    options.namespace,
                    if action == "stop" {
                        "&grace_period_seconds=5"
                    } else {
                        ""
                    }
                );
                match crate::bulk::post_with(
                    &options.console,
                    "/api/request_action",
                    "application/x-www-form-urlencoded",
                    &body,
                )
                .await
                {
                    Ok((200, _)) => sent += 1,
                    Ok((status, answer)) => {
                        *refused
                            .entry(format!(
                                "HTTP {status}: {}",
                                answer.chars().take(120).collect::<String>()
                            ))
                            .or_default() += 1;
                    }
                    Err(e) => *refused.entry(e).or_default() += 1,
                }
            }
        }
        let wake = next_action.min(next_sample);
        tokio::time::sleep(wake.saturating_duration_since(Instant::now())).await;
    }
    // Every action acknowledged (bounded).
    let ack_deadline = Instant::now() + Duration::from_secs(120);
    let mut left = unacknowledged(&seen, &options.namespace, &vms);
    while left > 0 && Instant::now() < ack_deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        left = unacknowledged(&seen, &options.namespace, &vms);
    }
    samples.push(sample(client, options, started, &seen, &vms, sent).await);
    let reconnects = browsers.reconnects();
    drop(browsers);

    let warm = Duration::from_secs(options.warmup_minutes * 60);
    let growth = |pick: &dyn Fn(&Sample) -> Option<f64>| -> Value {
        let window = |from: Duration, to: Duration| -> Option<f64> {
            let values: Vec<f64> = samples
                .iter()
                .filter(|s| {
                    let at = Duration::from_secs_f64(s.minute * 60.0);
                    at >= from && at <= to
                })
                .filter_map(pick)
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let first = window(warm, warm + WINDOW);
        let last = window(length.saturating_sub(WINDOW), length + WINDOW);
        match (first, last) {
            (Some(a), Some(b)) if a > 0.0 => json!({
                "after_warmup": crate::round(a),
                "at_end": crate::round(b),
                "growth_percent": crate::round((b - a) / a * 100.0),
            }),
            (a, b) => json!({ "after_warmup": a, "at_end": b }),
        }
    };
    Ok(json!({
        "date": jiff::Timestamp::now().to_string(),
        "minutes": options.minutes,
        "warmup_minutes": options.warmup_minutes,
        "clients": options.clients,
        "namespace": options.namespace,
        "vms": vms.len(),
        "actions_per_second": options.actions_per_second,
        "actions_sent": sent,
        "actions_not_sent": refused,
        "unacknowledged_at_end": left,
        "all_acknowledged": left == 0,
        "client_reconnects": reconnects,
        "console_rss": growth(&|s| s.console_rss_mb),
        "controller_rss": growth(&|s| s.controller_rss_mb),
        "console_socket_fds": growth(&|s| s.console_socket_fds.map(|v| v as f64)),
        "console_live_connections": growth(&|s| s.console_live_connections),
        "console_tasks": growth(&|s| s.console_tasks),
        "apiserver_watches": growth(&|s| s.apiserver_watches),
        "samples": samples,
    }))
}

fn unacknowledged(seen: &crate::bulk::Seen, ns: &str, vms: &[String]) -> usize {
    seen.lock()
        .map(|s| {
            vms.iter()
                .filter(|name| {
                    s.get(&(ns.to_owned(), (*name).clone())).is_some_and(
                        |(requested, observed, _)| requested.is_some() && requested != observed,
                    )
                })
                .count()
        })
        .unwrap_or(usize::MAX)
}

async fn sample(
    client: &Client,
    options: &Options,
    started: Instant,
    seen: &crate::bulk::Seen,
    vms: &[String],
    sent: usize,
) -> Sample {
    let metrics = console_metrics(&options.console).await;
    let metric = |name: &str| {
        metrics.as_deref().and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        })
    };
    Sample {
        minute: crate::round(started.elapsed().as_secs_f64() / 60.0),
        console_rss_mb: crate::proc_stats(options.console_pid).map(|(rss, _)| crate::round(rss)),
        controller_rss_mb: options
            .controller_pid
            .and_then(crate::proc_stats)
            .map(|(rss, _)| crate::round(rss)),
        console_socket_fds: socket_fds(options.console_pid),
        console_live_connections: metric("wukong_console_live_connections"),
        console_tasks: metric("wukong_console_tasks"),
        apiserver_watches: watches(client).await,
        actions_sent: sent,
        unacknowledged: unacknowledged(seen, &options.namespace, vms),
    }
}

/// Open sockets of a process: its file descriptors that are sockets.
fn socket_fds(pid: u32) -> Option<usize> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        dir.flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
            })
            .count(),
    )
}

/// Every open watch on the apiserver (all resources), from its own metrics.
async fn watches(client: &Client) -> Option<f64> {
    let request = crate::http_get("/metrics")?;
    let text = client.request_text(request).await.ok()?;
    Some(
        text.lines()
            .filter(|l| {
                l.starts_with("apiserver_longrunning_requests{") && l.contains("verb=\"WATCH\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

async fn console_metrics(console: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(console).await.ok()?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {console}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(out.split_once("\r\n\r\n")?.1.to_owned())
}
