//! KubeVirt's virt-controller and virt-handler for one VirtualMachine, with a simulated guest.
//!
//! [`VirtVm`] is what a cluster with KubeVirt does with a VM over time: it answers the subresource
//! requests exactly as virt-api does ([`crate::kubevirt::answer`]), keeps `status.stateChangeRequests`,
//! creates and deletes the VirtualMachineInstance as the run strategy and the requests say, moves the
//! VMI through its phases, pauses and unpauses it, and shuts the guest down: by ACPI within the grace
//! period, or killed when the grace period runs out (or at once with grace 0).
//!
//! Pure and clock-driven: the KubeVirt stand-in projects it onto real
//! VirtualMachine/VirtualMachineInstance objects; the sandbox drives it in memory.

use crate::kubevirt::{
    answer, printable_status, ApiError, Effect, KvRunStrategy, Request, StateChange, VmFacts,
    VmiFacts, VmiPhase,
};
use crate::{Guest, Timings};

/// KubeVirt's default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// The longest grace period the clock counts: Go's `time.Duration` (int64 nanoseconds) holds at
/// most this many seconds (about 292 years), so it is the longest wait virt-handler itself can
/// measure; any longer grace period is the same wait in practice. A grace period is still
/// accepted and written to the VMI as given (KubeVirt does); only the deadline is clamped, so a
/// `stop {"gracePeriod": 9223372036854775807}` cannot overflow the millisecond clock.
pub const MAX_COUNTED_GRACE_SECONDS: i64 = i64::MAX / 1_000_000_000;

/// The VirtualMachineInstance as virt-handler keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmi {
    /// 1 for the VM's first VMI, 2 for the next, ...: a new number is a new VMI (a new uid).
    pub generation: u64,
    pub phase: VmiPhase,
    /// Condition `Paused` (reason `PausedByUser`).
    pub paused: bool,
    /// `spec.terminationGracePeriodSeconds`.
    pub grace_period_seconds: i64,
    /// Set while the VMI is being deleted (the guest is shutting down).
    pub shutdown: Option<Shutdown>,
    /// A boot, pause or unpause in progress and when it finishes.
    pending: Option<(Transition, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transition {
    Boot,
    Pause,
    Unpause,
}

/// A shutdown in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shutdown {
    pub began_ms: u64,
    pub ends_at_ms: u64,
    /// The guest is killed at `ends_at_ms` (grace 0, or the grace period ran out) rather than
    /// powering itself off after the ACPI signal.
    pub killed: bool,
}

/// How the last VMI ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest powered off after the ACPI signal.
    ShutDown,
    /// The grace period ran out (or was 0) and the domain was killed.
    Killed,
    /// The guest failed to boot.
    BootFailed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtVm {
    run_strategy: KvRunStrategy,
    requests: Vec<StateChange>,
    vmi: Option<Vmi>,
    /// `spec.template.spec.terminationGracePeriodSeconds`.
    template_grace_seconds: Option<i64>,
    guest: Guest,
    timings: Timings,
    /// Not reconciled yet: Always, RerunOnFailure and Once start the VM on creation.
    fresh: bool,
    /// Waiting out a crash-loop back-off until then.
    crash_loop_until_ms: Option<u64>,
    vmis_created: u64,
    last_exit: Option<Exit>,
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
            requests: Vec::new(),
            vmi: None,
            template_grace_seconds,
            guest,
            timings,
            fresh: true,
            crash_loop_until_ms: None,
            vmis_created: 0,
            last_exit: None,
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
        vm.fresh = false;
        if let Some((generation, paused)) = running_vmi {
            vm.vmis_created = generation;
            vm.vmi = Some(Vmi {
                generation,
                phase: VmiPhase::Running,
                paused,
                grace_period_seconds: vm.template_grace(),
                shutdown: None,
                pending: None,
            });
        }
        vm
    }

    pub fn run_strategy(&self) -> KvRunStrategy {
        self.run_strategy
    }

    /// Someone changed `spec.runStrategy` directly (an edit of the VM, not a subresource call).
    pub fn set_run_strategy(&mut self, run_strategy: KvRunStrategy, now_ms: u64) {
        self.run_strategy = run_strategy;
        self.reconcile(now_ms);
    }

    pub fn set_template_grace(&mut self, seconds: Option<i64>) {
        self.template_grace_seconds = seconds;
    }

    pub fn set_guest(&mut self, guest: Guest) {
        self.guest = guest;
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

    pub fn facts(&self) -> VmFacts {
        VmFacts {
            run_strategy: self.run_strategy,
            vmi: self.vmi.as_ref().map(|vmi| VmiFacts {
                phase: vmi.phase,
                paused: vmi.paused,
                termination_grace_period_seconds: Some(vmi.grace_period_seconds),
                terminating: vmi.shutdown.is_some(),
            }),
            state_change_requests: self.requests.clone(),
        }
    }

    /// The VM's `status.printableStatus`.
    pub fn printable_status(&self) -> &'static str {
        printable_status(false, &self.facts(), self.crash_loop_until_ms.is_some())
    }

    /// `status.ready`: a running, unpaused guest.
    pub fn ready(&self) -> bool {
        self.vmi
            .as_ref()
            .is_some_and(|vmi| vmi.phase == VmiPhase::Running && !vmi.paused)
    }

    /// A subresource request: KubeVirt's answer, and on success its effects, which virt-controller
    /// acts on at once.
    pub fn request(&mut self, request: Request, now_ms: u64) -> Result<(), ApiError> {
        for effect in answer(&self.facts(), request)? {
            self.apply(effect, now_ms);
        }
        self.reconcile(now_ms);
        Ok(())
    }

    fn apply(&mut self, effect: Effect, now_ms: u64) {
        match effect {
            Effect::SetRunStrategy(rs) => self.run_strategy = rs,
            Effect::AppendStateChanges(changes) => self.requests.extend(changes),
            Effect::ReplaceStateChanges(changes) => self.requests = changes,
            Effect::SetVmiGracePeriod(seconds) => {
                let kill_ms = self.timings.kill_ms;
                if let Some(vmi) = self.vmi.as_mut() {
                    vmi.grace_period_seconds = seconds;
                    // virt-handler re-reads the grace period during a shutdown: a shorter one
                    // brings the kill forward.
                    if let Some(shutdown) = vmi.shutdown.as_mut() {
                        let kill_at = if seconds == 0 {
                            now_ms.saturating_add(kill_ms)
                        } else {
                            shutdown
                                .began_ms
                                .saturating_add(grace_ms(seconds))
                                .max(now_ms)
                        };
                        if kill_at < shutdown.ends_at_ms {
                            shutdown.ends_at_ms = kill_at;
                            shutdown.killed = true;
                        }
                    }
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
        }
    }

    /// When [`VirtVm::tick`] next has something to do.
    pub fn next_event_at(&self) -> Option<u64> {
        let vmi = self.vmi.as_ref();
        [
            vmi.and_then(|vmi| vmi.pending.map(|(_, at)| at)),
            vmi.and_then(|vmi| vmi.shutdown.map(|s| s.ends_at_ms)),
            self.crash_loop_until_ms,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to `now_ms`: finishes boots, pauses and shutdowns that are due, then lets
    /// virt-controller react. Returns whether anything visible changed.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        let before = (self.facts(), self.printable_status());
        let boot_fails = self.guest.fails_boot;
        if let Some(vmi) = self.vmi.as_mut() {
            if let Some((transition, at)) = vmi.pending {
                if at <= now_ms {
                    vmi.pending = None;
                    match transition {
                        Transition::Boot if boot_fails => {
                            vmi.phase = VmiPhase::Failed;
                            self.last_exit = Some(Exit::BootFailed);
                        }
                        Transition::Boot => vmi.phase = VmiPhase::Running,
                        Transition::Pause => vmi.paused = true,
                        Transition::Unpause => vmi.paused = false,
                    }
                }
            }
        }
        if let Some(shutdown) = self.vmi.as_ref().and_then(|vmi| vmi.shutdown) {
            if shutdown.ends_at_ms <= now_ms {
                // The domain is gone and virt-handler releases the VMI: it disappears.
                self.vmi = None;
                self.last_exit = Some(if shutdown.killed {
                    Exit::Killed
                } else {
                    Exit::ShutDown
                });
            }
        }
        self.reconcile(now_ms);
        before != (self.facts(), self.printable_status())
    }

    fn template_grace(&self) -> i64 {
        self.template_grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS)
    }

    fn live(&self) -> bool {
        self.vmi.as_ref().is_some_and(|vmi| !vmi.phase.is_final())
    }

    /// virt-controller: state change requests first, then the run strategy.
    fn reconcile(&mut self, now_ms: u64) {
        // Nothing else happens while a VMI is shutting down; requests wait for it to be gone.
        if self.vmi.as_ref().is_some_and(|vmi| vmi.shutdown.is_some()) {
            self.fresh = false;
            return;
        }
        match self.requests.first() {
            Some(StateChange::Stop) if self.live() => {
                self.begin_shutdown(now_ms);
                self.fresh = false;
                return;
            }
            Some(StateChange::Stop) => {
                self.requests.remove(0);
                self.vmi = None;
                self.crash_loop_until_ms = None;
            }
            _ => {}
        }
        if self.requests.first() == Some(&StateChange::Start) {
            self.requests.remove(0);
            if !self.live() {
                self.create_vmi(now_ms);
            }
        }
        let fresh = std::mem::take(&mut self.fresh);
        let failed = self
            .vmi
            .as_ref()
            .is_some_and(|vmi| vmi.phase == VmiPhase::Failed);
        let over = self.vmi.as_ref().is_none_or(|vmi| vmi.phase.is_final());
        match self.run_strategy {
            KvRunStrategy::Halted => {
                self.crash_loop_until_ms = None;
                if self.live() {
                    self.begin_shutdown(now_ms);
                } else {
                    self.vmi = None;
                }
            }
            // Both restart a guest that failed (after a back-off: CrashLoopBackOff); Always also
            // restarts one that ended any other way, RerunOnFailure leaves a stopped VM stopped.
            KvRunStrategy::Always | KvRunStrategy::RerunOnFailure if failed => {
                self.restart_after_failure(now_ms);
            }
            KvRunStrategy::Always if over => self.create_vmi(now_ms),
            KvRunStrategy::RerunOnFailure if fresh && over => self.create_vmi(now_ms),
            KvRunStrategy::Always | KvRunStrategy::RerunOnFailure => {}
            KvRunStrategy::Once => {
                if fresh && over {
                    self.create_vmi(now_ms);
                }
            }
            KvRunStrategy::Manual => {}
        }
    }

    /// Under Always/RerunOnFailure a failed guest gets a new VMI after a back-off (CrashLoopBackOff).
    fn restart_after_failure(&mut self, now_ms: u64) {
        match self.crash_loop_until_ms {
            None => {
                let back_off = self.timings.boot_ms.max(1).saturating_mul(2);
                self.crash_loop_until_ms = Some(now_ms.saturating_add(back_off));
            }
            Some(until) if until > now_ms => {}
            Some(_) => {
                self.crash_loop_until_ms = None;
                self.create_vmi(now_ms);
            }
        }
    }

    fn create_vmi(&mut self, now_ms: u64) {
        self.vmis_created = self.vmis_created.saturating_add(1);
        self.vmi = Some(Vmi {
            generation: self.vmis_created,
            phase: VmiPhase::Scheduling,
            paused: false,
            grace_period_seconds: self.template_grace(),
            shutdown: None,
            pending: Some((
                Transition::Boot,
                now_ms.saturating_add(self.timings.boot_ms),
            )),
        });
    }

    /// virt-controller deletes the VMI; virt-handler sends ACPI and kills the domain when the
    /// grace period runs out (at once with grace 0; a guest that is still booting, is paused, or
    /// ignores ACPI never powers itself off).
    fn begin_shutdown(&mut self, now_ms: u64) {
        let t = self.timings;
        let ignores_acpi = self.guest.ignores_acpi;
        let Some(vmi) = self.vmi.as_mut() else {
            return;
        };
        let grace_ms = grace_ms(vmi.grace_period_seconds);
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
            ends_at_ms: now_ms.saturating_add(after_ms),
            killed,
        });
    }
}

/// A grace period on the millisecond clock: negative counts as 0 (KubeVirt's webhooks refuse
/// negative grace periods; a VM that slipped one through is killed at once), and anything longer
/// than [`MAX_COUNTED_GRACE_SECONDS`] counts as that, so the product cannot overflow.
fn grace_ms(seconds: i64) -> u64 {
    let seconds = u64::try_from(seconds.clamp(0, MAX_COUNTED_GRACE_SECONDS)).unwrap_or(0);
    seconds.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use KvRunStrategy::*;

    const T: Timings = Timings {
        boot_ms: 3_000,
        acpi_shutdown_ms: 4_000,
        kill_ms: 500,
        pause_ms: 1_000,
        unpause_ms: 1_000,
    };

    fn vm(rs: KvRunStrategy, guest: Guest) -> VirtVm {
        VirtVm::new(rs, None, guest, T)
    }

    /// Ticks until nothing is due before `until_ms`; returns the printable statuses seen.
    fn run_until(vm: &mut VirtVm, until_ms: u64) -> Vec<&'static str> {
        let mut seen = vec![vm.printable_status()];
        while let Some(at) = vm.next_event_at().filter(|&at| at <= until_ms) {
            vm.tick(at);
            if seen.last() != Some(&vm.printable_status()) {
                seen.push(vm.printable_status());
            }
        }
        seen
    }

    #[test]
    fn always_and_rerun_on_failure_start_on_creation_manual_and_halted_do_not() {
        for (rs, expect) in [
            (Always, "Running"),
            (RerunOnFailure, "Running"),
            (Once, "Running"),
            (Manual, "Stopped"),
            (Halted, "Stopped"),
        ] {
            let mut v = vm(rs, Guest::default());
            v.tick(0);
            run_until(&mut v, 10_000);
            assert_eq!(v.printable_status(), expect, "{rs}");
        }
    }

    #[test]
    fn manual_start_goes_through_starting_to_running() {
        let mut v = vm(Manual, Guest::default());
        v.tick(0);
        v.request(Request::Start { paused: false }, 0).unwrap();
        assert_eq!(v.printable_status(), "Starting");
        assert!(v.state_change_requests().is_empty());
        assert_eq!(run_until(&mut v, 10_000), ["Starting", "Running"]);
        assert_eq!(
            v.request(Request::Start { paused: false }, 10_000)
                .unwrap_err()
                .code,
            409
        );
    }

    #[test]
    fn stop_under_always_halts_and_the_guest_powers_off_by_acpi() {
        let mut v = vm(Always, Guest::default());
        v.tick(0);
        run_until(&mut v, 5_000);
        v.request(Request::Stop { grace_period: None }, 5_000)
            .unwrap();
        assert_eq!(v.run_strategy(), Halted);
        assert_eq!(v.printable_status(), "Stopping");
        assert_eq!(v.next_event_at(), Some(9_000), "ACPI shutdown takes 4 s");
        assert_eq!(run_until(&mut v, 60_000), ["Stopping", "Stopped"]);
        assert_eq!(v.last_exit(), Some(Exit::ShutDown));
        assert!(v.vmi().is_none());
    }

    #[test]
    fn a_guest_ignoring_acpi_is_killed_when_the_vmi_grace_runs_out() {
        let mut v = VirtVm::new(
            Manual,
            Some(10),
            Guest {
                ignores_acpi: true,
                ..Guest::default()
            },
            T,
        );
        v.request(Request::Start { paused: false }, 0).unwrap();
        run_until(&mut v, 5_000);
        v.request(Request::Stop { grace_period: None }, 5_000)
            .unwrap();
        assert_eq!(v.next_event_at(), Some(15_000));
        // A shorter grace (the force stop) brings the kill forward.
        v.request(
            Request::Stop {
                grace_period: Some(0),
            },
            8_000,
        )
        .unwrap();
        assert_eq!(v.next_event_at(), Some(8_500));
        run_until(&mut v, 60_000);
        assert_eq!(v.printable_status(), "Stopped");
        assert_eq!(v.last_exit(), Some(Exit::Killed));
    }

    #[test]
    fn restart_replaces_the_vmi() {
        let mut v = vm(Manual, Guest::default());
        v.request(Request::Start { paused: false }, 0).unwrap();
        run_until(&mut v, 5_000);
        let first = v.vmi().unwrap().generation;
        v.request(
            Request::Restart {
                grace_period_seconds: None,
            },
            5_000,
        )
        .unwrap();
        assert_eq!(v.printable_status(), "Stopping");
        assert_eq!(
            run_until(&mut v, 60_000),
            ["Stopping", "Starting", "Running"]
        );
        assert_eq!(v.vmi().unwrap().generation, first + 1);
        assert!(v.state_change_requests().is_empty());
    }

    #[test]
    fn pause_and_unpause_take_their_time() {
        let mut v = vm(Always, Guest::default());
        v.tick(0);
        run_until(&mut v, 5_000);
        v.request(Request::Pause, 5_000).unwrap();
        assert_eq!(v.printable_status(), "Running");
        assert_eq!(run_until(&mut v, 60_000), ["Running", "Paused"]);
        assert_eq!(v.request(Request::Pause, 7_000).unwrap_err().code, 409);
        v.request(Request::Unpause, 7_000).unwrap();
        assert_eq!(run_until(&mut v, 60_000), ["Paused", "Running"]);
    }

    #[test]
    fn a_guest_failing_to_boot_crash_loops_under_always_and_stops_under_manual() {
        let broken = Guest {
            fails_boot: true,
            ..Guest::default()
        };
        let mut v = vm(Always, broken);
        v.tick(0);
        v.tick(3_000);
        assert_eq!(v.printable_status(), "CrashLoopBackOff");
        v.tick(9_000);
        assert_eq!(v.printable_status(), "Starting", "retried after back-off");
        // Stopping a crash-looping Always VM halts it.
        v.request(Request::Stop { grace_period: None }, 9_100)
            .unwrap();
        run_until(&mut v, 60_000);
        assert_eq!(v.printable_status(), "Stopped");

        let mut m = vm(Manual, broken);
        m.request(Request::Start { paused: false }, 0).unwrap();
        run_until(&mut m, 60_000);
        assert_eq!(m.vmi().unwrap().phase, VmiPhase::Failed);
        assert_eq!(m.printable_status(), "Stopped");
        m.request(Request::Start { paused: false }, 60_000)
            .expect("a failed VMI is final: start is allowed");
    }

    #[test]
    fn rerun_on_failure_stays_down_after_a_stop() {
        let mut v = vm(RerunOnFailure, Guest::default());
        v.tick(0);
        run_until(&mut v, 5_000);
        v.request(Request::Stop { grace_period: None }, 5_000)
            .unwrap();
        run_until(&mut v, 60_000);
        assert_eq!(v.printable_status(), "Stopped");
        v.tick(120_000);
        assert_eq!(v.printable_status(), "Stopped");
        v.request(Request::Start { paused: false }, 120_000)
            .unwrap();
        run_until(&mut v, 200_000);
        assert_eq!(v.printable_status(), "Running");
    }

    #[test]
    fn huge_grace_periods_are_accepted_as_given_and_counted_up_to_the_clamp() {
        let stubborn = Guest {
            ignores_acpi: true,
            ..Guest::default()
        };
        let mut v = VirtVm::new(Manual, None, stubborn, T);
        v.request(Request::Start { paused: false }, 0).unwrap();
        run_until(&mut v, 5_000);
        v.request(
            Request::Stop {
                grace_period: Some(i64::MAX),
            },
            5_000,
        )
        .expect("KubeVirt accepts any non-negative int64 grace period");
        assert_eq!(
            v.vmi().unwrap().grace_period_seconds,
            i64::MAX,
            "the VMI gets the grace period as given"
        );
        let clamped_ms = u64::try_from(MAX_COUNTED_GRACE_SECONDS).unwrap() * 1000;
        assert_eq!(v.next_event_at(), Some(5_000 + clamped_ms));
        assert_eq!(v.printable_status(), "Stopping");
        // The force stop still brings the kill forward.
        v.request(
            Request::Stop {
                grace_period: Some(0),
            },
            6_000,
        )
        .unwrap();
        assert_eq!(v.next_event_at(), Some(6_500));
        run_until(&mut v, 10_000);
        assert_eq!(v.printable_status(), "Stopped");
        assert_eq!(v.last_exit(), Some(Exit::Killed));
    }

    #[test]
    fn a_template_grace_of_int64_max_or_negative_never_overflows() {
        let stubborn = Guest {
            ignores_acpi: true,
            ..Guest::default()
        };
        // i64::MAX: the guest is killed at the clamped deadline, counted without overflow.
        let mut v = VirtVm::new(Manual, Some(i64::MAX), stubborn, T);
        v.request(Request::Start { paused: false }, 0).unwrap();
        run_until(&mut v, 5_000);
        v.request(Request::Stop { grace_period: None }, 5_000)
            .unwrap();
        let clamped_ms = u64::try_from(MAX_COUNTED_GRACE_SECONDS).unwrap() * 1000;
        assert_eq!(v.next_event_at(), Some(5_000 + clamped_ms));
        run_until(&mut v, u64::MAX);
        assert_eq!(v.printable_status(), "Stopped");
        // Negative (KubeVirt's webhook would refuse it): counted as 0, killed at once.
        let mut v = VirtVm::new(Manual, Some(-1), Guest::default(), T);
        v.request(Request::Start { paused: false }, 0).unwrap();
        run_until(&mut v, 5_000);
        v.request(Request::Stop { grace_period: None }, 5_000)
            .unwrap();
        assert_eq!(v.next_event_at(), Some(5_500));
        assert_eq!(
            v.request(
                Request::Stop {
                    grace_period: Some(-1)
                },
                5_100
            )
            .unwrap_err()
            .code,
            400
        );
    }

    #[test]
    fn deadlines_saturate_at_the_end_of_the_clock() {
        // Every transition started a moment before u64::MAX ms: due "never", no overflow.
        let end = u64::MAX - 10;
        let stubborn = Guest {
            ignores_acpi: true,
            ..Guest::default()
        };
        let mut v = VirtVm::new(Always, Some(i64::MAX), stubborn, T);
        v.tick(end);
        assert_eq!(v.next_event_at(), Some(u64::MAX), "boot due at the end");
        v.tick(u64::MAX);
        assert_eq!(v.printable_status(), "Running");
        v.request(Request::Pause, u64::MAX).unwrap();
        v.tick(u64::MAX);
        v.request(Request::Unpause, u64::MAX).unwrap();
        v.tick(u64::MAX);
        v.request(
            Request::Stop {
                grace_period: Some(i64::MAX),
            },
            u64::MAX,
        )
        .unwrap();
        assert_eq!(v.next_event_at(), Some(u64::MAX));
        v.tick(u64::MAX);
        assert_eq!(v.printable_status(), "Stopped");
        // A crash-loop back-off near the end saturates too.
        let broken = Guest {
            fails_boot: true,
            ..Guest::default()
        };
        let mut b = VirtVm::new(Always, None, broken, T);
        b.tick(end);
        b.tick(u64::MAX);
        assert_eq!(b.printable_status(), "CrashLoopBackOff");
        assert_eq!(b.next_event_at(), Some(u64::MAX));
    }

    #[test]
    fn halted_start_flips_to_always() {
        let mut v = vm(Halted, Guest::default());
        v.tick(0);
        v.request(Request::Start { paused: false }, 0).unwrap();
        assert_eq!(v.run_strategy(), Always);
        assert_eq!(run_until(&mut v, 60_000), ["Starting", "Running"]);
    }
}
