//! A simulated VM: what KubeVirt plus a guest would do with a lifecycle request, over time.
//!
//! The clock is passed in (milliseconds on any monotonic scale), so the behaviour is deterministic
//! and testable without sleeping. The sandbox cluster drives one `SimVm` per Wukong; the KubeVirt
//! stand-in reuses the same model. Whether an action is allowed is never decided here: that is
//! `wukong_lifecycle::check`.

pub mod kubevirt;
pub mod virt;

use wukong_lifecycle::{check, plan, Action, Refusal, RunStrategy, VmState};

/// How long each transition takes. The defaults keep every transition within 10 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub boot_ms: u64,
    /// How long a guest that honours ACPI takes to shut down.
    pub acpi_shutdown_ms: u64,
    pub kill_ms: u64,
    pub pause_ms: u64,
    pub unpause_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            boot_ms: 3_000,
            acpi_shutdown_ms: 4_000,
            kill_ms: 500,
            pause_ms: 1_000,
            unpause_ms: 1_000,
        }
    }
}

impl Timings {
    /// All durations divided by `factor` (tests and demos that want a faster cluster).
    pub fn scaled(self, factor: f64) -> Timings {
        let f = |ms: u64| ((ms as f64) / factor.max(0.001)).round() as u64;
        Timings {
            boot_ms: f(self.boot_ms),
            acpi_shutdown_ms: f(self.acpi_shutdown_ms),
            kill_ms: f(self.kill_ms),
            pause_ms: f(self.pause_ms),
            unpause_ms: f(self.unpause_ms),
        }
    }
}

/// How the simulated guest behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Guest {
    /// The guest ignores the ACPI shutdown signal: a graceful stop is forced at the grace deadline.
    pub ignores_acpi: bool,
    /// The guest never finishes booting (KubeVirt would show CrashLoopBackOff).
    pub fails_boot: bool,
}

/// A transition in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    action: Action,
    done_at_ms: u64,
    /// Set for a graceful stop: when it is forced.
    deadline_ms: Option<u64>,
}

/// What the VM looks like right after a request was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub state: VmState,
    pub run_strategy: RunStrategy,
    /// For a graceful stop, when it will be forced (same clock as `now_ms`).
    pub stop_deadline_ms: Option<u64>,
    pub message: String,
}

/// A transition that finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub action: Action,
    /// `None` when the VM is gone (delete finished).
    pub state: Option<VmState>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimVm {
    state: VmState,
    run_strategy: RunStrategy,
    guest: Guest,
    timings: Timings,
    in_flight: Option<InFlight>,
}

impl SimVm {
    pub fn new(state: VmState, run_strategy: RunStrategy, guest: Guest, timings: Timings) -> Self {
        SimVm {
            state,
            run_strategy,
            guest,
            timings,
            in_flight: None,
        }
    }

    pub fn state(&self) -> VmState {
        self.state
    }

    pub fn run_strategy(&self) -> RunStrategy {
        self.run_strategy
    }

    /// Carries out `action` if the lifecycle rules allow it now. `grace_period_seconds` is the
    /// effective grace of a graceful stop (see `wukong_lifecycle::effective_grace_period`).
    pub fn request(
        &mut self,
        action: Action,
        grace_period_seconds: u32,
        now_ms: u64,
    ) -> Result<Accepted, Refusal> {
        check(action, self.state, self.run_strategy, false)?;
        let plan = plan(action, self.run_strategy);
        let grace_ms = u64::from(grace_period_seconds) * 1000;
        let t = self.timings;
        let (duration_ms, deadline_ms, message) = match action {
            Action::Start => (t.boot_ms, None, "starting".to_owned()),
            Action::Stop if grace_ms == 0 => (
                t.kill_ms,
                None,
                "stopping at once (grace period 0)".to_owned(),
            ),
            Action::Stop => {
                let took = if self.guest.ignores_acpi {
                    grace_ms
                } else {
                    t.acpi_shutdown_ms.min(grace_ms)
                };
                (
                    took,
                    Some(now_ms + grace_ms),
                    format!("ACPI shutdown sent; forced off after {grace_period_seconds} s"),
                )
            }
            Action::ForceStop => (t.kill_ms, None, "force stopping".to_owned()),
            Action::Restart => (t.kill_ms + t.boot_ms, None, "restarting".to_owned()),
            Action::Suspend => (t.pause_ms, None, "pausing".to_owned()),
            Action::Resume => (t.unpause_ms, None, "unpausing".to_owned()),
            Action::Delete => {
                // The finalizer stops the guest gracefully with the VM's own grace, then removes it.
                let took = if !self.state.has_live_guest() {
                    t.kill_ms
                } else if self.guest.ignores_acpi {
                    grace_ms
                } else {
                    t.acpi_shutdown_ms.min(grace_ms)
                };
                (took, None, "deleting: stopping the VM first".to_owned())
            }
        };
        self.state = plan.passes_through;
        self.run_strategy = plan.run_strategy_after;
        self.in_flight = Some(InFlight {
            action,
            done_at_ms: now_ms + duration_ms,
            deadline_ms,
        });
        Ok(Accepted {
            state: self.state,
            run_strategy: self.run_strategy,
            stop_deadline_ms: deadline_ms,
            message,
        })
    }

    /// When `advance` next has something to do.
    pub fn next_event_at(&self) -> Option<u64> {
        self.in_flight.as_ref().map(|f| f.done_at_ms)
    }

    /// Finishes the transition in flight if its time has come.
    pub fn advance(&mut self, now_ms: u64) -> Option<Settled> {
        let flight = self.in_flight.take_if(|f| f.done_at_ms <= now_ms)?;
        let plan = plan(flight.action, self.run_strategy);
        let boots = plan.ends_in == Some(VmState::Running) && flight.action != Action::Resume;
        let (state, message) = if boots && self.guest.fails_boot {
            (
                Some(VmState::Failed),
                "guest failed to boot (CrashLoopBackOff)".to_owned(),
            )
        } else if flight.action == Action::Stop
            && flight.deadline_ms.is_some()
            && self.guest.ignores_acpi
        {
            (
                plan.ends_in,
                "guest ignored ACPI shutdown; forced off at the grace deadline".to_owned(),
            )
        } else {
            let message = match flight.action {
                Action::Stop => "guest shut down cleanly",
                Action::ForceStop => "force stopped",
                Action::Delete => "deleted",
                _ => "done",
            };
            (plan.ends_in, message.to_owned())
        };
        if let Some(s) = state {
            self.state = s;
        }
        Some(Settled {
            action: flight.action,
            state,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(state: VmState, guest: Guest) -> SimVm {
        SimVm::new(state, RunStrategy::Manual, guest, Timings::default())
    }

    #[test]
    fn start_passes_through_starting_to_running() {
        let mut v = vm(VmState::Stopped, Guest::default());
        let a = v.request(Action::Start, 30, 0).unwrap();
        assert_eq!(a.state, VmState::Starting);
        assert_eq!(v.advance(2_999), None);
        let done = v.advance(3_000).unwrap();
        assert_eq!(done.state, Some(VmState::Running));
        assert_eq!(v.next_event_at(), None);
    }

    #[test]
    fn graceful_stop_waits_for_acpi_and_reports_the_deadline() {
        let mut v = vm(VmState::Running, Guest::default());
        let a = v.request(Action::Stop, 30, 1_000).unwrap();
        assert_eq!(
            (a.state, a.stop_deadline_ms),
            (VmState::Stopping, Some(31_000))
        );
        assert_eq!(v.next_event_at(), Some(5_000));
        assert_eq!(v.advance(5_000).unwrap().state, Some(VmState::Stopped));
    }

    #[test]
    fn a_guest_ignoring_acpi_is_forced_at_the_deadline() {
        let mut v = vm(
            VmState::Running,
            Guest {
                ignores_acpi: true,
                ..Guest::default()
            },
        );
        v.request(Action::Stop, 8, 0).unwrap();
        assert_eq!(v.advance(7_999), None);
        let done = v.advance(8_000).unwrap();
        assert_eq!(done.state, Some(VmState::Stopped));
        assert!(done.message.contains("forced"), "{}", done.message);
    }

    #[test]
    fn force_stop_cuts_a_graceful_stop_short() {
        let mut v = vm(
            VmState::Running,
            Guest {
                ignores_acpi: true,
                ..Guest::default()
            },
        );
        v.request(Action::Stop, 600, 0).unwrap();
        v.request(Action::ForceStop, 0, 1_000).unwrap();
        assert_eq!(v.advance(1_500).unwrap().state, Some(VmState::Stopped));
    }

    #[test]
    fn refused_requests_change_nothing() {
        let mut v = vm(VmState::Stopped, Guest::default());
        let before = v.clone();
        assert_eq!(
            v.request(Action::Suspend, 30, 0),
            Err(Refusal::NotRunning(VmState::Stopped))
        );
        assert_eq!(v, before);
    }

    #[test]
    fn a_guest_that_fails_to_boot_ends_failed() {
        let mut v = vm(
            VmState::Stopped,
            Guest {
                fails_boot: true,
                ..Guest::default()
            },
        );
        v.request(Action::Start, 30, 0).unwrap();
        assert_eq!(v.advance(10_000).unwrap().state, Some(VmState::Failed));
    }

    #[test]
    fn suspend_and_resume_round_trip() {
        let mut v = vm(VmState::Running, Guest::default());
        assert_eq!(
            v.request(Action::Suspend, 30, 0).unwrap().state,
            VmState::Suspending
        );
        assert_eq!(v.advance(1_000).unwrap().state, Some(VmState::Suspended));
        assert_eq!(
            v.request(Action::Resume, 30, 1_000).unwrap().state,
            VmState::Resuming
        );
        assert_eq!(v.advance(2_000).unwrap().state, Some(VmState::Running));
    }

    #[test]
    fn stop_under_always_halts_the_vm() {
        let mut v = SimVm::new(
            VmState::Running,
            RunStrategy::Always,
            Guest::default(),
            Timings::default(),
        );
        v.request(Action::Stop, 30, 0).unwrap();
        assert_eq!(v.run_strategy(), RunStrategy::Halted);
    }

    #[test]
    fn every_default_transition_finishes_within_ten_seconds() {
        let t = Timings::default();
        for ms in [
            t.boot_ms,
            t.acpi_shutdown_ms,
            t.kill_ms + t.boot_ms,
            t.pause_ms,
            t.unpause_ms,
        ] {
            assert!(ms <= 10_000);
        }
    }
}
