//! Which action is allowed from which state under which run strategy, and what it passes through.

use crate::{Action, RunStrategy, VmState};
use std::fmt;

/// Why an action cannot be carried out now, in words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// `Halted` VMs cannot be restarted, and are already on their way down.
    Halted,
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
            Refusal::Halted => f.write_str("run strategy Halted keeps this VM stopped"),
            Refusal::AlreadySuspended => f.write_str("the VM is already suspended"),
            Refusal::NotSuspended(state) => write!(f, "the VM is not suspended (it is {state})"),
            Refusal::StateUnknown => f.write_str(
                "the VM's state is unknown, so only Delete is offered; check the VM in the cluster",
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `action` may be requested for a VM in `state` under `run_strategy`, with or without an
/// earlier request still pending. This is the single rule; everything else derives from it.
pub fn check(
    action: Action,
    state: VmState,
    run_strategy: RunStrategy,
    pending: bool,
) -> Result<(), Refusal> {
    use VmState as S;
    if state == S::Deleting {
        return Err(Refusal::Deleting);
    }
    if action == Action::Delete {
        return Ok(());
    }
    if state == S::Unknown {
        return Err(Refusal::StateUnknown);
    }
    // A failed guest under Always/RerunOnFailure is crash-looping: KubeVirt still holds a VMI.
    let live = state.has_live_guest() || (state == S::Failed && run_strategy.restarts_failed_vm());
    if action == Action::ForceStop {
        // A lone stop replaces pending requests (KubeVirt), so force stop is offered even then.
        return if live {
            Ok(())
        } else {
            Err(Refusal::NotRunning(state))
        };
    }
    if pending {
        return Err(Refusal::RequestPending);
    }
    match action {
        Action::Start => match (state, run_strategy) {
            (_, RunStrategy::Always) => Err(Refusal::ManualStartUnsupported(run_strategy)),
            (S::Stopped, _) => Ok(()),
            (S::Failed, RunStrategy::Manual | RunStrategy::Halted) => Ok(()),
            (S::Stopping, _) => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::AlreadyRunning),
        },
        Action::Stop => match state {
            S::Stopping => Err(Refusal::AlreadyStopping),
            _ if run_strategy == RunStrategy::Halted => Err(Refusal::Halted),
            _ if live => Ok(()),
            _ => Err(Refusal::NotRunning(state)),
        },
        Action::Restart => match state {
            _ if run_strategy == RunStrategy::Halted => Err(Refusal::Halted),
            S::Running => Ok(()),
            S::Failed if live => Ok(()),
            _ if state.is_transitional() => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::NotRunning(state)),
        },
        Action::Suspend => match state {
            S::Running => Ok(()),
            S::Suspended => Err(Refusal::AlreadySuspended),
            _ if state.is_transitional() => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::NotRunning(state)),
        },
        Action::Resume => match state {
            S::Suspended => Ok(()),
            _ if state.is_transitional() => Err(Refusal::InTransition(state)),
            _ => Err(Refusal::NotSuspended(state)),
        },
        Action::ForceStop | Action::Delete => unreachable!("handled above"),
    }
}

/// The actions a VM offers now, in button order.
pub fn offered_actions(state: VmState, run_strategy: RunStrategy, pending: bool) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|&action| check(action, state, run_strategy, pending).is_ok())
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
        (Action::Stop | Action::ForceStop, RunStrategy::Always) => RunStrategy::Halted,
        (_, rs) => rs,
    };
    Plan {
        passes_through,
        ends_in,
        run_strategy_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunStrategy::*;
    use VmState as S;

    /// The expected table, written out by hand: for each state, the actions offered (no request
    /// pending) under Always, RerunOnFailure, Manual and Halted. Abbreviations: start, stop,
    /// force(-stop), restart, suspend, resume, delete.
    const TABLE: &[(VmState, [&str; 4])] = &[
        (
            S::Stopped,
            ["delete", "start delete", "start delete", "start delete"],
        ),
        (
            S::Running,
            [
                "stop force restart suspend delete",
                "stop force restart suspend delete",
                "stop force restart suspend delete",
                "force suspend delete",
            ],
        ),
        (
            S::Starting,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
            ],
        ),
        (
            S::Stopping,
            [
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
            ],
        ),
        (
            S::Suspending,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
            ],
        ),
        (
            S::Suspended,
            [
                "stop force resume delete",
                "stop force resume delete",
                "stop force resume delete",
                "force resume delete",
            ],
        ),
        (
            S::Resuming,
            [
                "stop force delete",
                "stop force delete",
                "stop force delete",
                "force delete",
            ],
        ),
        (
            S::Failed,
            [
                "stop force restart delete",
                "stop force restart delete",
                "start delete",
                "start delete",
            ],
        ),
        (S::Deleting, ["", "", "", ""]),
        (S::Unknown, ["delete", "delete", "delete", "delete"]),
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
                for action in Action::ALL {
                    let allowed = check(action, *state, run_strategy, false).is_ok();
                    assert_eq!(
                        allowed,
                        expected.contains(&action),
                        "{action} from {state} under {run_strategy}: got {:?}",
                        check(action, *state, run_strategy, false)
                    );
                }
                assert_eq!(offered_actions(*state, run_strategy, false), expected);
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
                assert_eq!(
                    offered_actions(*state, run_strategy, true),
                    expected,
                    "{state} under {run_strategy} with a pending request"
                );
                for action in [
                    Action::Start,
                    Action::Stop,
                    Action::Restart,
                    Action::Suspend,
                ] {
                    if let Err(refusal) = check(action, *state, run_strategy, true) {
                        assert!(!refusal.to_string().is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn refusals_say_what_kubevirt_would_say() {
        assert_eq!(
            check(Action::Start, S::Running, Manual, false),
            Err(Refusal::AlreadyRunning)
        );
        let msg = check(Action::Start, S::Stopped, Always, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("does not support manual start requests"),
            "{msg}"
        );
        assert_eq!(
            check(Action::Restart, S::Running, Halted, false),
            Err(Refusal::Halted)
        );
        assert_eq!(
            check(Action::Suspend, S::Suspended, Manual, false),
            Err(Refusal::AlreadySuspended)
        );
        assert_eq!(
            check(Action::Resume, S::Running, Manual, false),
            Err(Refusal::NotSuspended(S::Running))
        );
        assert_eq!(
            check(Action::Start, S::Running, Manual, true),
            Err(Refusal::RequestPending)
        );
        let msg = check(Action::Stop, S::Stopping, Manual, false)
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
        assert_eq!(plan(Action::ForceStop, Always).run_strategy_after, Halted);
        assert_eq!(plan(Action::Stop, Manual).run_strategy_after, Manual);
        assert_eq!(
            plan(Action::Stop, RerunOnFailure).run_strategy_after,
            RerunOnFailure
        );
        assert_eq!(plan(Action::Restart, Always).run_strategy_after, Always);
    }
}
