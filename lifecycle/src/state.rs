//! The states a Wukong VM can be in, as `status.lifecycleState.state` reports them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The seed's states (Starting, Running, Stopping, Stopped, Restarting, Suspended) plus the ones
/// correctness needs: the two directions of pausing, disks being prepared, a live migration, a
/// guest that failed, a VM KubeVirt cannot run, deletion and "cannot tell". Each of KubeVirt
/// v1.8.0's printableStatus values maps to one of them ([`VmState::from_printable_status`]).
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
    /// KubeVirt prepares the VM's storage: a DataVolume imports, a PVC waits to be bound.
    Provisioning,
    /// The running guest is moving to another node (a live migration).
    Migrating,
    /// The guest failed: it crashed, or keeps failing to boot (CrashLoopBackOff).
    Failed,
    /// KubeVirt cannot run the VM: unschedulable, the image cannot be pulled, a PVC or DataVolume
    /// is missing or failed. The message carries KubeVirt's reason.
    Error,
    /// The Wukong is being deleted; its finalizer is stopping and removing the VM.
    Deleting,
    #[default]
    Unknown,
}

impl VmState {
    pub const ALL: [VmState; 14] = [
        VmState::Starting,
        VmState::Running,
        VmState::Stopping,
        VmState::Stopped,
        VmState::Restarting,
        VmState::Suspending,
        VmState::Suspended,
        VmState::Resuming,
        VmState::Provisioning,
        VmState::Migrating,
        VmState::Failed,
        VmState::Error,
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
            VmState::Provisioning => "Provisioning",
            VmState::Migrating => "Migrating",
            VmState::Failed => "Failed",
            VmState::Error => "Error",
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
                | VmState::Migrating
        )
    }

    /// The state for the VM's `status.printableStatus` (KubeVirt folds the VMI's `Paused`
    /// condition into `Paused`, under Stopping and Migrating, as `setPrintableStatus` orders them).
    pub fn from_printable_status(printable_status: &str) -> VmState {
        match printable_status {
            "Running" => VmState::Running,
            "Migrating" => VmState::Migrating,
            "Paused" => VmState::Suspended,
            "Stopped" => VmState::Stopped,
            "Stopping" => VmState::Stopping,
            "Terminating" => VmState::Deleting,
            "Starting" | "WaitingForReceiver" => VmState::Starting,
            "Provisioning" | "WaitingForVolumeBinding" => VmState::Provisioning,
            "CrashLoopBackOff" => VmState::Failed,
            "ErrImagePull" | "ImagePullBackOff" | "ErrorUnschedulable" | "ErrorPvcNotFound"
            | "DataVolumeError" => VmState::Error,
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
            ("Provisioning", VmState::Provisioning),
            ("WaitingForVolumeBinding", VmState::Provisioning),
            ("Starting", VmState::Starting),
            ("CrashLoopBackOff", VmState::Failed),
            ("ErrorUnschedulable", VmState::Error),
            ("ErrImagePull", VmState::Error),
            ("DataVolumeError", VmState::Error),
            ("Migrating", VmState::Migrating),
            ("Unknown", VmState::Unknown),
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
