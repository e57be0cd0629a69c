//! The VM page (`/vm/{namespace}/{name}`): one VM's live row, its Wukong, what KubeVirt says
//! about it, its Events and its request history, all read as the person.
//!
//! KubeVirt's and the apiserver's words (conditions, Events, the YAML) travel as they were
//! written: they are shown untranslated.

use crate::{HistoryEntry, Snapshot};
use serde::{Deserialize, Serialize};

/// Everything the VM page shows, read as the person (`vm_page`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmDetail {
    /// A one-row page: the VM's live state and the actions offered, exactly as the list has them.
    pub snapshot: Snapshot,
    /// The Wukong's `spec` (without `lifecycleAction`), field by field, values as in its YAML.
    pub spec: Vec<(String, String)>,
    pub kubevirt: KubeVirtFacts,
    /// Events about the Wukong, its VirtualMachine and its VMI, newest first.
    pub events: Vec<EventLine>,
    /// Events could not be read: why (the cluster's words).
    #[serde(default)]
    pub events_unreadable: Option<String>,
    pub history: Vec<HistoryEntry>,
    /// The history could not be read: why (the cluster's words).
    #[serde(default)]
    pub history_unreadable: Option<String>,
    /// The Wukong as YAML, without `managedFields` (as `kubectl get -o yaml` shows it).
    pub yaml: String,
}

/// KubeVirt's VirtualMachine and VirtualMachineInstance for one Wukong, as the person may read
/// them. Sent again over the live socket (`LiveMessage::KubeVirt`) whenever either changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KubeVirtFacts {
    /// `None`: there is no VirtualMachine (or it could not be read: see `unreadable`).
    pub vm: Option<VmFacts>,
    /// `None`: no VMI exists now (the VM is stopped) or it could not be read.
    pub vmi: Option<VmiFacts>,
    /// Why KubeVirt's objects could not be read, in the cluster's words (e.g. the person's role
    /// does not allow `get` on virtualmachines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// `VirtualMachine.status`, the parts a person looks at.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VmFacts {
    pub printable_status: Option<String>,
    pub run_strategy: Option<String>,
    pub ready: Option<bool>,
    pub conditions: Vec<Condition>,
}

/// `VirtualMachineInstance.status`, the parts a person looks at.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VmiFacts {
    pub phase: Option<String>,
    pub node: Option<String>,
    /// Every address of every interface, in KubeVirt's order, without repeats.
    pub ip_addresses: Vec<String>,
    pub conditions: Vec<Condition>,
}

/// One status condition, as KubeVirt wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One Kubernetes Event about the VM (`kubectl describe`'s Events), as the cluster has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// When it last happened (Unix ms).
    pub at_ms: Option<i64>,
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The kind of object it is about: `Wukong`, `VirtualMachine`, `VirtualMachineInstance`.
    pub object: String,
    pub reason: String,
    pub message: String,
    /// For the lifecycle controller's Events: the message as a code with parameters (see
    /// `VmRow::says`), and who asked, which its note names in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub says: Option<wukong_lifecycle::Says>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// The component that reported it.
    pub source: Option<String>,
    pub count: u32,
}
