//! The `Wukong` custom resource, `vm.novasphere.dev/v1alpha1`.
//!
//! Field names follow the lifecycle design (`spec.lifecycleAction {action, force, gracePeriodSeconds}`,
//! `status.lifecycleState {state, lastAction, lastActionTime, message}`), plus what correctness needs:
//! a request id on every action and its acknowledgement in status (`observedRequestId`), the
//! deadline of a graceful stop, and KubeVirt's `runStrategy` / `startStrategy.autoStart`.
//!
//! Only server-side crates depend on this one; the browser gets small view types from `app`.

#[cfg(feature = "client")]
pub mod connect;
pub mod kubevirt;
pub mod lease;
mod schedule;
#[cfg(feature = "runtime")]
pub mod watch;
mod write;
mod wukong;

pub use schedule::*;
pub use write::{Preconditions, OPTIONAL_REQUEST_FIELDS};
pub use wukong::*;

/// The finalizer with which the lifecycle controller stops and removes the VM before a Wukong goes.
pub const FINALIZER: &str = "vm.novasphere.dev/lifecycle";
/// The field manager the console writes `spec.lifecycleAction` with.
pub const CONSOLE_FIELD_MANAGER: &str = "wukong-console";

/// An Event note naming who asked: `"{note} (requested by {by})"`.
pub fn with_requester(note: &str, by: &str) -> String {
    format!("{note} (requested by {by})")
}

/// The note and requester back out of [`with_requester`]'s form.
pub fn split_requester(note: &str) -> (&str, Option<&str>) {
    match note.rsplit_once(" (requested by ") {
        Some((note, by)) if by.ends_with(')') => (note, Some(&by[..by.len() - 1])),
        _ => (note, None),
    }
}

#[cfg(test)]
mod requester_tests {
    #[test]
    fn the_requester_round_trips_through_an_event_note() {
        let note = super::with_requester("stop (grace 30 s) sent", "system:serviceaccount:a:b");
        assert_eq!(
            super::split_requester(&note),
            ("stop (grace 30 s) sent", Some("system:serviceaccount:a:b"))
        );
        assert_eq!(super::split_requester("plain"), ("plain", None));
    }
}
