//! KubeVirt's own answers to the lifecycle subresource requests, as a pure function.
//!
//! This is what virt-api decides for `PUT .../virtualmachines/{name}/start|stop|restart` and
//! `.../virtualmachineinstances/{name}/pause|unpause` (see `shared/kubevirt-lifecycle.md`, from
//! kubevirt's `pkg/virt-api/rest/lifecycle.go`): which requests it refuses and with which status,
//! and what it changes when it accepts. The KubeVirt stand-in serves these answers over HTTP; the
//! lifecycle controller's tests rely on them being KubeVirt's.

use std::fmt;

/// KubeVirt's `spec.runStrategy`, including `Once`, which Wukong does not offer but KubeVirt knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvRunStrategy {
    Always,
    RerunOnFailure,
    Manual,
    Halted,
    Once,
}

impl fmt::Display for KvRunStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A VMI's `status.phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmiPhase {
    Pending,
    Scheduling,
    Scheduled,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl VmiPhase {
    /// Succeeded and Failed VMIs are over: KubeVirt treats the VM as not running.
    pub const fn is_final(self) -> bool {
        matches!(self, VmiPhase::Succeeded | VmiPhase::Failed)
    }
}

/// An entry of the VM's `status.stateChangeRequests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateChange {
    Start,
    Stop,
}

/// What KubeVirt looks at when it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmFacts {
    pub run_strategy: KvRunStrategy,
    pub vmi: Option<VmiFacts>,
    pub state_change_requests: Vec<StateChange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmiFacts {
    pub phase: VmiPhase,
    /// Condition `Paused` (reason `PausedByUser`).
    pub paused: bool,
    /// The VMI's current `terminationGracePeriodSeconds` (KubeVirt's 30 s when unset).
    pub termination_grace_period_seconds: Option<i64>,
    /// Shutting down: deletion requested, the guest not gone yet.
    pub terminating: bool,
}

impl VmFacts {
    fn live_vmi(&self) -> Option<&VmiFacts> {
        self.vmi.as_ref().filter(|vmi| !vmi.phase.is_final())
    }
}

/// A subresource request with the body KubeVirt defines for it: the controller's `wukong_lifecycle::kubevirt::Call`.
pub use wukong_lifecycle::kubevirt::Call as Request;

/// What an accepted request changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    SetRunStrategy(KvRunStrategy),
    AppendStateChanges(Vec<StateChange>),
    /// A lone stop replaces the pending requests.
    ReplaceStateChanges(Vec<StateChange>),
    SetVmiGracePeriod(i64),
    PauseVmi,
    UnpauseVmi,
}

/// A refusal as KubeVirt answers it: an HTTP status and a `metav1.Status` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
}

impl ApiError {
    fn new(code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The `metav1.Status` `reason` that goes with the code.
    pub fn reason(&self) -> &'static str {
        match self.code {
            400 => "BadRequest",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            _ => "InternalError",
        }
    }
}

const DEFAULT_GRACE: i64 = 30;

/// KubeVirt's answer to `request` for a VM in the state `vm` describes.
pub fn answer(vm: &VmFacts, request: Request) -> Result<Vec<Effect>, ApiError> {
    use KvRunStrategy::*;
    let pending = !vm.state_change_requests.is_empty();
    match request {
        Request::Start { .. } => {
            if vm.live_vmi().is_some() {
                return Err(ApiError::new(409, "VM is already running"));
            }
            match vm.run_strategy {
                Always | Once => Err(ApiError::new(
                    409,
                    format!("{} does not support manual start requests", vm.run_strategy),
                )),
                Halted => Ok(vec![Effect::SetRunStrategy(Always)]),
                Manual | RerunOnFailure if pending => Err(already_underway()),
                Manual | RerunOnFailure => {
                    Ok(vec![Effect::AppendStateChanges(vec![StateChange::Start])])
                }
            }
        }
        Request::Stop { grace_period } => {
            if grace_period.is_some_and(|g| g < 0) {
                return Err(ApiError::new(400, "gracePeriod must not be negative"));
            }
            let mut effects = Vec::new();
            let live = vm.live_vmi();
            if let (Some(grace), Some(vmi)) = (grace_period, live) {
                let current = vmi
                    .termination_grace_period_seconds
                    .unwrap_or(DEFAULT_GRACE);
                if vm.run_strategy == Halted && grace >= current {
                    // Already halting: only a shorter grace period (forcing a stuck stop) is news.
                    return Err(ApiError::new(409, "VM is already stopping"));
                }
                effects.push(Effect::SetVmiGracePeriod(grace));
            }
            match vm.run_strategy {
                Always | Once => {
                    effects.push(Effect::SetRunStrategy(Halted));
                    Ok(effects)
                }
                Halted if effects.is_empty() => Err(ApiError::new(409, "VM is not running")),
                Halted => Ok(effects),
                Manual | RerunOnFailure => {
                    if live.is_none() {
                        return Err(ApiError::new(409, "VM is not running"));
                    }
                    effects.push(if pending {
                        Effect::ReplaceStateChanges(vec![StateChange::Stop])
                    } else {
                        Effect::AppendStateChanges(vec![StateChange::Stop])
                    });
                    Ok(effects)
                }
            }
        }
        Request::Restart {
            grace_period_seconds,
        } => {
            match grace_period_seconds {
                Some(g) if g > 0 => {
                    return Err(ApiError::new(
                        400,
                        "For force restart, only gracePeriod=0 is supported for now",
                    ));
                }
                Some(g) if g < 0 => {
                    return Err(ApiError::new(
                        400,
                        "gracePeriodSeconds must not be negative",
                    ))
                }
                _ => {}
            }
            if matches!(vm.run_strategy, Halted | Once) {
                return Err(ApiError::new(
                    409,
                    format!(
                        "RunStrategy {} does not support manual restart requests",
                        vm.run_strategy
                    ),
                ));
            }
            if vm.live_vmi().is_none() {
                return Err(ApiError::new(409, "VM is not running"));
            }
            if pending {
                return Err(already_underway());
            }
            let mut effects = Vec::new();
            if grace_period_seconds == Some(0) {
                // KubeVirt's force restart: the VMI's grace becomes 1 s.
                effects.push(Effect::SetVmiGracePeriod(1));
            }
            effects.push(Effect::AppendStateChanges(vec![
                StateChange::Stop,
                StateChange::Start,
            ]));
            Ok(effects)
        }
        Request::Pause => match vm.vmi {
            Some(vmi) if vmi.phase == VmiPhase::Running && vmi.paused => {
                Err(ApiError::new(409, "VMI is already paused"))
            }
            Some(vmi) if vmi.phase == VmiPhase::Running => Ok(vec![Effect::PauseVmi]),
            _ => Err(ApiError::new(409, "VMI is not running")),
        },
        Request::Unpause => match vm.vmi {
            Some(vmi) if vmi.paused => Ok(vec![Effect::UnpauseVmi]),
            Some(_) => Err(ApiError::new(409, "VMI is not paused")),
            None => Err(ApiError::new(409, "VMI is not running")),
        },
    }
}

fn already_underway() -> ApiError {
    ApiError::new(
        500,
        "Operation cannot be fulfilled: a state change request is already underway",
    )
}

/// `status.printableStatus` for what the stand-in knows, by KubeVirt's precedence (first match wins:
/// Terminating > Stopping > Migrating > Paused > Running > ... > Starting > CrashLoopBackOff > Stopped).
pub fn printable_status(vm_deleting: bool, vm: &VmFacts, crash_looping: bool) -> &'static str {
    let vmi = vm.vmi.as_ref();
    let stopping = vmi.is_some_and(|vmi| !vmi.phase.is_final())
        && (vmi.is_some_and(|vmi| vmi.terminating)
            || vm.run_strategy == KvRunStrategy::Halted
            || vm.state_change_requests.first() == Some(&StateChange::Stop));
    if vm_deleting {
        "Terminating"
    } else if stopping {
        "Stopping"
    } else if vmi.is_some_and(|vmi| vmi.phase == VmiPhase::Running && vmi.paused) {
        "Paused"
    } else if vmi.is_some_and(|vmi| vmi.phase == VmiPhase::Running) {
        "Running"
    } else if vmi.is_some_and(|vmi| {
        matches!(
            vmi.phase,
            VmiPhase::Pending | VmiPhase::Scheduling | VmiPhase::Scheduled
        )
    }) {
        "Starting"
    } else if crash_looping {
        "CrashLoopBackOff"
    } else {
        "Stopped"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KvRunStrategy::*;

    fn vm(run_strategy: KvRunStrategy, phase: Option<VmiPhase>) -> VmFacts {
        VmFacts {
            run_strategy,
            vmi: phase.map(|phase| VmiFacts {
                phase,
                paused: false,
                termination_grace_period_seconds: None,
                terminating: false,
            }),
            state_change_requests: Vec::new(),
        }
    }

    fn refused(result: Result<Vec<Effect>, ApiError>) -> (u16, String) {
        let e = result.expect_err("KubeVirt refuses this");
        (e.code, e.message)
    }

    #[test]
    fn start_answers_like_kubevirt() {
        let running = Some(VmiPhase::Running);
        assert_eq!(
            refused(answer(
                &vm(Manual, running),
                Request::Start { paused: false }
            )),
            (409, "VM is already running".into())
        );
        let (code, msg) = refused(answer(&vm(Always, None), Request::Start { paused: false }));
        assert_eq!(
            (code, msg.as_str()),
            (409, "Always does not support manual start requests")
        );
        assert_eq!(
            answer(&vm(Halted, None), Request::Start { paused: false }),
            Ok(vec![Effect::SetRunStrategy(Always)])
        );
        for rs in [Manual, RerunOnFailure] {
            assert_eq!(
                answer(
                    &vm(rs, Some(VmiPhase::Failed)),
                    Request::Start { paused: false }
                ),
                Ok(vec![Effect::AppendStateChanges(vec![StateChange::Start])]),
                "a final VMI does not count as running"
            );
        }
        let mut pending = vm(Manual, None);
        pending.state_change_requests = vec![StateChange::Start];
        assert_eq!(
            refused(answer(&pending, Request::Start { paused: false })).0,
            500
        );
    }

    #[test]
    fn stop_answers_like_kubevirt() {
        let running = Some(VmiPhase::Running);
        assert_eq!(
            answer(&vm(Always, running), Request::Stop { grace_period: None }),
            Ok(vec![Effect::SetRunStrategy(Halted)])
        );
        assert_eq!(
            answer(
                &vm(Manual, running),
                Request::Stop {
                    grace_period: Some(0)
                }
            ),
            Ok(vec![
                Effect::SetVmiGracePeriod(0),
                Effect::AppendStateChanges(vec![StateChange::Stop])
            ])
        );
        assert_eq!(
            refused(answer(
                &vm(Manual, None),
                Request::Stop { grace_period: None }
            )),
            (409, "VM is not running".into())
        );
        // Halted and still going down: only a shorter grace period is accepted (forcing it).
        assert_eq!(
            answer(
                &vm(Halted, running),
                Request::Stop {
                    grace_period: Some(0)
                }
            ),
            Ok(vec![Effect::SetVmiGracePeriod(0)])
        );
        assert_eq!(
            refused(answer(
                &vm(Halted, running),
                Request::Stop {
                    grace_period: Some(30)
                }
            ))
            .0,
            409
        );
        assert_eq!(
            refused(answer(
                &vm(Halted, running),
                Request::Stop { grace_period: None }
            ))
            .0,
            409
        );
        // A lone stop replaces pending requests.
        let mut pending = vm(Manual, running);
        pending.state_change_requests = vec![StateChange::Start];
        assert_eq!(
            answer(&pending, Request::Stop { grace_period: None }),
            Ok(vec![Effect::ReplaceStateChanges(vec![StateChange::Stop])])
        );
    }

    #[test]
    fn restart_answers_like_kubevirt() {
        let running = Some(VmiPhase::Running);
        assert_eq!(
            answer(
                &vm(Manual, running),
                Request::Restart {
                    grace_period_seconds: None
                }
            ),
            Ok(vec![Effect::AppendStateChanges(vec![
                StateChange::Stop,
                StateChange::Start
            ])])
        );
        assert_eq!(
            answer(
                &vm(Always, running),
                Request::Restart {
                    grace_period_seconds: Some(0)
                }
            ),
            Ok(vec![
                Effect::SetVmiGracePeriod(1),
                Effect::AppendStateChanges(vec![StateChange::Stop, StateChange::Start])
            ])
        );
        assert_eq!(
            refused(answer(
                &vm(Manual, running),
                Request::Restart {
                    grace_period_seconds: Some(5)
                }
            ))
            .0,
            400
        );
        assert_eq!(
            refused(answer(
                &vm(Halted, running),
                Request::Restart {
                    grace_period_seconds: None
                }
            ))
            .0,
            409
        );
        assert_eq!(
            refused(answer(
                &vm(Once, running),
                Request::Restart {
                    grace_period_seconds: None
                }
            ))
            .0,
            409
        );
        assert_eq!(
            refused(answer(
                &vm(Manual, None),
                Request::Restart {
                    grace_period_seconds: None
                }
            ))
            .0,
            409
        );
    }

    #[test]
    fn pause_only_from_running_and_unpause_only_when_paused() {
        assert_eq!(
            answer(&vm(Manual, Some(VmiPhase::Running)), Request::Pause),
            Ok(vec![Effect::PauseVmi])
        );
        assert_eq!(
            refused(answer(
                &vm(Manual, Some(VmiPhase::Scheduling)),
                Request::Pause
            )),
            (409, "VMI is not running".into())
        );
        let mut paused = vm(Manual, Some(VmiPhase::Running));
        if let Some(vmi) = paused.vmi.as_mut() {
            vmi.paused = true;
        }
        assert_eq!(
            refused(answer(&paused, Request::Pause)),
            (409, "VMI is already paused".into())
        );
        assert_eq!(
            answer(&paused, Request::Unpause),
            Ok(vec![Effect::UnpauseVmi])
        );
        assert_eq!(
            refused(answer(
                &vm(Manual, Some(VmiPhase::Running)),
                Request::Unpause
            ))
            .0,
            409
        );
    }

    #[test]
    fn printable_status_follows_kubevirt_precedence() {
        let mut v = vm(Manual, Some(VmiPhase::Running));
        assert_eq!(printable_status(false, &v, false), "Running");
        assert_eq!(printable_status(true, &v, false), "Terminating");
        v.state_change_requests = vec![StateChange::Stop];
        assert_eq!(printable_status(false, &v, false), "Stopping");
        let mut paused = vm(Manual, Some(VmiPhase::Running));
        if let Some(vmi) = paused.vmi.as_mut() {
            vmi.paused = true;
        }
        assert_eq!(printable_status(false, &paused, false), "Paused");
        assert_eq!(
            printable_status(false, &vm(Manual, Some(VmiPhase::Scheduling)), false),
            "Starting"
        );
        assert_eq!(
            printable_status(false, &vm(Always, None), true),
            "CrashLoopBackOff"
        );
        assert_eq!(printable_status(false, &vm(Halted, None), false), "Stopped");
    }
}
