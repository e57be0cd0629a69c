//! The sandbox's starting inventory: 29 VMs in four namespaces, in mixed states (`kv-lab` holds
//! VMs in KubeVirt's other states: disks importing, an image that cannot be pulled).
//! End-to-end tests rely on these names and states (see end2end/README.md).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use wukong_api::{LifecycleState, StartStrategy, Wukong, WukongSpec, WukongStatus, FINALIZER};
use wukong_lifecycle::{RunStrategy, Says, VmState};
use wukong_sim::kubevirt::StartProblem;
use wukong_sim::Guest;

#[derive(Clone, Debug)]
pub struct SeedVm {
    pub namespace: &'static str,
    pub name: &'static str,
    pub state: VmState,
    pub run_strategy: RunStrategy,
    pub cpu_cores: u32,
    pub memory: &'static str,
    pub guest: Guest,
    pub grace_period_seconds: Option<i64>,
}

fn vm(
    namespace: &'static str,
    name: &'static str,
    state: VmState,
    run_strategy: RunStrategy,
    cpu_cores: u32,
    memory: &'static str,
) -> SeedVm {
    SeedVm {
        namespace,
        name,
        state,
        run_strategy,
        cpu_cores,
        memory,
        guest: Guest::default(),
        grace_period_seconds: None,
    }
}

pub fn sandbox_seed() -> Vec<SeedVm> {
    use RunStrategy::*;
    use VmState::*;
    let mut legacy = vm("team-a", "legacy-01", Running, Manual, 2, "4Gi");
    legacy.guest.ignores_acpi = true;
    legacy.grace_period_seconds = Some(8);
    let mut gpu = vm("ml-lab", "gpu-01", Failed, Always, 16, "64Gi");
    gpu.guest.fails_boot = true;
    // Its disk imports for the first 40 s after the cluster (or sandbox) comes up: Provisioning,
    // then Stopped.
    let mut import = vm("kv-lab", "import-01", Provisioning, Halted, 2, "4Gi");
    import.guest.provisioning_ms = Some(40_000);
    // Its image cannot be pulled: KubeVirt shows ErrImagePull with a VMI stuck before it runs.
    let mut pull = vm("kv-lab", "pull-01", Error, Always, 2, "4Gi");
    pull.guest.start_problem = Some(StartProblem::ErrImagePull);
    // A short grace period: a paused guest ignores ACPI, so its stop is forced at the deadline.
    let mut pausable = vm("kv-lab", "pause-01", Running, Manual, 1, "2Gi");
    pausable.grace_period_seconds = Some(5);
    vec![
        vm("team-a", "web-01", Running, Manual, 2, "4Gi"),
        vm("team-a", "web-02", Running, Manual, 2, "4Gi"),
        vm("team-a", "web-03", Running, Manual, 2, "4Gi"),
        vm("team-a", "db-01", Running, RerunOnFailure, 8, "32Gi"),
        vm("team-a", "db-02", Stopped, Manual, 8, "32Gi"),
        vm("team-a", "cache-01", Suspended, Manual, 4, "16Gi"),
        vm("team-a", "build-01", Stopped, Halted, 4, "8Gi"),
        legacy,
        vm("team-a", "batch-01", Running, Always, 4, "8Gi"),
        vm("team-b", "api-01", Running, Manual, 2, "4Gi"),
        vm("team-b", "api-02", Running, Manual, 2, "4Gi"),
        vm("team-b", "api-03", Running, Manual, 2, "4Gi"),
        vm("team-b", "worker-01", Stopped, Manual, 4, "8Gi"),
        vm("team-b", "worker-02", Stopped, Manual, 4, "8Gi"),
        vm("team-b", "queue-01", Running, Always, 2, "4Gi"),
        vm("team-b", "report-01", Suspended, Manual, 2, "8Gi"),
        vm("team-b", "mail-01", Running, RerunOnFailure, 1, "2Gi"),
        vm("team-b", "edge-01", Stopped, Halted, 1, "2Gi"),
        gpu,
        vm("ml-lab", "gpu-02", Running, Manual, 16, "64Gi"),
        vm("ml-lab", "notebook-01", Running, Manual, 4, "16Gi"),
        vm("ml-lab", "notebook-02", Stopped, Manual, 4, "16Gi"),
        vm("ml-lab", "train-01", Running, RerunOnFailure, 32, "128Gi"),
        vm("ml-lab", "scratch-01", Stopped, Manual, 1, "1Gi"),
        vm("ml-lab", "scratch-02", Running, Manual, 1, "1Gi"),
        vm("ml-lab", "infer-01", Running, Always, 8, "32Gi"),
        import,
        pull,
        pausable,
    ]
}

/// The Wukong for a seeded VM, as it would look after running a while: status included, guest
/// behaviour in annotations, the lifecycle finalizer set. `index` spreads ages and nodes.
pub fn seed_wukong(vm: &SeedVm, index: usize, now: Timestamp) -> Wukong {
    let mut wukong = Wukong::new(
        vm.name,
        WukongSpec {
            cpu_cores: Some(vm.cpu_cores),
            memory: Some(vm.memory.to_owned()),
            image: Some("quay.io/containerdisks/fedora:41".to_owned()),
            run_strategy: vm.run_strategy,
            start_strategy: Some(StartStrategy {
                auto_start: vm.run_strategy != RunStrategy::Halted,
            }),
            termination_grace_period_seconds: vm.grace_period_seconds,
            lifecycle_action: None,
        },
    );
    let annotations: BTreeMap<String, String> = vm
        .guest
        .to_annotations()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    wukong.metadata = ObjectMeta {
        namespace: Some(vm.namespace.to_owned()),
        name: Some(vm.name.to_owned()),
        uid: Some(format!("00000000-0000-4000-8000-{index:012}")),
        creation_timestamp: Some(Time(
            now - SignedDuration::from_hours(24 * (index as i64 % 9 + 1)),
        )),
        finalizers: Some(vec![FINALIZER.to_owned()]),
        annotations: (!annotations.is_empty()).then_some(annotations),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    let last_action = match vm.state {
        VmState::Stopped => Some("stop"),
        VmState::Suspended => Some("suspend"),
        VmState::Running | VmState::Failed => Some("start"),
        _ => None,
    };
    let failed = (vm.state == VmState::Failed).then(|| Says::KubeVirtProblem {
        detail: "CrashLoopBackOff".to_owned(),
    });
    wukong.status = Some(WukongStatus {
        lifecycle_state: Some(LifecycleState {
            state: vm.state.as_str().to_owned(),
            last_action: last_action.map(str::to_owned),
            last_action_time: last_action
                .map(|_| Time(now - SignedDuration::from_mins(7 * index as i64 + 3))),
            // What the controller says of a guest that failed (KubeVirt's words: untranslated).
            message: failed.as_ref().map(Says::to_string),
            reason: failed.as_ref().map(|s| s.code().to_owned()),
            reason_params: failed.as_ref().map(Says::params).unwrap_or_default(),
            ..LifecycleState::default()
        }),
        printable_status: None,
        vmi_phase: None,
        node_name: vm
            .state
            .has_live_guest()
            .then(|| format!("sandbox-node-{}", index % 3 + 1)),
        run_strategy: Some(vm.run_strategy),
        recent_requests: Vec::new(),
    });
    wukong
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashSet};

    #[test]
    fn at_least_24_unique_vms_in_4_namespaces_in_mixed_states() {
        let seed = sandbox_seed();
        assert!(seed.len() >= 24);
        let keys: HashSet<_> = seed.iter().map(|v| (v.namespace, v.name)).collect();
        assert_eq!(keys.len(), seed.len(), "names are unique");
        let namespaces: BTreeSet<_> = seed.iter().map(|v| v.namespace).collect();
        assert_eq!(namespaces.len(), 4);
        let states: BTreeSet<_> = seed.iter().map(|v| v.state).collect();
        assert!(states.len() >= 4, "{states:?}");
    }
}
