//! How a Wukong action maps onto KubeVirt, and how KubeVirt's status maps back to a [`VmState`].
//!
//! The lifecycle controller uses this to carry out a request and to report the state; the sandbox
//! uses the same functions against the simulated KubeVirt, so both behave alike.

use crate::{Action, Says, VmState, Vmi};

/// A call to KubeVirt's `subresources.kubevirt.io/v1` API, with the body KubeVirt defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `PUT virtualmachines/{name}/start`, `StartOptions {paused}`.
    Start { paused: bool },
    /// `PUT virtualmachines/{name}/stop`, `StopOptions {gracePeriod}`.
    Stop { grace_period: Option<i64> },
    /// `PUT virtualmachines/{name}/restart`, `RestartOptions {gracePeriodSeconds}` (unset or 0 only).
    Restart { grace_period_seconds: Option<i64> },
    /// `PUT virtualmachineinstances/{name}/pause`.
    Pause,
    /// `PUT virtualmachineinstances/{name}/unpause`.
    Unpause,
    /// `PUT virtualmachineinstances/{name}/softreboot` (virtctl `soft-reboot`).
    SoftReboot,
}

impl Call {
    /// `virtualmachines` or `virtualmachineinstances`.
    pub const fn resource(self) -> &'static str {
        match self {
            Call::Start { .. } | Call::Stop { .. } | Call::Restart { .. } => "virtualmachines",
            Call::Pause | Call::Unpause | Call::SoftReboot => "virtualmachineinstances",
        }
    }

    pub const fn subresource(self) -> &'static str {
        match self {
            Call::Start { .. } => "start",
            Call::Stop { .. } => "stop",
            Call::Restart { .. } => "restart",
            Call::Pause => "pause",
            Call::Unpause => "unpause",
            Call::SoftReboot => "softreboot",
        }
    }
}

/// The call that carries out `action`. `grace_seconds` is the stop's effective grace period
/// (see [`crate::effective_grace_period`]); `vm_grace_seconds` the VM's own
/// `terminationGracePeriodSeconds` (KubeVirt's 30 s when unset). `force` on a restart asks for
/// KubeVirt's force restart.
///
/// A graceful stop only passes its grace period on when it is *longer* than the VM's own, so that
/// KubeVirt does not kill the guest early; a shorter one is enforced by the controller, which
/// forces the stop at its own deadline (whether KubeVirt honours a per-stop grace period has
/// varied between versions, kubevirt#10211).
pub fn call_for(
    action: Action,
    force: bool,
    grace_seconds: u32,
    vm_grace_seconds: i64,
) -> Option<Call> {
    let grace = i64::from(grace_seconds);
    Some(match action {
        Action::Start => Call::Start { paused: false },
        Action::Stop if grace > vm_grace_seconds => Call::Stop {
            grace_period: Some(grace),
        },
        Action::Stop => Call::Stop { grace_period: None },
        Action::ForceStop => Call::Stop {
            grace_period: Some(0),
        },
        Action::Restart => Call::Restart {
            grace_period_seconds: force.then_some(0),
        },
        Action::Suspend => Call::Pause,
        Action::Resume => Call::Unpause,
        Action::Delete => return None,
    })
}

/// The history's outcome for a change of state that no request explains.
pub const UNEXPLAINED_OUTCOME: &str = "NoRequest";
/// The history's action name for it.
pub const UNEXPLAINED_ACTION: &str = "state-change";

/// A change of state that no request explains, for the VM's history; `None` when the
/// change is explained (a request is on its way: the shown state is transitional) or is KubeVirt's
/// own doing (a migration, disks being prepared, a crash-looping VM trying again, first sight).
/// A poweroff inside the guest (Running → Stopped), `virtctl stop` or `pause`, another client's
/// start: each is recorded.
pub fn unexplained_change(shown: VmState, settled: VmState) -> Option<Says> {
    use VmState as S;
    let kubevirts_own = |s: VmState| {
        matches!(
            s,
            S::Unknown | S::Deleting | S::Provisioning | S::Migrating | S::Failed | S::Error
        )
    };
    if shown == settled || shown.is_transitional() || kubevirts_own(shown) {
        return None;
    }
    if matches!(
        settled,
        S::Unknown | S::Deleting | S::Provisioning | S::Migrating
    ) {
        return None;
    }
    Some(Says::Unexplained {
        from: shown,
        to: settled,
    })
}

/// The English of [`Says::ForcedOff`]. Kept as a constant because a status written before codes
/// existed is recognised by it.
pub const FORCED_MESSAGE: &str = "forced off: the guest was still up when the grace period ran out";

/// What was said last, as status has it: the code, when the status has one, and the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Said<'a> {
    pub says: Option<&'a Says>,
    pub message: Option<&'a str>,
}

impl Said<'_> {
    /// The controller forced the stop: by code, or by the words of a status written before codes.
    fn forced(&self) -> bool {
        self.says == Some(&Says::ForcedOff)
            || (self.says.is_none() && self.message.is_some_and(|m| m.starts_with(FORCED_MESSAGE)))
    }
}

/// What to say once a state has settled: a forced stop keeps saying so once the VM is Stopped;
/// an error or a failure says what KubeVirt says ([`Observed::problem`]).
pub fn settled_says(previous: Said<'_>, state: VmState, problem: Option<&Says>) -> Says {
    match problem {
        _ if state == VmState::Stopped && previous.forced() => Says::ForcedOff,
        Some(problem) if matches!(state, VmState::Error | VmState::Failed) => problem.clone(),
        _ => Says::Settled { state },
    }
}

/// What to say after a step: something new when the state settled somewhere else, KubeVirt's
/// reason for an Error that has none yet (a seeded or adopted VM); `None` keeps what was said.
pub fn next_says(
    previous: Said<'_>,
    shown: VmState,
    settled: VmState,
    problem: Option<&Says>,
) -> Option<Says> {
    if settled != shown && !settled.is_transitional() {
        return Some(settled_says(previous, settled, problem));
    }
    match (previous.message, problem) {
        (None, Some(problem)) if settled == VmState::Error => Some(problem.clone()),
        _ => None,
    }
}

/// What KubeVirt shows: the VM's `status.printableStatus`, and its VMI if there is one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed<'a> {
    /// `None` when the VM has no status yet.
    pub printable_status: Option<&'a str>,
    pub vmi: Option<ObservedVmi<'a>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObservedVmi<'a> {
    /// `status.phase` (empty when unset).
    pub phase: &'a str,
    /// The VMI has a deletion timestamp.
    pub deleting: bool,
    /// The message of the condition that keeps it from running (`PodScheduled` or
    /// `Synchronized` False), when there is one.
    pub problem: Option<&'a str>,
}

impl Observed<'_> {
    /// The state for what KubeVirt shows. KubeVirt's own precedence (Stopping over Paused, ...)
    /// is already in printableStatus. Two things are added:
    /// - a final VMI that is still being deleted reads Stopped in KubeVirt, but its stop request
    ///   is still pending (a start now would get "already underway"): Stopping until it is gone;
    /// - a Failed VMI that nobody is deleting (the guest crashed) reads Stopped in KubeVirt, and
    ///   Failed here.
    pub fn state(&self) -> VmState {
        match self.printable_status {
            None => VmState::Unknown,
            Some("Stopped") if self.vmi.is_some_and(|vmi| vmi.deleting) => VmState::Stopping,
            Some("Stopped")
                if self
                    .vmi
                    .is_some_and(|vmi| vmi.phase == "Failed" && !vmi.deleting) =>
            {
                VmState::Failed
            }
            Some(printable) => VmState::from_printable_status(printable),
        }
    }

    pub fn vmi(&self) -> Vmi {
        Vmi::from_phase(self.vmi.map(|vmi| vmi.phase))
    }

    /// For the Error and Failed states, what KubeVirt says: "ErrImagePull: <the condition's
    /// message>", "CrashLoopBackOff" ([`Says::KubeVirtProblem`], KubeVirt's own words), or that
    /// the guest failed ([`Says::GuestFailed`]) when a Failed VMI is all there is to go by.
    pub fn problem(&self) -> Option<Says> {
        let printable = self.printable_status?;
        match self.state() {
            VmState::Error | VmState::Failed if printable != "Stopped" => {
                Some(Says::KubeVirtProblem {
                    detail: match self.vmi.and_then(|vmi| vmi.problem) {
                        Some(message) => format!("{printable}: {message}"),
                        None => printable.to_owned(),
                    },
                })
            }
            VmState::Failed => Some(Says::GuestFailed),
            _ => None,
        }
    }
}

/// How long a transitional state is kept while KubeVirt still shows the state the VM was in
/// before the request (its controllers act asynchronously).
pub const SETTLE_PATIENCE_MS: u64 = 30_000;

/// The state to report. `shown` is the state reported so far (a transitional one after an
/// accepted request), `observed` what KubeVirt shows now, `since_action_ms` the time since the
/// request was carried out, and `same_vmi` whether the VMI is the one that ran when a restart was
/// requested (`None` when not known).
pub fn settle(
    shown: VmState,
    observed: VmState,
    since_action_ms: u64,
    same_vmi: Option<bool>,
) -> VmState {
    use VmState as S;
    let early = since_action_ms < SETTLE_PATIENCE_MS;
    let keep = match (shown, observed) {
        (S::Restarting, S::Stopping | S::Starting | S::Stopped) => true,
        (S::Restarting, S::Running) => early && same_vmi == Some(true),
        // A start on a VM whose last VMI ended first has KubeVirt delete that VMI (Stopping).
        (S::Starting, S::Stopped | S::Stopping) => early,
        // ... and until virt-controller gets to it, the old VMI still reads Failed: only a new
        // VMI's failure is the start's.
        (S::Starting, S::Failed) => early && same_vmi == Some(true),
        // A stop sent while the VM still starts: KubeVirt may show Starting until its controllers
        // get to the stop.
        (S::Stopping, S::Running | S::Suspended | S::Starting) => early,
        (S::Suspending, S::Running) => early,
        (S::Resuming, S::Suspended) => early,
        _ => false,
    };
    if keep {
        shown
    } else {
        observed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VmState as S;

    #[test]
    fn each_action_maps_to_kubevirts_call() {
        assert_eq!(
            call_for(Action::Start, false, 30, 30),
            Some(Call::Start { paused: false })
        );
        assert_eq!(
            call_for(Action::Stop, false, 10, 30),
            Some(Call::Stop { grace_period: None }),
            "a shorter grace is the controller's deadline"
        );
        assert_eq!(
            call_for(Action::Stop, false, 120, 30),
            Some(Call::Stop {
                grace_period: Some(120)
            }),
            "a longer grace is passed on so KubeVirt waits for it"
        );
        assert_eq!(
            call_for(Action::ForceStop, true, 0, 30),
            Some(Call::Stop {
                grace_period: Some(0)
            })
        );
        assert_eq!(
            call_for(Action::Restart, true, 0, 30),
            Some(Call::Restart {
                grace_period_seconds: Some(0)
            })
        );
        assert_eq!(call_for(Action::Suspend, false, 0, 30), Some(Call::Pause));
        assert_eq!(call_for(Action::Resume, false, 0, 30), Some(Call::Unpause));
        assert_eq!(call_for(Action::Delete, false, 0, 30), None);
        assert_eq!(Call::Pause.resource(), "virtualmachineinstances");
        assert_eq!(
            Call::Restart {
                grace_period_seconds: None
            }
            .subresource(),
            "restart"
        );
    }

    #[test]
    fn observed_state_follows_printable_status_and_failed_vmis() {
        let vmi = |phase, deleting| ObservedVmi {
            phase,
            deleting,
            problem: None,
        };
        let o = |p: &'static str, v: Option<ObservedVmi<'static>>| Observed {
            printable_status: Some(p),
            vmi: v,
        };
        // Stopping wins over Paused: KubeVirt says so, and so do we.
        assert_eq!(
            o("Stopping", Some(vmi("Running", true))).state(),
            S::Stopping
        );
        assert_eq!(
            o("Paused", Some(vmi("Running", false))).state(),
            S::Suspended
        );
        // A crash: Failed; a stop forced at its deadline (VMI being deleted): Stopped.
        assert_eq!(o("Stopped", Some(vmi("Failed", false))).state(), S::Failed);
        assert_eq!(o("Stopped", Some(vmi("Failed", true))).state(), S::Stopping);
        assert_eq!(o("Stopped", None).state(), S::Stopped);
        assert_eq!(
            o("Stopped", Some(vmi("Succeeded", false))).state(),
            S::Stopped
        );
        assert_eq!(o("CrashLoopBackOff", None).state(), S::Failed);
        assert_eq!(Observed::default().state(), S::Unknown);
        let pull = Observed {
            printable_status: Some("ErrImagePull"),
            vmi: Some(ObservedVmi {
                phase: "Scheduling",
                deleting: false,
                problem: Some("rpc error: not found"),
            }),
        };
        assert_eq!(pull.state(), S::Error);
        assert_eq!(pull.vmi(), Vmi::Alive);
        let problem = Says::KubeVirtProblem {
            detail: "ErrImagePull: rpc error: not found".to_owned(),
        };
        assert_eq!(pull.problem(), Some(problem.clone()));
        assert_eq!(
            settled_says(Said::default(), S::Error, pull.problem().as_ref()),
            problem
        );
        let crashed = o("Stopped", Some(vmi("Failed", false)));
        assert_eq!(crashed.problem(), Some(Says::GuestFailed));
        assert_eq!(
            o("CrashLoopBackOff", None).problem().map(|s| s.to_string()),
            Some("CrashLoopBackOff".to_owned())
        );
        assert_eq!(o("Running", Some(vmi("Running", false))).problem(), None);
    }

    fn refused_message(action: Action, code: u16, message: &str) -> String {
        Says::kubevirt_refused(action, code, message).to_string()
    }

    #[test]
    fn a_forced_stop_keeps_saying_so_once_stopped() {
        let forced = Says::ForcedOff;
        for previous in [
            Said {
                says: Some(&forced),
                message: Some(FORCED_MESSAGE),
            },
            // A status written before codes existed.
            Said {
                says: None,
                message: Some(FORCED_MESSAGE),
            },
        ] {
            assert_eq!(
                next_says(previous, S::Stopping, S::Stopped, None),
                Some(Says::ForcedOff)
            );
            assert_eq!(
                next_says(previous, S::Stopped, S::Starting, None),
                None,
                "a transitional state keeps what was said"
            );
            assert_eq!(
                next_says(previous, S::Stopping, S::Running, None),
                Some(Says::Settled { state: S::Running })
            );
        }
        let graceful = Says::Settled { state: S::Stopping };
        let said = Said {
            says: Some(&graceful),
            message: Some("the VM is Stopping"),
        };
        assert_eq!(
            next_says(said, S::Stopping, S::Stopped, None),
            Some(Says::Settled { state: S::Stopped })
        );
    }

    #[test]
    fn an_error_with_nothing_said_yet_takes_kubevirts_reason() {
        let problem = Says::KubeVirtProblem {
            detail: "ErrorUnschedulable".to_owned(),
        };
        assert_eq!(
            next_says(Said::default(), S::Error, S::Error, Some(&problem)),
            Some(problem.clone())
        );
        let said = Said {
            says: None,
            message: Some("something"),
        };
        assert_eq!(next_says(said, S::Error, S::Error, Some(&problem)), None);
    }

    #[test]
    fn kubevirts_own_403_reads_differently_from_rbac() {
        let own = refused_message(
            Action::Suspend,
            403,
            "virtualmachineinstance.kubevirt.io \"web\" is forbidden: Pausing VMIs with LivenessProbe is currently not supported",
        );
        assert!(
            own.starts_with("KubeVirt itself refused suspend (403, not a permission problem)"),
            "{own}"
        );
        let rbac = refused_message(
            Action::Suspend,
            403,
            "virtualmachineinstances.subresources.kubevirt.io \"web\" is forbidden: User \"x\" cannot update resource \"virtualmachineinstances/pause\"",
        );
        assert!(rbac.contains("(RBAC)"), "{rbac}");
        assert_eq!(
            refused_message(Action::Start, 409, "VM is already running"),
            "KubeVirt refused start (409): VM is already running"
        );
    }

    #[test]
    fn changes_no_request_explains_are_named() {
        assert!(unexplained_change(S::Running, S::Stopped).is_some_and(|m| m
            .to_string()
            .starts_with("Running → Stopped with no request")));
        assert!(unexplained_change(S::Stopped, S::Starting).is_some());
        assert!(unexplained_change(S::Running, S::Suspended).is_some());
        assert!(unexplained_change(S::Running, S::Failed).is_some());
        // A request on its way, KubeVirt's own doing, first sight: not recorded.
        assert_eq!(unexplained_change(S::Stopping, S::Stopped), None);
        assert_eq!(unexplained_change(S::Running, S::Migrating), None);
        assert_eq!(unexplained_change(S::Migrating, S::Running), None);
        assert_eq!(unexplained_change(S::Provisioning, S::Stopped), None);
        assert_eq!(unexplained_change(S::Failed, S::Starting), None);
        assert_eq!(unexplained_change(S::Unknown, S::Running), None);
        assert_eq!(unexplained_change(S::Running, S::Running), None);
    }

    #[test]
    fn transitional_states_hold_until_kubevirt_moves() {
        assert_eq!(settle(S::Stopping, S::Running, 100, None), S::Stopping);
        assert_eq!(settle(S::Stopping, S::Running, 60_000, None), S::Running);
        assert_eq!(settle(S::Stopping, S::Stopped, 100, None), S::Stopped);
        assert_eq!(settle(S::Stopping, S::Starting, 100, None), S::Stopping);
        assert_eq!(settle(S::Stopping, S::Starting, 60_000, None), S::Starting);
        assert_eq!(settle(S::Restarting, S::Stopping, 100, None), S::Restarting);
        assert_eq!(
            settle(S::Restarting, S::Running, 100, Some(true)),
            S::Restarting
        );
        assert_eq!(
            settle(S::Restarting, S::Running, 100, Some(false)),
            S::Running
        );
        assert_eq!(settle(S::Suspending, S::Suspended, 100, None), S::Suspended);
        assert_eq!(settle(S::Starting, S::Stopping, 100, None), S::Starting);
        // A start on a Failed VM: the old VMI still reads Failed until KubeVirt replaces it; a
        // new VMI that fails is reported at once.
        assert_eq!(settle(S::Starting, S::Failed, 100, Some(true)), S::Starting);
        assert_eq!(settle(S::Starting, S::Failed, 100, Some(false)), S::Failed);
        assert_eq!(settle(S::Starting, S::Failed, 100, None), S::Failed);
        assert_eq!(
            settle(S::Starting, S::Failed, 60_000, Some(true)),
            S::Failed
        );
        assert_eq!(settle(S::Starting, S::Failed, 100, None), S::Failed);
        assert_eq!(settle(S::Running, S::Stopped, 100, None), S::Stopped);
    }
}
