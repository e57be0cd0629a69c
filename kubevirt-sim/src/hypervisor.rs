//! virt-controller + virt-handler: one [`VirtVm`] per VirtualMachine in the cluster, projected
//! onto the VM's `spec.runStrategy` and `status`, and onto a VirtualMachineInstance object.
//!
//! One task owns all state (an actor): it takes VM watch events, subresource calls from the HTTP
//! side and timer ticks in turn. What changed is written to the API server by a task per VM (one
//! write at a time per VM, at most [`WRITERS`] at once over all VMs, like virt-api's and
//! virt-controller's many goroutines). A call is answered once virt-api's own write of it is
//! made (the run strategy, or a state change request in the VM's status), so a client that gets
//! `202 Accepted` and then reads the VM sees the call's effect, as with KubeVirt; what
//! virt-controller does about it (the VMI created, stopped or replaced) is written after that.
//! The actor itself never waits for a write: one VM's slow write holds up no other VM.

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_sim::kubevirt::{
    answer_received, ApiError, KvRunStrategy, Received, StateChange, VmiPhase,
};
use wukong_sim::status;
use wukong_sim::virt::VirtVm;
use wukong_sim::{Guest, Timings};

pub const FIELD_MANAGER: &str = "wukong-kubevirt-sim";
/// KubeVirt's finalizer (`virtv1.VirtualMachineControllerFinalizer`), on VMs and VMIs alike: a
/// VMI stays (with a deletion timestamp) while the guest shuts down; a deleted VM stays
/// (printableStatus Terminating) until its VMI is gone.
const FINALIZER: &str = "kubevirt.io/virtualMachineControllerFinalize";
const GENERATION_LABEL: &str = "sim.novasphere.dev/generation";

type Key = (String, String);

/// How many VMs' writes to the API server may be in flight at once (a bulk action of 1,000 VMs
/// must not become 1,000 concurrent requests, which the API server would answer 429).
pub const WRITERS: usize = 32;

/// The longest one VM's write may take. kube's client sets no read timeout, and a request the
/// API server never answers (one sent as it shuts down) would otherwise hold that VM's writes,
/// and so every call on it waiting for its answer, forever; after this long it counts as failed
/// and is written again.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// A call's answer, sent once its effect is written.
type Reply = (
    oneshot::Sender<Result<u16, ApiError>>,
    Result<u16, ApiError>,
);

/// Whose write of the model a job is (see [`Hypervisor::persist_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    VirtApi,
    VirtController,
}

/// A subresource call from virt-api's side.
pub struct CallRequest {
    pub namespace: String,
    pub name: String,
    /// The handler and the body as virt-api received them.
    pub received: Received,
    /// KubeVirt's status code (202 or 200), or its refusal.
    pub reply: oneshot::Sender<Result<u16, ApiError>>,
}

#[derive(Clone, Debug, PartialEq)]
struct VmView {
    run_strategy: KvRunStrategy,
    uses_running_field: bool,
    printable: &'static str,
    ready: bool,
    requests: Vec<StateChange>,
    created: bool,
    start_failure: Option<(u32, Option<u64>)>,
}

#[derive(Clone, Debug, PartialEq)]
struct VmiView {
    generation: u64,
    phase: VmiPhase,
    paused: bool,
    grace: Option<i64>,
    terminating: bool,
    migrating: bool,
    problem: Option<wukong_sim::kubevirt::StartProblem>,
    liveness_probe: bool,
}

struct Entry {
    vm: VirtVm,
    uid: String,
    written_vm: Option<VmView>,
    written_vmi: Option<VmiView>,
    /// A write failed: try again then.
    retry_at_ms: Option<u64>,
    /// The VM's `metadata.generation` last seen or written: a watch event with an older spec
    /// (queued before our own patch) must not undo a subresource call.
    generation: i64,
    /// The uid of each VMI created, by its number (for `stateChangeRequests[].uid`).
    vmi_uids: HashMap<u64, String>,
    /// KubeVirt's finalizer is on the VM.
    finalized: bool,
    /// A write for this VM is in flight.
    writing: bool,
    /// The model changed while a write was in flight: write again when it is done.
    dirty: bool,
    /// Calls answered once the next write is done.
    replies: Vec<Reply>,
}

impl Entry {
    fn new(vm: VirtVm, uid: String, generation: i64, finalized: bool) -> Entry {
        Entry {
            vm,
            uid,
            written_vm: None,
            written_vmi: None,
            retry_at_ms: None,
            generation,
            vmi_uids: HashMap::new(),
            finalized,
            writing: false,
            dirty: false,
            replies: Vec::new(),
        }
    }
}

/// One VM's write: what to write, what was written before, and the calls waiting for it.
struct Job {
    vm_view: VmView,
    vmi_view: Option<VmiView>,
    gone: bool,
    finalized: bool,
    written_vm: Option<VmView>,
    written_vmi: Option<VmiView>,
    uid: String,
    vmi_uids: HashMap<u64, String>,
    replies: Vec<Reply>,
}

/// What a VM's write did: the VM's new `metadata.generation`, and the VMI created (number, uid).
type Written = (Option<i64>, Option<(u64, String)>);

/// A write finished.
struct Done {
    key: Key,
    job: Job,
    result: Result<Written, kube::Error>,
}

/// Writes to the API server; cheap to clone into a VM's write task.
#[derive(Clone)]
struct Writer {
    client: Client,
    epoch: Instant,
    permits: Arc<Semaphore>,
}

impl Writer {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

pub struct Hypervisor {
    client: Client,
    timings: Timings,
    epoch: Instant,
    vms: HashMap<Key, Entry>,
    writer: Writer,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: Option<mpsc::UnboundedReceiver<Done>>,
}

impl Hypervisor {
    pub fn new(client: Client, timings: Timings) -> Hypervisor {
        let epoch = Instant::now();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Hypervisor {
            writer: Writer {
                client: client.clone(),
                epoch,
                permits: Arc::new(Semaphore::new(WRITERS)),
            },
            client,
            timings,
            epoch,
            vms: HashMap::new(),
            done_tx,
            done_rx: Some(done_rx),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub async fn run(mut self, mut calls: mpsc::Receiver<CallRequest>) {
        let vms: Api<VirtualMachine> = Api::all(self.client.clone());
        let events = watcher(vms, watcher::Config::default()).backoff(wukong_api::watch::backoff());
        let mut events = std::pin::pin!(events);
        let Some(mut done) = self.done_rx.take() else {
            return;
        };
        loop {
            let next = self
                .vms
                .values()
                .filter_map(|e| {
                    [e.vm.next_event_at(), e.retry_at_ms]
                        .into_iter()
                        .flatten()
                        .min()
                })
                .min();
            // At most an hour: a deadline hundreds of years away (a huge grace period) is
            // looked at again then, rather than handed to the timer as a far-future instant.
            let idle = Duration::from_secs(3600);
            let sleep = match next {
                Some(at) => Duration::from_millis(at.saturating_sub(self.now_ms())).min(idle),
                None => idle,
            };
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => self.on_event(event).await,
                    Some(Err(e)) => warn!(error = %e, "VirtualMachine watch failed; retrying"),
                    None => return,
                },
                call = calls.recv() => match call {
                    Some(call) => self.on_call(call).await,
                    None => return,
                },
                () = tokio::time::sleep(sleep) => self.on_tick().await,
                finished = done.recv() => match finished {
                    Some(finished) => self.on_written(finished),
                    None => return,
                },
            }
        }
    }

    async fn on_event(&mut self, event: watcher::Event<VirtualMachine>) {
        match event {
            watcher::Event::Apply(vm) | watcher::Event::InitApply(vm) => self.on_vm(vm).await,
            watcher::Event::Delete(vm) => {
                let key = key_of(&vm);
                if self.vms.remove(&key).is_some() {
                    info!(namespace = %key.0, name = %key.1, "VirtualMachine deleted; removing its VMI");
                    self.writer.remove_vmi(&key).await;
                }
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    async fn on_vm(&mut self, vm: VirtualMachine) {
        let key = key_of(&vm);
        let now = self.now_ms();
        let (run_strategy, uses_running_field) = run_strategy_of(&vm);
        let guest = guest_of(&vm);
        let grace = vm.template_grace_period_seconds();
        let generation = vm.metadata.generation.unwrap_or(0);
        let deleting = vm.metadata.deletion_timestamp.is_some();
        let finalized = vm.finalizers().iter().any(|f| f == FINALIZER);
        if let Some(entry) = self.vms.get_mut(&key) {
            entry.finalized = finalized;
            if deleting {
                entry.vm.set_deleting(now);
                self.persist(&key, None);
                return;
            }
            if generation < entry.generation {
                return;
            }
            // Only a spec newer than any seen or written is someone's edit: an event of our own
            // status write carries the spec as last written, which may lag the model (a call's
            // VMI and run strategy are written after virt-api's part of it).
            let newer_spec = generation > entry.generation;
            entry.generation = generation;
            entry.vm.set_template_grace(grace);
            if entry.vm.guest() != guest {
                entry.vm.set_guest(guest, now);
                self.persist(&key, None);
            }
            let Some(entry) = self.vms.get_mut(&key) else {
                return;
            };
            if newer_spec && entry.vm.run_strategy() != run_strategy {
                // An edit of spec.runStrategy (our own patches arrive here already applied).
                entry.vm.set_run_strategy(run_strategy, now);
                self.persist(&key, None);
            }
            return;
        }
        let mut entry = if vm.status.is_some() {
            self.adopt(&vm, run_strategy, guest, grace).await
        } else {
            info!(namespace = %key.0, name = %key.1, %run_strategy, "new VirtualMachine");
            Entry::new(
                VirtVm::new(run_strategy, grace, guest, self.timings),
                vm.uid().unwrap_or_default(),
                generation,
                finalized,
            )
        };
        entry.vm = entry.vm.clone().with_running_field(uses_running_field);
        if deleting {
            entry.vm.set_deleting(now);
        }
        self.vms.insert(key.clone(), entry);
        if let Some(entry) = self.vms.get_mut(&key) {
            entry.vm.tick(now);
        }
        self.persist(&key, None);
    }

    /// A VM that already has a status (this simulator restarted, or a seed wrote one): its running
    /// VMI, if any, is taken over as it is; a VMI caught mid-shutdown is finished off.
    async fn adopt(
        &self,
        vm: &VirtualMachine,
        run_strategy: KvRunStrategy,
        guest: Guest,
        grace: Option<i64>,
    ) -> Entry {
        let (ns, name) = key_of(vm);
        let vmis: Api<VirtualMachineInstance> = Api::namespaced(self.client.clone(), &ns);
        let vmi = vmis.get_opt(&name).await.ok().flatten();
        let running = vmi.as_ref().and_then(|vmi| {
            let usable =
                vmi.metadata.deletion_timestamp.is_none() && vmi.phase() == Some("Running");
            usable.then(|| {
                let generation = vmi
                    .labels()
                    .get(GENERATION_LABEL)
                    .and_then(|g| g.parse().ok())
                    .unwrap_or(1);
                (generation, vmi.is_paused())
            })
        });
        let seeded_running = vmi.is_none()
            && matches!(vm.printable_status(), Some("Running" | "Paused"))
            && run_strategy != KvRunStrategy::Halted;
        let running =
            running.or(seeded_running.then(|| (1, vm.printable_status() == Some("Paused"))));
        let adopted = VirtVm::adopt(run_strategy, grace, guest, self.timings, running);
        let written_vmi = match (&vmi, running) {
            (Some(_), Some((generation, paused))) => Some(VmiView {
                generation,
                phase: VmiPhase::Running,
                paused,
                grace,
                terminating: false,
                migrating: false,
                problem: None,
                liveness_probe: guest.liveness_probe,
            }),
            _ => None,
        };
        let mut vmi_uids = HashMap::new();
        if let (Some(vmi), Some((generation, _))) = (&vmi, running) {
            vmi_uids.insert(generation, vmi.uid().unwrap_or_default());
        }
        if vmi.is_some() && written_vmi.is_none() {
            if let Err(e) = release_vmi(&vmis, &name).await {
                warn!(namespace = %ns, %name, error = %e, "could not remove a VMI left from before");
            }
        }
        info!(namespace = %ns, %name, %run_strategy, running = running.is_some(), "adopted VirtualMachine");
        let mut entry = Entry::new(
            adopted,
            vm.uid().unwrap_or_default(),
            vm.metadata.generation.unwrap_or(0),
            vm.finalizers().iter().any(|f| f == FINALIZER),
        );
        entry.written_vmi = written_vmi;
        entry.vmi_uids = vmi_uids;
        entry
    }

    async fn on_call(&mut self, request: CallRequest) {
        let key = (request.namespace, request.name);
        if !self.vms.contains_key(&key) {
            // Created a moment ago and not seen on the watch yet: read it directly.
            let api: Api<VirtualMachine> = Api::namespaced(self.client.clone(), &key.0);
            if let Ok(Some(vm)) = api.get_opt(&key.1).await {
                self.on_vm(vm).await;
            }
        }
        let now = self.now_ms();
        let handler = request.received.handler;
        let dry_run = request.received.dry_run == Ok(true);
        let result = match self.vms.get_mut(&key) {
            None => answer_received(None, &key.1, request.received).outcome,
            Some(entry) if dry_run => {
                let mut copy = entry.vm.clone();
                copy.receive(request.received, &key.1, now)
            }
            Some(entry) => entry.vm.accept(request.received, &key.1, now),
        };
        match &result {
            Ok(_) => {
                info!(namespace = %key.0, name = %key.1, ?handler, dry_run, "accepted");
                if !dry_run && self.vms.contains_key(&key) {
                    // Answered once virt-api's write is made (the run strategy or the state change
                    // request); virt-controller's work on it (the VMI) is written after it.
                    self.persist_as(&key, Some((request.reply, result)), Part::VirtApi);
                    self.settle(&key, now);
                    self.persist(&key, None);
                    return;
                }
            }
            Err(e) => {
                info!(namespace = %key.0, name = %key.1, ?handler, code = e.code, message = %e.message, "refused")
            }
        }
        // A refused call may still have changed the model (a stop's grace period).
        if !dry_run {
            self.settle(&key, now);
        }
        let _ = request.reply.send(result);
    }

    /// virt-controller's turn on a VM right after a call ([`VirtVm::settle`]).
    fn settle(&mut self, key: &Key, now: u64) {
        if let Some(entry) = self.vms.get_mut(key) {
            entry.vm.settle(now);
        }
    }

    async fn on_tick(&mut self) {
        let now = self.now_ms();
        let mut due = Vec::new();
        for (key, entry) in &mut self.vms {
            let retry = entry.retry_at_ms.is_some_and(|at| at <= now);
            let event = entry.vm.next_event_at().is_some_and(|at| at <= now);
            if event {
                entry.vm.tick(now);
            }
            if retry || event {
                entry.retry_at_ms = None;
                due.push(key.clone());
            }
        }
        for key in due {
            self.persist(&key, None);
        }
    }

    /// Writes whatever differs between the model and what was last written, in a task of its own
    /// (one at a time per VM: a change while a write is in flight is written after it), then
    /// answers `reply`.
    fn persist(&mut self, key: &Key, reply: Option<Reply>) {
        self.persist_as(key, reply, Part::VirtController);
    }

    /// [`Hypervisor::persist`], as `part` would write it: virt-api writes only the run strategy
    /// and the state change requests of a call (and a stop's VMI grace period); the VM's other
    /// status fields stay as last written until virt-controller's write.
    fn persist_as(&mut self, key: &Key, reply: Option<Reply>, part: Part) {
        let Some(entry) = self.vms.get_mut(key) else {
            if let Some((tx, result)) = reply {
                let _ = tx.send(result);
            }
            return;
        };
        entry.replies.extend(reply);
        if entry.writing {
            entry.dirty = true;
            return;
        }
        let mut vm_view = VmView {
            run_strategy: entry.vm.run_strategy(),
            uses_running_field: entry.vm.uses_running_field(),
            printable: entry.vm.printable_status(),
            ready: entry.vm.ready(),
            requests: entry.vm.state_change_requests().to_vec(),
            created: entry.vm.vmi().is_some(),
            start_failure: entry.vm.start_failure(),
        };
        if let (Part::VirtApi, Some(written)) = (part, entry.written_vm.as_ref()) {
            vm_view = VmView {
                run_strategy: vm_view.run_strategy,
                uses_running_field: vm_view.uses_running_field,
                requests: vm_view.requests,
                ..written.clone()
            };
        }
        let job = Job {
            vm_view,
            vmi_view: entry.vm.vmi().map(|vmi| VmiView {
                generation: vmi.generation,
                phase: vmi.phase,
                paused: vmi.paused,
                grace: vmi.grace_period_seconds,
                terminating: vmi.shutdown.is_some(),
                migrating: vmi.migrating,
                problem: vmi.problem,
                liveness_probe: vmi.liveness_probe,
            }),
            gone: entry.vm.gone(),
            finalized: entry.finalized,
            written_vm: entry.written_vm.clone(),
            written_vmi: entry.written_vmi.clone(),
            uid: entry.uid.clone(),
            vmi_uids: entry.vmi_uids.clone(),
            replies: std::mem::take(&mut entry.replies),
        };
        entry.writing = true;
        entry.dirty = false;
        let writer = self.writer.clone();
        let done = self.done_tx.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let write = async {
                match tokio::time::timeout(WRITE_TIMEOUT, writer.write(&key, &job)).await {
                    Ok(result) => result,
                    Err(_) => Err(kube::Error::Service(
                        format!("no answer from the API server within {WRITE_TIMEOUT:?}").into(),
                    )),
                }
            };
            let result = match writer.permits.clone().acquire_owned().await {
                Ok(_permit) => write.await,
                // Never closed; if it were, writing without a permit beats never writing.
                Err(_) => write.await,
            };
            let _ = done.send(Done { key, job, result });
        });
    }

    /// A VM's write finished: remember what was written, answer the calls waiting for it, and
    /// write again if the model changed meanwhile.
    fn on_written(&mut self, done: Done) {
        let Done { key, job, result } = done;
        let now = self.now_ms();
        let mut again = false;
        if let Some(entry) = self.vms.get_mut(&key).filter(|e| e.uid == job.uid) {
            entry.writing = false;
            match result {
                Ok((generation, created_uid)) => {
                    if let Some(generation) = generation {
                        entry.generation = entry.generation.max(generation);
                    }
                    if let Some((number, vmi_uid)) = created_uid {
                        entry.vmi_uids.insert(number, vmi_uid);
                    }
                    if !job.gone {
                        entry.finalized = true;
                    }
                    entry.written_vm = Some(job.vm_view);
                    entry.written_vmi = job.vmi_view;
                }
                Err(e) => {
                    warn!(namespace = %key.0, name = %key.1, error = %e, "write failed; retrying in 1 s");
                    // Re-write the VM's status in full next time; the VMI as it was last known.
                    entry.written_vm = None;
                    entry.retry_at_ms = Some(now.saturating_add(1_000));
                }
            }
            again = entry.dirty;
        }
        for (tx, result) in job.replies {
            let _ = tx.send(result);
        }
        if again {
            self.persist(&key, None);
        }
    }
}

impl Writer {
    /// One VM's writes: its VMI, KubeVirt's finalizer, the VM's spec and status.
    async fn write(&self, key: &Key, job: &Job) -> Result<Written, kube::Error> {
        let mut created_uid = None;
        if job.written_vmi != job.vmi_view {
            created_uid = self
                .write_vmi(
                    key,
                    &job.uid,
                    job.written_vmi.as_ref(),
                    job.vmi_view.as_ref(),
                )
                .await?;
        }
        if job.gone {
            // Deleted and its VMI gone: KubeVirt lets the VM go.
            self.set_finalizer(key, false).await?;
            return Ok((None, created_uid));
        }
        if !job.finalized && job.vm_view.printable != "Terminating" {
            self.set_finalizer(key, true).await?;
        }
        if job.written_vm.as_ref() != Some(&job.vm_view) {
            let generation = self
                .write_vm(
                    key,
                    job.written_vm.as_ref(),
                    &job.vm_view,
                    &job.vmi_uids,
                    created_uid.as_ref(),
                )
                .await?;
            return Ok((generation, created_uid));
        }
        Ok((None, created_uid))
    }

    /// Adds or removes KubeVirt's finalizer on the VM (a JSON patch that tests the list it read,
    /// so another owner's finalizers are never lost).
    async fn set_finalizer(&self, (ns, name): &Key, on: bool) -> Result<(), kube::Error> {
        let api: Api<VirtualMachine> = Api::namespaced(self.client.clone(), ns);
        let Some(vm) = api.get_opt(name).await? else {
            return Ok(());
        };
        let current = vm.finalizers().to_vec();
        let has = current.iter().any(|f| f == FINALIZER);
        if has == on {
            return Ok(());
        }
        let mut next: Vec<String> = current
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        if on {
            next.push(FINALIZER.to_owned());
        }
        let patch = if vm.metadata.finalizers.is_some() {
            json!([
                { "op": "test", "path": "/metadata/finalizers", "value": current },
                { "op": "replace", "path": "/metadata/finalizers", "value": next },
            ])
        } else {
            json!([{ "op": "add", "path": "/metadata/finalizers", "value": next }])
        };
        let patch: json_patch::Patch =
            serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
        match api
            .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn write_vm(
        &self,
        (ns, name): &Key,
        written: Option<&VmView>,
        view: &VmView,
        vmi_uids: &HashMap<u64, String>,
        created_uid: Option<&(u64, String)>,
    ) -> Result<Option<i64>, kube::Error> {
        let api: Api<VirtualMachine> = Api::namespaced(self.client.clone(), ns);
        let mut generation = None;
        if written.is_none_or(|w| w.run_strategy != view.run_strategy) {
            // KubeVirt's start/stop patch whichever field the VM uses (`getRunningPatch`), and
            // leave the other alone.
            let spec = if view.uses_running_field {
                json!({ "spec": { "running": view.run_strategy != KvRunStrategy::Halted } })
            } else {
                json!({ "spec": { "runStrategy": view.run_strategy.to_string() } })
            };
            let patched = api.patch(name, &params(), &Patch::Merge(&spec)).await?;
            generation = patched.metadata.generation;
        }
        let uid_of = |number: u64| {
            created_uid
                .filter(|(n, _)| *n == number)
                .map(|(_, uid)| uid.clone())
                .or_else(|| vmi_uids.get(&number).cloned())
        };
        let requests: Vec<Value> = view
            .requests
            .iter()
            .map(|r| match r {
                StateChange::Start { paused: false } => json!({ "action": "Start" }),
                StateChange::Start { paused: true } => {
                    json!({ "action": "Start", "data": { "paused": "true" } })
                }
                StateChange::Stop { vmi } => match vmi.and_then(uid_of) {
                    Some(uid) => json!({ "action": "Stop", "uid": uid }),
                    None => json!({ "action": "Stop" }),
                },
            })
            .collect();
        let start_failure = view.start_failure.map(|(count, retry_after)| {
            let retry = retry_after.map(|at| {
                let left = Duration::from_millis(at.saturating_sub(self.now_ms()));
                let when = jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(left).unwrap_or_default())
                    .unwrap_or_else(|_| jiff::Timestamp::now());
                when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            });
            json!({ "consecutiveFailCount": count, "retryAfterTimestamp": retry })
        });
        // `kubectl get vms` reads READY from the Ready condition (syncReadyConditionFromVMI).
        let ready = condition_json(status::vm_ready_condition(view.ready, view.created));
        let status = json!({ "status": {
            "printableStatus": view.printable,
            "ready": view.ready,
            "conditions": [ready],
            "created": view.created,
            "runStrategy": view.run_strategy.to_string(),
            "stateChangeRequests": requests,
            "startFailure": start_failure,
        }});
        debug!(namespace = %ns, %name, printable = view.printable, "VM status");
        api.patch_status(name, &params(), &Patch::Merge(&status))
            .await?;
        Ok(generation)
    }

    /// Creates, updates or releases the VMI; returns the uid of a VMI it created.
    async fn write_vmi(
        &self,
        (ns, name): &Key,
        vm_uid: &str,
        written: Option<&VmiView>,
        view: Option<&VmiView>,
    ) -> Result<Option<(u64, String)>, kube::Error> {
        let api: Api<VirtualMachineInstance> = Api::namespaced(self.client.clone(), ns);
        let same = matches!((written, view), (Some(w), Some(v)) if w.generation == v.generation);
        if !same && written.is_some() {
            release_vmi(&api, name).await?;
        }
        let Some(view) = view else {
            return Ok(None);
        };
        let mut created = None;
        if !same {
            let owner = OwnerReference {
                api_version: "kubevirt.io/v1".into(),
                kind: "VirtualMachine".into(),
                name: name.clone(),
                uid: vm_uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            };
            let mut spec = json!({ "domain": { "devices": {} } });
            if let Some(grace) = view.grace {
                spec["terminationGracePeriodSeconds"] = json!(grace);
            }
            if view.liveness_probe {
                spec["livenessProbe"] = json!({ "tcpSocket": { "port": 22 } });
            }
            let vmi: VirtualMachineInstance = serde_json::from_value(json!({
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachineInstance",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": { "kubevirt.io/vm": name, GENERATION_LABEL: view.generation.to_string() },
                    "finalizers": [FINALIZER],
                    "ownerReferences": [owner],
                },
                "spec": spec,
            }))
            .map_err(kube::Error::SerdeError)?;
            let made = match api.create(&PostParams::default(), &vmi).await {
                Ok(made) => made,
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    // A leftover from before: take it over.
                    release_vmi(&api, name).await?;
                    api.create(&PostParams::default(), &vmi).await?
                }
                Err(e) => return Err(e),
            };
            created = made.uid().map(|uid| (view.generation, uid));
        } else if written.is_some_and(|w| w.grace != view.grace) {
            let spec = json!({ "spec": { "terminationGracePeriodSeconds": view.grace } });
            api.patch(name, &params(), &Patch::Merge(&spec)).await?;
        }
        let conditions: Vec<Value> = status::vmi_conditions(view.phase, view.paused, view.problem)
            .into_iter()
            .map(condition_json)
            .collect();
        let running = view.phase == VmiPhase::Running;
        let migration = view.migrating.then(|| {
            json!({ "startTimestamp": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "sourceNode": status::NODE_NAME, "targetNode": status::MIGRATION_TARGET_NODE,
                    "completed": false })
        });
        // The pod network's address, as virt-handler reports it from the domain.
        let interfaces = running.then(|| {
            let ip = status::vmi_address(ns, name, view.generation);
            json!([{ "name": "default", "interfaceName": "eth0", "ipAddress": ip,
                     "ipAddresses": [ip], "infoSource": "domain" }])
        });
        let status = json!({ "status": {
            "phase": view.phase.as_str(),
            "nodeName": if running { Some(status::NODE_NAME) } else { None },
            "conditions": conditions,
            "migrationState": migration,
            "interfaces": interfaces,
        }});
        // KubeVirt's VMI CRD has no status subresource: virt-handler writes status on the object.
        api.patch(name, &params(), &Patch::Merge(&status)).await?;
        if view.terminating && !written.is_some_and(|w| w.terminating && same) {
            // virt-controller deletes the VMI; the finalizer keeps it until the guest is gone.
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// Best effort: the VM is gone, so there is nothing left to retry from (a cluster's garbage
    /// collector removes a VMI left behind through its owner reference).
    async fn remove_vmi(&self, (ns, name): &Key) {
        let api: Api<VirtualMachineInstance> = Api::namespaced(self.client.clone(), ns);
        if let Err(e) = release_vmi(&api, name).await {
            warn!(namespace = %ns, %name, error = %e, "could not remove the deleted VM's VMI");
        }
    }
}

/// A condition as JSON in a status.
fn condition_json(c: status::Condition) -> Value {
    json!({ "type": c.kind, "status": c.status, "reason": c.reason, "message": c.message })
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// Removes the finalizer and deletes: the VMI is gone. A failure is returned, not swallowed: a
/// VMI left behind with its finalizer would show a guest running forever (seen when etcd was
/// killed mid-stop), so the VM's write fails and is retried until it is gone.
async fn release_vmi(api: &Api<VirtualMachineInstance>, name: &str) -> Result<(), kube::Error> {
    let release = json!({ "metadata": { "finalizers": null } });
    match api.patch(name, &params(), &Patch::Merge(&release)).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

fn key_of<K: ResourceExt>(obj: &K) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The VM's run strategy (`vm.RunStrategy()`, read as everywhere by `VirtualMachine::run_strategy`),
/// and whether it says so with `spec.running`.
fn run_strategy_of(vm: &VirtualMachine) -> (KvRunStrategy, bool) {
    let uses_running_field = vm.spec.run_strategy.is_none() && vm.spec.running.is_some();
    (vm.run_strategy().into(), uses_running_field)
}

fn guest_of(vm: &VirtualMachine) -> Guest {
    Guest::from_annotations(|name| vm.annotations().get(name).map(String::as_str))
}
