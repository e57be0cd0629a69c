use super::*;
use crate::kubevirt::{ObservedVmi, FORCED_MESSAGE};
use crate::{offered_actions, Refusal, Vmi};
use VmState as S;

const NOW: i64 = 1_800_000_000_000;

/// What KubeVirt shows for a VM in each state this build reports from KubeVirt: printableStatus
/// and the VMI's phase (None: no VMI).
fn kubevirt_showing(state: VmState) -> Option<(&'static str, Option<&'static str>)> {
    Some(match state {
        S::Running => ("Running", Some("Running")),
        S::Stopped => ("Stopped", None),
        S::Starting => ("Starting", Some("Scheduling")),
        S::Stopping => ("Stopping", Some("Running")),
        S::Suspended => ("Paused", Some("Running")),
        S::Provisioning => ("Provisioning", None),
        S::Migrating => ("Migrating", Some("Running")),
        S::Failed => ("CrashLoopBackOff", None),
        S::Error => ("ErrImagePull", Some("Scheduling")),
        S::Deleting => ("Terminating", Some("Running")),
        S::Unknown => ("Unknown", Some("Unknown")),
        // The console's own transitional states: KubeVirt never shows them.
        S::Restarting | S::Suspending | S::Resuming => return None,
    })
}

fn vm(printable: &'static str, phase: Option<&'static str>, rs: RunStrategy) -> Vm<'static> {
    Vm {
        observed: Observed {
            printable_status: Some(printable),
            vmi: phase.map(|phase| ObservedVmi {
                phase,
                deleting: false,
                problem: None,
            }),
        },
        run_strategy: rs,
        pending: false,
        pending_action: None,
        vmi_uid: phase.map(|_| "vmi-1"),
        grace_seconds: 30,
    }
}

fn input(reported: Reported<'static>, vm: Vm<'static>) -> Input<'static> {
    Input {
        now_ms: NOW,
        deleting: false,
        auto_start: false,
        grace_seconds: None,
        reported,
        request: None,
        backing: Backing::Ours(vm),
    }
}

fn steady(state: VmState) -> Reported<'static> {
    Reported {
        state: Some(state),
        ..Reported::default()
    }
}

fn request(action: Action) -> Request<'static> {
    Request {
        id: "r1",
        action,
        force: action == Action::ForceStop,
        grace_period_seconds: None,
    }
}

/// Every action a request can carry (delete is the Wukong's deletion, not a request).
const ACTIONS: [Action; 6] = {
    let all = Action::ALL;
    [all[0], all[1], all[2], all[3], all[4], all[5]]
};

#[test]
fn the_requests_are_every_action_but_delete() {
    let requests: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| *a != Action::Delete)
        .collect();
    assert_eq!(requests, ACTIONS);
}

const STRATEGIES: [RunStrategy; 5] = [
    RunStrategy::Always,
    RunStrategy::RerunOnFailure,
    RunStrategy::Manual,
    RunStrategy::Halted,
    RunStrategy::Once,
];

impl Decision {
    /// [`Decision::conclude`], checking that every message it writes is its code in English.
    fn concluded(self, answer: Answer<'_>) -> Outcome {
        let o = self.conclude(answer);
        says_agree(&o);
        o
    }
}

/// Each message of an outcome is its `says` in English; every message this turn wrote has one
/// (only a message carried over from a status without a code may have none).
fn says_agree(o: &Outcome) {
    let agree = |message: &Option<String>, says: &Option<Says>, what: &str| {
        if let Some(says) = says {
            assert_eq!(
                message.as_deref(),
                Some(says.to_string().as_str()),
                "{what}"
            );
            assert_eq!(
                Says::from_parts(says.code(), &says.params()).as_ref(),
                Some(says),
                "{what}"
            );
        }
    };
    agree(&o.report.message, &o.report.says, "report");
    for record in &o.records {
        match record {
            Record::TakenUp { message, says, .. } => agree(message, says, "history"),
            Record::Unexplained { message, says } => {
                assert!(matches!(says, Says::Unexplained { .. }), "{says:?}");
                assert_eq!(message, &says.to_string(), "history");
            }
        }
    }
    for note in &o.notes {
        agree(&note.message, &note.says, "note");
        if note.reason != EventReason::Request(RequestOutcome::Accepted) {
            assert!(note.says.is_some(), "{note:?}");
        }
    }
}

fn taken_up(outcome: &Outcome) -> Vec<RequestOutcome> {
    outcome
        .records
        .iter()
        .filter_map(|r| match r {
            Record::TakenUp { outcome, .. } => Some(*outcome),
            Record::Unexplained { .. } => None,
        })
        .collect()
}

#[test]
fn every_state_request_and_answer_is_acknowledged_exactly_once_as_the_rules_say() {
    let answers = [
        Answer::Done,
        Answer::Refused {
            code: 409,
            message: "VM is already running",
        },
    ];
    let mut cases = 0;
    for state in VmState::ALL {
        let Some((printable, phase)) = kubevirt_showing(state) else {
            continue;
        };
        for rs in STRATEGIES {
            for action in ACTIONS {
                for answer in &answers {
                    cases += 1;
                    let mut i = input(steady(state), vm(printable, phase, rs));
                    i.request = Some(request(action));
                    let d = through_intent(&mut i);
                    let situation = Situation {
                        state: Vm::observed_state(&i),
                        run_strategy: rs,
                        pending: false,
                        vmi: Vmi::from_phase(phase),
                    };
                    let checked = check(action, &situation);
                    let allowed = checked.is_ok();
                    let what = format!("{state} {rs:?} {action:?} {answer:?}");
                    let d_grace = match d.work {
                        Work::Call(_, Purpose::Request { grace, .. }) => Some(grace),
                        _ => None,
                    };
                    match d.work {
                        Work::Call(call, Purpose::Request { action: a, grace }) => {
                            assert!(allowed, "{what}: called though the rules refuse");
                            assert_eq!(a, action, "{what}");
                            assert_eq!(
                                Some(call),
                                call_for(action, i.request.unwrap().force, grace, 30)
                            );
                        }
                        Work::Report => assert!(!allowed, "{what}: allowed but not called"),
                        other => panic!("{what}: {other:?}"),
                    }
                    let o = d.concluded(answer.clone());
                    assert_eq!(
                        o.report.observed_request_id.as_deref(),
                        Some("r1"),
                        "{what}"
                    );
                    let expected = match (allowed, answer) {
                        (false, _) => RequestOutcome::Refused,
                        (true, Answer::Done) => RequestOutcome::Accepted,
                        (true, Answer::Refused { .. }) => RequestOutcome::KubeVirtRefused,
                    };
                    assert_eq!(taken_up(&o), vec![expected], "{what}");
                    let reasons: Vec<EventReason> = o.notes.iter().map(|n| n.reason).collect();
                    assert_eq!(reasons, vec![EventReason::Request(expected)], "{what}");
                    let says = match (checked, answer) {
                        (Err(refusal), _) => Says::Refused { action, refusal },
                        (Ok(()), Answer::Done) => Says::Accepted {
                            action,
                            force: action == Action::ForceStop,
                            grace: match d_grace {
                                Some(grace) => grace,
                                None => unreachable!("{what}: accepted without a call"),
                            },
                        },
                        (Ok(()), Answer::Refused { code, message }) => Says::KubeVirtRefused {
                            action,
                            code: *code,
                            detail: (*message).to_owned(),
                        },
                    };
                    assert_eq!(o.report.says.as_ref(), Some(&says), "{what}");
                    assert_eq!(o.notes[0].says.as_ref(), Some(&says), "{what}");
                    assert!(
                        matches!(&o.records[..], [Record::TakenUp { says: Some(s), .. }] if *s == says),
                        "{what}: {:?}",
                        o.records
                    );
                    match expected {
                        RequestOutcome::Accepted => {
                            assert_eq!(o.report.state, plan(action, rs).passes_through, "{what}");
                            assert_eq!(o.report.last_action.as_deref(), Some(action.as_str()));
                            assert_eq!(o.report.last_action_at_ms, Some(NOW));
                            assert_eq!(
                                o.report.stop_deadline_ms.is_some(),
                                action == Action::Stop,
                                "{what}: only a graceful stop has a deadline"
                            );
                            assert_eq!(
                                o.report.restarted_vmi.is_some(),
                                action == Action::Restart && phase.is_some(),
                                "{what}"
                            );
                        }
                        RequestOutcome::Refused | RequestOutcome::KubeVirtRefused => {
                            assert_eq!(o.report.last_action, None, "{what}");
                            assert_eq!(o.report.stop_deadline_ms, None, "{what}");
                            let message = o.report.message.unwrap_or_default();
                            assert!(message.contains(action.as_str()), "{what}: {message}");
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 11 * 5 * 6 * 2);
}

/// Decides; a restart first writes its intent (nothing called, nothing acknowledged), so decide
/// again on that report, as the next turn does.
fn through_intent(i: &mut Input<'static>) -> Decision {
    let d = decide(i, "ns", "vm");
    if d.report().in_flight_request_id.is_none() {
        return d;
    }
    assert_eq!(d.work, Work::Report, "no call with the intent");
    assert_eq!(d.report().observed_request_id, None, "not acknowledged yet");
    let o = d.concluded(Answer::Done);
    assert_eq!(
        o.recheck_after_ms, 0,
        "the call comes on the next turn, at once"
    );
    assert!(o.records.is_empty() && o.notes.is_empty());
    let vmi: Option<&'static str> = o
        .report
        .restarted_vmi
        .map(|v| &*Box::leak(v.into_boxed_str()));
    i.reported.in_flight_request_id = Some("r1");
    i.reported.restarted_vmi = vmi;
    decide(i, "ns", "vm")
}

impl Vm<'_> {
    /// The state a steady report settles to: what KubeVirt shows.
    fn observed_state(input: &Input<'_>) -> VmState {
        match input.backing {
            Backing::Ours(vm) => vm.observed.state(),
            _ => VmState::Unknown,
        }
    }
}

#[test]
fn what_the_console_offers_is_what_decide_calls() {
    // The console ships `offered_actions`; a request for one of them is called, never refused.
    for state in [S::Running, S::Stopped, S::Suspended, S::Failed, S::Error] {
        let (printable, phase) = kubevirt_showing(state).unwrap();
        for rs in STRATEGIES {
            let situation = Situation {
                state,
                run_strategy: rs,
                pending: false,
                vmi: Vmi::from_phase(phase),
            };
            for action in offered_actions(&situation) {
                if action == Action::Delete {
                    continue;
                }
                let mut i = input(steady(state), vm(printable, phase, rs));
                i.request = Some(request(action));
                assert!(
                    matches!(through_intent(&mut i).work, Work::Call(..)),
                    "{state} {rs:?} {action:?}"
                );
            }
        }
    }
}

#[test]
fn a_graceful_stop_records_its_deadline_and_is_forced_once_past_it() {
    let mut i = input(
        steady(S::Running),
        vm("Running", Some("Running"), RunStrategy::Manual),
    );
    i.request = Some(Request {
        grace_period_seconds: Some(10),
        ..request(Action::Stop)
    });
    let d = decide(&i, "ns", "vm");
    assert_eq!(
        d.work,
        Work::Call(
            Call::Stop { grace_period: None },
            Purpose::Request {
                action: Action::Stop,
                grace: 10
            }
        ),
        "a grace shorter than the VM's is the controller's deadline, not KubeVirt's"
    );
    let o = d.concluded(Answer::Done);
    assert_eq!(o.report.state, S::Stopping);
    assert_eq!(
        o.report.message.as_deref(),
        Some("ACPI shutdown sent; forced off after 10 s if still running")
    );
    let acpi = Says::Accepted {
        action: Action::Stop,
        force: false,
        grace: 10,
    };
    assert_eq!(o.report.says.as_ref(), Some(&acpi));
    assert_eq!(o.report.stop_deadline_ms, Some(NOW + 10_000));
    assert_eq!(o.wake_at_ms, Some(NOW + 10_000));
    assert_eq!(o.recheck_after_ms, 1_000);

    // Next turns: the guest ignores ACPI. Before the deadline, wait for it.
    let deadline = NOW + 10_000;
    let reported = Reported {
        state: Some(S::Stopping),
        message: Some("ACPI shutdown sent; forced off after 10 s if still running"),
        says: Some(acpi),
        last_action: Some("stop"),
        last_action_at_ms: Some(NOW),
        observed_request_id: Some("r1"),
        stop_deadline_ms: Some(deadline),
        restarted_vmi: None,
        in_flight_request_id: None,
    };
    let mut stopping = vm("Stopping", Some("Running"), RunStrategy::Halted);
    stopping.observed.vmi = Some(ObservedVmi {
        phase: "Running",
        deleting: true,
        problem: None,
    });
    let mut later = input(reported.clone(), stopping);
    later.now_ms = NOW + 4_000;
    let o = decide(&later, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Stopping);
    assert_eq!(o.report.stop_deadline_ms, Some(deadline));
    assert_eq!(o.recheck_after_ms, 2_000, "transitional: looked at again");
    assert_eq!(o.wake_at_ms, Some(deadline));

    // At the deadline: forced, once (the deadline is cleared in the same write).
    later.now_ms = deadline;
    let d = decide(&later, "ns", "vm");
    assert_eq!(
        d.work,
        Work::Call(
            Call::Stop {
                grace_period: Some(0)
            },
            Purpose::ForceAtDeadline
        )
    );
    // KubeVirt refusing the forced stop (already going) is as good as done.
    let o = d.concluded(Answer::Refused {
        code: 409,
        message: "already stopping",
    });
    assert_eq!(o.report.stop_deadline_ms, None);
    assert_eq!(o.report.message.as_deref(), Some(FORCED_MESSAGE));
    assert_eq!(o.report.says, Some(Says::ForcedOff));
    assert_eq!(o.notes[0].reason, EventReason::ForcedStop);
    assert_eq!(o.notes[0].says, Some(Says::ForcedOff));
    assert!(
        taken_up(&o).is_empty(),
        "the request was acknowledged before"
    );

    // The guest is gone: Stopped, and the forced message stays, whether status has its code or
    // was written before codes existed.
    for says in [Some(Says::ForcedOff), None] {
        let gone = Reported {
            state: Some(S::Stopping),
            message: Some(FORCED_MESSAGE),
            says,
            stop_deadline_ms: None,
            ..reported.clone()
        };
        let mut after = input(gone, vm("Stopped", None, RunStrategy::Halted));
        after.now_ms = deadline + 2_000;
        let o = decide(&after, "ns", "vm").concluded(Answer::Done);
        assert_eq!(o.report.state, S::Stopped);
        assert_eq!(o.report.message.as_deref(), Some(FORCED_MESSAGE));
        assert_eq!(o.report.says, Some(Says::ForcedOff));
    }
}

#[test]
fn a_guest_killed_by_kubevirt_at_the_deadline_reads_as_forced() {
    let deadline = NOW;
    let reported = Reported {
        state: Some(S::Stopping),
        message: Some("ACPI shutdown sent; forced off after 30 s if still running"),
        last_action_at_ms: Some(NOW - 30_000),
        stop_deadline_ms: Some(deadline),
        ..Reported::default()
    };
    let mut i = input(reported, vm("Stopped", None, RunStrategy::Halted));
    i.now_ms = deadline + 1_000;
    let o = decide(&i, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Stopped);
    assert_eq!(o.report.stop_deadline_ms, None);
    assert_eq!(o.report.message.as_deref(), Some(FORCED_MESSAGE));
    // Long before the deadline: the guest shut down by itself.
    i.now_ms = deadline - 20_000;
    let o = decide(&i, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.message.as_deref(), Some("the VM is Stopped"));
}

#[test]
fn a_deadline_due_and_a_new_request_take_two_turns_one_call_each() {
    let reported = Reported {
        state: Some(S::Stopping),
        last_action_at_ms: Some(NOW - 40_000),
        stop_deadline_ms: Some(NOW - 1),
        ..Reported::default()
    };
    let mut i = input(
        reported,
        vm("Stopping", Some("Running"), RunStrategy::Halted),
    );
    i.request = Some(request(Action::ForceStop));
    let d = decide(&i, "ns", "vm");
    assert!(matches!(d.work, Work::Call(_, Purpose::ForceAtDeadline)));
    let o = d.concluded(Answer::Done);
    assert_eq!(
        o.report.observed_request_id, None,
        "the request waits a turn"
    );
    assert_eq!(o.recheck_after_ms, 0, "and that turn comes at once");
}

#[test]
fn a_restart_holds_restarting_until_a_new_vmi_runs() {
    let mut i = input(
        steady(S::Running),
        vm("Running", Some("Running"), RunStrategy::Always),
    );
    i.request = Some(request(Action::Restart));
    let o = through_intent(&mut i).concluded(Answer::Done);
    assert_eq!(
        o.report.in_flight_request_id, None,
        "acknowledged: no longer in flight"
    );
    assert_eq!(o.report.state, S::Restarting);
    assert_eq!(o.report.restarted_vmi.as_deref(), Some("vmi-1"));

    let reported = Reported {
        state: Some(S::Restarting),
        message: Some("restarting"),
        says: Some(Says::Accepted {
            action: Action::Restart,
            force: false,
            grace: 30,
        }),
        last_action: Some("restart"),
        last_action_at_ms: Some(NOW),
        observed_request_id: Some("r1"),
        stop_deadline_ms: None,
        restarted_vmi: Some("vmi-1"),
        in_flight_request_id: None,
    };
    // The old VMI still runs: Restarting (from any process: the uid is in status).
    let mut same = input(
        reported.clone(),
        vm("Running", Some("Running"), RunStrategy::Always),
    );
    same.now_ms = NOW + 1_000;
    let o = decide(&same, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Restarting);
    assert_eq!(o.report.restarted_vmi.as_deref(), Some("vmi-1"));
    assert_eq!(o.report.says, reported.says, "still saying restarting");
    // A new VMI runs: Running, and the restart is forgotten.
    let mut new = vm("Running", Some("Running"), RunStrategy::Always);
    new.vmi_uid = Some("vmi-2");
    let mut fresh = input(reported, new);
    fresh.now_ms = NOW + 5_000;
    let o = decide(&fresh, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Running);
    assert_eq!(o.report.restarted_vmi, None);
    assert_eq!(o.report.message.as_deref(), Some("the VM is Running"));
    assert_eq!(o.report.says, Some(Says::Settled { state: S::Running }));
}

#[test]
fn a_change_no_request_explains_goes_to_the_history() {
    let i = input(steady(S::Running), vm("Stopped", None, RunStrategy::Halted));
    let o = decide(&i, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Stopped);
    assert!(
        matches!(&o.records[..], [Record::Unexplained { message, .. }] if message.starts_with("Running → Stopped"))
    );
    assert!(matches!(
        &o.records[..],
        [Record::Unexplained {
            says: Says::Unexplained {
                from: S::Running,
                to: S::Stopped
            },
            ..
        }]
    ));
    assert!(o.notes.is_empty());
    assert_eq!(o.recheck_after_ms, STEADY_RECHECK_MS);
}

#[test]
fn a_new_wukong_reports_kubevirts_state_and_auto_starts_once() {
    let mut i = input(
        Reported::default(),
        vm("Stopped", None, RunStrategy::Manual),
    );
    let o = decide(&i, "ns", "vm").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Stopped);
    assert_eq!(o.report.message.as_deref(), Some("the VM is Stopped"));

    i.auto_start = true;
    let d = decide(&i, "ns", "vm");
    assert_eq!(
        d.work,
        Work::Call(Call::Start { paused: false }, Purpose::AutoStart)
    );
    let o = d.clone().concluded(Answer::Done);
    assert_eq!(o.report.state, S::Starting);
    assert_eq!(
        o.report.message.as_deref(),
        Some("started on creation (startStrategy.autoStart)")
    );
    assert_eq!(o.report.says, Some(Says::AutoStarted));
    assert!(o.records.is_empty(), "nobody asked: no history line");
    let o = d.concluded(Answer::Refused {
        code: 500,
        message: "boom",
    });
    assert_eq!(o.notes[0].reason, EventReason::AutoStartRefused);
    assert_eq!(
        o.report.message.as_deref(),
        Some("auto-start refused by KubeVirt: boom")
    );

    // Once something was reported, never again; and Always starts by itself.
    i.reported = steady(S::Stopped);
    assert_eq!(decide(&i, "ns", "vm").work, Work::Report);
    let mut always = input(
        Reported::default(),
        vm("Stopped", None, RunStrategy::Always),
    );
    always.auto_start = true;
    assert_eq!(decide(&always, "ns", "vm").work, Work::Report);
}

#[test]
fn deletion_stops_gracefully_forces_at_the_deadline_then_deletes_the_vm() {
    let mut i = input(
        steady(S::Running),
        vm("Running", Some("Running"), RunStrategy::Manual),
    );
    i.deleting = true;
    i.grace_seconds = Some(20);
    let d = decide(&i, "ns", "vm");
    assert_eq!(
        d.work,
        Work::Call(
            Call::Stop { grace_period: None },
            Purpose::DeleteStop { grace: 20 }
        )
    );
    let o = d.concluded(Answer::Done);
    assert_eq!(o.report.state, S::Deleting);
    assert_eq!(o.report.stop_deadline_ms, Some(NOW + 20_000));
    assert_eq!(
        o.report.message.as_deref(),
        Some("deleting: shutting the guest down (forced after 20 s)")
    );
    assert_eq!(o.recheck_after_ms, WORK_RECHECK_MS);

    let reported = Reported {
        state: Some(S::Deleting),
        stop_deadline_ms: Some(NOW + 20_000),
        ..Reported::default()
    };
    let mut waiting = input(
        reported.clone(),
        vm("Stopping", Some("Running"), RunStrategy::Halted),
    );
    waiting.deleting = true;
    waiting.now_ms = NOW + 5_000;
    assert_eq!(decide(&waiting, "ns", "vm").work, Work::Report);
    waiting.now_ms = NOW + 20_000;
    let d = decide(&waiting, "ns", "vm");
    assert_eq!(
        d.work,
        Work::Call(
            Call::Stop {
                grace_period: Some(0)
            },
            Purpose::DeleteForce
        )
    );
    assert_eq!(
        d.report().message.as_deref(),
        Some("deleting: the grace period is over, forcing the guest off")
    );
    assert_eq!(d.report().says, Some(Says::DeletingForced));

    let mut off = input(reported.clone(), vm("Stopped", None, RunStrategy::Halted));
    off.deleting = true;
    let d = decide(&off, "ns", "vm");
    assert_eq!(d.work, Work::DeleteVm);
    assert_eq!(
        d.report().message.as_deref(),
        Some("deleting: the guest is off, removing the VirtualMachine")
    );
    assert_eq!(d.report().says, Some(Says::DeletingVm));

    // A request written during deletion is never carried out.
    off.request = Some(request(Action::Start));
    assert_eq!(decide(&off, "ns", "vm").work, Work::DeleteVm);

    for backing in [Backing::Nothing, Backing::NotOurs] {
        let mut gone = input(reported.clone(), vm("Stopped", None, RunStrategy::Halted));
        gone.deleting = true;
        gone.backing = backing;
        assert_eq!(decide(&gone, "ns", "vm").work, Work::Release, "{backing:?}");
    }
}

#[test]
fn no_vm_is_created_and_someone_elses_vm_is_reported_never_touched() {
    let mut i = input(
        Reported::default(),
        vm("Running", Some("Running"), RunStrategy::Always),
    );
    i.backing = Backing::Nothing;
    assert_eq!(decide(&i, "ns", "vm").work, Work::CreateVm);

    i.backing = Backing::NotOurs;
    let o = decide(&i, "team-a", "web-01").concluded(Answer::Done);
    assert_eq!(o.report.state, S::Unknown);
    assert!(!o.report_vm);
    let message = "VirtualMachine team-a/web-01 exists and is not managed by this Wukong";
    assert_eq!(o.report.message.as_deref(), Some(message));
    let not_owned = Says::NotOwned {
        namespace: "team-a".to_owned(),
        name: "web-01".to_owned(),
    };
    assert_eq!(o.report.says.as_ref(), Some(&not_owned));
    assert_eq!(o.notes.len(), 1, "reported once when found");
    assert_eq!(o.notes[0].action, "create");
    assert_eq!(o.notes[0].says.as_ref(), Some(&not_owned));

    // Found before: no new Event on a resync; a request is refused and acknowledged.
    i.reported = Reported {
        state: Some(S::Unknown),
        message: Some(message),
        ..Reported::default()
    };
    assert!(decide(&i, "team-a", "web-01")
        .concluded(Answer::Done)
        .notes
        .is_empty());
    i.request = Some(request(Action::Stop));
    let d = decide(&i, "team-a", "web-01");
    assert_eq!(d.work, Work::Report, "never called on someone else's VM");
    let o = d.concluded(Answer::Done);
    assert_eq!(o.report.observed_request_id.as_deref(), Some("r1"));
    assert_eq!(taken_up(&o), vec![RequestOutcome::Refused]);
    assert_eq!(o.notes[0].reason, EventReason::VirtualMachineNotOwned);
    let refused = Says::NotOwnedRefused {
        action: Action::Stop,
        namespace: "team-a".to_owned(),
        name: "web-01".to_owned(),
    };
    assert_eq!(o.notes[0].says.as_ref(), Some(&refused));
    assert_eq!(
        o.notes[0].message.as_deref(),
        Some("stop refused: VirtualMachine team-a/web-01 exists and is not managed by this Wukong")
    );
    assert!(matches!(&o.records[..], [Record::TakenUp { says: Some(s), .. }] if *s == refused));
    assert_eq!(o.report.says, Some(not_owned), "status says whose VM it is");
}

#[test]
fn a_request_already_pending_at_kubevirt_is_refused() {
    let mut running = vm("Running", Some("Running"), RunStrategy::Manual);
    running.pending = true;
    let mut i = input(steady(S::Running), running);
    i.request = Some(request(Action::Restart));
    let d = decide(&i, "ns", "vm");
    assert_eq!(d.work, Work::Report);
    let o = d.concluded(Answer::Done);
    assert_eq!(taken_up(&o), vec![RequestOutcome::Refused]);
    assert_eq!(
        o.report.says,
        Some(Says::Refused {
            action: Action::Restart,
            refusal: Refusal::RequestPending
        })
    );
}

#[test]
fn outcomes_and_reasons_have_one_name_each() {
    for outcome in RequestOutcome::ALL {
        assert_eq!(RequestOutcome::parse(outcome.as_str()), Some(outcome));
        assert_eq!(EventReason::Request(outcome).as_str(), outcome.as_str());
    }
    assert!(!EventReason::ForcedStop.is_warning());
    assert!(EventReason::Request(RequestOutcome::KubeVirtRefused).is_warning());
}

/// The window a crash could open: a leader sends the restart, KubeVirt takes it, and the leader
/// dies before its status write. The intent it wrote first tells the next leader to look.
#[test]
fn a_restart_is_never_sent_twice_across_a_crash_between_call_and_acknowledgement() {
    let intent = Reported {
        state: Some(S::Running),
        in_flight_request_id: Some("r1"),
        restarted_vmi: Some("vmi-1"),
        ..Reported::default()
    };
    let turn = |vm: Vm<'static>| {
        let mut i = input(intent.clone(), vm);
        i.request = Some(request(Action::Restart));
        decide(&i, "ns", "vm")
    };
    let restart = Purpose::Request {
        action: Action::Restart,
        grace: 30,
    };
    // KubeVirt shows the restart underway (its stop/start requests pending): acknowledged as
    // accepted, not called again.
    let mut underway = vm("Running", Some("Running"), RunStrategy::Always);
    underway.pending = true;
    let d = turn(underway);
    assert_eq!(d.work, Work::AlreadyDone(restart));
    let o = d.concluded(Answer::Done);
    assert_eq!(taken_up(&o), vec![RequestOutcome::Accepted]);
    assert_eq!(o.report.observed_request_id.as_deref(), Some("r1"));
    assert_eq!(o.report.state, S::Restarting);
    assert_eq!(
        o.report.restarted_vmi.as_deref(),
        Some("vmi-1"),
        "the old VMI, not the new"
    );
    assert_eq!(o.report.in_flight_request_id, None);

    // A new VMI already runs, or none is there between the two: the restart happened.
    let mut new_vmi = vm("Running", Some("Running"), RunStrategy::Always);
    new_vmi.vmi_uid = Some("vmi-2");
    assert_eq!(turn(new_vmi).work, Work::AlreadyDone(restart));
    assert_eq!(
        turn(vm("Starting", None, RunStrategy::Always)).work,
        Work::AlreadyDone(restart)
    );

    // Nothing shows it (the crash came before the call reached KubeVirt): called now, once.
    let d = turn(vm("Running", Some("Running"), RunStrategy::Always));
    assert!(
        matches!(d.work, Work::Call(Call::Restart { .. }, _)),
        "{:?}",
        d.work
    );

    // KubeVirt refuses it: refused, and the intent is dropped.
    let o = d.concluded(Answer::Refused {
        code: 409,
        message: "Halted does not support manual restart requests",
    });
    assert_eq!(taken_up(&o), vec![RequestOutcome::KubeVirtRefused]);
    assert_eq!(o.report.in_flight_request_id, None);
    assert_eq!(o.report.restarted_vmi, None);
}

#[test]
fn only_a_restart_writes_an_intent_first() {
    for action in ACTIONS {
        let mut i = input(
            steady(S::Running),
            vm("Running", Some("Running"), RunStrategy::Manual),
        );
        i.request = Some(request(action));
        let d = decide(&i, "ns", "vm");
        assert_eq!(
            d.report().in_flight_request_id.is_some(),
            action == Action::Restart,
            "{action:?}"
        );
    }
}

/// The same window for the calls that need no intent: a leader's call is taken and it dies before
/// its status write. The next leader finds the VM on the request's way, not where the last report
/// left it: the request is acknowledged once, as accepted, KubeVirt is not called again, and the
/// history gets no "change no request explains".
#[test]
fn a_call_taken_before_a_crash_is_acknowledged_as_accepted_not_refused() {
    let cases = [
        (Action::Stop, S::Running, S::Stopping, RunStrategy::Halted),
        (Action::Stop, S::Running, S::Stopped, RunStrategy::Manual),
        (
            Action::ForceStop,
            S::Running,
            S::Stopped,
            RunStrategy::Halted,
        ),
        (
            Action::ForceStop,
            S::Suspended,
            S::Stopping,
            RunStrategy::Manual,
        ),
        (Action::Start, S::Stopped, S::Starting, RunStrategy::Always),
        (Action::Start, S::Stopped, S::Running, RunStrategy::Manual),
        (
            Action::Suspend,
            S::Running,
            S::Suspended,
            RunStrategy::Manual,
        ),
        (
            Action::Resume,
            S::Suspended,
            S::Running,
            RunStrategy::Always,
        ),
    ];
    for (action, before, now, rs) in cases {
        let what = format!("{action:?} {before} → {now} {rs:?}");
        let (printable, phase) = kubevirt_showing(now).unwrap();
        let mut i = input(steady(before), vm(printable, phase, rs));
        i.request = Some(request(action));
        let d = decide(&i, "ns", "vm");
        assert!(
            matches!(d.work, Work::AlreadyDone(_)),
            "{what}: {:?}",
            d.work
        );
        let o = d.concluded(Answer::Done);
        assert_eq!(taken_up(&o), vec![RequestOutcome::Accepted], "{what}");
        assert_eq!(o.records.len(), 1, "{what}: {:?}", o.records);
        assert_eq!(o.report.observed_request_id.as_deref(), Some("r1"));
        assert_eq!(o.report.last_action.as_deref(), Some(action.as_str()));
    }

    // KubeVirt has not moved yet, but the change request the call left is pending.
    for (action, before, asked, rs) in [
        (Action::Stop, S::Running, Action::Stop, RunStrategy::Manual),
        (
            Action::ForceStop,
            S::Running,
            Action::Stop,
            RunStrategy::Manual,
        ),
        (
            Action::Start,
            S::Stopped,
            Action::Start,
            RunStrategy::Manual,
        ),
    ] {
        let (printable, phase) = kubevirt_showing(before).unwrap();
        let mut v = vm(printable, phase, rs);
        v.pending = true;
        v.pending_action = Some(asked);
        let mut i = input(steady(before), v);
        i.request = Some(request(action));
        let o = decide(&i, "ns", "vm").concluded(Answer::Done);
        assert_eq!(taken_up(&o), vec![RequestOutcome::Accepted], "{action:?}");
    }
    // Someone else's restart pending: a stop is refused, as the rules say.
    let mut v = vm("Running", Some("Running"), RunStrategy::Manual);
    v.pending = true;
    v.pending_action = Some(Action::Restart);
    let mut i = input(steady(S::Running), v);
    i.request = Some(request(Action::Stop));
    let o = decide(&i, "ns", "vm").concluded(Answer::Done);
    assert_eq!(taken_up(&o), vec![RequestOutcome::Refused]);
    assert_eq!(pending_action(["Stop", "Start"]), Some(Action::Restart));
    assert_eq!(pending_action(["Start", "Stop"]), None);
    assert_eq!(pending_action([]), None);

    // No movement, or a movement the request could not have caused: refused as the rules say.
    let refused = [
        // Stopped before the stop was asked for.
        (Action::Stop, S::Stopped, S::Stopped, RunStrategy::Halted),
        // The guest powered off while a suspend was on its way: not the suspend's doing.
        (Action::Suspend, S::Running, S::Stopped, RunStrategy::Manual),
        // A graceful stop already on its way that ended by itself is not a force stop.
        (
            Action::ForceStop,
            S::Stopping,
            S::Stopped,
            RunStrategy::Halted,
        ),
    ];
    for (action, before, now, rs) in refused {
        let what = format!("{action:?} {before} → {now} {rs:?}");
        let (printable, phase) = kubevirt_showing(now).unwrap();
        let mut i = input(steady(before), vm(printable, phase, rs));
        i.request = Some(request(action));
        let o = decide(&i, "ns", "vm").concluded(Answer::Done);
        assert_eq!(taken_up(&o), vec![RequestOutcome::Refused], "{what}");
    }
}
