//! The sandbox: an in-memory cluster that plays API server, lifecycle controller and KubeVirt at once.
//!
//! It stores real `Wukong` objects, bumps a resource version on every write, and streams watch
//! events, so the console above the [`Cluster`] trait cannot tell it from a real cluster. A driver
//! task carries out each `spec.lifecycleAction` request id once, through the same lifecycle rules
//! and the shared VM simulation (`wukong-sim`).

use crate::apiserver;
use crate::schedules::ScheduleSet;
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
use tokio::sync::{broadcast, watch, Notify};
use tokio::time::Instant;
use wukong_api::{LifecycleAction, Preconditions, Wukong, WukongCalendar, WukongSchedule};
use wukong_schedule::request::{summary, ForVm, Outcome};
use wukong_sim::Timings;
use wukong_view::{ClusterInfo, ClusterKind, EventLine, HistoryEntry, KubeVirtFacts, VmKey};

const EVENT_BUFFER: usize = 1024;
/// How often a VM page's follow looks at the simulated KubeVirt again (it is in memory).
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// The controller's default `--schedule-catch-up`: the sandbox never misses an edge while it
/// runs, so this only matters for edges from before it started (never acted on anyway).
const SCHEDULE_CATCH_UP: k8s_openapi::jiff::SignedDuration =
    k8s_openapi::jiff::SignedDuration::from_hours(1);

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
    /// Every schedule and calendar, after each change (`Cluster::schedules`).
    schedule_set: watch::Sender<ScheduleSet>,
}

struct State {
    vms: BTreeMap<VmKey, SimulatedVm>,
    resource_version: u64,
    /// Power schedules and calendars by (namespace, name), followed by the driver as the
    /// controller follows them (`WukongSchedule::tend`, `decide_for`, `request_for`).
    schedules: BTreeMap<(String, String), WukongSchedule>,
    calendars: BTreeMap<(String, String), WukongCalendar>,
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
            schedules: BTreeMap::new(),
            calendars: BTreeMap::new(),
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
            schedule_set: watch::Sender::new(ScheduleSet::default()),
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

    /// Sends the schedules and calendars to whoever follows them (under the lock, like
    /// `publish`).
    fn publish_schedules(&self, state: &State) {
        self.schedule_set.send_replace(ScheduleSet {
            schedules: state.schedules.values().cloned().collect(),
            calendars: state.calendars.values().cloned().collect(),
        });
    }

    /// The sandbox's own schedule follower, with the controller's decisions: each schedule's due
    /// edge written as requests in its name on the VMs it selects (everyone may: the sandbox has
    /// no RBAC), its status recorded. Returns when the next edge is due (sandbox ms).
    fn follow_schedules(&self, state: &mut State, wall: Timestamp) -> Option<u64> {
        let mut next: Option<Timestamp> = None;
        let mut changed = false;
        let keys: Vec<(String, String)> = state.schedules.keys().cloned().collect();
        for key in keys {
            let Some(schedule) = state.schedules.get(&key).cloned() else {
                continue;
            };
            let mut tended = schedule.tend(
                |name| {
                    state
                        .calendars
                        .get(&(key.0.clone(), name.to_owned()))
                        .map(|c| &c.spec)
                },
                wall,
                SCHEDULE_CATCH_UP,
            );
            if let Some(edge) = tended.act {
                let selected: Vec<VmKey> = state
                    .vms
                    .iter()
                    .filter(|(_, vm)| schedule.selects(vm.wukong()))
                    .filter(|(_, vm)| vm.wukong().metadata.deletion_timestamp.is_none())
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut outcomes = Vec::with_capacity(selected.len());
                for vm_key in selected {
                    let outcome = self.edge_on(state, &schedule, &edge, &vm_key, wall);
                    outcomes.push((vm_key.name.clone(), outcome));
                }
                tended.status.message = Some(summary(&edge, &outcomes));
            }
            next = next.into_iter().chain(tended.next).min();
            if Some(&tended.status) != schedule.status.as_ref() {
                state.resource_version += 1;
                if let Some(stored) = state.schedules.get_mut(&key) {
                    stored.status = Some(tended.status);
                    stored.metadata.resource_version = Some(state.resource_version.to_string());
                }
                changed = true;
            }
        }
        if changed {
            self.publish_schedules(state);
        }
        // Rounded up: the driver must wake at or after the edge, never a fraction before it.
        next.map(|at| {
            let micros = at.duration_since(self.wall_origin).as_micros().max(0);
            u64::try_from((micros + 999) / 1000).unwrap_or(u64::MAX)
        })
    }

    /// One edge on one VM: the same request a click writes, through the same merge patch.
    fn edge_on(
        &self,
        state: &mut State,
        schedule: &WukongSchedule,
        edge: &wukong_schedule::Edge,
        key: &VmKey,
        wall: Timestamp,
    ) -> Outcome {
        let Some(vm) = state.vms.get_mut(key) else {
            return Outcome::Failed;
        };
        let action = match schedule.decide_for(edge, vm.wukong()) {
            ForVm::Request(action) => action,
            other => return Option::<Outcome>::from(other).unwrap_or(Outcome::LeftAlone),
        };
        let Some(request) = schedule.request_for(edge, action, wall) else {
            return Outcome::LeftAlone;
        };
        let preconditions = Preconditions {
            uid: vm.wukong().metadata.uid.clone(),
            resource_version: vm.wukong().metadata.resource_version.clone(),
        };
        match apiserver::merge_patch(key, vm.wukong(), &request.merge_patch(&preconditions)) {
            Ok(patched) => {
                vm.observe(patched);
                self.publish(state, key);
                Outcome::Requested
            }
            Err(_) => Outcome::Failed,
        }
    }

    /// One pass of the simulated controller and hypervisor; returns when to look again.
    fn step(&self) -> Option<u64> {
        let now_ms = self.now_ms();
        let wall = self.wall_now(now_ms);
        let mut state = self.lock();
        let next_edge = self.follow_schedules(&mut state, wall);
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
        state
            .vms
            .values()
            .filter_map(|vm| vm.next_event_at())
            .chain(next_edge)
            .min()
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

    fn clock(&self) -> crate::Clock {
        crate::Clock::Sandbox {
            origin: self.shared.origin,
            wall: self.shared.wall_origin,
        }
    }

    fn schedules(&self) -> BoxStream<'static, ScheduleSet> {
        let rx = self.shared.schedule_set.subscribe();
        futures::stream::unfold((rx, true), |(mut rx, first)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let set = rx.borrow_and_update().clone();
            Some((set, (rx, false)))
        })
        .boxed()
    }

    fn list_schedules<'a>(
        &'a self,
        _who: &'a Identity,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Vec<WukongSchedule>, ClusterError>> {
        Box::pin(async move {
            Ok(self
                .shared
                .lock()
                .schedules
                .values()
                .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
                .cloned()
                .collect())
        })
    }

    /// Created or replaced whole at its version, as the apiserver does; the owner policy too.
    fn write_schedule<'a>(
        &'a self,
        who: &'a Identity,
        mut schedule: WukongSchedule,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let namespace = schedule.metadata.namespace.clone().unwrap_or_default();
            let name = schedule.metadata.name.clone().unwrap_or_default();
            // The owner policy (deploy/base/policy/schedule-owner.yaml), as the apiserver answers
            // it: a 403 naming what is wrong.
            let (writer, groups) = self.writer(who).await;
            let forbidden = |message: String| ClusterError::ScheduleForbidden {
                namespace: namespace.clone(),
                message,
            };
            if schedule.spec.owner != writer {
                return Err(forbidden(format!(
                    "spec.owner must be the user writing the schedule ({writer})"
                )));
            }
            let owner_groups = &schedule.spec.owner_groups;
            if !owner_groups.iter().all(|g| groups.contains(g))
                || !groups.iter().all(|g| owner_groups.contains(g))
            {
                return Err(forbidden(format!(
                    "spec.ownerGroups must be the groups of the user writing the schedule ({})",
                    groups.join(", ")
                )));
            }
            let shared = &self.shared;
            let key = (namespace.clone(), name.clone());
            let label = format!("{namespace}/{name}");
            let wall = shared.wall_now(shared.now_ms());
            let mut state = shared.lock();
            match (
                schedule.metadata.resource_version.take(),
                state.schedules.get(&key),
            ) {
                (None, Some(_)) => return Err(ClusterError::schedule_exists(&label)),
                (None, None) => {
                    schedule.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
                    schedule.metadata.creation_timestamp = Some(Time(wall));
                    schedule.metadata.generation = Some(1);
                    schedule.status = None;
                }
                (Some(asked), Some(stored))
                    if stored.metadata.resource_version.as_deref() == Some(asked.as_str()) =>
                {
                    let generation = stored.metadata.generation.unwrap_or(1)
                        + i64::from(stored.spec != schedule.spec);
                    let spec = schedule.spec;
                    schedule = stored.clone();
                    schedule.spec = spec;
                    schedule.metadata.generation = Some(generation);
                }
                (Some(_), _) => return Err(ClusterError::ScheduleConflict { schedule: label }),
            }
            // A resourceVersion only for a write that happens.
            state.resource_version += 1;
            schedule.metadata.resource_version = Some(state.resource_version.to_string());
            state.schedules.insert(key, schedule);
            shared.publish_schedules(&state);
            drop(state);
            shared.wake.notify_one();
            Ok(())
        })
    }

    fn delete_schedule<'a>(
        &'a self,
        _who: &'a Identity,
        namespace: &'a str,
        name: &'a str,
        uid: &'a str,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut state = shared.lock();
            let key = (namespace.to_owned(), name.to_owned());
            if state
                .schedules
                .get(&key)
                .and_then(|s| s.metadata.uid.as_deref())
                != Some(uid)
            {
                return Err(ClusterError::ScheduleConflict {
                    schedule: format!("{namespace}/{name}"),
                });
            }
            state.resource_version += 1;
            state.schedules.remove(&key);
            shared.publish_schedules(&state);
            Ok(())
        })
    }
}

impl Sandbox {
    /// Adds or replaces a holiday calendar (the console does not edit calendars; tests and a
    /// seeded sandbox do).
    pub fn put_calendar(&self, calendar: WukongCalendar) {
        let mut state = self.shared.lock();
        let key = (
            calendar.metadata.namespace.clone().unwrap_or_default(),
            calendar.metadata.name.clone().unwrap_or_default(),
        );
        state.calendars.insert(key, calendar);
        self.shared.publish_schedules(&state);
        drop(state);
        self.shared.wake.notify_one();
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
