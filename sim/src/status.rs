//! What the simulated KubeVirt writes in a VirtualMachine's and a VMI's status beyond the phase:
//! conditions, the node and the pod address. One projection for the KubeVirt simulator (which
//! writes it to a real API server) and the in-memory sandbox (which shows it on the VM page).

use crate::kubevirt::{StartProblem, VmiPhase};

/// The node a running VMI is on.
pub const NODE_NAME: &str = "sim-node-1";
/// Where a migrating VMI goes.
pub const MIGRATION_TARGET_NODE: &str = "sim-node-2";

/// One status condition as KubeVirt writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: &'static str,
    pub status: &'static str,
    pub reason: Option<&'static str>,
    pub message: Option<&'static str>,
}

/// The VM's `Ready` condition, as virt-controller syncs it from the VMI
/// (`syncReadyConditionFromVMI`; `kubectl get vms` reads READY from it).
pub fn vm_ready_condition(ready: bool, created: bool) -> Condition {
    if ready {
        Condition {
            kind: "Ready",
            status: "True",
            reason: None,
            message: None,
        }
    } else if created {
        Condition {
            kind: "Ready",
            status: "False",
            reason: Some("VMINotReady"),
            message: None,
        }
    } else {
        Condition {
            kind: "Ready",
            status: "False",
            reason: Some("VMINotExists"),
            message: Some("VMI does not exist"),
        }
    }
}

/// A VMI's conditions as virt-handler writes them: `Ready`, `Paused` while paused, and the
/// condition that says why it cannot get going.
pub fn vmi_conditions(
    phase: VmiPhase,
    paused: bool,
    problem: Option<StartProblem>,
) -> Vec<Condition> {
    let mut conditions = vec![Condition {
        kind: "Ready",
        status: if phase == VmiPhase::Running && !paused {
            "True"
        } else {
            "False"
        },
        reason: None,
        message: None,
    }];
    if paused {
        conditions.push(Condition {
            kind: "Paused",
            status: "True",
            reason: Some("PausedByUser"),
            message: Some("VMI was paused by user"),
        });
    }
    if let Some(problem) = problem {
        let (kind, reason, message) = problem.condition();
        conditions.push(Condition {
            kind,
            status: "False",
            reason: Some(reason),
            message: Some(message),
        });
    }
    conditions
}

/// The pod address of a running VMI: stable for one VM and VMI, different for the next VMI (a
/// new pod), in 10.244.0.0/16 like a cluster's pod network.
pub fn vmi_address(namespace: &str, name: &str, vmi_generation: u64) -> String {
    let hash = namespace
        .bytes()
        .chain([b'/'])
        .chain(name.bytes())
        .fold(2_166_136_261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16_777_619)
        })
        .wrapping_add(vmi_generation as u32);
    let [_, _, c, d] = hash.to_be_bytes();
    format!("10.244.{c}.{}", d.clamp(2, 254))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_vmi_gets_a_new_address_and_the_same_one_keeps_it() {
        let first = vmi_address("team-a", "web", 1);
        assert_eq!(first, vmi_address("team-a", "web", 1));
        assert_ne!(first, vmi_address("team-a", "web", 2));
        assert!(first.starts_with("10.244."));
    }

    #[test]
    fn a_paused_vmi_is_not_ready_and_says_who_paused_it() {
        let c = vmi_conditions(VmiPhase::Running, true, None);
        assert_eq!(c[0].status, "False");
        assert_eq!(c[1].reason, Some("PausedByUser"));
        let running = vmi_conditions(VmiPhase::Running, false, None);
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].status, "True");
    }
}
