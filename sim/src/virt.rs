//! KubeVirt's virt-controller and virt-handler for one VirtualMachine, with a simulated guest.
//!
//! [`VirtVm`] is what a cluster with KubeVirt v1.8.0 does with a VM over time: it answers the
//! subresource requests exactly as virt-api does ([`crate::kubevirt::answer`]), keeps
//! `status.stateChangeRequests`, creates and deletes the VirtualMachineInstance as the run strategy
//! and the requests say (`syncRunStrategy`, `isTrimFirstChangeRequestNeeded` in
//! `pkg/virt-controller/watch/vm/vm.go`), moves the VMI through its phases, pauses and unpauses it,
//! and shuts the guest down: by ACPI within the grace period, or killed when the grace period runs
//! out (or at once with grace 0). A VMI in a final phase stays as KubeVirt keeps it: Succeeded
//! after a poweroff inside the guest, Failed after a crash, until virt-controller deletes it; one
//! that is being deleted goes a moment after its domain is gone. Early failures back off
//! exponentially (`calculateStartBackoffTime`).
//!
//! Pure and clock-driven: the KubeVirt simulator projects it onto real
//! VirtualMachine/VirtualMachineInstance objects; the sandbox drives it in memory.

use crate::kubevirt::{
    answer, answer_received, is_set_to_start, printable_status, ApiError, Effect, KvRunStrategy,
    Received, Request, StartProblem, StateChange, VmFacts, VmiFacts, VmiPhase, VolumeFacts,
};
use crate::{Guest, Timings};

/// KubeVirt's default `terminationGracePeriodSeconds` (virt-launcher's, when the VMI has none).
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// The longest grace period the clock counts: Go's `time.Duration` (int64 nanoseconds) holds at
/// most this many seconds (about 292 years), so it is the longest wait virt-handler itself can
/// measure; any longer grace period is the same wait in practice. A grace period is still
/// accepted and written to the VMI as given (KubeVirt does); only the deadline is clamped, so a
/// `stop {"gracePeriod": 9223372036854775807}` cannot overflow the millisecond clock.
pub const MAX_COUNTED_GRACE_SECONDS: i64 = i64::MAX / 1_000_000_000;

/// v1.8's force restart deletes the virt-launcher pod with grace 1 s: the domain is gone then.
const LAUNCHER_POD_GRACE_MS: u64 = 1_000;

/// The VirtualMachineInstance as virt-handler keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmi {
    /// 1 for the VM's first VMI, 2 for the next, ...: a new number is a new VMI (a new uid).
    pub generation: u64,
    pub phase: VmiPhase,
    /// Condition `Paused` (reason `PausedByUser`).
    pub paused: bool,
    /// `spec.terminationGracePeriodSeconds`, `None` when unset.
    pub grace_period_seconds: Option<i64>,
    /// Set while the VMI is being deleted (it has a deletion timestamp).
    pub shutdown: Option<Shutdown>,
    /// Why it cannot get going (its conditions), while it waits.
    pub problem: Option<StartProblem>,
    pub migrating: bool,
    pub liveness_probe: bool,
    /// It reached Running at some point (`wasVMIInRunningPhase`).
    pub ran: bool,
    /// Started with `startStrategy: Paused`.
    start_paused: bool,
    /// A boot, pause or unpause in progress and when it finishes.
    pending: Option<(Transition, u64)>,
    migration_ends_ms: Option<u64>,
    poweroff_at_ms: Option<u64>,
    /// The launcher pod was deleted: the domain is gone then.
    pod_gone_at_ms: Option<u64>,
    /// Final and deleted: the object is gone then.
    released_at_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transition {
    Boot,
    Pause,
    Unpause,
}

/// A shutdown in progress (the VMI has a deletion timestamp).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shutdown {
    pub began_ms: u64,
    /// When the domain is gone; `None` once it is (the VMI is final, waiting to be released).
    pub ends_at_ms: Option<u64>,
    /// The guest is killed at `ends_at_ms` (grace 0, or the grace period ran out) rather than
    /// powering itself off after the ACPI signal.
    pub killed: bool,
    /// When a guest that honours the ACPI signal has powered itself off (`None`: it will not).
    pub acpi_done_at_ms: Option<u64>,
}

/// How the last VMI ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest powered off after the ACPI signal.
    ShutDown,
    /// The grace period ran out (or was 0), or the launcher pod was deleted: the domain was killed.
    Killed,
    /// The guest failed to boot.
    BootFailed,
    /// The guest powered itself off (no one asked KubeVirt).
    PoweredOff,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtVm {
    run_strategy: KvRunStrategy,
    /// The VM says `spec.running`, not `spec.runStrategy`.
    uses_running_field: bool,
    /// `status.runStrategy`: what virt-controller last synced (RerunOnFailure starts a VM whose
    /// strategy just changed to it).
    synced_run_strategy: Option<KvRunStrategy>,
    requests: Vec<StateChange>,
    vmi: Option<Vmi>,
    /// `spec.template.spec.terminationGracePeriodSeconds`.
    template_grace_seconds: Option<i64>,
    guest: Guest,
    timings: Timings,
    /// When the VM was first seen (storage timers count from it).
    created_ms: Option<u64>,
    deleting: bool,
    /// `status.startFailure`: consecutive early failures, when to retry, the VMI last counted.
    start_failures: u32,
    retry_after_ms: Option<u64>,
    counted_failure: Option<u64>,
    vmis_created: u64,
    last_exit: Option<Exit>,
    /// No status written yet.
    status_empty: bool,
    /// The latest time the model was moved to (a tick or a request).
    seen_ms: u64,
}

impl VirtVm {
    /// A VirtualMachine that was just created: nothing runs yet.
    pub fn new(
        run_strategy: KvRunStrategy,
        template_grace_seconds: Option<i64>,
        guest: Guest,
        timings: Timings,
    ) -> VirtVm {
        VirtVm {
            run_strategy,
            uses_running_field: false,
            synced_run_strategy: None,
            requests: Vec::new(),
            vmi: None,
            template_grace_seconds,
            guest,
            timings,
            created_ms: None,
            deleting: false,
            start_failures: 0,
            retry_after_ms: None,
            counted_failure: None,
            vmis_created: 0,
            last_exit: None,
            status_empty: true,
            seen_ms: 0,
        }
    }

    /// A VM picked up as found: with a running (or paused) VMI, or none. Nothing is started on
    /// creation (it already happened, or did not).
    pub fn adopt(
        run_strategy: KvRunStrategy,
        template_grace_seconds: Option<i64>,
        guest: Guest,
        timings: Timings,
        running_vmi: Option<(u64, bool)>,
    ) -> VirtVm {
        let mut vm = VirtVm::new(run_strategy, template_grace_seconds, guest, timings);
        vm.synced_run_strategy = Some(run_strategy);
        vm.status_empty = false;
        vm.created_ms = Some(0);
        if let Some((generation, paused)) = running_vmi {
            vm.vmis_created = generation;
            let mut vmi = vm.new_vmi(generation, false);
            vmi.phase = VmiPhase::Running;
            vmi.ran = true;
            vmi.paused = paused;
            vmi.pending = None;
            vmi.problem = None;
            vm.vmi = Some(vmi);
        }
        vm
    }

    /// The VM says `spec.running` rather than `spec.runStrategy`: start and stop flip that field,
    /// and it is left as it is.
    pub fn with_running_field(mut self, uses: bool) -> VirtVm {
        self.uses_running_field = uses;
        self
    }

    pub fn run_strategy(&self) -> KvRunStrategy {
        self.run_strategy
    }

    pub fn uses_running_field(&self) -> bool {
        self.uses_running_field
    }

    /// Someone changed `spec.runStrategy` (or `spec.running`) directly, not through a subresource.
    pub fn set_run_strategy(&mut self, run_strategy: KvRunStrategy, now_ms: u64) {
        self.run_strategy = run_strategy;
        self.reconcile(now_ms);
    }

    pub fn set_template_grace(&mut self, seconds: Option<i64>) {
        self.template_grace_seconds = seconds;
    }

    pub fn set_guest(&mut self, guest: Guest, now_ms: u64) {
        self.guest = guest;
        self.reconcile(now_ms);
    }

    pub fn guest(&self) -> Guest {
        self.guest
    }

    /// The VM got a deletion timestamp: virt-controller stops its VMI, then lets it go.
    pub fn set_deleting(&mut self, now_ms: u64) {
        self.deleting = true;
        self.reconcile(now_ms);
    }

    /// Deleted and its VMI gone: KubeVirt removes its finalizer.
    pub fn gone(&self) -> bool {
        self.deleting && self.vmi.is_none()
    }

    pub fn state_change_requests(&self) -> &[StateChange] {
        &self.requests
    }

    pub fn vmi(&self) -> Option<&Vmi> {
        self.vmi.as_ref()
    }

    pub fn last_exit(&self) -> Option<Exit> {
        self.last_exit
    }

    /// `status.startFailure`: (consecutive failures, retry after), when there is one.
    pub fn start_failure(&self) -> Option<(u32, Option<u64>)> {
        (self.start_failures > 0).then_some((self.start_failures, self.retry_after_ms))
    }

    fn volumes(&self, now_ms: u64) -> VolumeFacts {
        let since = now_ms.saturating_sub(self.created_ms.unwrap_or(now_ms));
        VolumeFacts {
            provisioning: self.guest.provisioning_ms.is_some_and(|ms| since < ms),
            data_volume_error: self.guest.data_volume_error,
            unbound_pvc: self.guest.unbound_pvc_ms.is_some_and(|ms| since < ms),
        }
    }

    /// What virt-api and virt-controller see at `now_ms`.
    pub fn facts_at(&self, now_ms: u64) -> VmFacts {
        VmFacts {
            run_strategy: self.run_strategy,
            uses_running_field: self.uses_running_field,
            deleting: self.deleting,
            vmi: self.vmi.as_ref().map(|vmi| VmiFacts {
                generation: vmi.generation,
                phase: vmi.phase,
                paused: vmi.paused,
                termination_grace_period_seconds: vmi.grace_period_seconds,
                marked_for_deletion: vmi.shutdown.is_some(),
                migrating: vmi.migrating,
                problem: vmi.problem,
                liveness_probe: vmi.liveness_probe,
            }),
            state_change_requests: self.requests.clone(),
            start_failures: self.start_failures,
            start_expected: false,
            volumes: self.volumes(now_ms),
            status_empty: self.status_empty,
        }
    }

    /// The VM's `status.printableStatus` at `now_ms`.
    pub fn printable_status_at(&self, now_ms: u64) -> &'static str {
        printable_status(&self.facts_at(now_ms))
    }

    /// What virt-api and virt-controller see now (as of the last tick or request).
    pub fn facts(&self) -> VmFacts {
        self.facts_at(self.seen_ms)
    }

    /// The VM's `status.printableStatus` now (as of the last tick or request).
    pub fn printable_status(&self) -> &'static str {
        self.printable_status_at(self.seen_ms)
    }

    /// `status.ready`: a running, unpaused guest.
    pub fn ready(&self) -> bool {
        self.vmi
            .as_ref()
            .is_some_and(|vmi| vmi.phase == VmiPhase::Running && !vmi.paused)
    }

    /// A subresource request: KubeVirt's answer (202 or 200, or its refusal), and its effects,
    /// which virt-controller acts on at once. A refused stop may still have changed the VMI's
    /// grace period, as in KubeVirt.
    pub fn request(&mut self, request: Request, name: &str, now_ms: u64) -> Result<u16, ApiError> {
        self.seen_ms = self.seen_ms.max(now_ms);
        self.created_ms.get_or_insert(now_ms);
        let reply = answer(&self.facts_at(now_ms), name, request);
        self.carry_out(reply, now_ms)
    }

    /// A request as virt-api received it (its body possibly unreadable): answered in the handler's
    /// own order ([`answer_received`]), then carried out like [`VirtVm::request`].
    pub fn receive(
        &mut self,
        received: Received,
        name: &str,
        now_ms: u64,
    ) -> Result<u16, ApiError> {
        let outcome = self.accept(received, name, now_ms);
        self.settle(now_ms);
        outcome
    }

    /// [`VirtVm::receive`]'s first step, virt-api's: the answer and what virt-api itself writes
    /// (the run strategy, or a state change request in the VM's status). A server that writes the
    /// model out answers the call once this is written, as virt-api answers once its patch lands;
    /// [`VirtVm::settle`] must follow at once.
    pub fn accept(&mut self, received: Received, name: &str, now_ms: u64) -> Result<u16, ApiError> {
        self.seen_ms = self.seen_ms.max(now_ms);
        self.created_ms.get_or_insert(now_ms);
        let reply = answer_received(Some(&self.facts_at(now_ms)), name, received);
        for effect in reply.effects {
            self.apply(effect, now_ms);
        }
        reply.outcome
    }

    /// [`VirtVm::receive`]'s second step, virt-controller's: what it does about the VM now (create,
    /// stop or replace the VMI, trim the state change requests it carried out).
    pub fn settle(&mut self, now_ms: u64) {
        self.reconcile(now_ms);
    }

    fn carry_out(&mut self, reply: crate::kubevirt::Reply, now_ms: u64) -> Result<u16, ApiError> {
        for effect in reply.effects {
            self.apply(effect, now_ms);
        }
        self.reconcile(now_ms);
        reply.outcome
    }

    fn apply(&mut self, effect: Effect, now_ms: u64) {
        match effect {
            Effect::SetRunStrategy(rs) => self.run_strategy = rs,
            Effect::SetRunning(running) => {
                self.run_strategy = if running {
                    KvRunStrategy::Always
                } else {
                    KvRunStrategy::Halted
                }
            }
            Effect::AddStateChanges(changes) => self.requests.extend(changes),
            Effect::ReplaceStateChanges(changes) => self.requests = changes,
            Effect::ClearStartFailure => {
                // lastFailedVMIUID goes with it: the same failed VMI may be counted again.
                self.start_failures = 0;
                self.retry_after_ms = None;
                self.counted_failure = None;
            }
            Effect::SetVmiGracePeriod(seconds) => {
                let kill_ms = self.timings.kill_ms;
                if let Some(vmi) = self.vmi.as_mut() {
                    vmi.grace_period_seconds = Some(seconds);
                    // virt-handler re-reads the grace period on every pass of a shutdown
                    // (`hasGracePeriodExpired`, counted from its start): a shorter one brings the
                    // kill forward, a longer one puts it off.
                    if let Some(shutdown) = vmi.shutdown.as_mut() {
                        if shutdown.ends_at_ms.is_some() {
                            let kill_at = if seconds <= 0 {
                                now_ms.saturating_add(kill_ms)
                            } else {
                                shutdown
                                    .began_ms
                                    .saturating_add(grace_ms(seconds))
                                    .max(now_ms)
                            };
                            let (ends_at, killed) = match shutdown.acpi_done_at_ms {
                                Some(acpi) if acpi <= kill_at => (acpi, false),
                                _ => (kill_at, true),
                            };
                            shutdown.ends_at_ms = Some(ends_at);
                            shutdown.killed = killed;
                        }
                    }
                }
            }
            Effect::DeleteLauncherPod { grace_seconds } => {
                // `findPod` looks for the launcher pod in phase Running only.
                if let Some(vmi) = self
                    .vmi
                    .as_mut()
                    .filter(|vmi| vmi.phase == VmiPhase::Running)
                {
                    let after = u64::try_from(grace_seconds).map_or(0, |s| s.saturating_mul(1000));
                    vmi.pod_gone_at_ms =
                        Some(now_ms.saturating_add(after.min(LAUNCHER_POD_GRACE_MS)));
                }
            }
            Effect::PauseVmi => {
                if let Some(vmi) = self.vmi.as_mut() {
                    let at = now_ms.saturating_add(self.timings.pause_ms);
                    vmi.pending = Some((Transition::Pause, at));
                }
            }
            Effect::UnpauseVmi => {
                if let Some(vmi) = self.vmi.as_mut() {
                    let at = now_ms.saturating_add(self.timings.unpause_ms);
                    vmi.pending = Some((Transition::Unpause, at));
                }
            }
            // The guest reboots inside the same VMI; its phase stays Running.
            Effect::SoftReboot => {}
        }
    }

    /// When [`VirtVm::tick`] next has something to do.
    pub fn next_event_at(&self) -> Option<u64> {
        let vmi = self.vmi.as_ref();
        let created = self.created_ms.unwrap_or(0);
        // Storage timers and the back-off are due once; after that they are facts, not events.
        let seen = self.seen_ms;
        let storage = [self.guest.provisioning_ms, self.guest.unbound_pvc_ms]
            .into_iter()
            .flatten()
            .map(|ms| created.saturating_add(ms))
            .filter(|&at| self.created_ms.is_some() && at > seen);
        let retry = self
            .retry_after_ms
            .filter(|&at| self.vmi.is_none() && self.wants_vmi() && at > seen);
        [
            vmi.and_then(|vmi| vmi.pending.map(|(_, at)| at)),
            vmi.and_then(|vmi| vmi.shutdown.and_then(|s| s.ends_at_ms)),
            vmi.and_then(|vmi| vmi.migration_ends_ms),
            vmi.and_then(|vmi| vmi.poweroff_at_ms),
            vmi.and_then(|vmi| vmi.pod_gone_at_ms),
            vmi.and_then(|vmi| vmi.released_at_ms),
            retry,
        ]
        .into_iter()
        .flatten()
        .chain(storage)
        .min()
    }

    /// Advances to `now_ms`: finishes what is due inside the guest and the domain, then lets
    /// virt-controller react. Returns whether anything visible changed.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        let before = (self.facts(), self.printable_status());
        self.seen_ms = self.seen_ms.max(now_ms);
        self.created_ms.get_or_insert(now_ms);
        self.advance_guest(now_ms);
        self.reconcile(now_ms);
        before != (self.facts(), self.printable_status())
    }

    /// virt-handler and the guest.
    fn advance_guest(&mut self, now_ms: u64) {
        let guest = self.guest;
        let Some(vmi) = self.vmi.as_mut() else {
            return;
        };
        let mut exit = None;
        if let Some((transition, _)) = vmi.pending.filter(|&(_, at)| at <= now_ms) {
            vmi.pending = None;
            match transition {
                Transition::Boot if guest.fails_boot => {
                    vmi.phase = VmiPhase::Failed;
                    exit = Some(Exit::BootFailed);
                }
                Transition::Boot => {
                    vmi.phase = VmiPhase::Running;
                    vmi.ran = true;
                    vmi.paused = vmi.start_paused;
                    vmi.poweroff_at_ms =
                        guest.poweroff_after_ms.map(|ms| now_ms.saturating_add(ms));
                    if let Some(ms) = guest.migration_ms {
                        vmi.migrating = true;
                        vmi.migration_ends_ms = Some(now_ms.saturating_add(ms));
                    }
                }
                Transition::Pause => vmi.paused = true,
                Transition::Unpause => vmi.paused = false,
            }
        }
        if vmi.migration_ends_ms.is_some_and(|at| at <= now_ms) {
            vmi.migration_ends_ms = None;
            vmi.migrating = false;
        }
        let live = !vmi.phase.is_final();
        if live && vmi.shutdown.is_none() && vmi.poweroff_at_ms.is_some_and(|at| at <= now_ms) {
            vmi.poweroff_at_ms = None;
            vmi.phase = VmiPhase::Succeeded;
            exit = Some(Exit::PoweredOff);
        }
        if live && vmi.pod_gone_at_ms.is_some_and(|at| at <= now_ms) {
            vmi.pod_gone_at_ms = None;
            vmi.phase = VmiPhase::Failed;
            exit = Some(Exit::Killed);
            if let Some(shutdown) = vmi.shutdown.as_mut() {
                shutdown.ends_at_ms = None;
            }
        }
        if let Some(shutdown) = vmi.shutdown.as_mut() {
            if shutdown.ends_at_ms.is_some_and(|at| at <= now_ms) && !vmi.phase.is_final() {
                shutdown.ends_at_ms = None;
                // The domain is gone: KubeVirt records how, then releases the VMI.
                let (phase, how) = if shutdown.killed {
                    (VmiPhase::Failed, Exit::Killed)
                } else {
                    (VmiPhase::Succeeded, Exit::ShutDown)
                };
                vmi.phase = phase;
                exit = Some(how);
            }
        }
        if vmi.phase.is_final() {
            vmi.pending = None;
            vmi.migrating = false;
            vmi.migration_ends_ms = None;
            vmi.poweroff_at_ms = None;
            vmi.pod_gone_at_ms = None;
            if vmi.shutdown.is_some() && vmi.released_at_ms.is_none() {
                vmi.released_at_ms = Some(now_ms.saturating_add(self.timings.release_ms));
            }
        }
        if exit.is_some() {
            self.last_exit = exit;
        }
        if self
            .vmi
            .as_ref()
            .is_some_and(|vmi| vmi.released_at_ms.is_some_and(|at| at <= now_ms))
        {
            self.vmi = None;
        }
    }

    fn template_grace(&self) -> Option<i64> {
        self.template_grace_seconds
    }

    fn has_start_request(&self) -> bool {
        matches!(self.requests.first(), Some(StateChange::Start { .. }))
    }

    fn stop_requested_for_vmi(&self) -> bool {
        match (self.requests.first(), self.vmi.as_ref()) {
            (Some(StateChange::Stop { vmi: Some(g) }), Some(vmi)) => *g == vmi.generation,
            _ => false,
        }
    }

    /// Whether virt-controller would create a VMI if none existed (for the back-off timer).
    fn wants_vmi(&self) -> bool {
        match self.run_strategy {
            KvRunStrategy::Always | KvRunStrategy::Once => true,
            KvRunStrategy::RerunOnFailure | KvRunStrategy::Manual => self.has_start_request(),
            KvRunStrategy::Halted => false,
        }
    }

    /// virt-controller's sync, repeated until it settles (KubeVirt re-queues on its own writes).
    fn reconcile(&mut self, now_ms: u64) {
        for _ in 0..4 {
            let before = (self.requests.clone(), self.vmi.clone(), self.run_strategy);
            self.sync(now_ms);
            if before == (self.requests.clone(), self.vmi.clone(), self.run_strategy) {
                break;
            }
        }
        self.synced_run_strategy = Some(self.run_strategy);
        self.status_empty = false;
    }

    fn sync(&mut self, now_ms: u64) {
        use KvRunStrategy::*;
        self.sync_start_failure(now_ms);
        // The VMI's stuck reason follows the guest's annotation while it waits to be scheduled.
        let problem = self.guest.start_problem;
        let boot_ms = self.timings.boot_ms;
        if let Some(vmi) = self
            .vmi
            .as_mut()
            .filter(|vmi| vmi.phase == VmiPhase::Scheduling && vmi.shutdown.is_none())
        {
            if vmi.problem != problem || (problem.is_none() && vmi.pending.is_none()) {
                vmi.problem = problem;
                vmi.pending = problem
                    .is_none()
                    .then(|| (Transition::Boot, now_ms.saturating_add(boot_ms)));
            }
        }
        self.trim_first_change_request();
        if self.deleting {
            if let Some(vmi) = self.vmi.as_ref() {
                if vmi.shutdown.is_none() {
                    self.stop_vmi(now_ms);
                }
            }
            return;
        }
        let Some(vmi) = self.vmi.as_ref() else {
            let start = match self.run_strategy {
                Always | Once => true,
                // Coming from another strategy starts the VM, as does a start request.
                RerunOnFailure => {
                    self.has_start_request() || self.synced_run_strategy != Some(RerunOnFailure)
                }
                Manual => self.has_start_request(),
                Halted => {
                    if self.has_start_request() {
                        // A paused start on a Halted VM: virt-controller flips the strategy.
                        self.run_strategy = Always;
                    }
                    false
                }
            };
            // Only Always and RerunOnFailure wait out the back-off (syncRunStrategy).
            let backing_off = matches!(self.run_strategy, Always | RerunOnFailure)
                && self.retry_after_ms.is_some_and(|at| at > now_ms);
            if start && !backing_off {
                self.start_vmi(now_ms);
            }
            return;
        };
        let final_phase = vmi.phase.is_final();
        let marked = vmi.shutdown.is_some();
        let phase = vmi.phase;
        let stop_for_vmi = self.stop_requested_for_vmi();
        match self.run_strategy {
            Always => {
                if stop_for_vmi || final_phase {
                    self.stop_vmi(now_ms);
                }
            }
            RerunOnFailure => {
                if !marked && (stop_for_vmi || final_phase) {
                    self.stop_vmi(now_ms);
                    if phase == VmiPhase::Failed {
                        self.requests.push(StateChange::Start { paused: false });
                    }
                }
            }
            Manual => {
                if stop_for_vmi {
                    self.stop_vmi(now_ms);
                }
            }
            Halted => self.stop_vmi(now_ms),
            Once => {}
        }
    }

    /// `isTrimFirstChangeRequestNeeded`: a stop whose VMI is gone, a start whose VMI exists.
    fn trim_first_change_request(&mut self) {
        let trim = match (self.requests.first(), self.vmi.as_ref()) {
            (Some(StateChange::Stop { .. }), None) => true,
            (Some(StateChange::Stop { vmi: None }), Some(_)) => true,
            (Some(StateChange::Stop { vmi: Some(g) }), Some(vmi)) => *g != vmi.generation,
            (Some(StateChange::Start { .. }), Some(vmi)) => {
                vmi.shutdown.is_none() && !vmi.phase.is_final()
            }
            _ => false,
        };
        if trim {
            self.requests.remove(0);
        }
    }

    /// `syncStartFailureStatus`: a VMI that ended without ever running counts as a start
    /// failure, with an exponential back-off; one that ran clears the count.
    fn sync_start_failure(&mut self, now_ms: u64) {
        use KvRunStrategy::*;
        let restarts = matches!(self.run_strategy, Always | RerunOnFailure | Once);
        let Some(vmi) = self.vmi.as_ref() else {
            // shouldClearStartFailure(vm, nil): only the restarting strategies keep the count.
            if !restarts {
                self.start_failures = 0;
                self.retry_after_ms = None;
            }
            return;
        };
        if vmi.ran || !restarts {
            self.start_failures = 0;
            self.retry_after_ms = None;
            self.counted_failure = None;
        } else if vmi.phase.is_final() && self.counted_failure != Some(vmi.generation) {
            self.counted_failure = Some(vmi.generation);
            self.start_failures = self.start_failures.saturating_add(1);
            let backoff = self.timings.backoff_ms(self.start_failures);
            self.retry_after_ms = Some(now_ms.saturating_add(backoff));
        }
    }

    fn new_vmi(&self, generation: u64, start_paused: bool) -> Vmi {
        Vmi {
            generation,
            phase: VmiPhase::Scheduling,
            paused: false,
            grace_period_seconds: self.template_grace(),
            shutdown: None,
            problem: self.guest.start_problem,
            migrating: false,
            liveness_probe: self.guest.liveness_probe,
            ran: false,
            start_paused,
            pending: None,
            migration_ends_ms: None,
            poweroff_at_ms: None,
            pod_gone_at_ms: None,
            released_at_ms: None,
        }
    }

    /// `startVMI`: a new VMI, unless the storage is not ready (DataVolumes importing or failed,
    /// a PVC unbound), in which case virt-controller waits.
    fn start_vmi(&mut self, now_ms: u64) {
        let volumes = self.volumes(now_ms);
        if volumes.provisioning || volumes.data_volume_error {
            return;
        }
        let paused = matches!(
            self.requests.first(),
            Some(StateChange::Start { paused: true })
        );
        self.vmis_created = self.vmis_created.saturating_add(1);
        let mut vmi = self.new_vmi(self.vmis_created, paused);
        if vmi.problem.is_none() && !volumes.unbound_pvc {
            vmi.pending = Some((
                Transition::Boot,
                now_ms.saturating_add(self.timings.boot_ms),
            ));
        }
        self.vmi = Some(vmi);
    }

    /// `stopVMI`: virt-controller deletes the VMI. A live one shuts down (virt-handler sends ACPI
    /// and kills the domain when the grace period runs out; at once with grace 0; a guest that is
    /// still booting, is paused, or ignores ACPI never powers itself off); a final one is released.
    fn stop_vmi(&mut self, now_ms: u64) {
        let t = self.timings;
        let ignores_acpi = self.guest.ignores_acpi;
        let Some(vmi) = self.vmi.as_mut() else {
            return;
        };
        if vmi.shutdown.is_some() {
            return;
        }
        if vmi.phase.is_final() {
            vmi.shutdown = Some(Shutdown {
                began_ms: now_ms,
                ends_at_ms: None,
                killed: false,
                acpi_done_at_ms: None,
            });
            vmi.released_at_ms = Some(now_ms.saturating_add(t.release_ms));
            return;
        }
        let grace_ms = grace_ms(vmi.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS));
        let cooperative = !ignores_acpi && !vmi.paused && vmi.phase == VmiPhase::Running;
        let (after_ms, killed) = if grace_ms == 0 || vmi.phase != VmiPhase::Running {
            (t.kill_ms, true)
        } else if cooperative && t.acpi_shutdown_ms <= grace_ms {
            (t.acpi_shutdown_ms, false)
        } else {
            (grace_ms, true)
        };
        vmi.pending = None;
        vmi.shutdown = Some(Shutdown {
            began_ms: now_ms,
            // Saturates: a deadline past the end of the clock is "never" (u64::MAX ms is
            // 584 million years of uptime).
            ends_at_ms: Some(now_ms.saturating_add(after_ms)),
            killed,
            acpi_done_at_ms: cooperative.then(|| now_ms.saturating_add(t.acpi_shutdown_ms)),
        });
    }

    /// Whether the VM is set to run (`isSetToStart`).
    pub fn set_to_start(&self, now_ms: u64) -> bool {
        is_set_to_start(&self.facts_at(now_ms))
    }
}

/// A grace period on the millisecond clock: negative counts as 0 (virt-launcher kills at once),
/// and anything longer than [`MAX_COUNTED_GRACE_SECONDS`] counts as that, so the product cannot
/// overflow.
fn grace_ms(seconds: i64) -> u64 {
    let seconds = u64::try_from(seconds.clamp(0, MAX_COUNTED_GRACE_SECONDS)).unwrap_or(0);
    seconds.saturating_mul(1000)
}

#[cfg(test)]
mod tests;
