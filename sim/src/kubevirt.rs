//! KubeVirt v1.8.0's own answers to the lifecycle subresource requests, and its
//! `status.printableStatus`, as pure functions.
//!
//! Each handler follows its source line by line, in the same order of checks, so a refusal is the
//! one KubeVirt gives first:
//! - `start`, `stop`, `restart`, `pause`, `unpause`, `softreboot`: `pkg/virt-api/rest/lifecycle.go`
//!   (`StartVMRequestHandler`, `StopVMRequestHandler`, `RestartVMRequestHandler`,
//!   `PauseVMIRequestHandler`, `UnpauseVMIRequestHandler`, `SoftRebootVMIRequestHandler`,
//!   `getChangeRequestJson`, `getRunningPatch`);
//! - the error bodies: `pkg/virt-api/rest/subresource.go` (`writeError`) with apimachinery's
//!   `errors.NewConflict`, `NewNotFound`, `NewInternalError`, `NewBadRequest`, `NewForbidden`;
//! - `printableStatus`: `pkg/virt-controller/watch/vm/vm.go` (`setPrintableStatus` and the
//!   `isVirtualMachineStatus*` functions it calls, first match wins).
//!
//! `docs/kubevirt-conformance.md` lists every call and situation with KubeVirt's answer, ours and
//! the test that checks it. What is not simulated (volume migration recovery, snapshots in
//! progress, the guest agent) is named there.

use std::fmt;

/// KubeVirt's `spec.runStrategy` (or the deprecated `spec.running`: true is Always, false Halted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvRunStrategy {
    Always,
    RerunOnFailure,
    Manual,
    #[default]
    Halted,
    Once,
}

impl KvRunStrategy {
    pub fn parse(s: &str) -> Option<KvRunStrategy> {
        use KvRunStrategy::*;
        [Always, RerunOnFailure, Manual, Halted, Once]
            .into_iter()
            .find(|rs| rs.to_string() == s)
    }
}

/// The lifecycle rules' name for the same run strategy (one to one).
impl From<KvRunStrategy> for wukong_lifecycle::RunStrategy {
    fn from(rs: KvRunStrategy) -> Self {
        use wukong_lifecycle::RunStrategy as R;
        match rs {
            KvRunStrategy::Always => R::Always,
            KvRunStrategy::RerunOnFailure => R::RerunOnFailure,
            KvRunStrategy::Manual => R::Manual,
            KvRunStrategy::Halted => R::Halted,
            KvRunStrategy::Once => R::Once,
        }
    }
}

impl From<wukong_lifecycle::RunStrategy> for KvRunStrategy {
    fn from(rs: wukong_lifecycle::RunStrategy) -> Self {
        use wukong_lifecycle::RunStrategy as R;
        match rs {
            R::Always => KvRunStrategy::Always,
            R::RerunOnFailure => KvRunStrategy::RerunOnFailure,
            R::Manual => KvRunStrategy::Manual,
            R::Halted => KvRunStrategy::Halted,
            R::Once => KvRunStrategy::Once,
        }
    }
}

impl fmt::Display for KvRunStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A VMI's `status.phase`. `Unset` is the empty phase of a VMI virt-controller has not processed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VmiPhase {
    #[default]
    Unset,
    Pending,
    Scheduling,
    Scheduled,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl VmiPhase {
    /// Succeeded and Failed VMIs are over (`vmi.IsFinal()`).
    pub const fn is_final(self) -> bool {
        matches!(self, VmiPhase::Succeeded | VmiPhase::Failed)
    }

    /// The phase as written in `status.phase` (empty for `Unset`).
    pub const fn as_str(self) -> &'static str {
        match self {
            VmiPhase::Unset => "",
            VmiPhase::Pending => "Pending",
            VmiPhase::Scheduling => "Scheduling",
            VmiPhase::Scheduled => "Scheduled",
            VmiPhase::Running => "Running",
            VmiPhase::Succeeded => "Succeeded",
            VmiPhase::Failed => "Failed",
            VmiPhase::Unknown => "Unknown",
        }
    }

    pub fn parse(s: &str) -> VmiPhase {
        use VmiPhase::*;
        [
            Pending, Scheduling, Scheduled, Running, Succeeded, Failed, Unknown,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .unwrap_or(Unset)
    }
}

/// An entry of the VM's `status.stateChangeRequests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateChange {
    /// `{action: Start}`, with `data: {paused: "true"}` for a paused start.
    Start { paused: bool },
    /// `{action: Stop, uid}`: stop that VMI (by its number in the simulator; `None`: whichever runs).
    Stop { vmi: Option<u64> },
}

/// Why a VMI that exists cannot get going, as its conditions tell virt-controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartProblem {
    /// Condition `PodScheduled=False`, reason `Unschedulable`.
    Unschedulable,
    /// Condition `Synchronized=False`, reason `ErrImagePull`.
    ErrImagePull,
    /// Condition `Synchronized=False`, reason `ImagePullBackOff`.
    ImagePullBackOff,
    /// Condition `Synchronized=False`, reason `FailedPvcNotFound`.
    PvcNotFound,
}

impl StartProblem {
    pub fn parse(s: &str) -> Option<StartProblem> {
        use StartProblem::*;
        [Unschedulable, ErrImagePull, ImagePullBackOff, PvcNotFound]
            .into_iter()
            .find(|p| p.printable_status() == s)
    }

    /// The printableStatus it produces (also the annotation value that asks for it).
    pub const fn printable_status(self) -> &'static str {
        match self {
            StartProblem::Unschedulable => "ErrorUnschedulable",
            StartProblem::ErrImagePull => "ErrImagePull",
            StartProblem::ImagePullBackOff => "ImagePullBackOff",
            StartProblem::PvcNotFound => "ErrorPvcNotFound",
        }
    }

    /// The VMI condition that carries it: (type, reason, message).
    pub const fn condition(self) -> (&'static str, &'static str, &'static str) {
        match self {
            StartProblem::Unschedulable => (
                "PodScheduled",
                "Unschedulable",
                "0/1 nodes are available: 1 Insufficient memory.",
            ),
            StartProblem::ErrImagePull => (
                "Synchronized",
                "ErrImagePull",
                "rpc error: code = NotFound desc = failed to pull and unpack image",
            ),
            StartProblem::ImagePullBackOff => {
                ("Synchronized", "ImagePullBackOff", "Back-off pulling image")
            }
            StartProblem::PvcNotFound => (
                "Synchronized",
                "FailedPvcNotFound",
                "PVC rootdisk does not exist",
            ),
        }
    }
}

/// What KubeVirt knows of the VM's volumes (from its DataVolume and PVC stores).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VolumeFacts {
    /// A DataVolume is still being imported or cloned (`HasDataVolumeProvisioning`).
    pub provisioning: bool,
    /// A DataVolume failed (`HasDataVolumeErrors`).
    pub data_volume_error: bool,
    /// A PVC is not bound yet (`HasUnboundPVC`).
    pub unbound_pvc: bool,
}

/// What KubeVirt looks at when it answers a request or computes printableStatus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmFacts {
    pub run_strategy: KvRunStrategy,
    /// The VM says `spec.running` rather than `spec.runStrategy`: start and stop patch that field.
    pub uses_running_field: bool,
    /// The VM has a deletion timestamp.
    pub deleting: bool,
    pub vmi: Option<VmiFacts>,
    pub state_change_requests: Vec<StateChange>,
    /// `status.startFailure.consecutiveFailCount` (0: no start failure recorded).
    pub start_failures: u32,
    /// virt-controller is about to create a VMI (its expectations): shows Starting before the
    /// VMI exists.
    pub start_expected: bool,
    pub volumes: VolumeFacts,
    /// The VM has no status at all yet (`getChangeRequestJson` then adds a whole status).
    pub status_empty: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmiFacts {
    /// The VMI's number in the simulator (KubeVirt compares uids).
    pub generation: u64,
    pub phase: VmiPhase,
    /// Condition `Paused` (reason `PausedByUser`).
    pub paused: bool,
    /// `spec.terminationGracePeriodSeconds`; `None` when unset (virt-launcher then uses 30 s).
    pub termination_grace_period_seconds: Option<i64>,
    /// The VMI has a deletion timestamp (`IsMarkedForDeletion`).
    pub marked_for_deletion: bool,
    /// A live migration is in progress (`migrations.IsMigrating`).
    pub migrating: bool,
    pub problem: Option<StartProblem>,
    /// `spec.livenessProbe` is set.
    pub liveness_probe: bool,
}

/// A subresource request with the body KubeVirt defines for it: the controller's `wukong_lifecycle::kubevirt::Call`.
pub use wukong_lifecycle::kubevirt::Call as Request;

/// What an accepted (or, for a stop's grace period, even a refused) request changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `getRunningPatch` on a VM with `spec.runStrategy`.
    SetRunStrategy(KvRunStrategy),
    /// `getRunningPatch` on a VM with `spec.running`.
    SetRunning(bool),
    /// `getChangeRequestJson` with no requests pending.
    AddStateChanges(Vec<StateChange>),
    /// `getChangeRequestJson`: a lone stop replaces the pending requests.
    ReplaceStateChanges(Vec<StateChange>),
    /// `getChangeRequestJson` removes `status.startFailure`.
    ClearStartFailure,
    /// The stop handler patches the VMI's `spec.terminationGracePeriodSeconds` first.
    SetVmiGracePeriod(i64),
    /// The v1.8 force restart deletes the virt-launcher pod with this grace period.
    DeleteLauncherPod {
        grace_seconds: i64,
    },
    PauseVmi,
    UnpauseVmi,
    SoftReboot,
}

/// KubeVirt's HTTP answer when it accepts: 202 for start/stop/restart, 200 for the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Applied whatever the outcome (a stop patches the VMI's grace before it may refuse).
    pub effects: Vec<Effect>,
    pub outcome: Result<u16, ApiError>,
}

/// A refusal as virt-api writes it: a `metav1.Status` (`kind: Status`, `apiVersion: v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: most answers carry none, and every `Result` here stays small.
    pub details: Option<Box<Details>>,
}

/// `metav1.StatusDetails`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details {
    pub name: Option<String>,
    pub group: Option<&'static str>,
    pub kind: Option<&'static str>,
    /// `causes[].message`.
    pub causes: Vec<String>,
}

/// `v1.Resource("virtualmachine")`: the group-resource virt-api names in its errors.
pub const VM: &str = "virtualmachine";
/// `v1.Resource("virtualmachineinstance")`.
pub const VMI: &str = "virtualmachineinstance";
const GROUP: &str = "kubevirt.io";

impl ApiError {
    /// `errors.NewConflict(v1.Resource(kind), name, err)`.
    pub fn conflict(kind: &'static str, name: &str, err: impl fmt::Display) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!("Operation cannot be fulfilled on {kind}.{GROUP} \"{name}\": {err}"),
            details: Some(Box::new(Details::named(kind, name))),
        }
    }

    /// `errors.NewNotFound(v1.Resource(kind), name)`.
    pub fn not_found(kind: &'static str, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{kind}.{GROUP} \"{name}\" not found"),
            details: Some(Box::new(Details::named(kind, name))),
        }
    }

    /// `errors.NewForbidden(v1.Resource(kind), name, err)`.
    pub fn forbidden(kind: &'static str, name: &str, err: impl fmt::Display) -> ApiError {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!("{kind}.{GROUP} \"{name}\" is forbidden: {err}"),
            details: Some(Box::new(Details::named(kind, name))),
        }
    }

    /// `errors.NewInternalError(err)`.
    pub fn internal(err: impl fmt::Display) -> ApiError {
        let err = err.to_string();
        ApiError {
            code: 500,
            reason: "InternalError",
            message: format!("Internal error occurred: {err}"),
            details: Some(Box::new(Details {
                name: None,
                group: None,
                kind: None,
                causes: vec![err],
            })),
        }
    }

    /// `errors.NewBadRequest(msg)`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }
}

impl Details {
    fn named(kind: &'static str, name: &str) -> Details {
        Details {
            name: Some(name.to_owned()),
            group: Some(GROUP),
            kind: Some(kind),
            causes: Vec::new(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `vmNotRunning` in subresource.go.
pub const VM_NOT_RUNNING: &str = "VM is not running";
const VMI_NOT_RUNNING: &str = "VMI is not running";
const VMI_NOT_PAUSED: &str = "VMI is not paused";
/// The error `getChangeRequestJson` returns when requests are pending (answered as a 500).
pub const ALREADY_UNDERWAY: &str = "unable to complete request: stop/start already underway";

impl VmFacts {
    fn vmi_alive(&self) -> Option<&VmiFacts> {
        self.vmi.as_ref().filter(|vmi| !vmi.phase.is_final())
    }

    /// `getChangeRequestJson(vm, changes...)`.
    fn change_requests(&self, changes: Vec<StateChange>) -> Result<Vec<Effect>, ApiError> {
        let mut effects = Vec::new();
        if self.status_empty || self.state_change_requests.is_empty() {
            effects.push(Effect::AddStateChanges(changes));
        } else if matches!(changes.as_slice(), [StateChange::Stop { .. }]) {
            effects.push(Effect::ReplaceStateChanges(changes));
        } else {
            return Err(ApiError::internal(ALREADY_UNDERWAY));
        }
        if self.start_failures > 0 {
            effects.push(Effect::ClearStartFailure);
        }
        Ok(effects)
    }

    /// `getRunningPatch(vm, running)`.
    fn running_patch(&self, running: bool) -> Effect {
        if self.uses_running_field {
            Effect::SetRunning(running)
        } else if running {
            Effect::SetRunStrategy(KvRunStrategy::Always)
        } else {
            Effect::SetRunStrategy(KvRunStrategy::Halted)
        }
    }
}

fn accepted(effects: Vec<Effect>, code: u16) -> Reply {
    Reply {
        effects,
        outcome: Ok(code),
    }
}

fn refused(error: ApiError) -> Reply {
    Reply {
        effects: Vec::new(),
        outcome: Err(error),
    }
}

fn from(result: Result<Vec<Effect>, ApiError>, code: u16) -> Reply {
    match result {
        Ok(effects) => accepted(effects, code),
        Err(e) => refused(e),
    }
}

/// KubeVirt's answer to `request` on the VM `name`, which exists and is described by `vm` (a
/// missing VM is answered by the caller: [`ApiError::not_found`] of [`VM`], or of [`VMI`] for the
/// VMI calls).
pub fn answer(vm: &VmFacts, name: &str, request: Request) -> Reply {
    match request {
        Request::Start { paused } => start(vm, name, paused),
        Request::Stop { grace_period } => stop(vm, name, grace_period),
        Request::Restart {
            grace_period_seconds,
        } => restart(vm, name, grace_period_seconds),
        Request::Pause => vmi_call(vm, name, |vmi| {
            if vmi.phase != VmiPhase::Running {
                Err(ApiError::conflict(VMI, name, VM_NOT_RUNNING))
            } else if vmi.liveness_probe {
                Err(ApiError::forbidden(
                    VMI,
                    name,
                    "Pausing VMIs with LivenessProbe is currently not supported",
                ))
            } else if vmi.paused {
                Err(ApiError::conflict(VMI, name, "VMI is already paused"))
            } else {
                Ok(Effect::PauseVmi)
            }
        }),
        Request::Unpause => vmi_call(vm, name, |vmi| {
            if vmi.phase != VmiPhase::Running {
                Err(ApiError::conflict(VMI, name, VMI_NOT_RUNNING))
            } else if !vmi.paused {
                Err(ApiError::conflict(VMI, name, VMI_NOT_PAUSED))
            } else {
                Ok(Effect::UnpauseVmi)
            }
        }),
        Request::SoftReboot => vmi_call(vm, name, |vmi| {
            if vmi.phase != VmiPhase::Running {
                Err(ApiError::conflict(VMI, name, VM_NOT_RUNNING))
            } else if vmi.paused {
                Err(ApiError::conflict(VMI, name, "VMI is paused"))
            } else {
                // Without a guest agent KubeVirt sends ACPI, which the simulated VMIs always have.
                Ok(Effect::SoftReboot)
            }
        }),
    }
}

/// Which virt-api handler a request reached (from its path), whatever its body says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Start,
    Stop,
    Restart,
    Pause,
    Unpause,
    SoftReboot,
}

/// A request as virt-api received it: the handler, its body decoded into the call (or `decodeBody`'s
/// 400), and its `dryRun` (`Ok(true)` for `["All"]`; an `Err` for a value the API server refuses
/// when virt-api patches with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub handler: Handler,
    pub body: Result<Request, ApiError>,
    pub dry_run: Result<bool, ApiError>,
}

/// KubeVirt's answer to a request on the VM `name` (`vm`: `None` when there is no such VM), in
/// each handler's own order of reading the VM, the VMI and the body: start reads the VM and
/// refuses "already running" before it decodes; stop, restart, pause and unpause decode first
/// (restart also checks its grace period before it reads the VM); soft reboot never reads a body.
/// A `dryRun` the API server refuses fails the first patch (a 500), so only answers that would
/// write something.
pub fn answer_received(vm: Option<&VmFacts>, name: &str, received: Received) -> Reply {
    let reply = match (received.handler, vm) {
        (Handler::Start, None) => refused(ApiError::not_found(VM, name)),
        (Handler::Start, Some(vm)) => match received.body {
            Ok(request) => answer(vm, name, request),
            Err(e) => {
                let running = start(vm, name, false);
                match running.outcome {
                    Err(already) if already.message.ends_with("VM is already running") => {
                        refused(already)
                    }
                    _ => refused(e),
                }
            }
        },
        (Handler::SoftReboot, None) => refused(ApiError::not_found(VMI, name)),
        (Handler::SoftReboot, Some(vm)) => answer(vm, name, Request::SoftReboot),
        (_, vm) => match (received.body, vm) {
            (Err(e), _) => refused(e),
            (Ok(request), Some(vm)) => answer(vm, name, request),
            (
                Ok(Request::Restart {
                    grace_period_seconds,
                }),
                None,
            ) => match restart_grace_refusal(grace_period_seconds) {
                Some(e) => refused(e),
                None => refused(ApiError::not_found(VM, name)),
            },
            (Ok(request), None) if request.resource() == "virtualmachines" => {
                refused(ApiError::not_found(VM, name))
            }
            (Ok(_), None) => refused(ApiError::not_found(VMI, name)),
        },
    };
    match received.dry_run {
        Err(e) if !reply.effects.is_empty() => refused(e),
        _ => reply,
    }
}

/// `putRequestHandler`: the VMI must exist (404), then `validate`; success is a 200 with no body.
fn vmi_call(
    vm: &VmFacts,
    name: &str,
    validate: impl FnOnce(&VmiFacts) -> Result<Effect, ApiError>,
) -> Reply {
    let Some(vmi) = vm.vmi.as_ref() else {
        return refused(ApiError::not_found(VMI, name));
    };
    from(validate(vmi).map(|effect| vec![effect]), 200)
}

/// `StartVMRequestHandler`.
fn start(vm: &VmFacts, name: &str, paused: bool) -> Reply {
    use KvRunStrategy::*;
    if let Some(vmi) = vm.vmi.as_ref() {
        if !vmi.phase.is_final() && !matches!(vmi.phase, VmiPhase::Unknown | VmiPhase::Unset) {
            return refused(ApiError::conflict(VM, name, "VM is already running"));
        }
    }
    let phase = vm.vmi.as_ref().map(|vmi| vmi.phase);
    let result = match vm.run_strategy {
        // A paused start is a Start request with data (virt-controller then flips the strategy).
        Halted if paused => vm.change_requests(vec![StateChange::Start { paused }]),
        Halted => Ok(vec![vm.running_patch(true)]),
        RerunOnFailure if phase == Some(VmiPhase::Failed) => Err(ApiError::conflict(
            VM,
            name,
            "RerunOnFailure does not support starting VM from failed state",
        )),
        RerunOnFailure | Manual => {
            let restart = match vm.run_strategy {
                RerunOnFailure => phase == Some(VmiPhase::Succeeded),
                _ => phase.is_some_and(VmiPhase::is_final),
            };
            let start = StateChange::Start { paused };
            if restart {
                let stop = StateChange::Stop {
                    vmi: vm.vmi.as_ref().map(|vmi| vmi.generation),
                };
                vm.change_requests(vec![stop, start])
            } else {
                vm.change_requests(vec![start])
            }
        }
        Always | Once => Err(ApiError::conflict(
            VM,
            name,
            format!("{} does not support manual start requests", vm.run_strategy),
        )),
    };
    from(result, 202)
}

/// `StopVMRequestHandler`.
fn stop(vm: &VmFacts, name: &str, grace_period: Option<i64>) -> Reply {
    use KvRunStrategy::*;
    let mut effects = Vec::new();
    let alive = vm.vmi_alive();
    // The VMI's grace period is patched before anything is refused, and stays patched.
    let old_grace = alive.and_then(|vmi| vmi.termination_grace_period_seconds);
    if let (Some(_), Some(grace)) = (alive, grace_period) {
        effects.push(Effect::SetVmiGracePeriod(grace));
    }
    let result = match vm.run_strategy {
        Halted => match (alive, grace_period) {
            (None, _) => Err(ApiError::conflict(VM, name, VM_NOT_RUNNING)),
            (Some(_), Some(grace)) if old_grace.is_none_or(|old| grace < old) => {
                stop_request(vm, alive)
            }
            (Some(_), _) => Err(ApiError::conflict(
                VM,
                name,
                "Halted only supports manual stop requests with a shorter graceperiod",
            )),
        },
        RerunOnFailure | Manual => match alive {
            None => Err(ApiError::conflict(VM, name, VM_NOT_RUNNING)),
            Some(_) => stop_request(vm, alive),
        },
        Always | Once => Ok(vec![vm.running_patch(false)]),
    };
    match result {
        Ok(more) => {
            effects.extend(more);
            accepted(effects, 202)
        }
        Err(e) => Reply {
            effects,
            outcome: Err(e),
        },
    }
}

/// `patchVMStatusStopped`: a Stop request for the VMI that runs.
fn stop_request(vm: &VmFacts, vmi: Option<&VmiFacts>) -> Result<Vec<Effect>, ApiError> {
    vm.change_requests(vec![StateChange::Stop {
        vmi: vmi.map(|vmi| vmi.generation),
    }])
}

/// The restart handler's first check: only no grace period, or 0 (force).
fn restart_grace_refusal(grace_period_seconds: Option<i64>) -> Option<ApiError> {
    match grace_period_seconds {
        Some(g) if g > 0 => Some(ApiError::bad_request(
            "For force restart, only gracePeriod=0 is supported for now",
        )),
        Some(g) if g < 0 => Some(ApiError::bad_request(
            "gracePeriod has to be greater or equal to 0",
        )),
        _ => None,
    }
}

/// `RestartVMRequestHandler`.
fn restart(vm: &VmFacts, name: &str, grace_period_seconds: Option<i64>) -> Reply {
    use KvRunStrategy::*;
    if let Some(e) = restart_grace_refusal(grace_period_seconds) {
        return refused(e);
    }
    if matches!(vm.run_strategy, Halted | Once) {
        // "RunStategy" is KubeVirt's own spelling.
        return refused(ApiError::conflict(
            VM,
            name,
            format!(
                "RunStategy {} does not support manual restart requests",
                vm.run_strategy
            ),
        ));
    }
    let Some(vmi) = vm.vmi.as_ref() else {
        return refused(ApiError::conflict(
            VM,
            name,
            format!("{VM_NOT_RUNNING}: {Halted}"),
        ));
    };
    let changes = vec![
        StateChange::Stop {
            vmi: Some(vmi.generation),
        },
        StateChange::Start { paused: false },
    ];
    let result = vm.change_requests(changes).map(|mut effects| {
        if grace_period_seconds == Some(0) {
            // v1.8: the virt-launcher pod is deleted with grace 1 (v1.9 patches the VMI instead).
            effects.push(Effect::DeleteLauncherPod { grace_seconds: 1 });
        }
        effects
    });
    from(result, 202)
}

/// The printableStatus values in `setPrintableStatus`'s order of precedence (first match wins),
/// then `Unknown`.
pub const PRINTABLE_STATUSES: [&str; 17] = [
    "Terminating",
    "Stopping",
    "Migrating",
    "Paused",
    "Running",
    "ErrorPvcNotFound",
    "DataVolumeError",
    "ErrorUnschedulable",
    "Provisioning",
    "WaitingForVolumeBinding",
    "ErrImagePull",
    "ImagePullBackOff",
    "Starting",
    "CrashLoopBackOff",
    "Stopped",
    "WaitingForReceiver",
    "Unknown",
];

/// `isSetToStart(vm, vmi)`.
pub fn is_set_to_start(vm: &VmFacts) -> bool {
    use KvRunStrategy::*;
    let stop_for_vmi = |vmi: &VmiFacts| {
        vm.state_change_requests.first().is_some_and(
            |r| matches!(r, StateChange::Stop { vmi: v } if v.is_none_or(|g| g == vmi.generation)),
        )
    };
    match (vm.run_strategy, vm.vmi.as_ref()) {
        (Always, _) => true,
        (Halted, _) => false,
        (Manual, Some(vmi)) => !stop_for_vmi(vmi),
        (Manual, None) => vm
            .state_change_requests
            .first()
            .is_some_and(|r| matches!(r, StateChange::Start { .. })),
        (RerunOnFailure, Some(vmi)) => vmi.phase != VmiPhase::Succeeded,
        (RerunOnFailure, None) => true,
        (Once, vmi) => vmi.is_none(),
    }
}

/// `setPrintableStatus`: the first status whose `isVirtualMachineStatus*` function holds.
pub fn printable_status(vm: &VmFacts) -> &'static str {
    let vmi = vm.vmi.as_ref();
    let problem = |p: StartProblem| vmi.is_some_and(|vmi| vmi.problem == Some(p));
    let running = |paused: bool| {
        vmi.is_some_and(|vmi| vmi.phase == VmiPhase::Running && vmi.paused == paused)
    };
    let stop_expected = vm.state_change_requests.first().is_some_and(|r| {
        matches!(r, StateChange::Stop { vmi: v } if vmi.is_some_and(|vmi| v.is_none_or(|g| g == vmi.generation)))
    }) || vm.run_strategy == KvRunStrategy::Halted;
    let checks: [(&'static str, bool); 16] = [
        ("Terminating", vm.deleting),
        (
            "Stopping",
            vmi.is_some_and(|vmi| {
                !vmi.phase.is_final() && (vmi.marked_for_deletion || stop_expected)
            }),
        ),
        ("Migrating", vmi.is_some_and(|vmi| vmi.migrating)),
        ("Paused", running(true)),
        ("Running", running(false)),
        ("ErrorPvcNotFound", problem(StartProblem::PvcNotFound)),
        ("DataVolumeError", vm.volumes.data_volume_error),
        ("ErrorUnschedulable", problem(StartProblem::Unschedulable)),
        ("Provisioning", vm.volumes.provisioning),
        (
            "WaitingForVolumeBinding",
            is_set_to_start(vm) && vm.volumes.unbound_pvc,
        ),
        ("ErrImagePull", problem(StartProblem::ErrImagePull)),
        ("ImagePullBackOff", problem(StartProblem::ImagePullBackOff)),
        (
            "Starting",
            match vmi {
                None => vm.start_expected,
                Some(vmi) => matches!(
                    vmi.phase,
                    VmiPhase::Unset
                        | VmiPhase::Pending
                        | VmiPhase::Scheduling
                        | VmiPhase::Scheduled
                ),
            },
        ),
        (
            "CrashLoopBackOff",
            vmi.is_none_or(|vmi| vmi.phase.is_final())
                && !vm.start_expected
                && vm.start_failures > 0
                && matches!(
                    vm.run_strategy,
                    KvRunStrategy::Always | KvRunStrategy::RerunOnFailure | KvRunStrategy::Once
                ),
        ),
        (
            "Stopped",
            match vmi {
                Some(vmi) => vmi.phase.is_final(),
                None => !vm.start_expected,
            },
        ),
        // WaitAsReceiver is not a strategy the simulator runs.
        ("WaitingForReceiver", false),
    ];
    checks
        .into_iter()
        .find_map(|(status, holds)| holds.then_some(status))
        .unwrap_or("Unknown")
}

#[cfg(test)]
mod tests;
