use crate::schedules::ScheduleSet;
use crate::{ClusterError, Identity};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use wukong_api::{LifecycleAction, Preconditions, Wukong, WukongSchedule};
use wukong_view::{ClusterInfo, ControllerPresence, EventLine, HistoryEntry, KubeVirtFacts, VmKey};

/// One change seen on the cluster's Wukongs, in the order the cluster reports them.
#[derive(Clone, Debug)]
pub enum WatchEvent {
    /// The complete current list (the first event, and again after any relist): replaces everything.
    Restarted(Vec<Wukong>),
    Applied(Wukong),
    Deleted(Wukong),
    /// The change stream broke; it is being re-established (the store shows "reconnecting").
    Interrupted(String),
}

pub type WatchStream = BoxStream<'static, WatchEvent>;

/// The time as a cluster tells it: the wall clock, or the sandbox's own (which runs on Tokio's
/// clock, so its tests pass simulated hours in an instant). Schedules' next edges are computed
/// with it.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    Wall,
    /// `wall` at `origin`, then as Tokio's clock runs.
    Sandbox {
        origin: tokio::time::Instant,
        wall: k8s_openapi::jiff::Timestamp,
    },
}

impl Clock {
    pub fn now(&self) -> k8s_openapi::jiff::Timestamp {
        match self {
            Clock::Wall => k8s_openapi::jiff::Timestamp::now(),
            Clock::Sandbox { origin, wall } => {
                let elapsed = k8s_openapi::jiff::SignedDuration::try_from(origin.elapsed())
                    .unwrap_or(k8s_openapi::jiff::SignedDuration::ZERO);
                wall.checked_add(elapsed).unwrap_or(*wall)
            }
        }
    }
}

/// What the console needs from a cluster. Implemented by the in-memory sandbox and by the
/// Kubernetes backend; everything above this trait is shared.
pub trait Cluster: Send + Sync + 'static {
    fn info(&self) -> ClusterInfo;

    /// An endless stream: `Restarted` first, then changes; on trouble `Interrupted` and, once
    /// healthy again, a fresh `Restarted`.
    fn watch(&self) -> WatchStream;

    /// Whether a lifecycle controller is there to carry out requests: its current presence at
    /// once, then every change. Without a way to tell (the default), nothing: the console then
    /// says `Unknown` and only unanswered requests show that no controller acts.
    fn controller(&self) -> BoxStream<'static, ControllerPresence> {
        Box::pin(futures::stream::pending())
    }

    /// A fresh read of one Wukong as `who`, straight from the cluster (not the watch cache).
    ///
    /// Reads and writes are made as `who` (impersonation on Kubernetes), so the cluster's own
    /// authorization decides; `Identity::Console` uses the console's credentials.
    fn get<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Wukong, ClusterError>>;

    /// Makes `request` the whole `spec.lifecycleAction` (the controller carries it out), with
    /// [`LifecycleAction::merge_patch`]: nothing of an earlier request survives. The write only
    /// succeeds if the object still has the precondition's uid and resource version
    /// (`ClusterError::Conflict` otherwise; the caller reads again to tell a change from a
    /// replacement).
    fn request_action<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
        request: LifecycleAction,
        preconditions: Preconditions,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;

    /// Deletes the Wukong if it still has the precondition's uid; its finalizer stops the VM
    /// before it goes.
    fn delete<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
        preconditions: Preconditions,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;

    /// What was asked of this VM, by whom, and what became of it (newest first), read as `who`.
    fn history<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ClusterError>>;

    /// What KubeVirt says about the Wukong's VirtualMachine and VMI, read as `who` (a role needs
    /// `get` on both). Never an error: what could not be read is said in `unreadable`.
    fn kubevirt<'a>(&'a self, who: &'a Identity, key: &'a VmKey) -> BoxFuture<'a, KubeVirtFacts>;

    /// The same, now and again after every change, for as long as the stream is held: a watch
    /// on just these two objects, as `who` (`get` and `watch`), for one open VM page.
    fn follow_kubevirt(&self, who: Identity, key: VmKey) -> BoxStream<'static, KubeVirtFacts>;

    /// Events about the VM (its Wukong, VirtualMachine and VMI), newest first, read as `who`.
    fn events<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Vec<EventLine>, ClusterError>>;

    /// The name a request by `who` is recorded under (`spec.lifecycleAction.requestedBy`): the
    /// person's user name, or for `Identity::Console` the name the cluster knows the console by.
    fn requester<'a>(&'a self, who: &'a Identity) -> BoxFuture<'a, String> {
        Box::pin(async move { who.name().to_owned() })
    }

    /// The name and groups whoever writes as `who` has on the cluster: a schedule's owner must be
    /// its writer (the owner policy), and the controller's SubjectAccessReviews use the groups.
    fn writer<'a>(&'a self, who: &'a Identity) -> BoxFuture<'a, (String, Vec<String>)> {
        Box::pin(async move {
            match who.as_writer() {
                Some(writer) => writer,
                None => (self.requester(who).await, Vec::new()),
            }
        })
    }

    /// The cluster's clock.
    fn clock(&self) -> Clock {
        Clock::Wall
    }

    /// Every schedule and calendar, now and after each change, read with the console's own
    /// credentials through one watch per process (like [`Cluster::watch`]): each VM's next
    /// scheduled action is computed from it. Without schedules (the default), nothing.
    fn schedules(&self) -> BoxStream<'static, ScheduleSet> {
        Box::pin(futures::stream::pending())
    }

    /// The schedules of a namespace, read as `who` (RBAC applies: `list` on wukongschedules).
    fn list_schedules<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Vec<WukongSchedule>, ClusterError>>;

    /// Writes a schedule as `who`: created when it has no `resourceVersion`, else replaced
    /// whole, if still at that version (`ClusterError::ScheduleConflict` otherwise). Its status is
    /// the controller's and is not written.
    fn write_schedule<'a>(
        &'a self,
        who: &'a Identity,
        schedule: WukongSchedule,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;

    /// Deletes a schedule as `who`, if it still has `uid`.
    fn delete_schedule<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
        name: &'a str,
        uid: &'a str,
    ) -> BoxFuture<'a, Result<(), ClusterError>>;
}
