//! What the browser sees: one row per VM, the live-update messages, and which cluster it is.
//!
//! These types cross the wire as JSON (server function results and websocket frames). They depend on
//! nothing but serde and the pure lifecycle enums, so the WASM bundle stays small and the browser
//! never sees a kube or k8s-openapi type.

mod time;
mod validate;

pub use time::format_utc;
pub use validate::{
    validate_action, validate_dns1123_label, validate_dns1123_subdomain, validate_request,
    ValidRequest,
};
pub use wukong_lifecycle::{Action, RunStrategy, VmState, MAX_GRACE_PERIOD_SECONDS};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A VM's identity: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VmKey {
    pub namespace: String,
    pub name: String,
}

impl VmKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        VmKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for VmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One line of the VM table, with the actions this VM offers now (decided on the server).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmRow {
    pub key: VmKey,
    pub state: VmState,
    pub run_strategy: RunStrategy,
    pub last_action: Option<String>,
    /// Unix time in milliseconds.
    pub last_action_time_ms: Option<i64>,
    pub message: Option<String>,
    pub cpu_cores: Option<u32>,
    pub memory: Option<String>,
    pub node: Option<String>,
    /// The grace period a Stop dialog starts with (the VM's own, else KubeVirt's 30 s).
    pub default_grace_period_seconds: u32,
    /// The actions offered now, in button order.
    pub actions: Vec<Action>,
    /// A request written but not yet taken up by the controller.
    pub pending: Option<Action>,
    /// When a graceful stop in progress will be forced (Unix ms), for the countdown.
    pub stop_deadline_ms: Option<i64>,
}

impl VmRow {
    pub fn offers(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

/// Where the console's VMs come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub kind: ClusterKind,
    /// A short name: the kubeconfig context or API server for a real cluster.
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterKind {
    /// The in-memory simulated cluster.
    Sandbox,
    Kubernetes,
}

/// Whether the server's own change stream from the cluster is healthy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Upstream {
    Connected,
    Reconnecting { reason: String },
}

/// The whole list at one point of the change stream, as one person may see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The sequence number of the last change included.
    pub seq: u64,
    pub rows: Vec<VmRow>,
    pub upstream: Upstream,
    pub cluster: ClusterInfo,
    #[serde(default)]
    pub viewer: Viewer,
}

/// Who the page is shown to, and how they signed in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The signed-in person's Kubernetes user name; `None` without sign-in.
    pub name: Option<String>,
    pub sign_in: SignIn,
}

/// How people sign in to this console (`--auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignIn {
    /// Nobody signs in: the console acts as itself (sandbox or loopback only).
    #[default]
    Open,
    /// A Kubernetes bearer token on the sign-in page; the page offers "Sign out".
    Token,
    /// An authenticating reverse proxy in front names the person.
    Proxy,
}

/// A websocket frame from server to browser: a snapshot first, then changes in `seq` order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LiveMessage {
    Snapshot(Snapshot),
    Upsert {
        seq: u64,
        row: VmRow,
    },
    Remove {
        seq: u64,
        key: VmKey,
    },
    Upstream {
        seq: u64,
        upstream: Upstream,
    },
    /// Sent every few seconds so a silent, dead connection is noticed.
    Heartbeat,
}

/// One request in a VM's history: who asked for what, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Unix time in milliseconds.
    pub at_ms: Option<i64>,
    /// The action (`stop`, `force-stop`, ...), as the controller recorded it.
    pub action: String,
    pub requested_by: Option<String>,
    /// `Accepted`, `Refused`, `KubeVirtRefused`, `ForcedStop`, ...
    pub outcome: String,
    pub message: Option<String>,
}

/// The table's filter: a namespace (empty: all) and a search text found in the name or namespace.
/// One rule for the browser's table and the server's "all matching the filter".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub namespace: String,
    pub search: String,
}

impl Filter {
    pub fn matches(&self, key: &VmKey) -> bool {
        let needle = self.search.trim().to_lowercase();
        (self.namespace.is_empty() || key.namespace == self.namespace)
            && (needle.is_empty() || key.name.contains(&needle) || key.namespace.contains(&needle))
    }
}

/// Most VMs a bulk action may list by name (a filter has no such limit).
pub const MAX_BULK_KEYS: usize = 500;

/// Which VMs a bulk action is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkTarget {
    /// These (at most [`MAX_BULK_KEYS`]).
    Keys(Vec<VmKey>),
    /// Every VM the person can see that matches the filter, at the moment the server gets it.
    Matching(Filter),
}

/// What became of one VM of a bulk action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    pub key: VmKey,
    pub accepted: bool,
    /// Why it was refused (or "accepted").
    pub message: String,
}

/// What the server answers when it has accepted an action request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub key: VmKey,
    pub action: Action,
    /// Empty for delete, which is not a lifecycle request.
    pub request_id: String,
}
