//! The console's side of a cluster.
//!
//! - [`Cluster`]: the one interface the console reads and writes Wukongs through. The in-memory
//!   [`Sandbox`] implements it today; the Kubernetes backend (kube-rs) implements the same trait,
//!   so nothing above it knows which one it talks to.
//! - [`LiveStore`]: one watch per process feeds one shared table of rows; browsers get a snapshot
//!   and then pre-serialized deltas.
//! - [`actions`]: turning a person's click into a lifecycle request, refused early when the rules
//!   say no.

pub mod access;
pub mod actions;
mod apiserver;
mod budget;
mod cluster;
pub mod detail;
mod error;
mod kube_backend;
pub mod metrics;
pub mod presence;
mod row;
mod sandbox;
pub mod schedules;
mod seed;
pub mod sessions;
pub mod simulated;
mod store;

pub use access::{
    Access, AccessUnknown, BearerToken, Grants, Identity, KubeAccess, OpenAccess, Person,
};
pub use budget::ActionBudget;
pub use cluster::{Clock, Cluster, WatchEvent, WatchStream};
pub use error::ClusterError;
pub use kube_backend::{api_error, KubeCluster};
pub use row::{history_from_status, row_from_wukong};
pub use sandbox::Sandbox;
pub use seed::{sandbox_seed, seed_wukong, SeedVm};
pub use store::{Audience, Change, LiveFrame, LiveStore, StoreStats};

use std::sync::Arc;

/// What the console's server side holds for its whole life: the cluster and the one live store fed
/// by the one watch on it. Cheap to clone; handed to server functions and the websocket.
#[derive(Clone)]
pub struct Console {
    pub cluster: Arc<dyn Cluster>,
    pub store: Arc<LiveStore>,
    /// What each person may see and do (RBAC), used to filter the shared store per person.
    pub access: Arc<dyn Access>,
    /// How many actions each person may ask for per minute.
    pub budget: Arc<ActionBudget>,
    /// How many VMs each person's bulk actions may write per minute (each VM counts).
    pub bulk_budget: Arc<ActionBudget>,
    /// The most VMs one bulk action may write; more is refused as a whole.
    pub bulk_max_vms: usize,
}

/// Actions per person per minute unless configured otherwise.
pub const DEFAULT_ACTIONS_PER_MINUTE: u32 = 120;
/// VMs written by bulk actions per person per minute unless configured otherwise.
pub const DEFAULT_BULK_VMS_PER_MINUTE: u32 = 2_000;
/// The most VMs one bulk action may write unless configured otherwise.
pub const DEFAULT_BULK_MAX_VMS: usize = 5_000;

impl Console {
    /// Starts the process's one watch on `cluster` (needs a Tokio runtime).
    pub fn start(cluster: Arc<dyn Cluster>, access: Arc<dyn Access>) -> Console {
        let store = LiveStore::spawn(cluster.as_ref());
        Console {
            cluster,
            store,
            access,
            budget: Arc::new(ActionBudget::new(DEFAULT_ACTIONS_PER_MINUTE)),
            bulk_budget: Arc::new(ActionBudget::new(DEFAULT_BULK_VMS_PER_MINUTE)),
            bulk_max_vms: DEFAULT_BULK_MAX_VMS,
        }
    }

    /// A console without RBAC (the sandbox): everyone sees and may do everything.
    pub fn open(cluster: Arc<dyn Cluster>) -> Console {
        Console::start(cluster, Arc::new(OpenAccess))
    }
}
