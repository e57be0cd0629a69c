//! Which action is allowed from which state under which run strategy, and what it passes through.

use crate::{Action, RunStrategy, VmState};
use std::fmt;

/// Why an action cannot be carried out now, in words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Refusal {
    /// The Wukong is being deleted.
    Deleting,
    /// An earlier request has not been picked up yet (KubeVirt: "already underway").
    RequestPending,
    /// KubeVirt: "VM is already running".
    AlreadyRunning,
    /// KubeVirt: "... does not support manual start requests".
    ManualStartUnsupported(RunStrategy),
    /// Nothing is running that the action could act on.
    NotRunning(VmState),
    /// The VM is on its way to another state; wait for it.
    InTransition(VmState),
    /// A graceful stop is already running; only a force stop can cut it short.
    AlreadyStopping,
    /// `Halted` VMs are already on their way down: only a force stop is news.
    Halted,
    /// KubeVirt: "RunStategy ... does not support manual restart requests" (Halted, Once).
    NoManualRestart(RunStrategy),
    /// KubeVirt: "RerunOnFailure does not support starting VM from failed state".
    RerunOnFailureFailed,
    AlreadySuspended,
    NotSuspended(VmState),
    /// The console cannot tell what the VM is doing.
    StateUnknown,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Deleting => f.write_str("the VM is being deleted"),
            Refusal::RequestPending => f.write_str(
                "an earlier request for this VM is still being carried out; wait for it to finish",
            ),
            Refusal::AlreadyRunning => f.write_str("the VM is already running"),
            Refusal::ManualStartUnsupported(rs) => write!(
                f,
                "run strategy {rs} does not support manual start requests; KubeVirt starts the VM itself"
            ),
            Refusal::NotRunning(state) => write!(f, "the VM is not running (it is {state})"),
            Refusal::InTransition(state) => {
                write!(f, "the VM is {state}; wait until it has finished")
            }
            Refusal::AlreadyStopping => f.write_str(
                "the VM is already stopping gracefully; use Force stop to cut the grace period short",
            ),
            Refusal::Halted => f.write_str(
                "run strategy Halted is already stopping this VM; use Force stop to cut it short",
            ),
            Refusal::NoManualRestart(rs) => {
                write!(f, "run strategy {rs} does not support manual restart requests")
            }
            Refusal::RerunOnFailureFailed => f.write_str(
                "run strategy RerunOnFailure does not start a VM whose guest failed; use Restart",
            ),
            Refusal::AlreadySuspended => f.write_str("the VM is already suspended"),
            Refusal::NotSuspended(state) => write!(f, "the VM is not suspended (it is {state})"),
            Refusal::StateUnknown => f.write_str(
                "the VM's state is unknown; check the VM in the cluster",
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// The params key of the state a refusal names ([`Refusal::NotRunning`], ...).
pub const REFUSAL_STATE_KEY: &str = "refusalState";
/// The params key of the run strategy a refusal names ([`Refusal::NoManualRestart`], ...).
pub const RUN_STRATEGY_KEY: &str = "runStrategy";

impl Refusal {
    /// Every refusal's name, as [`Refusal::code`] gives it.
    pub const CODES: [&'static str; 13] = [
        "Deleting",
        "RequestPending",
        "AlreadyRunning",
        "ManualStartUnsupported",
        "NotRunning",
        "InTransition",
        "AlreadyStopping",
        "Halted",
        "NoManualRestart",
        "RerunOnFailureFailed",
        "AlreadySuspended",
        "NotSuspended",
        "StateUnknown",
    ];

    /// A stable name, so that a console can word the refusal in its own language
    /// ([`crate::Says::Refused`] carries it; the English words stay in `Display`).
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::Deleting => "Deleting",
            Refusal::RequestPending => "RequestPending",
            Refusal::AlreadyRunning => "AlreadyRunning",
            Refusal::ManualStartUnsupported(_) => "ManualStartUnsupported",
            Refusal::NotRunning(_) => "NotRunning",
            Refusal::InTransition(_) => "InTransition",
            Refusal::AlreadyStopping => "AlreadyStopping",
            Refusal::Halted => "Halted",
            Refusal::NoManualRestart(_) => "NoManualRestart",
            Refusal::RerunOnFailureFailed => "RerunOnFailureFailed",
            Refusal::AlreadySuspended => "AlreadySuspended",
            Refusal::NotSuspended(_) => "NotSuspended",
            Refusal::StateUnknown => "StateUnknown",
        }
    }

    /// What the refusal names besides its code, as (params key, value): the state under
    /// [`REFUSAL_STATE_KEY`], the run strategy under [`RUN_STRATEGY_KEY`]; `None` for the rest.
    pub const fn param(self) -> Option<(&'static str, &'static str)> {
        match self {
            Refusal::NotRunning(state)
            | Refusal::InTransition(state)
            | Refusal::NotSuspended(state) => Some((REFUSAL_STATE_KEY, state.as_str())),
            Refusal::ManualStartUnsupported(rs) | Refusal::NoManualRestart(rs) => {
                Some((RUN_STRATEGY_KEY, rs.as_str()))
            }
            _ => None,
        }
    }

    /// The refusal for `code` and `param` (the value [`Refusal::param`] gave, when the code names
    /// one); `None` for an unknown code or a missing or unknown state or run strategy.
    pub fn from_code(code: &str, param: Option<&str>) -> Option<Refusal> {
        let state = || param.and_then(VmState::parse);
        let run_strategy = || param.and_then(RunStrategy::parse);
        Some(match code {
            "Deleting" => Refusal::Deleting,
            "RequestPending" => Refusal::RequestPending,
            "AlreadyRunning" => Refusal::AlreadyRunning,
            "ManualStartUnsupported" => Refusal::ManualStartUnsupported(run_strategy()?),
            "NotRunning" => Refusal::NotRunning(state()?),
            "InTransition" => Refusal::InTransition(state()?),
            "AlreadyStopping" => Refusal::AlreadyStopping,
            "Halted" => Refusal::Halted,
            "NoManualRestart" => Refusal::NoManualRestart(run_strategy()?),
            "RerunOnFailureFailed" => Refusal::RerunOnFailureFailed,
            "AlreadySuspended" => Refusal::AlreadySuspended,
            "NotSuspended" => Refusal::NotSuspended(state()?),
            "StateUnknown" => Refusal::StateUnknown,
            _ => return None,
        })
    }
}

/// KubeVirt's VirtualMachineInstance for the VM, as far as the rules care: many of KubeVirt's
/// answers turn on whether one exists and whether its phase is final (`vmi.IsFinal()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Vmi {
    /// No VMI.
    #[default]
    Absent,
    /// A VMI in a phase that is not final (Pending ... Running, or Unknown).
    Alive,
    /// A Succeeded or Failed VMI that is still there.
    Final,
}

impl Vmi {
    /// From the VMI's `status.phase` (`None`: no VMI).
    pub fn from_phase(phase: Option<&str>) -> Vmi {
        match phase {
            None => Vmi::Absent,
            Some("Succeeded" | "Failed") => Vmi::Final,
            Some(_) => Vmi::Alive,
        }
    }

    /// A guess from the state alone, for a status written before the VMI's phase was recorded.
    pub fn assumed(state: VmState) -> Vmi {
        if state.has_live_guest() || state == VmState::Error {
            Vmi::Alive
        } else {
            Vmi::Absent
        }
    }
}

/// What the rules look at: the state shown, the run strategy KubeVirt runs the VM under, whether a
/// request is still underway, and KubeVirt's VMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Situation {
    pub state: VmState,
    pub run_strategy: RunStrategy,
    pub pending: bool,
    pub vmi: Vmi,
}

impl Situation {
    /// A situation whose VMI is guessed from the state ([`Vmi::assumed`]).
    pub fn new(state: VmState, run_strategy: RunStrategy, pending: bool) -> Situation {
        Situation {
            state,
            run_strategy,
            pending,
            vmi: Vmi::assumed(state),
        }
    }

    pub fn with_vmi(self, vmi: Vmi) -> Situation {
        Situation { vmi, ..self }
    }
}

/// Whether `action` may be requested now. This is the single rule; everything else derives from
/// it. Every action it allows is one KubeVirt v1.8.0 accepts (`pkg/virt-api/rest/lifecycle.go`;
/// the table in ARCHITECTURE.md names the lines); on top of that it withholds what would surprise a
/// person (a second graceful stop, a restart in the middle of a start).
pub fn check(action: Action, s: &Situation) -> Result<(), Refusal> {
    use VmState as S;
    let state = s.state;
    if state == S::Deleting {
        return Err(Refusal::Deleting);
    }
    if action == Action::Delete {
        return Ok(());
    }
    let alive = s.vmi == Vmi::Alive;
    // StopVMRequestHandler: Always and Once switch to Halted whether or not a VMI runs, which is
    // how a VM that KubeVirt keeps trying to start is stopped; Manual, RerunOnFailure and Halted
    // need a VMI that is not final.
    let stoppable = alive
        || (s.run_strategy.starts_by_itself()
            && matches!(state, S::Failed | S::Error | S::Provisioning));
    if action == Action::ForceStop {
        // A lone stop replaces pending requests (getChangeRequestJson), so force stop is offered
        // even then.
        return if stoppable {
            Ok(())
        } else if state == S::Unknown {
            Err(Refusal::StateUnknown)
        } else {
            Err(Refusal::NotRunning(state))
        };
    }
    if s.pending {
        return Err(Refusal::RequestPending);
    }
    match action {
        // StartVMRequestHandler.
        Action::Start => match state {
            S::Unknown => Err(Refusal::StateUnknown),
            S::Stopping => Err(Refusal::InTransition(state)),
            _ if alive => Err(Refusal::AlreadyRunning),
            _ if s.run_strategy.starts_by_itself() => {
                Err(Refusal::ManualStartUnsupported(s.run_strategy))
            }
            S::Failed if s.run_strategy == RunStrategy::RerunOnFailure && s.vmi == Vmi::Final => {
                Err(Refusal::RerunOnFailureFailed)
            }
            S::Stopped | S::Failed | S::Error | S::Provisioning => Ok(()),
            _ => Err(Refusal::AlreadyRunning),
        },
        Action::Stop => match state {
            S::Stopping => Err(Refusal::AlreadyStopping),
            // Halted only takes a stop with a shorter grace period than the VMI's: a force stop.
            _ if s.run_strategy == RunStrategy::Halted && alive => Err(Refusal::Halted),
            _ if stoppable => Ok(()),
            S::Unknown => Err(Refusal::StateUnknown),
            _ => Err(Refusal::NotRunning(state)),
        },
        // RestartVMRequestHandler: any VMI, final or not, but not under Halted or Once.
        Action::Restart => match state {
            _ if matches!(s.run_strategy, RunStrategy::Halted | RunStrategy::Once) => {
                Err(Refusal::NoManualRestart(s.run_strategy))
            }
            _ if s.vmi == Vmi::Absent => Err(Refusal::NotRunning(state)),
            S::Running | S::Migrating | S::Failed | S::Error => Ok(()),
            S::Unknown if alive => Ok(()),
            S::Unknown => Err(Refusal::StateUnknown),
            _ if state.is_transitional() => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::NotRunning(state)),
        },
        // PauseVMIRequestHandler: a VMI in phase Running without the Paused condition.
        Action::Suspend => match state {
            S::Running | S::Migrating => Ok(()),
            S::Suspended => Err(Refusal::AlreadySuspended),
            S::Unknown => Err(Refusal::StateUnknown),
            _ if state.is_transitional() => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::NotRunning(state)),
        },
        // UnpauseVMIRequestHandler: a VMI in phase Running with the Paused condition.
        Action::Resume => match state {
            S::Suspended => Ok(()),
            S::Unknown => Err(Refusal::StateUnknown),
            _ if state.is_transitional() => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::NotSuspended(state)),
        },
        Action::ForceStop | Action::Delete => unreachable!("handled above"),
    }
}

/// The actions a VM offers now, in button order.
pub fn offered_actions(s: &Situation) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|&action| check(action, s).is_ok())
        .collect()
}

/// What an accepted action does: the state it shows at once, where it ends, and the run strategy
/// afterwards (KubeVirt flips `Halted` to `Always` on start and `Always` to `Halted` on stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub passes_through: VmState,
    /// `None` when the VM is gone at the end (delete).
    pub ends_in: Option<VmState>,
    pub run_strategy_after: RunStrategy,
}

pub fn plan(action: Action, run_strategy: RunStrategy) -> Plan {
    use VmState as S;
    let (passes_through, ends_in) = match action {
        Action::Start => (S::Starting, Some(S::Running)),
        Action::Stop | Action::ForceStop => (S::Stopping, Some(S::Stopped)),
        Action::Restart => (S::Restarting, Some(S::Running)),
        Action::Suspend => (S::Suspending, Some(S::Suspended)),
        Action::Resume => (S::Resuming, Some(S::Running)),
        Action::Delete => (S::Deleting, None),
    };
    let run_strategy_after = match (action, run_strategy) {
        (Action::Start, RunStrategy::Halted) => RunStrategy::Always,
        (Action::Stop | Action::ForceStop, RunStrategy::Always | RunStrategy::Once) => {
            RunStrategy::Halted
        }
        (_, rs) => rs,
    };
    Plan {
        passes_through,
        ends_in,
        run_strategy_after,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use RunStrategy::*;
    use VmState as S;

    /// Every refusal, with each state or run strategy it can name.
    pub(crate) fn every_refusal() -> Vec<Refusal> {
        let mut all = vec![
            Refusal::Deleting,
            Refusal::RequestPending,
            Refusal::AlreadyRunning,
            Refusal::AlreadyStopping,
            Refusal::Halted,
            Refusal::RerunOnFailureFailed,
            Refusal::AlreadySuspended,
            Refusal::StateUnknown,
        ];
        for state in VmState::ALL {
            all.extend([
                Refusal::NotRunning(state),
                Refusal::InTransition(state),
                Refusal::NotSuspended(state),
            ]);
        }
        for rs in RunStrategy::ALL {
            all.extend([
                Refusal::ManualStartUnsupported(rs),
                Refusal::NoManualRestart(rs),
            ]);
        }
        all
    }

    #[test]
    fn refusal_codes_round_trip() {
        let mut codes = std::collections::BTreeSet::new();
        for refusal in every_refusal() {
            codes.insert(refusal.code());
            let param = refusal.param().map(|(_, value)| value);
            assert_eq!(
                Refusal::from_code(refusal.code(), param),
                Some(refusal),
                "{refusal:?}"
            );
        }
        assert_eq!(codes, Refusal::CODES.into_iter().collect());
        assert_eq!(Refusal::from_code("NotRunning", None), None);
        assert_eq!(Refusal::from_code("NotRunning", Some("Always")), None);
        assert_eq!(Refusal::from_code("NoManualRestart", Some("Running")), None);
        assert_eq!(Refusal::from_code("Nope", None), None);
    }

    /// The expected table, written out by hand from lifecycle.go: for each state (with the VMI it
    /// implies, [`Vmi::assumed`]), the actions offered with no request pending under Always,
    /// RerunOnFailure, Manual, Halted and Once. Abbreviations: start, stop, force(-stop), restart,
    /// suspend, resume, delete.
    const TABLE: &[(VmState, [&str; 5])] = &[
        (
            S::Stopped,
            [
                "delete",
                "start delete",
                "start delete",
                "start delete",
                "delete",
            ],
        ),
        (
            S::Running,
            [
                "stop force restart suspend delete",
                "stop force restart suspend delete",
                "stop force restart suspend delete",
                "force suspend delete",
                "stop force suspend delete",
            ],
        ),
        (
            S::Migrating,
            [
                "stop force restart suspend delete",
                "stop force restart suspend delete",
                "stop force restart suspend delete",
                "force suspend delete",
                "stop force suspend delete",
            ],
        ),
        (
            S::Starting,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
                "stop force delete",
            ],
        ),
        (
            S::Stopping,
            [
                "force delete",
                "force delete",
                "force delete",
                "force delete",
                "force delete",
            ],
        ),
        (
            S::Restarting,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
                "stop force delete",
            ],
        ),
        (
            S::Suspending,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
                "stop force delete",
            ],
        ),
        (
            S::Suspended,
            [
                "stop force resume delete",
                "stop force resume delete",
                "stop force resume delete",
                "force resume delete",
                "stop force resume delete",
            ],
        ),
        (
            S::Resuming,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
                "stop force delete",
            ],
        ),
        // No VMI while the disks are prepared: Always/Once stop by switching to Halted.
        (
            S::Provisioning,
            [
                "stop force delete",
                "start delete",
                "start delete",
                "start delete",
                "stop force delete",
            ],
        ),
        // CrashLoopBackOff: no live VMI.
        (
            S::Failed,
            [
                "stop force delete",
                "start delete",
                "start delete",
                "start delete",
                "stop force delete",
            ],
        ),
        // A VMI that cannot get going (ErrImagePull, ...): stop and restart, never start.
        (
            S::Error,
            [
                "stop force restart delete",
                "stop force restart delete",
                "stop force restart delete",
                "force delete",
                "stop force delete",
            ],
        ),
        (S::Deleting, ["", "", "", "", ""]),
        // Unknown with no VMI known (not reported yet, or a VM that is not this Wukong's): Delete
        // only; with a VMI in phase Unknown, see the_vmi_decides_where_the_state_alone_cannot.
        (
            S::Unknown,
            ["delete", "delete", "delete", "delete", "delete"],
        ),
    ];

    fn parse(abbrev: &str) -> Vec<Action> {
        let mut actions: Vec<Action> = abbrev
            .split_whitespace()
            .map(|word| match word {
                "force" => Action::ForceStop,
                other => other.parse().expect("table uses known action names"),
            })
            .collect();
        actions.sort();
        actions
    }

    #[test]
    fn table_covers_every_state() {
        for state in VmState::ALL {
            assert!(
                TABLE.iter().any(|(s, _)| *s == state),
                "{state} missing from the table"
            );
        }
    }

    #[test]
    fn every_state_strategy_action_triple_matches_the_table() {
        for (state, per_strategy) in TABLE {
            for (run_strategy, expected) in RunStrategy::ALL.into_iter().zip(per_strategy) {
                let expected = parse(expected);
                let s = Situation::new(*state, run_strategy, false);
                for action in Action::ALL {
                    assert_eq!(
                        check(action, &s).is_ok(),
                        expected.contains(&action),
                        "{action} from {state} under {run_strategy}: got {:?}",
                        check(action, &s)
                    );
                }
                assert_eq!(offered_actions(&s), expected);
            }
        }
    }

    #[test]
    fn a_pending_request_leaves_only_force_stop_and_delete() {
        for (state, per_strategy) in TABLE {
            for (run_strategy, expected) in RunStrategy::ALL.into_iter().zip(per_strategy) {
                let expected: Vec<Action> = parse(expected)
                    .into_iter()
                    .filter(|a| matches!(a, Action::ForceStop | Action::Delete))
                    .collect();
                let s = Situation::new(*state, run_strategy, true);
                assert_eq!(
                    offered_actions(&s),
                    expected,
                    "{state} under {run_strategy} with a pending request"
                );
            }
        }
    }

    #[test]
    fn the_vmi_decides_where_the_state_alone_cannot() {
        // Unknown with a VMI that is not final (phase Unknown): KubeVirt takes stop and restart.
        let unknown = Situation::new(S::Unknown, Manual, false).with_vmi(Vmi::Alive);
        assert_eq!(
            offered_actions(&unknown),
            parse("stop force restart delete")
        );
        // Stopped under Manual with a Succeeded VMI (a poweroff inside the guest): start (KubeVirt
        // would take a restart too; Start says the same to a person).
        let powered_off = Situation::new(S::Stopped, Manual, false).with_vmi(Vmi::Final);
        assert_eq!(offered_actions(&powered_off), parse("start delete"));
        // RerunOnFailure with a Failed VMI: KubeVirt refuses start.
        let failed = Situation::new(S::Failed, RerunOnFailure, false).with_vmi(Vmi::Final);
        assert_eq!(
            check(Action::Start, &failed),
            Err(Refusal::RerunOnFailureFailed)
        );
        assert_eq!(check(Action::Restart, &failed), Ok(()));
        // DataVolumeError with no VMI under Manual: nothing to stop.
        let dv = Situation::new(S::Error, Manual, false).with_vmi(Vmi::Absent);
        assert_eq!(offered_actions(&dv), parse("start delete"));
    }

    #[test]
    fn refusals_say_what_kubevirt_would_say() {
        let s = |state, rs| Situation::new(state, rs, false);
        assert_eq!(
            check(Action::Start, &s(S::Running, Manual)),
            Err(Refusal::AlreadyRunning)
        );
        let msg = check(Action::Start, &s(S::Stopped, Always))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("does not support manual start requests"),
            "{msg}"
        );
        for rs in [Halted, Once] {
            assert_eq!(
                check(Action::Restart, &s(S::Running, rs)),
                Err(Refusal::NoManualRestart(rs))
            );
        }
        assert_eq!(
            check(Action::Suspend, &s(S::Suspended, Manual)),
            Err(Refusal::AlreadySuspended)
        );
        assert_eq!(
            check(Action::Resume, &s(S::Running, Manual)),
            Err(Refusal::NotSuspended(S::Running))
        );
        assert_eq!(
            check(Action::Start, &Situation::new(S::Running, Manual, true)),
            Err(Refusal::RequestPending)
        );
        let msg = check(Action::Stop, &s(S::Stopping, Manual))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("Force stop"), "{msg}");
    }

    #[test]
    fn plans_pass_through_the_seed_states() {
        let cases = [
            (Action::Start, S::Starting, Some(S::Running)),
            (Action::Stop, S::Stopping, Some(S::Stopped)),
            (Action::ForceStop, S::Stopping, Some(S::Stopped)),
            (Action::Restart, S::Restarting, Some(S::Running)),
            (Action::Suspend, S::Suspending, Some(S::Suspended)),
            (Action::Resume, S::Resuming, Some(S::Running)),
            (Action::Delete, S::Deleting, None),
        ];
        for (action, through, end) in cases {
            let p = plan(action, Manual);
            assert_eq!((p.passes_through, p.ends_in), (through, end), "{action}");
            assert!(p.passes_through.is_transitional());
        }
    }

    #[test]
    fn run_strategy_flips_like_kubevirt() {
        assert_eq!(plan(Action::Start, Halted).run_strategy_after, Always);
        assert_eq!(plan(Action::Stop, Always).run_strategy_after, Halted);
        assert_eq!(plan(Action::Stop, Once).run_strategy_after, Halted);
        assert_eq!(plan(Action::ForceStop, Always).run_strategy_after, Halted);
        assert_eq!(plan(Action::Stop, Manual).run_strategy_after, Manual);
        assert_eq!(
            plan(Action::Stop, RerunOnFailure).run_strategy_after,
            RerunOnFailure
        );
        assert_eq!(plan(Action::Restart, Always).run_strategy_after, Always);
    }
}
