//! `wukong-bench bulk`: a bulk start and a bulk stop of many Wukongs through the console, timed
//! until the console has accepted every request (its answer) and until the lifecycle controller
//! has acknowledged every one (`status.lifecycleState.observedRequestId` = the request's id).

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wukong_api::Wukong;

/// The latest seen of each Wukong: (request id in spec, observed request id, state).
pub(crate) type Seen =
    Arc<Mutex<HashMap<(String, String), (Option<String>, Option<String>, String)>>>;

/// How long the controller may take to acknowledge a whole bulk action.
const ACK_LIMIT: Duration = Duration::from_secs(300);
/// How long the bench waits for started VMs to be Running before it stops them all.
const RUNNING_LIMIT: Duration = Duration::from_secs(120);

pub async fn run(
    client: &Client,
    console: &str,
    count: usize,
    label: String,
) -> Result<Value, String> {
    let seen: Seen = Arc::default();
    watch(client, seen.clone()).await?;
    // `count` Wukongs by a filter: one bench namespace if it holds enough, else every bench VM.
    let keys_in = |namespace: &str, search: &str| -> Vec<(String, String)> {
        let seen = seen.lock().map(|s| s.keys().cloned().collect::<Vec<_>>());
        seen.unwrap_or_default()
            .into_iter()
            .filter(|(ns, name)| {
                (namespace.is_empty() || ns == namespace)
                    && (name.contains(search) || ns.contains(search))
            })
            .collect()
    };
    let (namespace, search) = if keys_in("bench-00", "").len() >= count {
        ("bench-00", "")
    } else {
        ("", "bench-")
    };
    let targets = keys_in(namespace, search);
    let filter = json!({ "namespace": namespace, "search": search });

    // The floor for comparison: the same number of plain merge patches (an annotation), 32 in
    // flight, straight to the apiserver from this process.
    let floor_seconds = plain_patches(client, &targets).await?;
    let mut start = phase(client, console, &seen, &targets, &filter, "start").await?;
    // Stop needs running VMs: wait for them (bounded), then stop them all.
    let running_since = Instant::now();
    let all_running = wait_until(&seen, &targets, RUNNING_LIMIT, |(_, _, state)| {
        state == "Running"
    })
    .await;
    let running_seconds = running_since.elapsed().as_secs_f64();
    // Each path floor is taken once the VMs have settled, so it is the apiserver's own pace, not
    // the pace left over while the simulator and the controller still move VMs.
    path_floor(client, &targets, &mut start).await?;
    let mut stop = phase(client, console, &seen, &targets, &filter, "stop").await?;
    let all_stopped = wait_until(&seen, &targets, RUNNING_LIMIT, |(_, _, state)| {
        state == "Stopped"
    })
    .await;
    path_floor(client, &targets, &mut stop).await?;
    Ok(json!({
        "label": label,
        "date": jiff::Timestamp::now().to_string(),
        "filter": filter,
        "vms": targets.len(),
        "floor_plain_patches_seconds": crate::round(floor_seconds),
        "start": start,
        "all_running": all_running,
        "seconds_until_running": crate::round(running_seconds),
        "stop": stop,
        "all_stopped_before_its_floor": all_stopped,
    }))
}

/// Seconds for one merge patch (an annotation) of each target, 32 in flight.
async fn plain_patches(client: &Client, targets: &[(String, String)]) -> Result<f64, String> {
    let started = Instant::now();
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let patch = json!({ "metadata": { "annotations": { "bench.novasphere.dev/marker": marker } } });
    let results: Vec<Result<(), String>> = futures::stream::iter(targets)
        .map(|(ns, name)| {
            let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
            let patch = &patch;
            async move {
                api.patch(
                    name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(patch),
                )
                .await
                .map(drop)
                .map_err(|e| format!("patch {ns}/{name}: {e}"))
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), String>>()?;
    Ok(started.elapsed().as_secs_f64())
}

/// Keeps `seen` up to date from a watch on every Wukong; returns once the first list is in.
pub(crate) async fn watch(client: &Client, seen: Seen) -> Result<(), String> {
    let (listed_tx, listed_rx) = tokio::sync::oneshot::channel::<()>();
    let api: Api<Wukong> = Api::all(client.clone());
    tokio::spawn(async move {
        let mut listed = Some(listed_tx);
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            let w = match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                    continue;
                }
                Ok(watcher::Event::Apply(w) | watcher::Event::InitApply(w)) => w,
                _ => continue,
            };
            let (Some(ns), Some(name)) = (w.metadata.namespace.clone(), w.metadata.name.clone())
            else {
                continue;
            };
            let requested = w
                .spec
                .lifecycle_action
                .as_ref()
                .map(|a| a.request_id.clone());
            let state = w.lifecycle_state();
            let observed = state.and_then(|s| s.observed_request_id.clone());
            let state = state.map(|s| s.state.clone()).unwrap_or_default();
            if let Ok(mut seen) = seen.lock() {
                seen.insert((ns, name), (requested, observed, state));
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(120), listed_rx)
        .await
        .map_err(|_| "the watch's first list took over 120 s".to_owned())?
        .map_err(|_| "the watch stopped".to_owned())
}

/// The floor the controller's pace is compared with: as many plain writes as the whole path made
/// per accepted request (`apiserver_writes_per_request`, rounded), for every target, timed the
/// same way as `floor_plain_patches_seconds` (32 in flight). Added to the phase's result.
async fn path_floor(
    client: &Client,
    targets: &[(String, String)],
    phase: &mut Value,
) -> Result<(), String> {
    let per_request = phase["apiserver_writes_per_request"]
        .as_f64()
        .unwrap_or(0.0);
    let rounds = per_request.round().clamp(1.0, 20.0) as usize;
    let mut seconds = 0.0;
    for _ in 0..rounds {
        seconds += plain_patches(client, targets).await?;
    }
    phase["path_writes_counted"] = json!(rounds);
    phase["floor_path_writes_seconds"] = json!(crate::round(seconds));
    if let Some(acked) = phase["seconds_until_all_acknowledged"].as_f64() {
        phase["acknowledged_over_floor"] = json!(crate::round(acked / seconds.max(0.001)));
    }
    Ok(())
}

/// Successful writes the apiserver has served (`apiserver_request_total`, mutating verbs),
/// by resource and subresource; Leases are left out (leader election, not the path).
async fn apiserver_writes(client: &Client) -> Result<HashMap<String, f64>, String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = client
        .request_text(request)
        .await
        .map_err(|e| format!("apiserver /metrics: {e}"))?;
    let label = |line: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        line.split(&key)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let mut writes = HashMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let verb = label(line, "verb");
        let code = label(line, "code");
        let resource = label(line, "resource");
        if !matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE" | "APPLY")
            || !code.starts_with('2')
            || resource == "leases"
        {
            continue;
        }
        let subresource = label(line, "subresource");
        let key = if subresource.is_empty() {
            resource
        } else {
            format!("{resource}/{subresource}")
        };
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *writes.entry(key).or_insert(0.0) += value;
    }
    Ok(writes)
}

/// One bulk action: POST it, time the answer, then time until every request is acknowledged;
/// the apiserver's writes meanwhile, by resource.
async fn phase(
    client: &Client,
    console: &str,
    seen: &Seen,
    targets: &[(String, String)],
    filter: &Value,
    action: &str,
) -> Result<Value, String> {
    let before: HashMap<(String, String), Option<String>> = {
        let seen = seen.lock().map_err(|_| "poisoned".to_owned())?;
        targets
            .iter()
            .map(|k| (k.clone(), seen.get(k).and_then(|s| s.0.clone())))
            .collect()
    };
    let body = json!({ "target": { "Matching": filter }, "action": action });
    let writes_before = apiserver_writes(client).await?;
    let started = Instant::now();
    let (status, answer) = post(console, "/api/bulk_action", &body.to_string()).await?;
    let answered = started.elapsed().as_secs_f64();
    if status != 200 {
        return Err(format!("bulk {action}: HTTP {status}: {answer}"));
    }
    let outcomes: Vec<Value> =
        serde_json::from_str(&answer).map_err(|e| format!("bulk {action} answer: {e}"))?;
    let accepted: Vec<(String, String)> = outcomes
        .iter()
        .filter(|o| o["accepted"] == true)
        .filter_map(|o| {
            let key = &o["key"];
            Some((
                key["namespace"].as_str()?.to_owned(),
                key["name"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let refusals: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["accepted"] != true)
        .take(3)
        .collect();
    // Acknowledged: a new request id in spec, and the controller has observed it.
    let acknowledged = {
        let deadline = started + ACK_LIMIT;
        loop {
            let done = seen.lock().is_ok_and(|seen| {
                accepted.iter().all(|k| match seen.get(k) {
                    Some((Some(id), Some(observed), _)) => {
                        before.get(k).is_some_and(|old| old.as_ref() != Some(id)) && id == observed
                    }
                    _ => false,
                })
            });
            if done || Instant::now() > deadline {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let acknowledged_after = started.elapsed().as_secs_f64();
    let writes_after = apiserver_writes(client).await?;
    let mut writes: Vec<(String, f64)> = writes_after
        .iter()
        .map(|(k, v)| (k.clone(), v - writes_before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    let total: f64 = writes.iter().map(|(_, v)| v).sum();
    let per_request = total / (accepted.len().max(1) as f64);
    Ok(json!({
        "apiserver_writes_until_acknowledged": writes
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect::<serde_json::Map<String, Value>>(),
        "apiserver_writes_per_request": crate::round(per_request),
        "action": action,
        "requested": outcomes.len(),
        "accepted": accepted.len(),
        "examples_of_refusals": refusals,
        "seconds_until_all_answered": crate::round(answered),
        "all_acknowledged": acknowledged,
        "seconds_until_all_acknowledged": crate::round(acknowledged_after),
    }))
}

/// Waits (bounded) until every target satisfies `ok`.
async fn wait_until(
    seen: &Seen,
    targets: &[(String, String)],
    limit: Duration,
    ok: impl Fn(&(Option<String>, Option<String>, String)) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let done = seen
            .lock()
            .is_ok_and(|seen| targets.iter().all(|k| seen.get(k).is_some_and(&ok)));
        if done {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain HTTP/1.1 POST of JSON to the console on loopback: (status, body).
pub(crate) async fn post(console: &str, path: &str, json: &str) -> Result<(u16, String), String> {
    post_with(console, path, "application/json", json).await
}

/// A plain HTTP/1.1 POST of `body` (of `content_type`) to the console on loopback.
pub(crate) async fn post_with(
    console: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let json = body;
    let mut stream = tokio::net::TcpStream::connect(console)
        .await
        .map_err(|e| format!("{console}: {e}"))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {console}\r\nContent-Type: {content_type}\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(300), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| "the console did not answer within 300 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("a response without headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("a response without a status")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
