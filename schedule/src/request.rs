//! What one edge asks of one VM, for the controller and the sandbox alike.
//!
//! An edge is carried out as an ordinary request, so the lifecycle rules decide, exactly as for
//! a click: a VM already as the edge wants it (a start edge on a running VM) gets no request, and
//! neither does one with a request still pending. On top of that, a request written at or after
//! the edge wins until the next edge: a person who starts a VM after the evening stop keeps it
//! running, and an edge whose request is already on the VM (the controller restarted halfway
//! through the edge) is not written twice.

use crate::{Edge, EdgeAction};
use jiff::Timestamp;
use wukong_lifecycle::{check, Action, Refusal, Situation};

/// The request a VM carries now, as far as an edge cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current<'a> {
    pub request_id: &'a str,
    /// When it was written, if its writer said so.
    pub requested_at: Option<Timestamp>,
}

/// What an edge does to one VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForVm {
    /// Write this request, with [`request_id`] of the edge.
    Request(Action),
    /// This edge's request is already on the VM.
    AlreadyRequested,
    /// Someone asked for something at or after the edge: theirs wins until the next edge.
    LaterRequest,
    /// The lifecycle rules refuse the edge's action: the VM is already as the edge wants it, or
    /// busy, or its run strategy starts and stops it by itself.
    Refused(Refusal),
}

/// What an edge did to one VM, as its schedule's status and the controller's metrics say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Its request was written (or had been, before a restart).
    Requested,
    /// Already as the edge wants it, or busy, or its run strategy starts and stops it itself.
    LeftAlone,
    /// Someone asked for something at or after the edge: theirs wins.
    Later,
    /// The schedule's owner may not patch it.
    NotPermitted,
    /// It could not be asked (the cluster refused or did not answer).
    Failed,
}

impl Outcome {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Requested => "requested",
            Outcome::LeftAlone => "left_alone",
            Outcome::Later => "later_request",
            Outcome::NotPermitted => "not_permitted",
            Outcome::Failed => "failed",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Outcome::Requested => "requested",
            Outcome::LeftAlone => "already as asked or busy",
            Outcome::Later => "asked otherwise since the edge (theirs wins)",
            Outcome::NotPermitted => "not permitted to the owner",
            Outcome::Failed => "could not be asked",
        }
    }
}

impl From<ForVm> for Option<Outcome> {
    /// What a decision comes to without a write (`None`: a request is to be written).
    fn from(d: ForVm) -> Option<Outcome> {
        match d {
            ForVm::Request(_) => None,
            ForVm::AlreadyRequested => Some(Outcome::Requested),
            ForVm::LaterRequest => Some(Outcome::Later),
            ForVm::Refused(_) => Some(Outcome::LeftAlone),
        }
    }
}

/// The line a schedule's status and Event say about an edge: "stop at 2026-12-03T12:00:00Z:
/// requested: vm-1, vm-2; not permitted to the owner: vm-3".
pub fn summary(edge: &Edge, outcomes: &[(String, Outcome)]) -> String {
    let mut by: std::collections::BTreeMap<Outcome, Vec<&str>> = Default::default();
    for (vm, outcome) in outcomes {
        by.entry(*outcome).or_default().push(vm);
    }
    let parts: Vec<String> = by
        .into_iter()
        .map(|(outcome, mut vms)| {
            vms.sort_unstable();
            format!("{}: {}", outcome.words(), vms.join(", "))
        })
        .collect();
    let what = if parts.is_empty() {
        "no VM selected".to_owned()
    } else {
        parts.join("; ")
    };
    format!("{} at {}: {what}", edge.action, edge.at)
}

/// The lifecycle action an edge asks for (`force`: the schedule stops at once).
pub fn action_of(edge: EdgeAction, force: bool) -> Action {
    match (edge, force) {
        (EdgeAction::Start, _) => Action::Start,
        (EdgeAction::Stop, false) => Action::Stop,
        (EdgeAction::Stop, true) => Action::ForceStop,
    }
}

/// The request id of an edge of a schedule: the same on every VM and on every try, so a
/// controller that restarts halfway through an edge recognises the requests it already wrote
/// (at most 64 characters: a uid is 36).
pub fn request_id(schedule_uid: &str, edge: &Edge) -> String {
    let uid: String = schedule_uid.chars().take(40).collect();
    let what = match edge.action {
        EdgeAction::Start => "start",
        EdgeAction::Stop => "stop",
    };
    format!("{uid}-{}-{what}", edge.at.as_second())
}

/// The one decision about an edge and a VM.
pub fn for_vm(
    edge: &Edge,
    force: bool,
    situation: &Situation,
    current: Option<Current<'_>>,
    schedule_uid: &str,
) -> ForVm {
    if let Some(current) = current {
        if current.request_id == request_id(schedule_uid, edge) {
            return ForVm::AlreadyRequested;
        }
        if current.requested_at.is_some_and(|at| at >= edge.at) {
            return ForVm::LaterRequest;
        }
    }
    let action = action_of(edge.action, force);
    match check(action, situation) {
        Ok(()) => ForVm::Request(action),
        Err(refusal) => ForVm::Refused(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wukong_lifecycle::{RunStrategy, VmState, Vmi};

    const UID: &str = "0b7c9a3e-5d1f-4c2a-9e8b-1f2d3c4b5a69";

    fn edge(action: EdgeAction) -> Edge {
        Edge {
            at: "2026-12-03T12:00:00Z".parse().expect("an instant"),
            action,
        }
    }

    fn vm(state: VmState) -> Situation {
        Situation::new(state, RunStrategy::Manual, false).with_vmi(Vmi::assumed(state))
    }

    #[test]
    fn a_vm_already_as_the_edge_wants_it_gets_no_request() {
        assert_eq!(
            for_vm(
                &edge(EdgeAction::Start),
                false,
                &vm(VmState::Running),
                None,
                UID
            ),
            ForVm::Refused(Refusal::AlreadyRunning)
        );
        assert_eq!(
            for_vm(
                &edge(EdgeAction::Stop),
                false,
                &vm(VmState::Stopped),
                None,
                UID
            ),
            ForVm::Refused(Refusal::NotRunning(VmState::Stopped))
        );
        assert_eq!(
            for_vm(
                &edge(EdgeAction::Start),
                false,
                &vm(VmState::Stopped),
                None,
                UID
            ),
            ForVm::Request(Action::Start)
        );
        assert_eq!(
            for_vm(
                &edge(EdgeAction::Stop),
                false,
                &vm(VmState::Running),
                None,
                UID
            ),
            ForVm::Request(Action::Stop)
        );
        assert_eq!(
            for_vm(
                &edge(EdgeAction::Stop),
                true,
                &vm(VmState::Running),
                None,
                UID
            ),
            ForVm::Request(Action::ForceStop)
        );
    }

    #[test]
    fn a_request_written_at_or_after_the_edge_wins_and_the_edges_own_is_not_written_twice() {
        let e = edge(EdgeAction::Stop);
        let before = Current {
            request_id: "person-1",
            requested_at: Some("2026-12-03T11:59:59Z".parse().expect("an instant")),
        };
        let after = Current {
            request_id: "person-2",
            requested_at: Some("2026-12-03T12:00:30Z".parse().expect("an instant")),
        };
        let own_id = request_id(UID, &e);
        let own = Current {
            request_id: &own_id,
            requested_at: None,
        };
        let running = vm(VmState::Running);
        assert_eq!(
            for_vm(&e, false, &running, Some(before), UID),
            ForVm::Request(Action::Stop)
        );
        assert_eq!(
            for_vm(&e, false, &running, Some(after), UID),
            ForVm::LaterRequest
        );
        assert_eq!(
            for_vm(&e, false, &running, Some(own), UID),
            ForVm::AlreadyRequested
        );
        // A request without a time cannot be ordered against the edge: the rules decide.
        let untimed = Current {
            request_id: "kubectl",
            requested_at: None,
        };
        assert_eq!(
            for_vm(&e, false, &running, Some(untimed), UID),
            ForVm::Request(Action::Stop)
        );
    }

    #[test]
    fn a_pending_request_or_a_self_starting_run_strategy_is_left_alone() {
        let pending =
            Situation::new(VmState::Running, RunStrategy::Manual, true).with_vmi(Vmi::Alive);
        assert_eq!(
            for_vm(&edge(EdgeAction::Stop), false, &pending, None, UID),
            ForVm::Refused(Refusal::RequestPending)
        );
        let always =
            Situation::new(VmState::Stopped, RunStrategy::Always, false).with_vmi(Vmi::Absent);
        assert_eq!(
            for_vm(&edge(EdgeAction::Start), false, &always, None, UID),
            ForVm::Refused(Refusal::ManualStartUnsupported(RunStrategy::Always))
        );
    }

    #[test]
    fn the_summary_groups_vms_by_outcome_in_a_fixed_order() {
        let line = summary(
            &edge(EdgeAction::Stop),
            &[
                ("vm-3".into(), Outcome::NotPermitted),
                ("vm-2".into(), Outcome::Requested),
                ("vm-1".into(), Outcome::Requested),
                ("vm-4".into(), Outcome::LeftAlone),
            ],
        );
        assert_eq!(
            line,
            "stop at 2026-12-03T12:00:00Z: requested: vm-1, vm-2; already as asked or busy: vm-4; not permitted to the owner: vm-3"
        );
        assert_eq!(
            summary(&edge(EdgeAction::Start), &[]),
            "start at 2026-12-03T12:00:00Z: no VM selected"
        );
    }

    #[test]
    fn request_ids_differ_per_edge_and_fit_the_crd() {
        let start = request_id(UID, &edge(EdgeAction::Start));
        let stop = request_id(UID, &edge(EdgeAction::Stop));
        assert_ne!(start, stop);
        assert!(start.len() <= 64 && stop.len() <= 64, "{start} {stop}");
        let later = Edge {
            at: "2026-12-10T12:00:00Z".parse().expect("an instant"),
            action: EdgeAction::Start,
        };
        assert_ne!(start, request_id(UID, &later));
    }
}
