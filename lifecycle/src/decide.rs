//! The whole decision about one Wukong, pure: the lifecycle controller and the sandbox both call
//! it and only carry out its answers.
//!
//! A turn has two halves:
//! 1. [`decide`]: from what KubeVirt shows ([`Backing`]), the pending request, what was reported
//!    before ([`Reported`], i.e. `status.lifecycleState`) and the time, the one thing to do on
//!    KubeVirt this turn ([`Decision::work`]) and the state reported if it goes as planned.
//! 2. [`Decision::conclude`]: from KubeVirt's answer ([`Answer`]), the `lifecycleState` to write
//!    ([`Report`]), the request's record for the history ([`Record`]), the Event ([`Note`] with an
//!    [`EventReason`]) and when to look again.
//!
//! Everything a later turn needs is in the [`Report`], which the caller writes to status: the
//! graceful stop's deadline, the VMI a restart was sent for, the request id acknowledged. Nothing
//! lives in a process's memory, so whichever controller leads next decides the same.
//! Times are milliseconds since the Unix epoch (wall clock), as written in status.

use crate::kubevirt::{call_for, next_says, settle, unexplained_change, Call, Observed, Said};
use crate::{check, effective_grace_period, plan, Action, RunStrategy, Says, Situation, VmState};

/// How long a steady VM goes without a fresh look (a resync; every change wakes it anyway).
pub const STEADY_RECHECK_MS: u64 = 300_000;
/// How soon a VM in a transitional state is looked at again.
pub const TRANSITIONAL_RECHECK_MS: u64 = 2_000;
/// How soon a VM being created or deleted is looked at again.
pub const WORK_RECHECK_MS: u64 = 1_000;
/// A guest gone within this window around a graceful stop's deadline was killed by KubeVirt at
/// the VM's grace period (the same moment as our deadline when the request's grace is the VM's).
const KILLED_AT_DEADLINE_EARLY_MS: i64 = 500;
const KILLED_AT_DEADLINE_LATE_MS: i64 = 5_000;

/// What stands under the Wukong's name in KubeVirt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing<'a> {
    /// No VirtualMachine (yet, or any more).
    Nothing,
    /// A VirtualMachine this Wukong does not control: never started, stopped or deleted.
    NotOurs,
    /// The Wukong's own VirtualMachine.
    Ours(Vm<'a>),
}

/// The Wukong's VirtualMachine as KubeVirt shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vm<'a> {
    pub observed: Observed<'a>,
    /// `vm.RunStrategy()`: spec.runStrategy, else spec.running.
    pub run_strategy: RunStrategy,
    /// `status.stateChangeRequests` is not empty.
    pub pending: bool,
    /// What those requests ask for, when it is one action ([`pending_action`]).
    pub pending_action: Option<Action>,
    /// The uid of the VMI (KubeVirt's `VirtualMachineInstance`), when there is one.
    pub vmi_uid: Option<&'a str>,
    /// The VM's own `terminationGracePeriodSeconds` (KubeVirt's 30 when unset).
    pub grace_seconds: i64,
}

impl Vm<'_> {
    /// A guest is up, or on its way down: something to stop.
    pub fn guest_up(&self) -> bool {
        self.observed
            .vmi
            .is_some_and(|vmi| !matches!(vmi.phase, "Succeeded" | "Failed"))
    }
}

/// What the controller reported last (`status.lifecycleState`), as a decision reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported<'a> {
    /// `None` when nothing was reported yet (a new Wukong) or the state is not one this build knows.
    pub state: Option<VmState>,
    pub message: Option<&'a str>,
    /// What `message` says as a code ([`Says::from_parts`] of the status's code and params);
    /// `None` for a status written before codes existed, or with a code this build does not know.
    pub says: Option<Says>,
    pub last_action: Option<&'a str>,
    pub last_action_at_ms: Option<i64>,
    pub observed_request_id: Option<&'a str>,
    pub stop_deadline_ms: Option<i64>,
    pub restarted_vmi: Option<&'a str>,
    /// A request whose KubeVirt call a leader was about to make (see [`Work::AlreadyDone`]).
    pub in_flight_request_id: Option<&'a str>,
}

/// A request written to `spec.lifecycleAction` and not acknowledged yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub id: &'a str,
    pub action: Action,
    pub force: bool,
    pub grace_period_seconds: Option<i64>,
}

/// Everything one turn decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input<'a> {
    pub now_ms: i64,
    /// The Wukong has a deletionTimestamp.
    pub deleting: bool,
    /// `spec.startStrategy.autoStart`.
    pub auto_start: bool,
    /// `spec.terminationGracePeriodSeconds`, which wins over the VM's.
    pub grace_seconds: Option<i64>,
    pub reported: Reported<'a>,
    pub request: Option<Request<'a>>,
    pub backing: Backing<'a>,
}

/// The `lifecycleState` to report: `status.lifecycleState`'s fields in plain types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub state: VmState,
    pub last_action: Option<String>,
    pub last_action_at_ms: Option<i64>,
    /// The English words; what the status's `message` has.
    pub message: Option<String>,
    /// What `message` says as a code with parameters, so a console can word it in the person's
    /// language; `None` while the message is one carried over from a status without a code.
    pub says: Option<Says>,
    pub observed_request_id: Option<String>,
    pub stop_deadline_ms: Option<i64>,
    /// The uid of the VMI a restart was sent for: a new VMI tells that it has happened.
    pub restarted_vmi: Option<String>,
    /// The request whose non-repeatable KubeVirt call (a restart) is about to be made: written
    /// before the call, so a leader that crashes between KubeVirt's answer and the acknowledgement
    /// leaves a trace, and the next one looks at KubeVirt before calling again.
    pub in_flight_request_id: Option<String>,
}

impl Report {
    fn from_reported(r: &Reported<'_>) -> Report {
        Report {
            state: r.state.unwrap_or(VmState::Unknown),
            last_action: r.last_action.map(str::to_owned),
            last_action_at_ms: r.last_action_at_ms,
            message: r.message.map(str::to_owned),
            says: r.says.clone(),
            observed_request_id: r.observed_request_id.map(str::to_owned),
            stop_deadline_ms: r.stop_deadline_ms,
            restarted_vmi: r.restarted_vmi.map(str::to_owned),
            in_flight_request_id: r.in_flight_request_id.map(str::to_owned),
        }
    }

    /// Says `says`: the code and its English words together, so the two never disagree.
    pub fn say(&mut self, says: Says) {
        self.message = Some(says.to_string());
        self.says = Some(says);
    }

    /// The history line for the pending request, taken up with `outcome`: it says what status says.
    fn taken_up(&self, outcome: RequestOutcome) -> Record {
        Record::TakenUp {
            outcome,
            message: self.message.clone(),
            says: self.says.clone(),
        }
    }
}

/// How a request was taken up: the history's outcome and the Event's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    Accepted,
    /// Refused by the lifecycle rules (or because the VM is not the Wukong's).
    Refused,
    /// KubeVirt answered the call with an error.
    KubeVirtRefused,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 3] = [
        RequestOutcome::Accepted,
        RequestOutcome::Refused,
        RequestOutcome::KubeVirtRefused,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Accepted => "Accepted",
            RequestOutcome::Refused => "Refused",
            RequestOutcome::KubeVirtRefused => "KubeVirtRefused",
        }
    }

    pub fn parse(s: &str) -> Option<RequestOutcome> {
        RequestOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The metrics label.
    pub const fn label(self) -> &'static str {
        match self {
            RequestOutcome::Accepted => "accepted",
            RequestOutcome::Refused => "refused",
            RequestOutcome::KubeVirtRefused => "kubevirt_refused",
        }
    }
}

/// The reason of an Event the controller records on a Wukong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventReason {
    /// A request's outcome.
    Request(RequestOutcome),
    /// A graceful stop was forced at its deadline.
    ForcedStop,
    /// KubeVirt refused the start on creation (`startStrategy.autoStart`).
    AutoStartRefused,
    /// A VirtualMachine of the Wukong's name is someone else's.
    VirtualMachineNotOwned,
}

impl EventReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventReason::Request(outcome) => outcome.as_str(),
            EventReason::ForcedStop => "ForcedStop",
            EventReason::AutoStartRefused => "AutoStartRefused",
            EventReason::VirtualMachineNotOwned => "VirtualMachineNotOwned",
        }
    }

    /// Warning, or Normal.
    pub const fn is_warning(self) -> bool {
        !matches!(
            self,
            EventReason::Request(RequestOutcome::Accepted) | EventReason::ForcedStop
        )
    }
}

/// An Event to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub reason: EventReason,
    /// The action's name (`stop`, `force-stop`, ...), or `create` for what was found on its own.
    pub action: &'static str,
    pub message: Option<String>,
    /// What `message` says as a code; `None` only when it is a message carried over from a status
    /// without a code (or there is none).
    pub says: Option<Says>,
}

impl Note {
    fn saying(reason: EventReason, action: &'static str, says: Says) -> Note {
        Note {
            reason,
            action,
            message: Some(says.to_string()),
            says: Some(says),
        }
    }

    /// Whether the Event is about a person's request, so its note names who asked (a stop forced
    /// at its deadline, a refused auto-start or a VM found to be someone else's were asked by nobody).
    pub fn names_requester(&self) -> bool {
        match self.reason {
            EventReason::Request(_) => true,
            EventReason::VirtualMachineNotOwned => self.action != "create",
            EventReason::ForcedStop | EventReason::AutoStartRefused => false,
        }
    }
}

/// A line for the history (`status.recentRequests`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The pending request was taken up.
    TakenUp {
        outcome: RequestOutcome,
        message: Option<String>,
        /// What `message` says as a code (as for [`Report::says`]).
        says: Option<Says>,
    },
    /// KubeVirt's state changed with no request to explain it.
    Unexplained {
        /// `says` in English.
        message: String,
        /// Always [`Says::Unexplained`].
        says: Says,
    },
}

/// Why a KubeVirt call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The pending request, accepted by the rules.
    Request {
        action: Action,
        grace: u32,
    },
    /// A graceful stop's deadline has passed and the guest is still up.
    ForceAtDeadline,
    /// `startStrategy.autoStart` on a new Manual/Halted VM.
    AutoStart,
    /// Deletion: the guest is shut down first (`grace` s), then forced.
    DeleteStop {
        grace: u32,
    },
    DeleteForce,
}

/// What to do on KubeVirt this turn (at most one thing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Nothing to call: write the report.
    Report,
    /// Call KubeVirt, then [`Decision::conclude`] with its answer.
    Call(Call, Purpose),
    /// No VirtualMachine: create the Wukong's, then look again (nothing is reported).
    CreateVm,
    /// Deleting and the guest is off: delete the VM (uid precondition), write the report.
    DeleteVm,
    /// Deleting and nothing of the Wukong's is left (no VM, or someone else's): drop the finalizer.
    Release,
    /// The pending request's call was made by a leader that crashed before acknowledging it, and
    /// KubeVirt shows that it took it (a restart: its stop/start requests are pending, or the VMI
    /// it was sent for is gone): acknowledge it as accepted, call nothing (a second restart would
    /// reboot the guest twice).
    AlreadyDone(Purpose),
}

/// KubeVirt's answer to the call (an unanswered call is an error for the caller to retry: no
/// answer means nothing is acknowledged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// No call was made, or it was accepted (2xx).
    Done,
    /// KubeVirt answered with an error status.
    Refused { code: u16, message: &'a str },
}

/// One turn's plan: what to do, and what to report if it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub work: Work,
    report: Report,
    records: Vec<Record>,
    notes: Vec<Note>,
    now_ms: i64,
    /// The pending request, if this turn takes it up.
    taking_up: Option<(Action, bool)>,
    vmi_uid: Option<String>,
    run_strategy: RunStrategy,
    /// Whether the VM's own facts (run strategy, node) may be reported: not for someone else's VM.
    pub report_vm: bool,
    /// When to look again at the latest, whatever happens (a deadline).
    wake_at_ms: Option<i64>,
}

/// What one turn comes to: written by the caller in one status write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub report: Report,
    /// History lines, oldest first.
    pub records: Vec<Record>,
    pub notes: Vec<Note>,
    /// When to look again at the latest (a deadline), as a wall-clock time; `None` = on the next change.
    pub wake_at_ms: Option<i64>,
    /// When to look again at the latest for a controller that also resyncs, from `now`.
    pub recheck_after_ms: u64,
    /// Whether the VM's own facts may be reported (not for someone else's VM).
    pub report_vm: bool,
}

/// The message of a Wukong whose name a VirtualMachine of someone else's holds
/// ([`Says::NotOwned`] in English).
pub fn not_owned_message(namespace: &str, name: &str) -> String {
    not_owned(namespace, name).to_string()
}

fn not_owned(namespace: &str, name: &str) -> Says {
    Says::NotOwned {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The grace period KubeVirt gives this VM: the Wukong's, else the VM's.
fn vm_grace(input: &Input<'_>, vm: &Vm<'_>) -> i64 {
    input.grace_seconds.unwrap_or(vm.grace_seconds)
}

fn secs_ms(secs: u32) -> i64 {
    i64::from(secs) * 1000
}

/// The first half of a turn: what to do, and what to report if it goes as planned.
/// `namespace`/`name` only word the message about someone else's VM.
pub fn decide(input: &Input<'_>, namespace: &str, name: &str) -> Decision {
    let mut d = Decision {
        work: Work::Report,
        report: Report::from_reported(&input.reported),
        records: Vec::new(),
        notes: Vec::new(),
        now_ms: input.now_ms,
        taking_up: None,
        vmi_uid: None,
        run_strategy: RunStrategy::Manual,
        report_vm: true,
        wake_at_ms: None,
    };
    let vm = match input.backing {
        Backing::Ours(vm) => vm,
        Backing::Nothing | Backing::NotOurs if input.deleting => {
            d.work = Work::Release;
            return d;
        }
        Backing::Nothing => {
            d.work = Work::CreateVm;
            return d;
        }
        Backing::NotOurs => return not_ours(d, input, namespace, name),
    };
    d.vmi_uid = vm.vmi_uid.map(str::to_owned);
    d.run_strategy = vm.run_strategy;
    if input.deleting {
        return deleting(d, input, &vm);
    }

    // What KubeVirt shows, held in a transitional state until KubeVirt has moved.
    let shown = input.reported.state.unwrap_or(VmState::Unknown);
    let observed = vm.observed.state();
    let since_ms = input
        .reported
        .last_action_at_ms
        .map_or(u64::MAX, |at| u64::try_from(input.now_ms - at).unwrap_or(0));
    let same_vmi = input
        .reported
        .restarted_vmi
        .map(|uid| vm.vmi_uid == Some(uid));
    let settled = settle(shown, observed, since_ms, same_vmi);
    let said = Said {
        says: input.reported.says.as_ref(),
        message: input.reported.message,
    };
    if let Some(says) = next_says(said, shown, settled, vm.observed.problem().as_ref()) {
        d.report.say(says);
    }
    let intent_pending = input.reported.in_flight_request_id.is_some()
        && input.reported.in_flight_request_id == input.request.map(|r| r.id);
    if !matches!(settled, VmState::Restarting | VmState::Starting) && !intent_pending {
        d.report.restarted_vmi = None;
    }
    let carried_out = input
        .request
        .is_some_and(|r| carried_out(r.action, shown, settled, &vm));
    if let Some(says) = unexplained_change(shown, settled).filter(|_| !carried_out) {
        d.records.push(Record::Unexplained {
            message: says.to_string(),
            says,
        });
    }
    d.report.state = settled;

    // A graceful stop past its deadline is forced, whoever leads now: the deadline is in status.
    if let Some(deadline) = input.reported.stop_deadline_ms {
        if !vm.guest_up() {
            d.report.stop_deadline_ms = None;
            let window =
                deadline - KILLED_AT_DEADLINE_EARLY_MS..=deadline + KILLED_AT_DEADLINE_LATE_MS;
            if window.contains(&input.now_ms) {
                d.report.say(Says::ForcedOff);
            }
        } else if input.now_ms >= deadline {
            d.report.stop_deadline_ms = None;
            d.report.say(Says::ForcedOff);
            d.notes.push(Note::saying(
                EventReason::ForcedStop,
                Action::ForceStop.as_str(),
                Says::ForcedOff,
            ));
            d.work = Work::Call(
                Call::Stop {
                    grace_period: Some(0),
                },
                Purpose::ForceAtDeadline,
            );
            // The request, if any, is taken up on the next turn (one call per turn).
            d.wake_at_ms = Some(input.now_ms);
            return d;
        } else {
            d.wake_at_ms = Some(deadline);
        }
    }

    // startStrategy.autoStart: one start for a new Manual/Halted VM (Always and RerunOnFailure
    // start by themselves). New = nothing reported yet, so it happens once.
    if input.reported.state.is_none()
        && input.auto_start
        && matches!(vm.run_strategy, RunStrategy::Manual | RunStrategy::Halted)
        && !vm.guest_up()
    {
        d.work = Work::Call(Call::Start { paused: false }, Purpose::AutoStart);
        if input.request.is_some() {
            d.wake_at_ms = Some(input.now_ms);
        }
        return d;
    }

    let Some(request) = input.request else {
        d.report.in_flight_request_id = None;
        return d;
    };
    let action = request.action;
    let vm_grace = vm_grace(input, &vm);
    let grace = effective_grace_period(request.force, request.grace_period_seconds, Some(vm_grace));
    let intended = input.reported.in_flight_request_id == Some(request.id);
    d.taking_up = Some((action, request.force));
    if intended {
        // The VMI the restart was sent for, as recorded with the intent.
        d.vmi_uid = input.reported.restarted_vmi.map(str::to_owned);
        if vm.pending || vm.vmi_uid != input.reported.restarted_vmi {
            d.report.observed_request_id = Some(request.id.to_owned());
            d.work = Work::AlreadyDone(Purpose::Request { action, grace });
            return d;
        }
    }
    d.report.observed_request_id = Some(request.id.to_owned());
    if carried_out {
        // No VMI to remember: the one the call replaced is gone or unknown.
        d.vmi_uid = None;
        d.work = Work::AlreadyDone(Purpose::Request { action, grace });
        return d;
    }
    let situation = Situation {
        state: settled,
        run_strategy: vm.run_strategy,
        pending: vm.pending,
        vmi: vm.observed.vmi(),
    };
    if let Err(refusal) = check(action, &situation) {
        let says = Says::Refused { action, refusal };
        d.report.say(says.clone());
        d.report.in_flight_request_id = None;
        if intended {
            d.report.restarted_vmi = None;
        }
        d.records.push(d.report.taken_up(RequestOutcome::Refused));
        d.notes.push(Note::saying(
            EventReason::Request(RequestOutcome::Refused),
            action.as_str(),
            says,
        ));
        return d;
    }
    if action == Action::Restart && !intended {
        // Not repeatable (a second restart reboots the guest again): say so in status first, and
        // call on the next turn, which comes at once. The request is not acknowledged yet.
        d.taking_up = None;
        d.report.observed_request_id = input.reported.observed_request_id.map(str::to_owned);
        d.report.in_flight_request_id = Some(request.id.to_owned());
        d.report.restarted_vmi = vm.vmi_uid.map(str::to_owned);
        d.wake_at_ms = Some(input.now_ms);
        return d;
    }
    match call_for(action, request.force, grace, vm_grace) {
        Some(call) => d.work = Work::Call(call, Purpose::Request { action, grace }),
        // Delete is not a lifecycleAction the console writes; nothing to call.
        None => d.records.push(d.report.taken_up(RequestOutcome::Accepted)),
    }
    d
}

/// Whether KubeVirt has carried out `action` already, with nothing reported about it: since the
/// last report the VM has moved from `shown`, a state the rules allowed the action in (under a run
/// strategy the action turns into the one KubeVirt runs now), to the state the action passes
/// through or ends in. That is the trace a leader leaves when it crashes between KubeVirt's answer
/// and its status write (or someone asked KubeVirt for the same at that moment): the request is
/// acknowledged as accepted instead of refused as "already Stopping", and KubeVirt is not called
/// again. A restart ends where it began, so it leaves no such trace: it writes an intent first.
///
/// The same holds before KubeVirt has moved, while the change request the call left is still
/// pending (`[Stop]` for a stop or force stop, `[Start]` for a start): refusing the request as
/// "an earlier request is still being carried out" would refuse it for its own call.
fn carried_out(action: Action, shown: VmState, settled: VmState, vm: &Vm<'_>) -> bool {
    let run_strategy = vm.run_strategy;
    let to = plan(action, run_strategy);
    let off_its_way = shown != to.passes_through && Some(shown) != to.ends_in;
    let moved_its_way =
        shown != settled && (settled == to.passes_through || Some(settled) == to.ends_in);
    let left_pending = vm.pending
        && shown == settled
        && vm.pending_action
            == Some(match action {
                Action::ForceStop => Action::Stop,
                other => other,
            });
    off_its_way
        && (moved_its_way || left_pending)
        && action != Action::Restart
        && RunStrategy::ALL.into_iter().any(|before| {
            plan(action, before).run_strategy_after == run_strategy
                && check(action, &Situation::new(shown, before, false)).is_ok()
        })
}

/// What KubeVirt's `status.stateChangeRequests` (their `action`s, in order) ask for: `[Stop]` a
/// stop, `[Start]` a start, `[Stop, Start]` a restart; `None` for none or any other mix.
pub fn pending_action<'a>(actions: impl IntoIterator<Item = &'a str>) -> Option<Action> {
    let mut actions = actions.into_iter();
    match (actions.next(), actions.next(), actions.next()) {
        (Some("Stop"), None, _) => Some(Action::Stop),
        (Some("Start"), None, _) => Some(Action::Start),
        (Some("Stop"), Some("Start"), None) => Some(Action::Restart),
        _ => None,
    }
}

fn not_ours(mut d: Decision, input: &Input<'_>, namespace: &str, name: &str) -> Decision {
    let says = not_owned(namespace, name);
    let message = says.to_string();
    // By the words, so that a status written before codes is not found again.
    let changed = input.reported.state != Some(VmState::Unknown)
        || input.reported.message != Some(message.as_str());
    d.report_vm = false;
    d.report.state = VmState::Unknown;
    d.report.say(says.clone());
    d.report.stop_deadline_ms = None;
    d.report.restarted_vmi = None;
    if let Some(request) = input.request {
        let action = request.action;
        let refused = Says::NotOwnedRefused {
            action,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        d.report.observed_request_id = Some(request.id.to_owned());
        d.records.push(Record::TakenUp {
            outcome: RequestOutcome::Refused,
            message: Some(refused.to_string()),
            says: Some(refused.clone()),
        });
        d.notes.push(Note::saying(
            EventReason::VirtualMachineNotOwned,
            action.as_str(),
            refused,
        ));
    } else if changed {
        // Once when it is found, not on every resync.
        d.notes.push(Note::saying(
            EventReason::VirtualMachineNotOwned,
            "create",
            says,
        ));
    }
    d
}

/// Deletion: stop the guest gracefully, force it at the VM's grace deadline, then delete the VM.
fn deleting(mut d: Decision, input: &Input<'_>, vm: &Vm<'_>) -> Decision {
    d.report.state = VmState::Deleting;
    if !vm.guest_up() {
        d.report.say(Says::DeletingVm);
        d.report.stop_deadline_ms = None;
        d.work = Work::DeleteVm;
        return d;
    }
    match input.reported.stop_deadline_ms {
        None => {
            let grace = u32::try_from(vm_grace(input, vm).max(0)).unwrap_or(u32::MAX);
            d.report.stop_deadline_ms = Some(input.now_ms + secs_ms(grace));
            d.report.say(Says::Deleting { grace });
            d.work = Work::Call(
                Call::Stop { grace_period: None },
                Purpose::DeleteStop { grace },
            );
            d.wake_at_ms = d.report.stop_deadline_ms;
        }
        Some(deadline) if input.now_ms >= deadline => {
            d.report.say(Says::DeletingForced);
            d.work = Work::Call(
                Call::Stop {
                    grace_period: Some(0),
                },
                Purpose::DeleteForce,
            );
        }
        Some(deadline) => d.wake_at_ms = Some(deadline),
    }
    d
}

impl Decision {
    /// The second half of a turn: what to report now that KubeVirt answered `answer` (`Done` when
    /// there was no call).
    pub fn conclude(mut self, answer: Answer<'_>) -> Outcome {
        let answer = match self.work {
            Work::AlreadyDone(_) => Answer::Done,
            _ => answer,
        };
        match (self.work, answer) {
            (
                Work::Call(_, Purpose::Request { action, grace })
                | Work::AlreadyDone(Purpose::Request { action, grace }),
                Answer::Done,
            ) => {
                let force = self.taking_up.is_some_and(|(_, force)| force);
                let now = self.now_ms;
                let r = &mut self.report;
                r.state = plan(action, self.run_strategy).passes_through;
                r.last_action = Some(action.as_str().to_owned());
                r.last_action_at_ms = Some(now);
                r.say(Says::Accepted {
                    action,
                    force,
                    grace,
                });
                r.stop_deadline_ms =
                    (action == Action::Stop && grace > 0).then(|| now + secs_ms(grace));
                // The VMI a restart replaces, or the ended one a start replaces: until another
                // VMI is there, what KubeVirt shows is about the old one (see `settle`).
                r.restarted_vmi = if matches!(action, Action::Restart | Action::Start) {
                    self.vmi_uid.clone()
                } else {
                    None
                };
                if let Some(deadline) = r.stop_deadline_ms {
                    self.wake_at_ms = Some(deadline);
                }
                r.in_flight_request_id = None;
                self.taken_up(RequestOutcome::Accepted, action);
            }
            (Work::Call(_, Purpose::Request { action, .. }), Answer::Refused { code, message }) => {
                self.report
                    .say(Says::kubevirt_refused(action, code, message));
                self.report.in_flight_request_id = None;
                self.report.restarted_vmi = None;
                self.taken_up(RequestOutcome::KubeVirtRefused, action);
            }
            (Work::Call(_, Purpose::AutoStart), Answer::Done) => {
                let r = &mut self.report;
                r.state = VmState::Starting;
                r.last_action = Some(Action::Start.as_str().to_owned());
                r.last_action_at_ms = Some(self.now_ms);
                r.say(Says::AutoStarted);
            }
            (Work::Call(_, Purpose::AutoStart), Answer::Refused { message, .. }) => {
                let says = Says::AutoStartRefused {
                    detail: message.to_owned(),
                };
                self.report.say(says.clone());
                self.notes.push(Note::saying(
                    EventReason::AutoStartRefused,
                    Action::Start.as_str(),
                    says,
                ));
            }
            // A forced or deleting stop that KubeVirt refuses finds the guest already stopping or
            // gone: as good as done.
            _ => {}
        }
        let recheck = if self.work != Work::Report {
            WORK_RECHECK_MS
        } else if self.report.state.is_transitional() {
            TRANSITIONAL_RECHECK_MS
        } else {
            STEADY_RECHECK_MS
        };
        let until_wake = self
            .wake_at_ms
            .map(|at| u64::try_from(at - self.now_ms).unwrap_or(0));
        Outcome {
            recheck_after_ms: until_wake.map_or(recheck, |w| w.min(recheck)),
            report: self.report,
            records: self.records,
            notes: self.notes,
            wake_at_ms: self.wake_at_ms,
            report_vm: self.report_vm,
        }
    }

    fn taken_up(&mut self, outcome: RequestOutcome, action: Action) {
        self.records.push(self.report.taken_up(outcome));
        self.notes.push(Note {
            reason: EventReason::Request(outcome),
            action: action.as_str(),
            message: self.report.message.clone(),
            says: self.report.says.clone(),
        });
    }

    /// The report as planned, before any answer (what `conclude(Answer::Done)` starts from).
    pub fn report(&self) -> &Report {
        &self.report
    }
}

#[cfg(test)]
mod tests;
