//! The parts of KubeVirt's `kubevirt.io/v1` VirtualMachine and VirtualMachineInstance that the
//! lifecycle controller and the KubeVirt stand-in read and write. Unknown fields are kept in
//! `rest`, so reading and re-writing a real KubeVirt object loses nothing.

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `VirtualMachine.spec`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachine",
    plural = "virtualmachines",
    namespaced,
    status = "VirtualMachineStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<String>,
    /// Deprecated by KubeVirt; mutually exclusive with `runStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printable_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_change_requests: Vec<StateChangeRequest>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChangeRequest {
    /// `Start` or `Stop`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `VirtualMachineInstance.spec`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "kubevirt.io",
    version = "v1",
    kind = "VirtualMachineInstance",
    plural = "virtualmachineinstances",
    namespaced,
    status = "VirtualMachineInstanceStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMachineInstanceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<VmiCondition>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmiCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl VirtualMachine {
    /// `spec.template.spec.terminationGracePeriodSeconds`.
    pub fn template_grace_period_seconds(&self) -> Option<i64> {
        self.spec
            .template
            .as_ref()?
            .pointer("/spec/terminationGracePeriodSeconds")?
            .as_i64()
    }

    pub fn printable_status(&self) -> Option<&str> {
        self.status.as_ref()?.printable_status.as_deref()
    }

    /// KubeVirt's `vm.RunStrategy()`: spec.runStrategy, else spec.running (true: Always, false or
    /// unset: Halted). A run strategy this build does not know reads as Manual (nothing starts or
    /// stops by itself).
    pub fn run_strategy(&self) -> wukong_lifecycle::RunStrategy {
        use wukong_lifecycle::RunStrategy;
        match (self.spec.run_strategy.as_deref(), self.spec.running) {
            (Some(rs), _) => RunStrategy::parse(rs).unwrap_or(RunStrategy::Manual),
            (None, Some(true)) => RunStrategy::Always,
            (None, _) => RunStrategy::Halted,
        }
    }

    /// KubeVirt has state change requests it has not carried out yet.
    pub fn has_pending_requests(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| !s.state_change_requests.is_empty())
    }
}

impl VirtualMachineInstance {
    pub fn phase(&self) -> Option<&str> {
        self.status.as_ref()?.phase.as_deref()
    }

    /// The message of the condition that keeps the VMI from running: `PodScheduled` or
    /// `Synchronized` False (unschedulable, image pull errors, a missing PVC).
    pub fn problem(&self) -> Option<&str> {
        self.status.as_ref()?.conditions.iter().find_map(|c| {
            let blocking =
                matches!(c.type_.as_str(), "PodScheduled" | "Synchronized") && c.status == "False";
            blocking.then(|| c.message.as_deref().or(c.reason.as_deref()).unwrap_or(""))
        })
    }

    /// Condition `Paused` is `True` (KubeVirt sets reason `PausedByUser`).
    pub fn is_paused(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Paused" && c.status == "True")
        })
    }
}
