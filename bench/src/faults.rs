//! `wukong-bench faults`: for each fault in turn, a bulk stop of the VMs of one bench namespace
//! through the console with C websocket clients watching their pages, and one process of the stack
//! killed with `kill -9` while the controller is still taking the requests up:
//! the controller replica holding the Lease (a second one runs), kube-apiserver, etcd, and the
//! KubeVirt simulator. Then, per fault:
//! - every request is acknowledged, and recorded exactly once in the Wukong's history;
//! - how long after recovery every client's page equals what the apiserver holds (the same row
//!   function the console uses, on a fresh list), with no page reload (sockets reconnect as a
//!   browser's do);
//! - the outcomes recorded (a KubeVirt call repeated after a crash shows up as KubeVirtRefused).
//!
//! Recovery: the killed process answers again (kube-apiserver's and etcd's `/readyz`, KubeVirt's
//! aggregated discovery), or for the controller, the other replica holds the Lease.
//! Every loop here is bounded in time; everything is on loopback.

use crate::browsers::{Browsers, Page};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wukong_api::Wukong;
use wukong_view::{Filter, VmKey, VmRow};

/// The faults, in the order they are injected (`./dev/cluster kill NAME`).
pub const FAULTS: [&str; 4] = [
    "wukong-controller-leader",
    "kube-apiserver",
    "etcd",
    "wukong-kubevirt-sim",
];
/// How long a killed process stays down before it is started again (not the controller: its
/// standby takes over, and the killed replica is started again once it has).
const DOWNTIME: Duration = Duration::from_secs(5);
/// How long every wait here may take at most.
const LIMIT: Duration = Duration::from_secs(600);
/// Rows per client page (the console's largest).
const PAGE_SIZE: u32 = 500;
/// How close together two checks of the clients against the apiserver are.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// How far behind the apiserver a client's row may be and still count as converged: a row the
/// apiserver held this long ago at most (each check's list, and the one before it).
const LAG: Duration = Duration::from_secs(1);
/// How often a difference that keeps the clients from converging is written down.
const TRACE_EVERY: Duration = Duration::from_secs(2);
/// Convergence is expected within this long of recovery (issue 14).
const CONVERGE_WITHIN: Duration = Duration::from_secs(5);

pub struct Options {
    pub console: String,
    pub clients: usize,
    pub cluster_script: String,
    pub faults: Vec<String>,
}

pub async fn run(client: &Client, options: &Options) -> Result<Value, String> {
    let mut rounds = Vec::new();
    for (i, fault) in options.faults.iter().enumerate() {
        let ns = crate::bench_namespace(i);
        eprintln!("fault {}: {fault} during a bulk stop of {ns}", i + 1);
        rounds.push(round(client, options, &ns, fault).await?);
    }
    Ok(json!({
        "date": jiff::Timestamp::now().to_string(),
        "clients": options.clients,
        "converge_within_seconds": CONVERGE_WITHIN.as_secs(),
        "converged_means_rows_at_most_seconds_behind": LAG.as_secs_f64(),
        "rounds": rounds,
    }))
}

async fn round(client: &Client, options: &Options, ns: &str, fault: &str) -> Result<Value, String> {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    // Every version of each row, as the bench's own watch sees them (ended with the round).
    let versions = Versions::follow(api.clone());
    let filter = Filter {
        namespace: ns.to_owned(),
        ..Filter::default()
    };
    let vms = list(&api).await?.len();

    // The clients: pages of 500 of this namespace, as many browsers would hold them; they outlive
    // every bounded wait of the round.
    let browsers = Browsers::open(
        &options.console,
        options.clients,
        &filter,
        vms,
        PAGE_SIZE,
        Instant::now() + LIMIT * 5,
    )
    .await?;
    let clients = &browsers.pages;
    // Also waits for the console's first list (a console just started at N = 10,000 takes seconds).
    converge(&api, &versions, clients, Instant::now(), &mut Vec::new()).await?;
    // The VMs must be running for a stop: start them first (no fault), and wait.
    let listed = list(&api).await?;
    if listed
        .iter()
        .any(|w| w.lifecycle_state().map(|s| s.state.as_str()) != Some("Running"))
    {
        bulk(&options.console, &filter, "start").await?;
        wait_for(&api, "every VM Running", |ws| {
            ws.iter()
                .all(|w| w.lifecycle_state().map(|s| s.state.as_str()) == Some("Running"))
        })
        .await?;
    }
    let before: HashMap<String, Option<String>> = list(&api)
        .await?
        .iter()
        .map(|w| (name_of(w), request_id(w)))
        .collect();

    // The bulk stop, then the fault once a third of it is acknowledged.
    let started = Instant::now();
    let accepted = bulk(&options.console, &filter, "stop").await?;
    let third = accepted.len().div_ceil(3);
    wait_for(&api, "a third acknowledged", |ws| {
        acknowledged(ws, &before) >= third
    })
    .await?;
    let acknowledged_at_fault = acknowledged(&list(&api).await?, &before);
    let holder = lease_holder(client).await;
    let killed = kill(&options.cluster_script, fault).await?;
    let killed_at = Instant::now();
    let restart = {
        let script = options.cluster_script.clone();
        let name = killed.clone();
        tokio::spawn(async move {
            if name.starts_with("wukong-controller") {
                return Ok(());
            }
            tokio::time::sleep(DOWNTIME).await;
            start(&script, &name).await
        })
    };
    let recovered_at = recovered(client, fault, holder.as_deref()).await?;
    let recovery = recovered_at.duration_since(killed_at);
    restart
        .await
        .map_err(|e| format!("restarting {killed}: {e}"))??;
    // What kept the clients from matching, every 2 s or so until they did.
    let mut differences = Vec::new();
    let converged = converge(&api, &versions, clients, recovered_at, &mut differences).await;
    if killed.starts_with("wukong-controller") {
        // The killed replica comes back as the standby.
        start(&options.cluster_script, &killed).await?;
    }

    // Every request acknowledged, each recorded once.
    let all_acknowledged = wait_for(&api, "every request acknowledged", |ws| {
        acknowledged(ws, &before) >= accepted.len()
    })
    .await
    .is_ok();
    let acknowledged_after = started.elapsed();
    let settled = wait_for(&api, "every VM Stopped", |ws| {
        ws.iter()
            .all(|w| w.lifecycle_state().map(|s| s.state.as_str()) == Some("Stopped"))
    })
    .await
    .is_ok();
    let wukongs = list(&api).await?;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let (mut recorded_once, mut recorded_twice, mut unrecorded) = (0, 0, Vec::new());
    for w in &wukongs {
        let Some(id) = request_id(w) else { continue };
        if before.get(&name_of(w)) == Some(&Some(id.clone())) {
            continue; // not part of this bulk stop
        }
        let records: Vec<_> = w
            .status
            .iter()
            .flat_map(|s| s.recent_requests.iter())
            .filter(|r| r.request_id == id)
            .collect();
        match records.len() {
            0 => unrecorded.push(name_of(w)),
            1 => recorded_once += 1,
            _ => recorded_twice += 1,
        }
        for r in records {
            *outcomes.entry(r.outcome.clone()).or_default() += 1;
        }
    }
    // The clients once more, on the settled namespace: nothing left behind.
    let final_check = converge(&api, &versions, clients, Instant::now(), &mut Vec::new()).await;
    let reconnects = browsers.reconnects();
    drop(browsers);
    unrecorded.truncate(5);
    Ok(json!({
        "fault": fault,
        "killed": killed,
        "namespace": ns,
        "vms": vms,
        "accepted": accepted.len(),
        "acknowledged_when_killed": acknowledged_at_fault,
        "seconds_until_recovered": crate::round(recovery.as_secs_f64()),
        "clients_converged_seconds_after_recovery": converged.as_ref().ok().map(|d| crate::round(d.as_secs_f64())),
        "clients_converged_within_5_s": converged.as_ref().is_ok_and(|d| *d <= CONVERGE_WITHIN),
        "clients_not_converged": converged.err(),
        "differences_until_converged": differences,
        "client_reconnects": reconnects,
        "all_acknowledged": all_acknowledged,
        "seconds_until_all_acknowledged": crate::round(acknowledged_after.as_secs_f64()),
        "recorded_once": recorded_once,
        "recorded_more_than_once": recorded_twice,
        "not_recorded_examples": unrecorded,
        "outcomes": outcomes,
        "all_stopped": settled,
        "clients_match_after_settling": final_check.is_ok(),
    }))
}

/// Waits until every client's page is what the apiserver holds: the same rows, in the same
/// window of the same order, each equal to what the console's own row function makes of the
/// Wukong as the apiserver held it at most [`LAG`] before the check, or right after it (a list
/// is read before the clients are looked at, and rows change all through a bulk: a client may be
/// ahead of it). A version that lived between two lists counts by the bench's own watch
/// ([`Versions`]). Returns how long after `since` that first held.
async fn converge(
    api: &Api<Wukong>,
    versions: &Versions,
    clients: &[Arc<Mutex<Page>>],
    since: Instant,
    differences: &mut Vec<String>,
) -> Result<Duration, String> {
    let mut noted = Instant::now() - TRACE_EVERY;
    let deadline = Instant::now() + Duration::from_secs(60);
    // The apiserver's rows at each check, newest first, as long as they are within LAG.
    let mut held: VecDeque<(Instant, BTreeMap<VmKey, VmRow>)> = VecDeque::new();
    let mut last_problem;
    loop {
        let problem = match listed(api).await {
            Ok(now) => {
                held.push_front(now);
                // Keep what the apiserver held within LAG: the lists taken since, and the one
                // before them (it was still what the apiserver held when LAG began).
                while held.len() > 1 && held[held.len() - 2].0.elapsed() > LAG {
                    held.pop_back();
                }
                let snapshots: Vec<&BTreeMap<VmKey, VmRow>> = held.iter().map(|(_, m)| m).collect();
                match mismatch(clients, &snapshots) {
                    Err(problem) => Some(problem),
                    Ok(odd) if odd.iter().all(|(_, k, row)| versions.recent(k, row)) => None,
                    // Rows none of those lists has: ahead of them, or behind by more than LAG.
                    Ok(odd) => match listed(api).await {
                        Ok(after) => {
                            let problem = odd
                                .iter()
                                .find(|(_, key, row)| {
                                    after.1.get(key) != Some(row) && !versions.recent(key, row)
                                })
                                .map(|(i, key, row)| difference(*i, key, row, &after.1));
                            held.push_front(after);
                            problem
                        }
                        Err(e) => Some(e),
                    },
                }
            }
            Err(e) => Some(e),
        };
        match problem {
            None => return Ok(since.elapsed()),
            Some(problem) => {
                if noted.elapsed() >= TRACE_EVERY && differences.len() < 40 {
                    noted = Instant::now();
                    let at = since.elapsed().as_secs_f64();
                    differences.push(format!("{at:.1} s: {problem}"));
                }
                last_problem = problem;
            }
        }
        if Instant::now() > deadline {
            return Err(format!("not within 60 s: {last_problem}"));
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Per row, its versions (newest last), each with when the next one replaced it.
type SeenRows = HashMap<VmKey, VecDeque<(VmRow, Option<Instant>)>>;

/// Every version of each row of a namespace that the bench's own watch has seen, with when the
/// next one replaced it: a client row between two lists is one of these.
struct Versions {
    seen: Arc<Mutex<SeenRows>>,
    task: tokio::task::JoinHandle<()>,
}

impl Versions {
    /// Versions kept per row (the newest).
    const KEEP: usize = 16;

    fn follow(api: Api<Wukong>) -> Versions {
        use futures::StreamExt;
        use kube::runtime::{watcher, WatchStreamExt};
        let seen: Arc<Mutex<SeenRows>> = Arc::default();
        let rows = seen.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            // Bounded by the round: the task is aborted when `Versions` is dropped.
            while let Some(event) = events.next().await {
                let Some(row) = event
                    .ok()
                    .as_ref()
                    .and_then(wukong_cluster::row_from_wukong)
                else {
                    continue;
                };
                let Ok(mut rows) = rows.lock() else { return };
                let versions = rows.entry(row.key.clone()).or_default();
                if versions.back().is_some_and(|(last, _)| *last == row) {
                    continue;
                }
                if let Some((_, replaced)) = versions.back_mut() {
                    *replaced = Some(Instant::now());
                }
                versions.push_back((row, None));
                if versions.len() > Self::KEEP {
                    versions.pop_front();
                }
            }
        });
        Versions { seen, task }
    }

    /// Whether `row` is a version of `key` the apiserver held at most [`LAG`] ago.
    fn recent(&self, key: &VmKey, row: &VmRow) -> bool {
        let Ok(seen) = self.seen.lock() else {
            return false;
        };
        seen.get(key).is_some_and(|versions| {
            versions.iter().any(|(version, replaced)| {
                version == row && replaced.is_none_or(|at| at.elapsed() <= LAG)
            })
        })
    }
}

impl Drop for Versions {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The namespace's rows as the console makes them, and when the list was asked for.
async fn listed(api: &Api<Wukong>) -> Result<(Instant, BTreeMap<VmKey, VmRow>), String> {
    let at = Instant::now();
    let rows = list(api)
        .await?
        .iter()
        .filter_map(wukong_cluster::row_from_wukong)
        .map(|r| (r.key.clone(), r))
        .collect();
    Ok((at, rows))
}

/// A client whose page does not hold the apiserver's page of rows (`Err`), or the rows on the
/// clients' pages that equal none of the `snapshots` (newest first): (client, key, row).
fn mismatch(
    clients: &[Arc<Mutex<Page>>],
    snapshots: &[&BTreeMap<VmKey, VmRow>],
) -> Result<Vec<(usize, VmKey, VmRow)>, String> {
    let Some(now) = snapshots.first() else {
        return Ok(Vec::new());
    };
    let mut odd = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let Ok(page) = client.lock() else {
            return Err(format!("client {i}: poisoned"));
        };
        let mut expected: Vec<&VmRow> = now.values().collect();
        expected.sort_by(|a, b| page.view.order(a, b));
        let window: Vec<&VmKey> = expected
            .iter()
            .skip(page.view.offset())
            .take(page.view.page_size as usize)
            .map(|r| &r.key)
            .collect();
        let held: Vec<&VmKey> = page.rows.keys().collect();
        let mut window_sorted = window.clone();
        window_sorted.sort();
        if held != window_sorted {
            return Err(format!(
                "client {i}: {} rows on its page, the apiserver's page has {}",
                held.len(),
                window.len()
            ));
        }
        for (key, row) in &page.rows {
            if !snapshots.iter().any(|s| s.get(key) == Some(row)) && odd.len() < 10_000 {
                odd.push((i, key.clone(), row.clone()));
            }
        }
    }
    Ok(odd)
}

/// How client `i`'s `row` differs from the apiserver's: the fields, as the client and the
/// apiserver have them.
fn difference(i: usize, key: &VmKey, row: &VmRow, apiserver: &BTreeMap<VmKey, VmRow>) -> String {
    let mine = serde_json::to_value(row).unwrap_or_default();
    let theirs = apiserver.get(key).map(serde_json::to_value);
    let theirs = theirs.and_then(Result::ok).unwrap_or_default();
    let differ: Vec<String> = mine
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(field, value)| theirs.get(field.as_str()) != Some(value))
        .map(|(field, value)| format!("{field}: {value} vs {}", theirs[field.as_str()]))
        .collect();
    format!("client {i}: {key}: {}", differ.join("; "))
}

/// How many of the bulk's requests are acknowledged: a new request id, observed.
fn acknowledged(wukongs: &[Wukong], before: &HashMap<String, Option<String>>) -> usize {
    wukongs
        .iter()
        .filter(|w| {
            let id = request_id(w);
            id.is_some()
                && before.get(&name_of(w)) != Some(&id)
                && w.lifecycle_state()
                    .and_then(|s| s.observed_request_id.clone())
                    == id
        })
        .count()
}

fn request_id(w: &Wukong) -> Option<String> {
    w.spec
        .lifecycle_action
        .as_ref()
        .map(|a| a.request_id.clone())
}

fn name_of(w: &Wukong) -> String {
    w.metadata.name.clone().unwrap_or_default()
}

async fn list(api: &Api<Wukong>) -> Result<Vec<Wukong>, String> {
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| format!("list: {e}"))
}

/// Polls the namespace (bounded by [`LIMIT`]) until `done` holds; apiserver errors (it may be
/// down) are waited out.
async fn wait_for(
    api: &Api<Wukong>,
    what: &str,
    done: impl Fn(&[Wukong]) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Ok(wukongs) = list(api).await {
            if done(&wukongs) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("not {what} within {} s", LIMIT.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A bulk action on every VM matching `filter`; the names it accepted.
async fn bulk(console: &str, filter: &Filter, action: &str) -> Result<Vec<String>, String> {
    let body = json!({ "target": { "Matching": filter }, "action": action });
    let (status, answer) =
        crate::bulk::post(console, "/api/bulk_action", &body.to_string()).await?;
    if status != 200 {
        return Err(format!("bulk {action}: HTTP {status}: {answer}"));
    }
    let outcomes: Vec<Value> =
        serde_json::from_str(&answer).map_err(|e| format!("bulk {action} answer: {e}"))?;
    Ok(outcomes
        .iter()
        .filter(|o| o["accepted"] == true)
        .filter_map(|o| o["key"]["name"].as_str().map(str::to_owned))
        .collect())
}

/// `./dev/cluster kill NAME`: which process it killed.
async fn kill(script: &str, fault: &str) -> Result<String, String> {
    let out = tokio::process::Command::new(script)
        .args(["kill", fault])
        .output()
        .await
        .map_err(|e| format!("{script} kill {fault}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} kill {fault}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn start(script: &str, name: &str) -> Result<(), String> {
    let status = tokio::time::timeout(
        LIMIT,
        tokio::process::Command::new(script)
            .args(["start", name])
            .stdout(std::process::Stdio::null())
            .status(),
    )
    .await
    .map_err(|_| format!("{script} start {name}: over {} s", LIMIT.as_secs()))?
    .map_err(|e| format!("{script} start {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{script} start {name}: {status}"))
    }
}

/// Who holds the controller's Lease now (`None` if it cannot be read).
async fn lease_holder(client: &Client) -> Option<String> {
    let leases: Api<Lease> =
        Api::namespaced(client.clone(), wukong_api::lease::CONTROLLER_NAMESPACE);
    let lease = leases
        .get_opt(wukong_api::lease::CONTROLLER_LEASE_NAME)
        .await
        .ok()??;
    lease.spec?.holder_identity
}

/// When the killed process answers again (see the module's comment).
async fn recovered(client: &Client, fault: &str, holder: Option<&str>) -> Result<Instant, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let up = match fault {
            "wukong-controller-leader" => {
                let leases: Api<Lease> =
                    Api::namespaced(client.clone(), wukong_api::lease::CONTROLLER_NAMESPACE);
                match leases
                    .get_opt(wukong_api::lease::CONTROLLER_LEASE_NAME)
                    .await
                {
                    Ok(Some(lease)) => {
                        let other = lease
                            .spec
                            .as_ref()
                            .and_then(|s| s.holder_identity.as_deref())
                            .is_some_and(|h| Some(h) != holder);
                        other
                            && wukong_api::lease::is_held(
                                &lease,
                                Duration::from_secs(15),
                                k8s_openapi::jiff::Timestamp::now(),
                            )
                    }
                    _ => false,
                }
            }
            "wukong-kubevirt-sim" => get_ok(client, "/apis/subresources.kubevirt.io/v1").await,
            _ => get_ok(client, "/readyz").await,
        };
        if up {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("{fault}: not back within {} s", LIMIT.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_ok(client: &Client, path: &str) -> bool {
    let Ok(request) = http::Request::get(path).body(Vec::new()) else {
        return false;
    };
    tokio::time::timeout(Duration::from_secs(2), client.request_text(request))
        .await
        .is_ok_and(|r| r.is_ok())
}
