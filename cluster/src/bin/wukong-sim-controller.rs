//! TEST HELPER, not a product: plays the lifecycle controller (and KubeVirt) on a real API server
//! by writing `status.lifecycleState` of simulated Wukongs, using the same simulation as the
//! sandbox. It exists until the real lifecycle controller lands, then it goes.
//!
//!   KUBECONFIG=.dev/kubeconfig wukong-sim-controller seed   # (re)create the sandbox's 26 VMs
//!   KUBECONFIG=.dev/kubeconfig wukong-sim-controller run    # carry out their lifecycle requests
//!
//! Only Wukongs labelled `sim.novasphere.dev/simulated=true` are touched.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;
use wukong_api::Wukong;
use wukong_cluster::simulated::{SimulatedVm, Step};
use wukong_cluster::{sandbox_seed, seed_wukong};
use wukong_sim::Timings;

const LABEL: &str = "sim.novasphere.dev/simulated";
const FIELD_MANAGER: &str = "wukong-sim-controller";

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("wukong-sim-controller: no cluster ({e}); set KUBECONFIG");
            return ExitCode::FAILURE;
        }
    };
    let result = match command.as_str() {
        "seed" => seed(client).await,
        "run" => run(client).await,
        _ => Err("usage: wukong-sim-controller seed|run".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wukong-sim-controller: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Replaces every simulated Wukong with a fresh copy of the sandbox seed (states included).
async fn seed(client: Client) -> Result<(), String> {
    let all: Api<Wukong> = Api::all(client.clone());
    let selector = ListParams::default().labels(&format!("{LABEL}=true"));
    for old in all.list(&selector).await.map_err(|e| e.to_string())? {
        let (Some(ns), Some(name)) = (old.metadata.namespace, old.metadata.name) else {
            continue;
        };
        let api: Api<Wukong> = Api::namespaced(client.clone(), &ns);
        let release = json!({ "metadata": { "finalizers": null } });
        let _ = api.patch(&name, &params(), &Patch::Merge(&release)).await;
        let _ = api.delete(&name, &DeleteParams::default()).await;
    }
    let seed = sandbox_seed();
    let namespaces: BTreeSet<&str> = seed.iter().map(|vm| vm.namespace).collect();
    for ns in namespaces {
        let namespace: Namespace = serde_json::from_value(json!({ "metadata": { "name": ns } }))
            .map_err(|e| e.to_string())?;
        match Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(format!("namespace {ns}: {e}")),
        }
    }
    let now = Timestamp::now();
    for (index, vm) in seed.iter().enumerate() {
        let mut wukong = seed_wukong(vm, index, now);
        wukong.metadata.uid = None;
        wukong.metadata.creation_timestamp = None;
        wukong.metadata.labels = Some([(LABEL.to_owned(), "true".to_owned())].into());
        let status = wukong.status.take();
        let api: Api<Wukong> = Api::namespaced(client.clone(), vm.namespace);
        // A deletion from the previous run may still be finishing.
        let mut created = Err(String::new());
        for _ in 0..50 {
            created = api
                .create(&PostParams::default(), &wukong)
                .await
                .map(drop)
                .map_err(|e| e.to_string());
            if created.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        created.map_err(|e| format!("{}/{}: {e}", vm.namespace, vm.name))?;
        let patch = json!({ "status": status });
        api.patch_status(vm.name, &params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| format!("status of {}/{}: {e}", vm.namespace, vm.name))?;
    }
    println!("seeded {} simulated Wukongs", seed.len());
    Ok(())
}

/// Watches the simulated Wukongs and carries out their requests, writing status as it goes.
async fn run(client: Client) -> Result<(), String> {
    let speed: f64 = std::env::var("WUKONG_SANDBOX_SPEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let timings = Timings::default().scaled(speed);
    let all: Api<Wukong> = Api::all(client.clone());
    let config = watcher::Config::default().labels(&format!("{LABEL}=true"));
    let mut events = watcher(all, config).default_backoff().boxed();
    let mut vms: HashMap<(String, String), SimulatedVm> = HashMap::new();
    let origin = Instant::now();
    println!("simulating the lifecycle controller for Wukongs labelled {LABEL}=true");
    loop {
        let now_ms = origin.elapsed().as_millis() as u64;
        let wait = vms
            .values()
            .filter_map(SimulatedVm::next_event_at)
            .min()
            .map_or(Duration::from_secs(3600), |at| {
                Duration::from_millis(at.saturating_sub(now_ms))
            });
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(w) | watcher::Event::InitApply(w))) => {
                    let key = (w.metadata.namespace.clone().unwrap_or_default(), w.metadata.name.clone().unwrap_or_default());
                    match vms.get_mut(&key) {
                        Some(vm) => vm.observe(w),
                        None => {
                            vms.insert(key, SimulatedVm::from_wukong(w, timings));
                        }
                    }
                }
                Some(Ok(watcher::Event::Delete(w))) => {
                    vms.remove(&(w.metadata.namespace.unwrap_or_default(), w.metadata.name.unwrap_or_default()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => eprintln!("watch: {e}"),
                None => return Err("the watch ended".into()),
            },
            _ = tokio::time::sleep(wait) => {}
        }
        let now_ms = origin.elapsed().as_millis() as u64;
        let wall = Timestamp::now();
        for ((ns, name), vm) in vms.iter_mut() {
            let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
            let written = match vm.step(now_ms, wall) {
                Step::Unchanged => continue,
                Step::StatusChanged => {
                    let patch = json!({ "status": vm.wukong().status });
                    api.patch_status(name, &params(), &Patch::Merge(&patch))
                        .await
                        .map(drop)
                }
                Step::Gone => {
                    let release = json!({ "metadata": { "finalizers": null } });
                    api.patch(name, &params(), &Patch::Merge(&release))
                        .await
                        .map(drop)
                }
            };
            if let Err(e) = written {
                eprintln!("{ns}/{name}: {e}");
            }
        }
    }
}
