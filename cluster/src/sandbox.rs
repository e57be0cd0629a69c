//! The sandbox: an in-memory cluster that plays API server, lifecycle controller and KubeVirt at once.
//!
//! It stores real `Wukong` objects, bumps a resource version on every write, and streams watch
//! events, so the console above the [`Cluster`] trait cannot tell it from a real cluster. A driver
//! task carries out each `spec.lifecycleAction` request id once, through the same lifecycle rules
//! and the shared VM simulation (`wukong-sim`).

use crate::apiserver;
use crate::simulated::{SimulatedVm, Step};
use crate::{seed_wukong, Cluster, ClusterError, Identity, SeedVm, WatchEvent, WatchStream};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;
use wukong_api::{LifecycleAction, Preconditions, Wukong};
use wukong_sim::Timings;
use wukong_view::{ClusterInfo, ClusterKind, EventLine, HistoryEntry, KubeVirtFacts, VmKey};

const EVENT_BUFFER: usize = 1024;
/// How often a VM page's follow looks at the simulated KubeVirt again (it is in memory).
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

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
    /// The wall-clock time at `origin`: the sandbox's wall clock runs on its own (Tokio's) clock,
    /// so deadlines written in status pass as its simulated seconds do.
    wall_origin: Timestamp,
}

struct State {
    vms: BTreeMap<VmKey, SimulatedVm>,
    resource_version: u64,
}

impl State {
    /// The VM of `key`, or the 404 the API server would answer.
    fn vm(&self, key: &VmKey) -> Result<&SimulatedVm, ClusterError> {
        self.vms
            .get(key)
            .ok_or_else(|| ClusterError::NotFound { key: key.clone() })
    }

    fn vm_mut(&mut self, key: &VmKey) -> Result<&mut SimulatedVm, ClusterError> {
        self.vms
            .get_mut(key)
            .ok_or_else(|| ClusterError::NotFound { key: key.clone() })
    }
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
        for (index, vm) in seed.iter().enumerate() {
            state.resource_version += 1;
            let key = VmKey::new(vm.namespace, vm.name);
            let mut wukong = seed_wukong(vm, index, now);
            wukong.metadata.resource_version = Some(state.resource_version.to_string());
            state
                .vms
                .insert(key, SimulatedVm::from_wukong(wukong, timings));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            events,
            wake: Notify::new(),
            origin: Instant::now(),
            wall_origin: now,
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

    /// The wall-clock time `now_ms` after `origin`.
    fn wall_now(&self, now_ms: u64) -> Timestamp {
        let elapsed = k8s_openapi::jiff::SignedDuration::from_millis(
            i64::try_from(now_ms).unwrap_or(i64::MAX),
        );
        self.wall_origin
            .checked_add(elapsed)
            .unwrap_or(self.wall_origin)
    }

    fn list(state: &State) -> Vec<Wukong> {
        state.vms.values().map(|vm| vm.wukong().clone()).collect()
    }

    /// Records a write: new resource version, then a watch event (sent under the lock, so a
    /// watcher that lists and subscribes under the same lock misses nothing).
    fn publish(&self, state: &mut State, key: &VmKey) {
        state.resource_version += 1;
        let rv = state.resource_version.to_string();
        if let Some(vm) = state.vms.get_mut(key) {
            vm.metadata_mut().resource_version = Some(rv);
            let _ = self.events.send(WatchEvent::Applied(vm.wukong().clone()));
        }
    }

    /// One pass of the simulated controller and hypervisor; returns when to look again.
    fn step(&self) -> Option<u64> {
        let now_ms = self.now_ms();
        let wall = self.wall_now(now_ms);
        let mut state = self.lock();
        let keys: Vec<VmKey> = state.vms.keys().cloned().collect();
        for key in keys {
            let Some(vm) = state.vms.get_mut(&key) else {
                continue;
            };
            match vm.step(now_ms, wall) {
                Step::Unchanged => {}
                Step::StatusChanged => self.publish(&mut state, &key),
                Step::Gone => {
                    state.resource_version += 1;
                    if let Some(gone) = state.vms.remove(&key) {
                        let _ = self.events.send(WatchEvent::Deleted(gone.wukong().clone()));
                    }
                }
            }
        }
        state.vms.values().filter_map(|vm| vm.next_event_at()).min()
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

impl Cluster for Sandbox {
    fn info(&self) -> ClusterInfo {
        ClusterInfo {
            kind: ClusterKind::Sandbox,
            name: "sandbox".to_owned(),
        }
    }

    /// Its controller is built in: always there.
    fn controller(&self) -> futures::stream::BoxStream<'static, wukong_view::ControllerPresence> {
        futures::stream::once(async { wukong_view::ControllerPresence::Leading })
            .chain(futures::stream::pending())
            .boxed()
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

    fn get<'a>(
        &'a self,
        _who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Wukong, ClusterError>> {
        Box::pin(async move { Ok(self.shared.lock().vm(key)?.wukong().clone()) })
    }

    fn request_action<'a>(
        &'a self,
        _who: &'a Identity,
        key: &'a VmKey,
        mut request: LifecycleAction,
        preconditions: Preconditions,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut state = shared.lock();
            let vm = state.vm_mut(key)?;
            request
                .requested_at
                .get_or_insert_with(|| MicroTime(shared.wall_now(shared.now_ms())));
            // The very patch the Kubernetes backend sends, applied with the apiserver's rules.
            let patched =
                apiserver::merge_patch(key, vm.wukong(), &request.merge_patch(&preconditions))?;
            vm.observe(patched);
            shared.publish(&mut state, key);
            drop(state);
            shared.wake.notify_one();
            Ok(())
        })
    }

    fn delete<'a>(
        &'a self,
        _who: &'a Identity,
        key: &'a VmKey,
        preconditions: Preconditions,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut state = shared.lock();
            let vm = state.vm_mut(key)?;
            apiserver::check_preconditions(
                key,
                vm.wukong(),
                &preconditions,
                apiserver::Write::Delete,
            )?;
            if vm.wukong().metadata.deletion_timestamp.is_none() {
                vm.metadata_mut().deletion_timestamp = Some(Time(shared.wall_now(shared.now_ms())));
                shared.publish(&mut state, key);
            }
            drop(state);
            shared.wake.notify_one();
            Ok(())
        })
    }

    fn history<'a>(
        &'a self,
        _who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ClusterError>> {
        Box::pin(async move { Ok(self.shared.lock().vm(key)?.history()) })
    }

    fn kubevirt<'a>(&'a self, _who: &'a Identity, key: &'a VmKey) -> BoxFuture<'a, KubeVirtFacts> {
        Box::pin(async move { self.shared.kubevirt(key) })
    }

    fn follow_kubevirt(&self, _who: Identity, key: VmKey) -> BoxStream<'static, KubeVirtFacts> {
        // The simulated KubeVirt lives in this process: look at it often, say what changed.
        let shared = self.shared.clone();
        futures::stream::unfold(
            (shared, key, None::<KubeVirtFacts>),
            |(shared, key, last)| async move {
                loop {
                    if last.is_some() {
                        tokio::time::sleep(FOLLOW_EVERY).await;
                    }
                    let now = shared.kubevirt(&key);
                    if last.as_ref() != Some(&now) {
                        return Some((now.clone(), (shared, key, Some(now))));
                    }
                }
            },
        )
        .boxed()
    }

    fn events<'a>(
        &'a self,
        _who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Vec<EventLine>, ClusterError>> {
        Box::pin(async move { Ok(self.shared.lock().vm(key)?.events()) })
    }
}

impl Shared {
    /// The simulated KubeVirt's facts for `key`; nothing for a VM that is gone.
    fn kubevirt(&self, key: &VmKey) -> KubeVirtFacts {
        self.lock()
            .vms
            .get(key)
            .map(SimulatedVm::kubevirt_facts)
            .unwrap_or_default()
    }
}
