//! The sandbox: an in-memory cluster that plays API server, lifecycle controller and KubeVirt at once.
//!
//! It stores real `Wukong` objects, bumps a resource version on every write, and streams watch
//! events, so the console above the [`Cluster`] trait cannot tell it from a real cluster. A driver
//! task carries out each `spec.lifecycleAction` request id once, through the same lifecycle rules
//! and the shared VM simulation (`wukong-sim`).

use crate::{Cluster, ClusterError, SeedVm, WatchEvent, WatchStream};
use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;
use wukong_api::{
    LifecycleAction, LifecycleState, StartStrategy, Wukong, WukongSpec, WukongStatus, FINALIZER,
};
use wukong_lifecycle::{effective_grace_period, Action, RunStrategy, VmState};
use wukong_sim::{SimVm, Timings};
use wukong_view::{ClusterInfo, ClusterKind, VmKey};

const EVENT_BUFFER: usize = 1024;

/// An in-memory cluster; cheap to clone (all clones share one cluster).
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    events: broadcast::Sender<WatchEvent>,
    wake: Notify,
    origin: Instant,
}

struct State {
    vms: BTreeMap<VmKey, SandboxVm>,
    resource_version: u64,
}

struct SandboxVm {
    wukong: Wukong,
    sim: SimVm,
}

impl Sandbox {
    /// Seeds the cluster and starts its driver task (needs a Tokio runtime).
    pub fn start(seed: Vec<SeedVm>, timings: Timings) -> Sandbox {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let now = Timestamp::now();
        let mut state = State {
            vms: BTreeMap::new(),
            resource_version: 0,
        };
        for (index, vm) in seed.into_iter().enumerate() {
            state.resource_version += 1;
            let key = VmKey::new(vm.namespace, vm.name);
            let wukong = seeded_wukong(&vm, index, state.resource_version, now);
            let sim = SimVm::new(vm.state, vm.run_strategy, vm.guest, timings);
            state.vms.insert(key, SandboxVm { wukong, sim });
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            events,
            wake: Notify::new(),
            origin: Instant::now(),
        });
        tokio::spawn(drive(shared.clone()));
        Sandbox { shared }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn list(state: &State) -> Vec<Wukong> {
        state.vms.values().map(|vm| vm.wukong.clone()).collect()
    }

    /// Records a write: new resource version, then a watch event (sent under the lock, so a
    /// watcher that lists and subscribes under the same lock misses nothing).
    fn publish(&self, state: &mut State, key: &VmKey) {
        state.resource_version += 1;
        let rv = state.resource_version.to_string();
        if let Some(vm) = state.vms.get_mut(key) {
            vm.wukong.metadata.resource_version = Some(rv);
            let _ = self.events.send(WatchEvent::Applied(vm.wukong.clone()));
        }
    }

    /// One pass of the simulated controller and hypervisor; returns when to look again.
    fn step(&self) -> Option<u64> {
        let now_ms = self.now_ms();
        let wall = Timestamp::now();
        let mut state = self.lock();
        let keys: Vec<VmKey> = state.vms.keys().cloned().collect();
        for key in keys {
            let Some(vm) = state.vms.get_mut(&key) else {
                continue;
            };
            let changed = vm.take_up_requests(now_ms, wall);
            match vm.sim.advance(now_ms) {
                Some(settled) if settled.state.is_none() => {
                    state.resource_version += 1;
                    if let Some(gone) = state.vms.remove(&key) {
                        let _ = self.events.send(WatchEvent::Deleted(gone.wukong));
                    }
                }
                Some(settled) => {
                    vm.write_status(
                        settled.state.unwrap_or(VmState::Unknown),
                        None,
                        settled.message,
                        None,
                    );
                    self.publish(&mut state, &key);
                }
                None if changed => self.publish(&mut state, &key),
                None => {}
            }
        }
        state
            .vms
            .values()
            .filter_map(|vm| vm.sim.next_event_at())
            .min()
    }
}

impl SandboxVm {
    /// Starts deletion or the pending lifecycle request, if any. Returns whether status changed.
    fn take_up_requests(&mut self, now_ms: u64, wall: Timestamp) -> bool {
        let vm_grace = self.wukong.spec.termination_grace_period_seconds;
        if self.wukong.metadata.deletion_timestamp.is_some() {
            if self.sim.state() == VmState::Deleting {
                return false;
            }
            let grace = effective_grace_period(false, None, vm_grace);
            return match self.sim.request(Action::Delete, grace, now_ms) {
                Ok(accepted) => {
                    self.write_status(
                        accepted.state,
                        Some((Action::Delete, wall)),
                        accepted.message,
                        None,
                    );
                    true
                }
                Err(_) => false,
            };
        }
        let Some(request) = self.wukong.pending_request().cloned() else {
            return false;
        };
        let action = request.action();
        let grace = effective_grace_period(
            action == Action::ForceStop,
            request.grace_period_seconds,
            vm_grace,
        );
        match self.sim.request(action, grace, now_ms) {
            Ok(accepted) => {
                let deadline = accepted
                    .stop_deadline_ms
                    .map(|at| wall + SignedDuration::from_millis(at.saturating_sub(now_ms) as i64));
                self.write_status(
                    accepted.state,
                    Some((action, wall)),
                    accepted.message,
                    deadline,
                );
            }
            Err(refusal) => {
                let state = self.sim.state();
                self.write_status(state, None, format!("{action} refused: {refusal}"), None);
            }
        }
        if let Some(lifecycle) = self
            .wukong
            .status
            .as_mut()
            .and_then(|s| s.lifecycle_state.as_mut())
        {
            lifecycle.observed_request_id = Some(request.request_id);
        }
        true
    }

    fn write_status(
        &mut self,
        state: VmState,
        action: Option<(Action, Timestamp)>,
        message: String,
        stop_deadline: Option<Timestamp>,
    ) {
        let node = state.has_live_guest().then(|| node_for(&self.wukong));
        let run_strategy = self.sim.run_strategy();
        let status = self.wukong.status.get_or_insert_with(WukongStatus::default);
        status.node_name = node;
        status.run_strategy = Some(run_strategy);
        let lifecycle = status
            .lifecycle_state
            .get_or_insert_with(LifecycleState::default);
        lifecycle.state = state.as_str().to_owned();
        lifecycle.message = Some(message);
        lifecycle.stop_deadline = stop_deadline.map(Time);
        if let Some((action, at)) = action {
            lifecycle.last_action = Some(action.as_str().to_owned());
            lifecycle.last_action_time = Some(Time(at));
        }
    }
}

async fn drive(shared: Arc<Shared>) {
    loop {
        let next = shared.step();
        let sleep_for = next
            .map(|at| Duration::from_millis(at.saturating_sub(shared.now_ms())))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }
}

fn node_for(wukong: &Wukong) -> String {
    let name = wukong.metadata.name.as_deref().unwrap_or_default();
    let n = name.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 3
        + 1;
    format!("sandbox-node-{n}")
}

fn seeded_wukong(vm: &SeedVm, index: usize, resource_version: u64, now: Timestamp) -> Wukong {
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
    let created = now - SignedDuration::from_hours(24 * (index as i64 % 9 + 1));
    wukong.metadata = ObjectMeta {
        namespace: Some(vm.namespace.to_owned()),
        name: Some(vm.name.to_owned()),
        uid: Some(format!("00000000-0000-4000-8000-{index:012}")),
        resource_version: Some(resource_version.to_string()),
        creation_timestamp: Some(Time(created)),
        finalizers: Some(vec![FINALIZER.to_owned()]),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    let last_action = match vm.state {
        VmState::Stopped => Some("stop"),
        VmState::Suspended => Some("suspend"),
        VmState::Running | VmState::Failed => Some("start"),
        _ => None,
    };
    let message = match vm.state {
        VmState::Failed => "guest failed to boot (CrashLoopBackOff)",
        _ => "",
    };
    wukong.status = Some(WukongStatus {
        lifecycle_state: Some(LifecycleState {
            state: vm.state.as_str().to_owned(),
            last_action: last_action.map(str::to_owned),
            last_action_time: last_action
                .map(|_| Time(now - SignedDuration::from_mins(7 * index as i64 + 3))),
            message: (!message.is_empty()).then(|| message.to_owned()),
            observed_request_id: None,
            stop_deadline: None,
        }),
        node_name: vm
            .state
            .has_live_guest()
            .then(|| format!("sandbox-node-{}", index % 3 + 1)),
        run_strategy: Some(vm.run_strategy),
    });
    wukong
}

impl Cluster for Sandbox {
    fn info(&self) -> ClusterInfo {
        ClusterInfo {
            kind: ClusterKind::Sandbox,
            name: "sandbox".to_owned(),
        }
    }

    fn watch(&self) -> WatchStream {
        let shared = self.shared.clone();
        // Each turn either forwards an event or, after falling behind, lists and resubscribes
        // under the lock: nothing is duplicated or dropped.
        futures::stream::unfold(
            (shared, None::<broadcast::Receiver<WatchEvent>>),
            |(shared, rx)| async move {
                let relist = |shared: &Arc<Shared>| {
                    let state = shared.lock();
                    (
                        WatchEvent::Restarted(Shared::list(&state)),
                        shared.events.subscribe(),
                    )
                };
                let Some(mut rx) = rx else {
                    let (event, rx) = relist(&shared);
                    return Some((event, (shared, Some(rx))));
                };
                match rx.recv().await {
                    Ok(event) => Some((event, (shared, Some(rx)))),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (event, rx) = relist(&shared);
                        Some((event, (shared, Some(rx))))
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        )
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a VmKey) -> BoxFuture<'a, Result<Wukong, ClusterError>> {
        Box::pin(async move {
            let state = self.shared.lock();
            let vm = state
                .vms
                .get(key)
                .ok_or_else(|| ClusterError::NotFound { key: key.clone() })?;
            Ok(vm.wukong.clone())
        })
    }

    fn request_action<'a>(
        &'a self,
        key: &'a VmKey,
        mut request: LifecycleAction,
        resource_version: Option<String>,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut state = shared.lock();
            let vm = state
                .vms
                .get_mut(key)
                .ok_or_else(|| ClusterError::NotFound { key: key.clone() })?;
            // Like the API server: a write conditional on a version fails if the object moved on.
            if resource_version.is_some() && resource_version != vm.wukong.metadata.resource_version
            {
                return Err(ClusterError::Conflict {
                    key: key.clone(),
                    message: "the object has been modified; please apply your changes to the latest version".into(),
                });
            }
            request
                .requested_at
                .get_or_insert_with(|| Time(Timestamp::now()));
            vm.wukong.spec.lifecycle_action = Some(request);
            vm.wukong.metadata.generation = Some(vm.wukong.metadata.generation.unwrap_or(0) + 1);
            shared.publish(&mut state, key);
            drop(state);
            shared.wake.notify_one();
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a VmKey) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut state = shared.lock();
            let vm = state
                .vms
                .get_mut(key)
                .ok_or_else(|| ClusterError::NotFound { key: key.clone() })?;
            if vm.wukong.metadata.deletion_timestamp.is_none() {
                vm.wukong.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
                shared.publish(&mut state, key);
            }
            drop(state);
            shared.wake.notify_one();
            Ok(())
        })
    }
}
