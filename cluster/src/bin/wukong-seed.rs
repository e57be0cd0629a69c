//! `wukong-seed`: puts the sandbox's 29 VMs on a real cluster, the way a person would: it creates
//! the Wukongs (with `startStrategy.autoStart` for the ones meant to run) and asks for a suspend
//! where the seed says Suspended; the lifecycle controller and KubeVirt (or its simulator) do the
//! rest. Waits until every VM has reached its seeded state.
//!
//!   KUBECONFIG=.dev/kubeconfig wukong-seed

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use wukong_api::{LifecycleAction, StartStrategy, Wukong};
use wukong_cluster::{sandbox_seed, seed_wukong};
use wukong_lifecycle::{Action, VmState};

const LABEL: &str = "app.kubernetes.io/managed-by";
const LABEL_VALUE: &str = "wukong-seed";
const FIELD_MANAGER: &str = "wukong-seed";
const WAIT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> ExitCode {
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("wukong-seed: no cluster ({e}); set KUBECONFIG");
            return ExitCode::FAILURE;
        }
    };
    match seed(client).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wukong-seed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(client: Client) -> Result<(), String> {
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
    let now = k8s_openapi::jiff::Timestamp::now();
    for (index, vm) in seed.iter().enumerate() {
        let mut wukong = seed_wukong(vm, index, now);
        wukong.status = None;
        wukong.metadata.uid = None;
        wukong.metadata.creation_timestamp = None;
        wukong.metadata.generation = None;
        wukong.metadata.finalizers = None;
        wukong.metadata.labels = Some([(LABEL.to_owned(), LABEL_VALUE.to_owned())].into());
        wukong.spec.start_strategy = Some(StartStrategy {
            auto_start: matches!(
                vm.state,
                VmState::Running | VmState::Suspended | VmState::Failed
            ),
        });
        let api: Api<Wukong> = Api::namespaced(client.clone(), vm.namespace);
        match api.create(&PostParams::default(), &wukong).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(format!("{}/{}: {e}", vm.namespace, vm.name)),
        }
    }
    println!(
        "created {} Wukongs; waiting for them to reach their states",
        seed.len()
    );

    let all: Api<Wukong> = Api::all(client.clone());
    let selector = ListParams::default().labels(&format!("{LABEL}={LABEL_VALUE}"));
    let started = Instant::now();
    let mut suspended_asked = BTreeSet::new();
    loop {
        let list = all.list(&selector).await.map_err(|e| e.to_string())?;
        let mut waiting = Vec::new();
        for vm in &seed {
            let Some(wukong) = list.items.iter().find(|w| {
                w.metadata.namespace.as_deref() == Some(vm.namespace)
                    && w.metadata.name.as_deref() == Some(vm.name)
            }) else {
                waiting.push(format!("{}/{} (missing)", vm.namespace, vm.name));
                continue;
            };
            let state = wukong.vm_state();
            if state == vm.state {
                continue;
            }
            if vm.state == VmState::Suspended
                && state == VmState::Running
                && suspended_asked.insert(vm.name)
            {
                let request = LifecycleAction::for_action(
                    Action::Suspend,
                    None,
                    format!("seed-{}", uuid::Uuid::new_v4()),
                );
                let patch = json!({ "spec": { "lifecycleAction": request } });
                Api::<Wukong>::namespaced(client.clone(), vm.namespace)
                    .patch(
                        vm.name,
                        &PatchParams {
                            field_manager: Some(FIELD_MANAGER.to_owned()),
                            ..PatchParams::default()
                        },
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|e| format!("suspending {}/{}: {e}", vm.namespace, vm.name))?;
            }
            waiting.push(format!(
                "{}/{} is {state}, want {}",
                vm.namespace, vm.name, vm.state
            ));
        }
        if waiting.is_empty() {
            println!(
                "seeded {} VMs in {:.1} s",
                seed.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > WAIT {
            return Err(format!(
                "not in their seeded states after {} s (is the lifecycle controller running?): {}",
                WAIT.as_secs(),
                waiting.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
