//! The reconciler: one Wukong at a time, in the shape of kube-rs's controller-rs.
//!
//! For each Wukong it
//! 1. keeps the finalizer on, and on deletion stops the VM gracefully, deletes it, then lets go;
//! 2. makes sure a KubeVirt VirtualMachine backs it (same name, owner reference, from the spec;
//!    `startStrategy.autoStart` starts a Manual/Halted VM once, on creation); a VM of that name
//!    that this Wukong does not control (`vm::is_controlled_by`) is left alone and reported;
//! 3. forces a graceful stop whose deadline (`status.lifecycleState.stopDeadline`) has passed;
//! 4. takes up `spec.lifecycleAction` once per request id: checks it against the lifecycle rules,
//!    calls KubeVirt, and acknowledges it (`observedRequestId`), accepted or refused;
//! 5. reports `status.lifecycleState` from KubeVirt's printableStatus and the VMI's Paused condition.
//!
//! Every decision about *whether* an action may happen is `wukong_lifecycle`'s; this module only
//! reads, calls and writes. Every write to a Wukong is a JSON patch that `test`s its uid, so a
//! decision made on one Wukong never lands on a new one of the same name (`Error::Replaced`).

use crate::kubevirt::{CallError, KubevirtClient};
use crate::metrics::Metrics;
use crate::vm;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, info_span, warn, Instrument};
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::{LifecycleState, RequestRecord, Wukong, WukongStatus, FINALIZER};
use wukong_lifecycle::kubevirt::{
    accepted_message, call_for, next_message, refused_message, settle, unexplained_change, Call,
    Observed, ObservedVmi, FORCED_MESSAGE,
};
use wukong_lifecycle::{
    check, effective_grace_period, plan, Action, RunStrategy, Situation, VmState, Vmi,
    DEFAULT_GRACE_PERIOD_SECONDS,
};

/// The field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "wukong-controller";

/// The reason of the Warning Event when a VM of the Wukong's name is someone else's.
pub const NOT_OWNED_REASON: &str = "VirtualMachineNotOwned";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("KubeVirt did not answer: {0}")]
    Kubevirt(kube::Error),
    #[error("the Wukong has no namespace")]
    NotNamespaced,
    #[error("the Wukong has no uid (not read from the API server)")]
    NoUid,
    /// The Wukong this reconcile decided on was deleted, or deleted and created again under the
    /// same name, before a write for it landed: nothing to retry (the new one, if any, gets a
    /// reconcile of its own from the watch).
    #[error("the Wukong is gone or was replaced by a new one of the same name")]
    Replaced,
}

impl Error {
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(_) => "kube",
            Error::Kubevirt(_) => "kubevirt",
            Error::NotNamespaced | Error::NoUid => "invalid",
            Error::Replaced => "replaced",
        }
    }
}

pub struct Context {
    pub client: Client,
    pub kubevirt: KubevirtClient,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Annotations of a Wukong copied onto its VM: only those under these prefixes
    /// (`--copy-annotation-prefix`).
    pub copy_annotation_prefixes: Vec<String>,
    /// The VMI uid a restart was sent for, per Wukong: the new VMI tells that it has happened.
    restarts: Mutex<HashMap<(String, String), String>>,
}

impl Context {
    pub fn new(
        client: Client,
        kubevirt: KubevirtClient,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        copy_annotation_prefixes: Vec<String>,
    ) -> Context {
        Context {
            client,
            kubevirt,
            recorder,
            metrics,
            copy_annotation_prefixes,
            restarts: Mutex::default(),
        }
    }
}

/// Runs the controller until `shutdown` completes: over all namespaces, or only `namespace`.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (wukongs, vms, vmis) = match namespace {
        Some(ns) => (
            Api::<Wukong>::namespaced(client.clone(), ns),
            Api::<VirtualMachine>::namespaced(client.clone(), ns),
            Api::<VirtualMachineInstance>::namespaced(client, ns),
        ),
        None => (
            Api::<Wukong>::all(client.clone()),
            Api::<VirtualMachine>::all(client.clone()),
            Api::<VirtualMachineInstance>::all(client),
        ),
    };
    Controller::new(wukongs, watcher::Config::default())
        // By name rather than `owns`: a VM of the Wukong's name that is someone else's must wake
        // the Wukong too (to report it, and to create its own VM once that one is gone).
        // Whether a VM is the Wukong's is decided in `observe`, never by this mapping.
        .watches(vms, watcher::Config::default(), |vm| {
            Some(ObjectRef::<Wukong>::new(&vm.name_any()).within(&vm.namespace()?))
        })
        // A VMI belongs to the VM of the same name, which belongs to the Wukong of the same name.
        .watches(vmis, watcher::Config::default(), |vmi| {
            Some(ObjectRef::<Wukong>::new(&vmi.name_any()).within(&vmi.namespace()?))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn error_policy(_wukong: Arc<Wukong>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics.count_error(error.kind());
    match error {
        Error::Replaced => {
            info!("the Wukong is gone or was replaced; dropping this reconcile");
            Requeue::await_change()
        }
        // Our view was stale: look again at once.
        Error::Kube(kube::Error::Api(s)) if s.code == 409 => {
            Requeue::requeue(Duration::from_millis(200))
        }
        _ => {
            warn!(error = %error, "reconcile failed; retrying in 5 s");
            Requeue::requeue(Duration::from_secs(5))
        }
    }
}

async fn reconcile(wukong: Arc<Wukong>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let namespace = wukong.namespace().ok_or(Error::NotNamespaced)?;
    let name = wukong.name_any();
    let uid = wukong.uid().ok_or(Error::NoUid)?;
    let request_id = wukong
        .spec
        .lifecycle_action
        .as_ref()
        .map(|a| a.request_id.clone())
        .unwrap_or_default();
    let span = info_span!("reconcile", %namespace, %name, request_id = %request_id);
    ctx.metrics.reconciles.inc();
    Reconciler {
        ctx: &ctx,
        wukongs: Api::namespaced(ctx.client.clone(), &namespace),
        vms: Api::namespaced(ctx.client.clone(), &namespace),
        vmis: Api::namespaced(ctx.client.clone(), &namespace),
        namespace,
        name,
        uid,
    }
    .reconcile(wukong)
    .instrument(span)
    .await
}

struct Reconciler<'a> {
    ctx: &'a Context,
    wukongs: Api<Wukong>,
    vms: Api<VirtualMachine>,
    vmis: Api<VirtualMachineInstance>,
    namespace: String,
    name: String,
    /// The uid of the Wukong this reconcile is for: what a VM must be controlled by to be
    /// touched, and the precondition of every write to the Wukong.
    uid: String,
}

/// What stands under the Wukong's name in KubeVirt.
enum Backing {
    /// No VirtualMachine (yet, or any more): look again shortly.
    Nothing,
    /// A VirtualMachine this Wukong does not control: never acted on.
    NotOurs,
    Ours(Seen),
}

/// How a VM create went.
enum Created {
    New,
    /// 409: something already has the name (someone else's VM, or ours from a create whose answer
    /// was lost); only a fresh look at its ownerReference says which.
    NameTaken,
}

/// What KubeVirt shows for the VM right now.
struct Seen {
    vm: VirtualMachine,
    vmi: Option<VirtualMachineInstance>,
    state: VmState,
    run_strategy: RunStrategy,
    /// KubeVirt's VMI as the rules see it.
    vmi_state: Vmi,
    /// What KubeVirt says is wrong, for the Error and Failed states.
    problem: Option<String>,
}

impl Seen {
    fn vm_grace_seconds(&self, wukong: &Wukong) -> i64 {
        wukong
            .spec
            .termination_grace_period_seconds
            .or(self.vm.template_grace_period_seconds())
            .unwrap_or(i64::from(DEFAULT_GRACE_PERIOD_SECONDS))
    }

    /// A guest is up (or on its way down): something to stop.
    fn guest_up(&self) -> bool {
        self.vmi
            .as_ref()
            .is_some_and(|vmi| !matches!(vmi.phase(), Some("Succeeded" | "Failed")))
    }
}

impl Reconciler<'_> {
    fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    async fn reconcile(&self, wukong: Arc<Wukong>) -> Result<Requeue, Error> {
        if wukong.metadata.deletion_timestamp.is_some() {
            return self.cleanup(&wukong).await;
        }
        if !wukong.finalizers().iter().any(|f| f == FINALIZER) {
            self.add_finalizer(&wukong).await?;
        }
        let seen = match self.backing_vm(&wukong).await? {
            Backing::Ours(seen) => seen,
            Backing::NotOurs => return self.report_not_owned(wukong).await,
            Backing::Nothing => return Ok(Requeue::requeue(Duration::from_secs(1))),
        };
        let wukong = self.fresh_if_pending(wukong).await?;
        let prev = wukong.lifecycle_state().cloned().unwrap_or_default();
        let now = Timestamp::now();
        let shown = VmState::parse(&prev.state).unwrap_or(VmState::Unknown);
        let since_ms = prev
            .last_action_time
            .as_ref()
            .map_or(u64::MAX, |t| millis_between(t.0, now));
        let same_vmi = self
            .ctx
            .restarts
            .lock()
            .ok()
            .and_then(|r| r.get(&self.key()).cloned())
            .map(|uid| seen.vmi.as_ref().and_then(|vmi| vmi.uid()) == Some(uid));
        let mut next = prev.clone();
        next.state = settle(shown, seen.state, since_ms, same_vmi)
            .as_str()
            .to_owned();
        let settled = VmState::parse(&next.state).unwrap_or(VmState::Unknown);
        if let Some(message) = next_message(
            prev.message.as_deref(),
            shown,
            settled,
            seen.problem.as_deref(),
        ) {
            next.message = Some(message);
            if next.state == VmState::Running.as_str() {
                if let Ok(mut r) = self.ctx.restarts.lock() {
                    r.remove(&self.key());
                }
            }
        }
        let mut requeue = None;

        // A graceful stop past its deadline is forced, even if this process restarted meanwhile:
        // the deadline lives in status.
        if let Some(deadline) = prev.stop_deadline.as_ref().map(|t| t.0) {
            if !seen.guest_up() {
                next.stop_deadline = None;
                // Gone right at the deadline: KubeVirt's own kill at the VM's grace period (the
                // same moment when the request's grace equals the VM's) beat our forced stop.
                let early = deadline - SignedDuration::from_millis(500);
                let late = deadline + SignedDuration::from_secs(5);
                if (early..=late).contains(&now) {
                    next.message = Some(FORCED_MESSAGE.to_owned());
                }
            } else if now >= deadline {
                self.force_stop(&wukong, &mut next).await?;
            } else {
                requeue = Some(duration_between(now, deadline));
            }
        }

        // startStrategy.autoStart: one start for a new Manual/Halted VM (Always and RerunOnFailure
        // start on creation by themselves). "New" = nothing reported yet, so it happens once.
        let auto_start = wukong
            .spec
            .start_strategy
            .as_ref()
            .is_some_and(|s| s.auto_start);
        if wukong.lifecycle_state().is_none()
            && auto_start
            && matches!(seen.run_strategy, RunStrategy::Manual | RunStrategy::Halted)
            && !seen.guest_up()
        {
            let start = Call::Start { paused: false };
            match self
                .ctx
                .kubevirt
                .call(&self.namespace, &self.name, start)
                .await
            {
                Ok(()) => {
                    next.state = VmState::Starting.as_str().to_owned();
                    next.last_action = Some(Action::Start.as_str().to_owned());
                    next.last_action_time = Some(Time(now));
                    next.message = Some("started on creation (startStrategy.autoStart)".to_owned());
                    info!("started on creation (startStrategy.autoStart)");
                }
                Err(CallError::Refused { message, .. }) => {
                    next.message = Some(format!("auto-start refused by KubeVirt: {message}"));
                    self.event(
                        &wukong,
                        EventType::Warning,
                        "AutoStartRefused",
                        Action::Start.as_str(),
                        next.message.clone(),
                    )
                    .await;
                }
                Err(CallError::Unanswered(e)) => return Err(Error::Kubevirt(e)),
            }
        }

        let mut recent_requests = wukong
            .status
            .as_ref()
            .map(|s| s.recent_requests.clone())
            .unwrap_or_default();
        if let Some(change) = unexplained_change(shown, settled) {
            info!(%change, "state changed with no request");
            recent_requests.push(RequestRecord::unexplained(change, Time(now)));
        }
        if let Some(request) = wukong.pending_request() {
            let action = request.action();
            let started = Instant::now();
            let outcome = self.take_up(&wukong, &seen, action, &mut next, now).await?;
            recent_requests.push(RequestRecord::taken_up(
                request,
                outcome,
                next.message.clone(),
                Time(now),
            ));
            info!(
                action = action.as_str(),
                took_ms = started.elapsed().as_millis() as u64,
                message = next.message.as_deref().unwrap_or(""),
                "request taken up"
            );
            if let Some(deadline) = next.stop_deadline.as_ref() {
                requeue = Some(duration_between(Timestamp::now(), deadline.0));
            }
        }

        let mut status = WukongStatus {
            lifecycle_state: Some(next),
            node_name: seen
                .vmi
                .as_ref()
                .and_then(|vmi| vmi.status.as_ref()?.node_name.clone()),
            run_strategy: Some(seen.run_strategy),
            printable_status: seen.vm.printable_status().map(str::to_owned),
            vmi_phase: seen
                .vmi
                .as_ref()
                .map(|vmi| vmi.phase().unwrap_or_default().to_owned()),
            recent_requests: Vec::new(),
        };
        for record in recent_requests {
            status.remember(record);
        }
        self.write_status(&wukong, &status).await?;
        let state = status
            .lifecycle_state
            .as_ref()
            .and_then(|s| VmState::parse(&s.state))
            .unwrap_or(VmState::Unknown);
        let fallback = if state.is_transitional() {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(300)
        };
        Ok(Requeue::requeue(
            requeue.map_or(fallback, |r| r.min(fallback)),
        ))
    }

    /// An unacknowledged request: read the Wukong afresh, so a stale cache never makes us act on a
    /// request twice. The fresh read must be the same Wukong (uid) whose VM we looked at.
    async fn fresh_if_pending(&self, wukong: Arc<Wukong>) -> Result<Arc<Wukong>, Error> {
        if wukong.pending_request().is_none() {
            return Ok(wukong);
        }
        let fresh = match self.wukongs.get_status(&self.name).await {
            Ok(fresh) => fresh,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(Error::Replaced),
            Err(e) => return Err(e.into()),
        };
        if fresh.uid().as_deref() != Some(self.uid.as_str()) {
            return Err(Error::Replaced);
        }
        Ok(Arc::new(fresh))
    }

    /// A VirtualMachine of this name exists and is not this Wukong's: touch nothing, report
    /// Unknown with a message saying why, and acknowledge a pending request as refused (it would
    /// otherwise stay pending forever, and only Delete would ever be offered).
    async fn report_not_owned(&self, wukong: Arc<Wukong>) -> Result<Requeue, Error> {
        let wukong = self.fresh_if_pending(wukong).await?;
        let message = vm::not_owned_message(&self.namespace, &self.name);
        let prev = wukong.lifecycle_state().cloned().unwrap_or_default();
        let mut next = LifecycleState {
            state: VmState::Unknown.as_str().to_owned(),
            message: Some(message.clone()),
            stop_deadline: None,
            ..prev.clone()
        };
        let mut status = WukongStatus {
            recent_requests: wukong
                .status
                .as_ref()
                .map(|s| s.recent_requests.clone())
                .unwrap_or_default(),
            ..WukongStatus::default()
        };
        if let Some(request) = wukong.pending_request() {
            let action = request.action();
            next.observed_request_id = Some(request.request_id.clone());
            self.ctx.metrics.count_request(action.as_str(), "refused");
            let note = format!("{} refused: {message}", action.as_str());
            status.remember(RequestRecord::taken_up(
                request,
                "Refused",
                Some(note.clone()),
                Time(Timestamp::now()),
            ));
            self.event(
                &wukong,
                EventType::Warning,
                NOT_OWNED_REASON,
                action.as_str(),
                Some(note),
            )
            .await;
        } else if prev.state != next.state || prev.message != next.message {
            // Once when it is found, not on every resync.
            warn!("{message}; leaving it alone");
            self.event(
                &wukong,
                EventType::Warning,
                NOT_OWNED_REASON,
                "create",
                Some(message),
            )
            .await;
        }
        // Nothing read from someone else's VM is reported (node, run strategy).
        status.lifecycle_state = Some(next);
        self.write_status(&wukong, &status).await?;
        Ok(Requeue::requeue(Duration::from_secs(300)))
    }

    /// Takes up one request: refused by the rules, refused by KubeVirt, or carried out. Either way
    /// it is acknowledged in `next` and the outcome returned (`Accepted`, `Refused`,
    /// `KubeVirtRefused`: the Event's reason and the history's); only an unanswered call is
    /// retried (as an error).
    async fn take_up(
        &self,
        wukong: &Wukong,
        seen: &Seen,
        action: Action,
        next: &mut LifecycleState,
        now: Timestamp,
    ) -> Result<&'static str, Error> {
        let Some(request) = wukong.spec.lifecycle_action.as_ref() else {
            return Ok("Accepted");
        };
        let current = VmState::parse(&next.state).unwrap_or(VmState::Unknown);
        let pending = seen.vm.has_pending_requests();
        next.observed_request_id = Some(request.request_id.clone());
        let situation = Situation {
            state: current,
            run_strategy: seen.run_strategy,
            pending,
            vmi: seen.vmi_state,
        };
        if let Err(refusal) = check(action, &situation) {
            next.message = Some(format!("{} refused: {refusal}", action.as_str()));
            self.ctx.metrics.count_request(action.as_str(), "refused");
            self.event(
                wukong,
                EventType::Warning,
                "Refused",
                action.as_str(),
                next.message.clone(),
            )
            .await;
            return Ok("Refused");
        }
        let vm_grace = seen.vm_grace_seconds(wukong);
        let grace =
            effective_grace_period(request.force, request.grace_period_seconds, Some(vm_grace));
        let Some(call) = call_for(action, request.force, grace, vm_grace) else {
            return Ok("Accepted");
        };
        let started = Instant::now();
        let result = self
            .ctx
            .kubevirt
            .call(&self.namespace, &self.name, call)
            .await;
        self.ctx
            .metrics
            .action_duration
            .get_or_create(&crate::metrics::ActionLabels {
                action: action.as_str().to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                next.state = plan(action, seen.run_strategy)
                    .passes_through
                    .as_str()
                    .to_owned();
                next.last_action = Some(action.as_str().to_owned());
                next.last_action_time = Some(Time(now));
                next.stop_deadline = None;
                next.message = Some(accepted_message(action, request.force, grace));
                if action == Action::Stop && grace > 0 {
                    next.stop_deadline = Some(Time(add_secs(now, grace)));
                }
                if action == Action::Restart {
                    if let (Ok(mut r), Some(uid)) = (
                        self.ctx.restarts.lock(),
                        seen.vmi.as_ref().and_then(|vmi| vmi.uid()),
                    ) {
                        r.insert(self.key(), uid);
                    }
                }
                self.ctx.metrics.count_request(action.as_str(), "accepted");
                self.event(
                    wukong,
                    EventType::Normal,
                    "Accepted",
                    action.as_str(),
                    next.message.clone(),
                )
                .await;
                Ok("Accepted")
            }
            Err(CallError::Refused { code, message }) => {
                next.message = Some(refused_message(action, code, &message));
                self.ctx
                    .metrics
                    .count_request(action.as_str(), "kubevirt_refused");
                self.event(
                    wukong,
                    EventType::Warning,
                    "KubeVirtRefused",
                    action.as_str(),
                    next.message.clone(),
                )
                .await;
                Ok("KubeVirtRefused")
            }
            Err(CallError::Unanswered(e)) => Err(Error::Kubevirt(e)),
        }
    }

    /// A call whose refusal is as good as its acceptance (a stop that finds the guest already
    /// stopping or gone); only an unanswered call is an error (retried).
    async fn call_settled(&self, call: Call) -> Result<(), Error> {
        match self
            .ctx
            .kubevirt
            .call(&self.namespace, &self.name, call)
            .await
        {
            Ok(()) | Err(CallError::Refused { .. }) => Ok(()),
            Err(CallError::Unanswered(e)) => Err(Error::Kubevirt(e)),
        }
    }

    /// The grace period is over and the guest is still up: stop it with grace 0.
    async fn force_stop(&self, wukong: &Wukong, next: &mut LifecycleState) -> Result<(), Error> {
        let call = Call::Stop {
            grace_period: Some(0),
        };
        self.call_settled(call).await?;
        next.stop_deadline = None;
        next.message = Some(FORCED_MESSAGE.to_owned());
        self.ctx
            .metrics
            .count_request(Action::Stop.as_str(), "forced");
        self.event(
            wukong,
            EventType::Normal,
            "ForcedStop",
            Action::ForceStop.as_str(),
            next.message.clone(),
        )
        .await;
        Ok(())
    }

    /// What stands under the Wukong's name, read fresh: ours only with our controller
    /// ownerReference.
    async fn observe(&self) -> Result<Backing, Error> {
        // Both at once: each reconcile reads fresh, so these two round trips are on every path.
        let (vm, vmi) =
            futures::try_join!(self.vms.get_opt(&self.name), self.vmis.get_opt(&self.name))?;
        let Some(vm) = vm else {
            return Ok(Backing::Nothing);
        };
        if !vm::is_controlled_by(&vm, &self.uid) {
            return Ok(Backing::NotOurs);
        }
        // KubeVirt's VMI is controlled by its VM; one of the same name that is not (created by
        // someone else) says nothing about ours.
        let vm_uid = vm.uid().unwrap_or_default();
        let vmi = vmi.filter(|vmi| vm::is_controlled_by(vmi, &vm_uid));
        let observed = Observed {
            printable_status: vm.printable_status(),
            vmi: vmi.as_ref().map(|v| ObservedVmi {
                phase: v.phase().unwrap_or_default(),
                deleting: v.metadata.deletion_timestamp.is_some(),
                problem: v.problem(),
            }),
        };
        let (state, vmi_state, problem) = (observed.state(), observed.vmi(), observed.problem());
        // `vm.RunStrategy()`: spec.runStrategy, else spec.running (true: Always, false: Halted).
        let run_strategy = match (vm.spec.run_strategy.as_deref(), vm.spec.running) {
            (Some(rs), _) => RunStrategy::parse(rs).unwrap_or(RunStrategy::Manual),
            (None, Some(true)) => RunStrategy::Always,
            (None, _) => RunStrategy::Halted,
        };
        Ok(Backing::Ours(Seen {
            vm,
            vmi,
            state,
            run_strategy,
            vmi_state,
            problem,
        }))
    }

    /// The VM behind the Wukong, created when there is none. A create answered 409 is not taken
    /// as success: the name may be someone else's VM, so the ownerReference decides.
    async fn backing_vm(&self, wukong: &Wukong) -> Result<Backing, Error> {
        let backing = self.observe().await?;
        if !matches!(backing, Backing::Nothing) {
            return Ok(backing);
        }
        match self.create_vm(wukong).await? {
            Created::New => Ok(Backing::Nothing),
            Created::NameTaken => self.observe().await,
        }
    }

    /// The VirtualMachine for a new Wukong: same name, controlled by the Wukong, from its spec.
    async fn create_vm(&self, wukong: &Wukong) -> Result<Created, Error> {
        // Never create a VM without our controller reference: it would not be ours to touch.
        let mut owner = wukong.controller_owner_ref(&()).ok_or(Error::NoUid)?;
        owner.block_owner_deletion = Some(true);
        let vm = vm::desired(wukong, owner, &self.ctx.copy_annotation_prefixes)
            .map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
        match self.vms.create(&PostParams::default(), &vm).await {
            Ok(_) => {
                info!(
                    run_strategy = wukong.spec.run_strategy.as_str(),
                    "created the VirtualMachine"
                );
                Ok(Created::New)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Created::NameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletion: stop the guest gracefully (forced at the VM's grace deadline), delete the VM,
    /// then remove the finalizer.
    async fn cleanup(&self, wukong: &Wukong) -> Result<Requeue, Error> {
        if !wukong.finalizers().iter().any(|f| f == FINALIZER) {
            return Ok(Requeue::await_change());
        }
        let seen = match self.observe().await? {
            Backing::Ours(seen) => seen,
            Backing::Nothing => {
                self.remove_finalizer(wukong).await?;
                info!("VM gone; released the Wukong");
                return Ok(Requeue::await_change());
            }
            Backing::NotOurs => {
                self.remove_finalizer(wukong).await?;
                info!("the VirtualMachine of this name is not this Wukong's: left it alone, released the Wukong");
                return Ok(Requeue::await_change());
            }
        };
        let now = Timestamp::now();
        let mut next = wukong.lifecycle_state().cloned().unwrap_or_default();
        next.state = VmState::Deleting.as_str().to_owned();
        if seen.guest_up() {
            match next.stop_deadline.as_ref().map(|t| t.0) {
                None => {
                    let grace = u32::try_from(seen.vm_grace_seconds(wukong))
                        .unwrap_or(DEFAULT_GRACE_PERIOD_SECONDS);
                    self.call_settled(Call::Stop { grace_period: None }).await?;
                    next.stop_deadline = Some(Time(add_secs(now, grace)));
                    next.message = Some(format!(
                        "deleting: shutting the guest down (forced after {grace} s)"
                    ));
                }
                Some(deadline) if now >= deadline => {
                    let force = Call::Stop {
                        grace_period: Some(0),
                    };
                    self.call_settled(force).await?;
                    next.message = Some(
                        "deleting: the grace period is over, forcing the guest off".to_owned(),
                    );
                }
                Some(_) => {}
            }
            self.write_status(
                wukong,
                &WukongStatus {
                    lifecycle_state: Some(next),
                    ..wukong.status.clone().unwrap_or_default()
                },
            )
            .await?;
            return Ok(Requeue::requeue(Duration::from_secs(1)));
        }
        // Only the VM we looked at: if another took its name since, the uid precondition fails
        // (409) and the next look decides again.
        let delete = DeleteParams {
            preconditions: Some(Preconditions {
                uid: seen.vm.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match self.vms.delete(&self.name, &delete).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                info!("the VirtualMachine was replaced before it could be deleted; looking again");
                return Ok(Requeue::requeue(Duration::from_secs(1)));
            }
            Err(e) => return Err(e.into()),
        }
        next.message = Some("deleting: the guest is off, removing the VirtualMachine".to_owned());
        next.stop_deadline = None;
        self.write_status(
            wukong,
            &WukongStatus {
                lifecycle_state: Some(next),
                ..wukong.status.clone().unwrap_or_default()
            },
        )
        .await?;
        Ok(Requeue::requeue(Duration::from_secs(1)))
    }

    /// Adds the finalizer, only to the Wukong this reconcile is for (a JSON patch `test` of the
    /// uid: the apiserver refuses the whole patch if the name now holds another Wukong).
    async fn add_finalizer(&self, wukong: &Wukong) -> Result<(), Error> {
        let add = if wukong.metadata.finalizers.is_none() {
            json!({ "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] })
        } else {
            json!({ "op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER })
        };
        let patch = json_patch(json!([self.uid_test(), add]))?;
        let result = self
            .wukongs
            .patch(&self.name, &params(), &Patch::<()>::Json(patch))
            .await;
        self.landed(result).await?;
        Ok(())
    }

    async fn remove_finalizer(&self, wukong: &Wukong) -> Result<(), Error> {
        let Some(index) = wukong.finalizers().iter().position(|f| f == FINALIZER) else {
            return Ok(());
        };
        let path = format!("/metadata/finalizers/{index}");
        let patch = json_patch(json!([
            self.uid_test(),
            { "op": "test", "path": path, "value": FINALIZER },
            { "op": "remove", "path": path },
        ]))?;
        let result = self
            .wukongs
            .patch(&self.name, &params(), &Patch::<()>::Json(patch))
            .await;
        match result {
            // Gone: nothing left to release.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            result => self.landed(result).await.map(|_| ()),
        }
    }

    fn uid_test(&self) -> serde_json::Value {
        json!({ "op": "test", "path": "/metadata/uid", "value": self.uid })
    }

    /// The answer to a write carrying the Wukong's uid as a precondition. The apiserver refuses
    /// such a write to a re-created Wukong with 422 Invalid ("the server rejected our request due
    /// to an error in our request", the same as for a failed finalizer `test`), and a write to a
    /// deleted one with 404, so a fresh read tells a stale write from a replaced Wukong: gone or
    /// another uid is `Error::Replaced`, not a retry.
    async fn landed<T>(&self, result: Result<T, kube::Error>) -> Result<T, Error> {
        match result {
            Ok(v) => Ok(v),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::Replaced),
            Err(kube::Error::Api(s)) if matches!(s.code, 409 | 422) => {
                match self.wukongs.get_opt(&self.name).await? {
                    Some(now) if now.uid().as_deref() == Some(self.uid.as_str()) => {
                        Err(Error::Kube(kube::Error::Api(s)))
                    }
                    _ => Err(Error::Replaced),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the whole status under the controller's field manager, skipped when nothing
    /// changed; only to the Wukong this reconcile is for. A JSON patch whose `test` of the uid
    /// fails is refused whole, while server-side apply to the status subresource ignores a
    /// `metadata.uid` in its body (kube-apiserver 1.37 applied it to a Wukong with another uid).
    async fn write_status(&self, wukong: &Wukong, status: &WukongStatus) -> Result<(), Error> {
        if wukong.status.as_ref() == Some(status) {
            return Ok(());
        }
        let status =
            serde_json::to_value(status).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
        let patch = json_patch(json!([
            self.uid_test(),
            { "op": "add", "path": "/status", "value": status },
        ]))?;
        let result = self
            .wukongs
            .patch_status(&self.name, &params(), &Patch::<()>::Json(patch))
            .await;
        self.landed(result).await?;
        Ok(())
    }

    /// Records an Event on the Wukong without holding up the reconcile (the status write, which
    /// the person is waiting for, goes first).
    async fn event(
        &self,
        wukong: &Wukong,
        type_: EventType,
        reason: &str,
        action: &str,
        note: Option<String>,
    ) {
        // Who asked, for the audit trail (the console writes `requestedBy`; the history view
        // reads it back from here).
        let by = wukong
            .spec
            .lifecycle_action
            .as_ref()
            .and_then(|r| r.requested_by.as_deref());
        let note = match (note, by, reason) {
            (note, _, "AutoStartRefused" | "ForcedStop") => note,
            // Found on its own, not asked for by anyone.
            (note, _, NOT_OWNED_REASON) if action == "create" => note,
            (Some(note), Some(by), _) => Some(wukong_api::with_requester(&note, by)),
            (note, _, _) => note,
        };
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note,
            action: action.to_owned(),
            secondary: None,
        };
        let recorder = self.ctx.recorder.clone();
        let reference = wukong.object_ref(&());
        tokio::spawn(
            async move {
                if let Err(e) = recorder.publish(&event, &reference).await {
                    warn!(error = %e, "could not record an Event");
                }
            }
            .in_current_span(),
        );
    }
}

fn json_patch(ops: serde_json::Value) -> Result<json_patch::Patch, Error> {
    serde_json::from_value(ops).map_err(|e| Error::Kube(kube::Error::SerdeError(e)))
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

fn add_secs(t: Timestamp, secs: u32) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(i64::from(secs)))
        .unwrap_or(t)
}

fn millis_between(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.duration_since(from).as_millis()).unwrap_or(0)
}

fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_millis(millis_between(from, to))
}
