//! KubeVirt v1.8.0's answers, case by case, in the order `lifecycle.go` checks them.

use super::*;
use KvRunStrategy::*;

fn vm(run_strategy: KvRunStrategy, phase: Option<VmiPhase>) -> VmFacts {
    VmFacts {
        run_strategy,
        vmi: phase.map(|phase| VmiFacts {
            generation: 1,
            phase,
            ..VmiFacts::default()
        }),
        ..VmFacts::default()
    }
}

fn with_vmi(mut v: VmFacts, f: impl FnOnce(&mut VmiFacts)) -> VmFacts {
    if let Some(vmi) = v.vmi.as_mut() {
        f(vmi);
    }
    v
}

fn ok(reply: Reply) -> (u16, Vec<Effect>) {
    match reply.outcome {
        Ok(code) => (code, reply.effects),
        Err(e) => panic!("KubeVirt accepts this, but the model said {e:?}"),
    }
}

fn no(reply: Reply) -> (u16, String) {
    let e = reply.outcome.expect_err("KubeVirt refuses this");
    (e.code, e.message)
}

const START: Request = Request::Start { paused: false };
const STOP: Request = Request::Stop { grace_period: None };
const fn stop_with(grace: i64) -> Request {
    Request::Stop {
        grace_period: Some(grace),
    }
}
const RESTART: Request = Request::Restart {
    grace_period_seconds: None,
};

#[test]
fn errors_have_the_apiservers_status_shape() {
    let e = ApiError::conflict(VM, "web", "VM is already running");
    assert_eq!(
        e.message,
        "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"web\": VM is already running"
    );
    assert_eq!((e.code, e.reason), (409, "Conflict"));
    let d = e.details.expect("details");
    assert_eq!(
        (d.name.as_deref(), d.group, d.kind),
        (Some("web"), Some("kubevirt.io"), Some("virtualmachine"))
    );
    let e = ApiError::internal(ALREADY_UNDERWAY);
    assert_eq!(
        e.message,
        "Internal error occurred: unable to complete request: stop/start already underway"
    );
    assert_eq!(e.details.expect("details").causes, vec![ALREADY_UNDERWAY]);
    assert_eq!(
        ApiError::not_found(VMI, "web").message,
        "virtualmachineinstance.kubevirt.io \"web\" not found"
    );
}

#[test]
fn start() {
    // A VMI that is not final, not Unknown and not unset: already running.
    for phase in [VmiPhase::Pending, VmiPhase::Scheduling, VmiPhase::Running] {
        assert_eq!(
            no(answer(&vm(Manual, Some(phase)), "web", START)),
            (
                409,
                "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"web\": VM is already running".into()
            )
        );
    }
    // Checked before the run strategy: Always with a running VMI says "already running".
    assert!(
        no(answer(&vm(Always, Some(VmiPhase::Running)), "web", START))
            .1
            .ends_with("VM is already running")
    );
    // An Unknown VMI does not count as running.
    assert_eq!(
        ok(answer(&vm(Manual, Some(VmiPhase::Unknown)), "web", START)).0,
        202
    );
    for rs in [Always, Once] {
        assert!(no(answer(&vm(rs, None), "web", START))
            .1
            .ends_with(&format!("{rs} does not support manual start requests")));
    }
    assert_eq!(
        ok(answer(&vm(Halted, None), "web", START)),
        (202, vec![Effect::SetRunStrategy(Always)])
    );
    // spec.running is patched, not rewritten into runStrategy.
    let mut running_field = vm(Halted, None);
    running_field.uses_running_field = true;
    assert_eq!(
        ok(answer(&running_field, "web", START)).1,
        vec![Effect::SetRunning(true)]
    );
    // A paused start of a Halted VM is a Start request with data.
    assert_eq!(
        ok(answer(
            &vm(Halted, None),
            "web",
            Request::Start { paused: true }
        ))
        .1,
        vec![Effect::AddStateChanges(vec![StateChange::Start {
            paused: true
        }])]
    );
    assert_eq!(
        ok(answer(&vm(Manual, None), "web", START)).1,
        vec![Effect::AddStateChanges(vec![StateChange::Start {
            paused: false
        }])]
    );
    // Manual with a final VMI, RerunOnFailure with a Succeeded one: stop that VMI, then start.
    for (rs, phase) in [
        (Manual, VmiPhase::Failed),
        (Manual, VmiPhase::Succeeded),
        (RerunOnFailure, VmiPhase::Succeeded),
    ] {
        assert_eq!(
            ok(answer(&vm(rs, Some(phase)), "web", START)).1,
            vec![Effect::AddStateChanges(vec![
                StateChange::Stop { vmi: Some(1) },
                StateChange::Start { paused: false }
            ])],
            "{rs} {phase:?}"
        );
    }
    assert!(no(answer(
        &vm(RerunOnFailure, Some(VmiPhase::Failed)),
        "web",
        START
    ))
    .1
    .ends_with("RerunOnFailure does not support starting VM from failed state"));
    // Pending requests: getChangeRequestJson fails, answered as an internal error.
    let mut pending = vm(Manual, None);
    pending.state_change_requests = vec![StateChange::Start { paused: false }];
    assert_eq!(
        no(answer(&pending, "web", START)),
        (
            500,
            "Internal error occurred: unable to complete request: stop/start already underway"
                .into()
        )
    );
    // A start failure on record is cleared with the request.
    let mut failed = vm(Manual, None);
    failed.start_failures = 2;
    assert!(ok(answer(&failed, "web", START))
        .1
        .contains(&Effect::ClearStartFailure));
}

#[test]
fn stop() {
    let running = Some(VmiPhase::Running);
    // Always and Once: the strategy becomes Halted, with or without a VMI.
    for rs in [Always, Once] {
        assert_eq!(
            ok(answer(&vm(rs, running), "web", STOP)),
            (202, vec![Effect::SetRunStrategy(Halted)])
        );
        assert_eq!(ok(answer(&vm(rs, None), "web", STOP)).0, 202);
    }
    // A grace period patches the VMI first.
    assert_eq!(
        ok(answer(&vm(Manual, running), "web", stop_with(0))).1,
        vec![
            Effect::SetVmiGracePeriod(0),
            Effect::AddStateChanges(vec![StateChange::Stop { vmi: Some(1) }])
        ]
    );
    // A negative grace period is not refused (virtctl --force --grace-period=-1).
    assert_eq!(
        ok(answer(&vm(Manual, running), "web", stop_with(-1))).1[0],
        Effect::SetVmiGracePeriod(-1)
    );
    for (rs, phase) in [
        (Manual, None),
        (Manual, Some(VmiPhase::Failed)),
        (RerunOnFailure, Some(VmiPhase::Succeeded)),
        (Halted, None),
    ] {
        assert_eq!(
            no(answer(&vm(rs, phase), "web", STOP)),
            (
                409,
                "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"web\": VM is not running"
                    .into()
            ),
            "{rs} {phase:?}"
        );
    }
    // Halted and going down: only a shorter grace period than the VMI's is news.
    let halting = with_vmi(vm(Halted, running), |vmi| {
        vmi.termination_grace_period_seconds = Some(30);
        vmi.marked_for_deletion = true;
    });
    assert_eq!(
        ok(answer(&halting, "web", stop_with(0))).1,
        vec![
            Effect::SetVmiGracePeriod(0),
            Effect::AddStateChanges(vec![StateChange::Stop { vmi: Some(1) }])
        ]
    );
    let shorter_only =
        "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"web\": Halted only supports manual stop requests with a shorter graceperiod";
    assert_eq!(no(answer(&halting, "web", STOP)).1, shorter_only);
    // Refused, yet the VMI's grace period was patched (the handler does that first).
    let reply = answer(&halting, "web", stop_with(60));
    assert_eq!(reply.effects, vec![Effect::SetVmiGracePeriod(60)]);
    assert_eq!(
        reply.outcome.map_err(|e| e.message),
        Err(shorter_only.into())
    );
    // A VMI with no grace period of its own takes any grace period (no assumed 30 s).
    let unset = with_vmi(vm(Halted, running), |vmi| vmi.marked_for_deletion = true);
    assert_eq!(ok(answer(&unset, "web", stop_with(600))).0, 202);
    // A lone stop replaces pending requests.
    let mut pending = vm(Manual, running);
    pending.state_change_requests = vec![StateChange::Start { paused: false }];
    assert_eq!(
        ok(answer(&pending, "web", STOP)).1,
        vec![Effect::ReplaceStateChanges(vec![StateChange::Stop {
            vmi: Some(1)
        }])]
    );
}

#[test]
fn restart() {
    let running = Some(VmiPhase::Running);
    assert_eq!(
        ok(answer(&vm(Manual, running), "web", RESTART)),
        (
            202,
            vec![Effect::AddStateChanges(vec![
                StateChange::Stop { vmi: Some(1) },
                StateChange::Start { paused: false }
            ])]
        )
    );
    // v1.8's force restart deletes the launcher pod with grace 1.
    assert_eq!(
        ok(answer(
            &vm(Always, running),
            "web",
            Request::Restart {
                grace_period_seconds: Some(0)
            }
        ))
        .1
        .last(),
        Some(&Effect::DeleteLauncherPod { grace_seconds: 1 })
    );
    assert_eq!(
        no(answer(
            &vm(Manual, running),
            "web",
            Request::Restart {
                grace_period_seconds: Some(5)
            }
        )),
        (
            400,
            "For force restart, only gracePeriod=0 is supported for now".into()
        )
    );
    assert_eq!(
        no(answer(
            &vm(Manual, running),
            "web",
            Request::Restart {
                grace_period_seconds: Some(-1)
            }
        )),
        (400, "gracePeriod has to be greater or equal to 0".into())
    );
    for rs in [Halted, Once] {
        assert!(no(answer(&vm(rs, running), "web", RESTART))
            .1
            .ends_with(&format!(
                "RunStategy {rs} does not support manual restart requests"
            )));
    }
    assert!(no(answer(&vm(Manual, None), "web", RESTART))
        .1
        .ends_with("VM is not running: Halted"));
    // A VMI in a final phase is restarted.
    assert_eq!(
        ok(answer(&vm(Manual, Some(VmiPhase::Failed)), "web", RESTART)).0,
        202
    );
    let mut pending = vm(Manual, running);
    pending.state_change_requests = vec![StateChange::Stop { vmi: Some(1) }];
    assert_eq!(no(answer(&pending, "web", RESTART)).0, 500);
}

#[test]
fn pause_unpause_and_soft_reboot() {
    let running = vm(Manual, Some(VmiPhase::Running));
    assert_eq!(
        ok(answer(&running, "web", Request::Pause)),
        (200, vec![Effect::PauseVmi])
    );
    for call in [Request::Pause, Request::Unpause, Request::SoftReboot] {
        assert_eq!(
            no(answer(&vm(Manual, None), "web", call)),
            (
                404,
                "virtualmachineinstance.kubevirt.io \"web\" not found".into()
            ),
            "{call:?}"
        );
    }
    assert_eq!(
        no(answer(&vm(Manual, Some(VmiPhase::Scheduling)), "web", Request::Pause)).1,
        "Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"web\": VM is not running"
    );
    let probed = with_vmi(running.clone(), |vmi| vmi.liveness_probe = true);
    assert_eq!(
        no(answer(&probed, "web", Request::Pause)),
        (
            403,
            "virtualmachineinstance.kubevirt.io \"web\" is forbidden: Pausing VMIs with LivenessProbe is currently not supported".into()
        )
    );
    let paused = with_vmi(running.clone(), |vmi| vmi.paused = true);
    assert!(no(answer(&paused, "web", Request::Pause))
        .1
        .ends_with("VMI is already paused"));
    assert_eq!(
        ok(answer(&paused, "web", Request::Unpause)),
        (200, vec![Effect::UnpauseVmi])
    );
    assert!(no(answer(&running, "web", Request::Unpause))
        .1
        .ends_with("VMI is not paused"));
    assert!(no(answer(
        &vm(Manual, Some(VmiPhase::Pending)),
        "web",
        Request::Unpause
    ))
    .1
    .ends_with("VMI is not running"));
    assert_eq!(
        ok(answer(&running, "web", Request::SoftReboot)),
        (200, vec![Effect::SoftReboot])
    );
    assert!(no(answer(&paused, "web", Request::SoftReboot))
        .1
        .ends_with("VMI is paused"));
}

#[test]
fn printable_status_follows_setprintablestatus_order() {
    let running = vm(Manual, Some(VmiPhase::Running));
    assert_eq!(printable_status(&running), "Running");
    let mut deleting = running.clone();
    deleting.deleting = true;
    assert_eq!(printable_status(&deleting), "Terminating");
    // Stopping wins over Paused and Migrating.
    let stopping_paused = with_vmi(running.clone(), |vmi| {
        vmi.paused = true;
        vmi.migrating = true;
        vmi.marked_for_deletion = true;
    });
    assert_eq!(printable_status(&stopping_paused), "Stopping");
    let migrating_paused = with_vmi(running.clone(), |vmi| {
        vmi.paused = true;
        vmi.migrating = true;
    });
    assert_eq!(printable_status(&migrating_paused), "Migrating");
    assert_eq!(
        printable_status(&with_vmi(running.clone(), |vmi| vmi.paused = true)),
        "Paused"
    );
    // A final VMI being deleted is Stopped, not Stopping.
    let released = with_vmi(vm(Manual, Some(VmiPhase::Failed)), |vmi| {
        vmi.marked_for_deletion = true
    });
    assert_eq!(printable_status(&released), "Stopped");
    for problem in [
        StartProblem::Unschedulable,
        StartProblem::ErrImagePull,
        StartProblem::ImagePullBackOff,
        StartProblem::PvcNotFound,
    ] {
        let stuck = with_vmi(vm(Always, Some(VmiPhase::Scheduling)), |vmi| {
            vmi.problem = Some(problem)
        });
        assert_eq!(printable_status(&stuck), problem.printable_status());
    }
    // Provisioning shows on a Halted VM too, and before Stopped.
    let mut importing = vm(Halted, None);
    importing.volumes.provisioning = true;
    assert_eq!(printable_status(&importing), "Provisioning");
    // ErrorUnschedulable comes before Provisioning, which comes before ErrImagePull.
    let mut both = with_vmi(vm(Always, Some(VmiPhase::Scheduling)), |vmi| {
        vmi.problem = Some(StartProblem::Unschedulable)
    });
    both.volumes.provisioning = true;
    assert_eq!(printable_status(&both), "ErrorUnschedulable");
    let mut pull = with_vmi(vm(Always, Some(VmiPhase::Scheduling)), |vmi| {
        vmi.problem = Some(StartProblem::ErrImagePull)
    });
    pull.volumes.provisioning = true;
    assert_eq!(printable_status(&pull), "Provisioning");
    let mut dv = vm(Halted, None);
    dv.volumes.data_volume_error = true;
    assert_eq!(printable_status(&dv), "DataVolumeError");
    // WaitingForVolumeBinding only when set to start.
    let mut unbound = vm(Always, Some(VmiPhase::Pending));
    unbound.volumes.unbound_pvc = true;
    assert_eq!(printable_status(&unbound), "WaitingForVolumeBinding");
    let mut unbound_halted = vm(Halted, None);
    unbound_halted.volumes.unbound_pvc = true;
    assert_eq!(printable_status(&unbound_halted), "Stopped");
    assert_eq!(
        printable_status(&vm(Manual, Some(VmiPhase::Scheduling))),
        "Starting"
    );
    let mut crash = vm(Always, None);
    crash.start_failures = 1;
    assert_eq!(printable_status(&crash), "CrashLoopBackOff");
    let mut manual_failures = vm(Manual, None);
    manual_failures.start_failures = 1;
    assert_eq!(printable_status(&manual_failures), "Stopped");
    assert_eq!(printable_status(&vm(Halted, None)), "Stopped");
    assert_eq!(
        printable_status(&vm(Manual, Some(VmiPhase::Unknown))),
        "Unknown"
    );
}

#[test]
fn each_handler_reads_the_vm_the_vmi_and_the_body_in_its_own_order() {
    let bad = || ApiError::bad_request("Can not unmarshal Request body to struct, error: x");
    let received = |handler, body: Result<Request, ApiError>| Received {
        handler,
        body,
        dry_run: Ok(false),
    };
    let running = vm(Manual, Some(VmiPhase::Running));
    // start: the VM and "already running" before the body.
    assert_eq!(
        no(answer_received(
            None,
            "web",
            received(Handler::Start, Err(bad()))
        ))
        .0,
        404
    );
    assert_eq!(
        no(answer_received(
            Some(&running),
            "web",
            received(Handler::Start, Err(bad()))
        ))
        .0,
        409
    );
    assert_eq!(
        no(answer_received(
            Some(&vm(Manual, None)),
            "web",
            received(Handler::Start, Err(bad()))
        ))
        .0,
        400
    );
    // stop, pause, unpause: the body first.
    for handler in [Handler::Stop, Handler::Pause, Handler::Unpause] {
        assert_eq!(
            no(answer_received(None, "web", received(handler, Err(bad())))).0,
            400,
            "{handler:?}"
        );
    }
    // restart: its grace period before the VM.
    let force5 = Request::Restart {
        grace_period_seconds: Some(5),
    };
    assert_eq!(
        no(answer_received(
            None,
            "web",
            received(Handler::Restart, Ok(force5))
        ))
        .0,
        400
    );
    assert_eq!(
        no(answer_received(
            None,
            "web",
            received(Handler::Restart, Ok(RESTART))
        )),
        (404, "virtualmachine.kubevirt.io \"web\" not found".into())
    );
    // soft reboot never reads a body.
    assert_eq!(
        ok(answer_received(
            Some(&running),
            "web",
            received(Handler::SoftReboot, Err(bad()))
        ))
        .0,
        200
    );
    // A dryRun the API server refuses fails the first patch, not a refusal before it.
    let bad_dry_run = |handler, body| Received {
        handler,
        body: Ok(body),
        dry_run: Err(ApiError::internal("dryRun: Unsupported value")),
    };
    assert_eq!(
        no(answer_received(
            Some(&running),
            "web",
            bad_dry_run(Handler::Start, START)
        ))
        .0,
        409
    );
    assert_eq!(
        no(answer_received(
            Some(&running),
            "web",
            bad_dry_run(Handler::Stop, STOP)
        ))
        .0,
        500
    );
}
