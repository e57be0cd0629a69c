//! The states a Wukong VM can be in, as `status.lifecycleState.state` reports them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The seed's states (Starting, Running, Stopping, Stopped, Restarting, Suspended) plus the ones
/// correctness needs: the two directions of pausing, a failed guest, deletion and "cannot tell".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum VmState {
    Starting,
    Running,
    Stopping,
    Stopped,
    Restarting,
    Suspending,
    Suspended,
    Resuming,
    /// The guest does not come up (CrashLoopBackOff, image pull errors, unschedulable, ...).
    Failed,
    /// The Wukong is being deleted; its finalizer is stopping and removing the VM.
    Deleting,
    #[default]
    Unknown,
}

impl VmState {
    pub const ALL: [VmState; 11] = [
        VmState::Starting,
        VmState::Running,
        VmState::Stopping,
        VmState::Stopped,
        VmState::Restarting,
        VmState::Suspending,
        VmState::Suspended,
        VmState::Resuming,
        VmState::Failed,
        VmState::Deleting,
        VmState::Unknown,
    ];

    /// The English name, stable whatever the UI language (`data-state` in the page).
    pub const fn as_str(self) -> &'static str {
        match self {
            VmState::Starting => "Starting",
            VmState::Running => "Running",
            VmState::Stopping => "Stopping",
            VmState::Stopped => "Stopped",
            VmState::Restarting => "Restarting",
            VmState::Suspending => "Suspending",
            VmState::Suspended => "Suspended",
            VmState::Resuming => "Resuming",
            VmState::Failed => "Failed",
            VmState::Deleting => "Deleting",
            VmState::Unknown => "Unknown",
        }
    }

    pub fn parse(s: &str) -> Option<VmState> {
        VmState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// A state the VM passes through on its way somewhere else.
    pub const fn is_transitional(self) -> bool {
        matches!(
            self,
            VmState::Starting
                | VmState::Stopping
                | VmState::Restarting
                | VmState::Suspending
                | VmState::Resuming
                | VmState::Deleting
        )
    }

    /// A guest exists (booting, running, paused or shutting down), so stopping it means something.
    pub const fn has_live_guest(self) -> bool {
        matches!(
            self,
            VmState::Starting
                | VmState::Running
                | VmState::Stopping
                | VmState::Restarting
                | VmState::Suspending
                | VmState::Suspended
                | VmState::Resuming
        )
    }

    /// The state KubeVirt reports through the VM's `status.printableStatus` and the VMI's `Paused`
    /// condition (which KubeVirt already folds into printableStatus `Paused`).
    pub fn from_printable_status(printable_status: &str) -> VmState {
        match printable_status {
            "Running" | "Migrating" => VmState::Running,
            "Paused" => VmState::Suspended,
            "Stopped" => VmState::Stopped,
            "Stopping" => VmState::Stopping,
            "Terminating" => VmState::Deleting,
            "Starting" | "Provisioning" | "WaitingForVolumeBinding" | "WaitingForReceiver" => {
                VmState::Starting
            }
            "CrashLoopBackOff" | "ErrImagePull" | "ImagePullBackOff" | "ErrorUnschedulable"
            | "ErrorPvcNotFound" | "DataVolumeError" => VmState::Failed,
            _ => VmState::Unknown,
        }
    }
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in VmState::ALL {
            assert_eq!(VmState::parse(state.as_str()), Some(state));
        }
        assert_eq!(VmState::parse("running"), None);
    }

    #[test]
    fn printable_status_maps_to_the_state_a_person_expects() {
        let cases = [
            ("Running", VmState::Running),
            ("Paused", VmState::Suspended),
            ("Stopped", VmState::Stopped),
            ("Stopping", VmState::Stopping),
            ("Terminating", VmState::Deleting),
            ("Provisioning", VmState::Starting),
            ("Starting", VmState::Starting),
            ("CrashLoopBackOff", VmState::Failed),
            ("ErrorUnschedulable", VmState::Failed),
            ("Migrating", VmState::Running),
            ("SomethingNew", VmState::Unknown),
        ];
        for (printable, expected) in cases {
            assert_eq!(
                VmState::from_printable_status(printable),
                expected,
                "{printable}"
            );
        }
    }
}
