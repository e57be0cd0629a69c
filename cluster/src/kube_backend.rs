//! The console against a real Kubernetes API server (kube-rs): one watcher for all Wukongs (with
//! the console's own credentials), and every person's reads and writes made *as that person*:
//! with their own bearer token when they signed in with one (`--auth=token`), else through
//! impersonation headers (`--auth=proxy`). Lifecycle requests are merge patches of
//! `spec.lifecycleAction` under the `wukong-console` field manager, deletes use background
//! propagation.

use crate::schedules::ScheduleSet;
use crate::{BearerToken, Cluster, ClusterError, Identity, Person, WatchEvent, WatchStream};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;
use futures::StreamExt;
use http::HeaderValue;
use k8s_openapi::api::core::v1::Event;
use kube::api::{
    Api, DeleteParams, GetParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy,
    WatchParams,
};
use kube::config::AuthInfo;
use kube::core::ObjectList;
use kube::core::Request;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Config, Resource};
use std::path::Path;
use std::sync::Arc;
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::{
    LifecycleAction, Preconditions, Wukong, WukongCalendar, WukongSchedule, CONSOLE_FIELD_MANAGER,
};
use wukong_view::{
    Action, ClusterInfo, ClusterKind, ControllerPresence, EventLine, HistoryEntry, KubeVirtFacts,
    VmKey,
};

#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    /// How to reach the apiserver, for clients that carry a person's token instead of the
    /// console's credentials.
    config: Config,
    /// One client (and connection pool) per signed-in token, dropped after a quiet while.
    personal: moka::sync::Cache<Arc<str>, Client>,
    info: ClusterInfo,
    /// Who the cluster says the console itself is (asked once, on first need).
    own_name: std::sync::Arc<tokio::sync::OnceCell<(String, Vec<String>)>>,
    /// The controller's Lease, whose holder tells whether requests are being carried out.
    controller_lease: Option<crate::presence::LeaseRef>,
}

impl KubeCluster {
    /// Connects through `kubeconfig`, else as every Wukong process finds its cluster
    /// (`wukong_api::connect`: `KUBECONFIG`, a pod's ServiceAccount, `~/.kube/config`).
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<KubeCluster, ClusterError> {
        let config = wukong_api::connect::Source::choose(kubeconfig)
            .config()
            .await
            .map_err(ClusterError::Unavailable)?;
        KubeCluster::from_config(config)
    }

    /// A cluster from an explicit client configuration (tests use it for impersonation).
    pub fn from_config(config: Config) -> Result<KubeCluster, ClusterError> {
        let name = config
            .cluster_url
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| config.cluster_url.to_string());
        let client = Client::try_from(config.clone())
            .map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        let info = ClusterInfo {
            kind: ClusterKind::Kubernetes,
            name,
        };
        Ok(KubeCluster {
            client,
            config,
            personal: moka::sync::Cache::builder()
                .max_capacity(PERSONAL_CLIENTS)
                .time_to_idle(PERSONAL_CLIENT_IDLE)
                .build(),
            info,
            own_name: Default::default(),
            controller_lease: Some(crate::presence::LeaseRef::default()),
        })
    }

    /// Where to read whether a controller runs (`None`: nowhere; the console then says it cannot
    /// tell, and only requests left unanswered show that none acts).
    pub fn with_controller_lease(mut self, lease: Option<crate::presence::LeaseRef>) -> Self {
        self.controller_lease = lease;
        self
    }

    /// The console's own client (its ServiceAccount): the shared watch and access reviews.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    fn requests(namespace: &str) -> Request {
        Request::new(Wukong::url_path(&(), Some(namespace)))
    }

    /// A client that authenticates with `token` only: the apiserver sees the person, and none
    /// of the console's own credentials (client certificate, ServiceAccount token) travel along.
    fn client_with(&self, token: &BearerToken) -> Result<Client, ClusterError> {
        let key: Arc<str> = Arc::from(token.expose());
        if let Some(client) = self.personal.get(&key) {
            return Ok(client);
        }
        let mut config = self.config.clone();
        config.auth_info = AuthInfo {
            token: Some(token.expose().to_owned().into()),
            ..AuthInfo::default()
        };
        let client = Client::try_from(config).map_err(|e| {
            ClusterError::Unavailable(format!("cannot reach the cluster with your sign-in: {e}"))
        })?;
        self.personal.insert(key, client.clone());
        Ok(client)
    }

    /// Sends `request` as `who`, so the apiserver authorizes the person, not the console: with
    /// their own token when they have one, else with the console's credentials impersonating
    /// them. `Identity::Console` (no sign-in) is the console itself.
    async fn send_as(
        &self,
        who: &Identity,
        key: &VmKey,
        action: Action,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<String, ClusterError> {
        let mut request =
            request.map_err(|e| ClusterError::Invalid(format!("cannot build the request: {e}")))?;
        let client = self.client_as(who, &mut request)?;
        client
            .request_text(request)
            .await
            .map_err(|e| api_error(key, action, e))
    }

    /// The client that sends `request` as `who` (impersonation headers added to it in `proxy`
    /// mode).
    fn client_as(
        &self,
        who: &Identity,
        request: &mut http::Request<Vec<u8>>,
    ) -> Result<Client, ClusterError> {
        Ok(match who {
            Identity::Console => self.client.clone(),
            Identity::Person(Person {
                token: Some(token), ..
            }) => self.client_with(token)?,
            Identity::Person(person) => {
                let value = |v: &str| {
                    HeaderValue::from_str(v).map_err(|_| {
                        ClusterError::Invalid(format!(
                            "the name {v:?} cannot be passed on to Kubernetes (it must be printable ASCII)"
                        ))
                    })
                };
                let headers = request.headers_mut();
                headers.insert("Impersonate-User", value(&person.user)?);
                for group in &person.groups {
                    headers.append("Impersonate-Group", value(group)?);
                }
                self.client.clone()
            }
        })
    }

    /// One of the VM's KubeVirt objects, read as `who`: `Ok(None)` when there is none.
    async fn kubevirt_object<K>(&self, who: &Identity, key: &VmKey) -> Result<Option<K>, String>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + serde::de::DeserializeOwned
            + Clone,
    {
        let request = Request::new(K::url_path(&(), Some(&key.namespace)))
            .get(&key.name, &GetParams::default())
            .map_err(|e| e.to_string())?;
        let mut request = request;
        let client = self
            .client_as(who, &mut request)
            .map_err(|e| e.to_string())?;
        match client.request::<K>(request).await {
            Ok(object) => Ok(Some(object)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(kubevirt_unreadable::<K>(key, e)),
        }
    }

    /// The VM and VMI, read as `who`, with the resource versions a watch goes on from.
    async fn read_kubevirt(&self, who: &Identity, key: &VmKey) -> Followed {
        let (vm, vmi) = futures::join!(
            self.kubevirt_object::<VirtualMachine>(who, key),
            self.kubevirt_object::<VirtualMachineInstance>(who, key),
        );
        let mut followed = Followed::default();
        match vm {
            Ok(vm) => followed.vm = vm,
            Err(e) => followed.unreadable = Some(e),
        }
        match vmi {
            Ok(vmi) => followed.vmi = vmi,
            Err(e) => {
                followed.unreadable.get_or_insert(e);
            }
        }
        followed
    }

    /// Changes to one named KubeVirt object after `version`, watched as `who`
    /// (`?fieldSelector=metadata.name=`; RBAC's `watch` on that one name is enough).
    async fn watch_object<K>(
        &self,
        who: &Identity,
        key: &VmKey,
        version: &str,
    ) -> Result<BoxStream<'static, kube::Result<kube::core::WatchEvent<K>>>, String>
    where
        K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + serde::de::DeserializeOwned
            + Clone
            + Send
            + 'static,
    {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", key.name))
            .timeout(FOLLOW_WATCH_SECONDS);
        let mut request = Request::new(K::url_path(&(), Some(&key.namespace)))
            .watch(&params, version)
            .map_err(|e| e.to_string())?;
        let client = self
            .client_as(who, &mut request)
            .map_err(|e| e.to_string())?;
        let events = client
            .request_events::<K>(request)
            .await
            .map_err(|e| kubevirt_unreadable::<K>(key, e))?;
        Ok(events.boxed())
    }
}

/// How long one follow watch runs before it is opened again (the apiserver's own limit is longer).
const FOLLOW_WATCH_SECONDS: u32 = 290;
/// After a follow watch fails: wait this long before reading again.
const FOLLOW_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// What a VM page's follow holds: the two objects as last seen.
#[derive(Default)]
struct Followed {
    vm: Option<VirtualMachine>,
    vmi: Option<VirtualMachineInstance>,
    unreadable: Option<String>,
}

impl Followed {
    fn facts(&self) -> KubeVirtFacts {
        KubeVirtFacts {
            vm: self.vm.as_ref().map(crate::detail::vm_facts),
            vmi: self.vmi.as_ref().map(crate::detail::vmi_facts),
            unreadable: self.unreadable.clone(),
        }
    }

    /// Where a watch goes on from: the object's version, else the other's (one etcd revision
    /// counts for every kind), else now.
    fn version(&self, own: Option<&str>) -> String {
        own.or(self
            .vm
            .as_ref()
            .and_then(|o| o.metadata.resource_version.as_deref()))
            .or(self
                .vmi
                .as_ref()
                .and_then(|o| o.metadata.resource_version.as_deref()))
            .unwrap_or("0")
            .to_owned()
    }
}

/// Why a KubeVirt object could not be read, for the page (the cluster's words kept).
fn kubevirt_unreadable<K: kube::Resource<DynamicType = ()>>(
    key: &VmKey,
    error: kube::Error,
) -> String {
    let kind = K::kind(&());
    match error {
        kube::Error::Api(status) if status.code == 403 => format!(
            "you are not allowed to read the {kind} {key}: {}",
            status.message
        ),
        kube::Error::Api(status) => format!(
            "the {kind} {key} cannot be read: {} ({})",
            status.message, status.code
        ),
        other => format!("the {kind} {key} cannot be read: {other}"),
    }
}

/// Signed-in tokens with a client of their own at once (more are dropped least recently used).
const PERSONAL_CLIENTS: u64 = 10_000;
/// A token's client is dropped after this long unused (a session's idle timeout is 30 min).
const PERSONAL_CLIENT_IDLE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A change to one of the two objects a VM page follows.
enum Change {
    Vm(kube::core::WatchEvent<VirtualMachine>),
    Vmi(kube::core::WatchEvent<VirtualMachineInstance>),
}

impl Followed {
    /// Takes a change in; `false` when the watch must be opened again (410 Gone, an error).
    fn apply(&mut self, change: Change) -> bool {
        use kube::core::WatchEvent as E;
        match change {
            Change::Vm(E::Added(o) | E::Modified(o)) => self.vm = Some(o),
            Change::Vm(E::Deleted(_)) => self.vm = None,
            Change::Vmi(E::Added(o) | E::Modified(o)) => self.vmi = Some(o),
            Change::Vmi(E::Deleted(_)) => self.vmi = None,
            Change::Vm(E::Bookmark(_)) | Change::Vmi(E::Bookmark(_)) => {}
            Change::Vm(E::Error(_)) | Change::Vmi(E::Error(_)) => return false,
        }
        true
    }
}

/// Who reports the lifecycle controller's Events (its kube `Reporter`).
/// The lifecycle controller's `reportingController` on its Events.
pub const CONTROLLER: &str = "wukong-controller";

/// A History line from an Event the lifecycle controller reported that is not a request's outcome
/// (a stop forced at its deadline, a VM that is not the Wukong's, ...). Anyone who may create
/// Events can write one that claims to come from the controller, so Events never name a
/// requester here: who asked comes from status only.
fn controller_event(event: Event) -> Option<HistoryEntry> {
    let reporter = event
        .reporting_component
        .as_deref()
        .or(event.source.as_ref().and_then(|s| s.component.as_deref()));
    if reporter != Some(CONTROLLER) {
        return None;
    }
    let reason = event.reason.unwrap_or_default();
    // Requests' outcomes come from status, which the controller alone writes (a forged Event
    // could fake one).
    if wukong_lifecycle::decide::RequestOutcome::parse(&reason).is_some() {
        return None;
    }
    let at = event
        .event_time
        .map(|t| t.0)
        .or(event.last_timestamp.map(|t| t.0))
        .or(event.first_timestamp.map(|t| t.0));
    let note = event.message.unwrap_or_default();
    let (message, _claimed_requester) = wukong_api::split_requester(&note);
    Some(HistoryEntry {
        at_ms: at.map(|t| t.as_millisecond()),
        action: event.action.unwrap_or_default(),
        requested_by: None,
        outcome: reason,
        message: (!message.is_empty()).then(|| message.to_owned()),
        says: wukong_api::says_from_annotations(&event.metadata.annotations.unwrap_or_default()),
    })
}

/// Maps an API error to what the person can do about it.
pub fn api_error(key: &VmKey, action: Action, error: kube::Error) -> ClusterError {
    match error {
        kube::Error::Api(status) => match status.code {
            404 => ClusterError::NotFound { key: key.clone() },
            403 => ClusterError::Forbidden {
                key: key.clone(),
                action,
                message: status.message,
            },
            409 => ClusterError::Conflict {
                key: key.clone(),
                message: status.message,
            },
            400 | 422 => ClusterError::Invalid(status.message),
            _ => ClusterError::Unavailable(format!("{} ({})", status.message, status.code)),
        },
        other => ClusterError::Unavailable(other.to_string()),
    }
}

impl Cluster for KubeCluster {
    fn info(&self) -> ClusterInfo {
        self.info.clone()
    }

    fn watch(&self) -> WatchStream {
        let api: Api<Wukong> = Api::all(self.client.clone());
        // Buffers a (re)list between Init and InitDone so the store sees one complete list; a
        // 410 Gone or a dropped connection restarts the watcher with backoff, ending in a relist.
        watcher(api, watcher::Config::default())
            .backoff(wukong_api::watch::backoff())
            .scan(Vec::new(), |buffer: &mut Vec<Wukong>, event| {
                let out = match event {
                    Ok(watcher::Event::Init) => {
                        buffer.clear();
                        None
                    }
                    Ok(watcher::Event::InitApply(wukong)) => {
                        buffer.push(wukong);
                        None
                    }
                    Ok(watcher::Event::InitDone) => {
                        Some(WatchEvent::Restarted(std::mem::take(buffer)))
                    }
                    Ok(watcher::Event::Apply(wukong)) => Some(WatchEvent::Applied(wukong)),
                    Ok(watcher::Event::Delete(wukong)) => Some(WatchEvent::Deleted(wukong)),
                    Err(e) => Some(WatchEvent::Interrupted(format!(
                        "watch on the API server failed: {e}"
                    ))),
                };
                futures::future::ready(Some(out))
            })
            .filter_map(futures::future::ready)
            .boxed()
    }

    fn controller(&self) -> futures::stream::BoxStream<'static, ControllerPresence> {
        match &self.controller_lease {
            Some(lease) => crate::presence::presence(self.client.clone(), lease.clone()),
            None => Box::pin(futures::stream::pending()),
        }
    }

    fn get<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Wukong, ClusterError>> {
        Box::pin(async move {
            let request = Self::requests(&key.namespace).get(&key.name, &GetParams::default());
            let text = self.send_as(who, key, Action::Start, request).await?;
            serde_json::from_str(&text).map_err(|e| {
                ClusterError::Unavailable(format!("the cluster sent an unreadable {key}: {e}"))
            })
        })
    }

    fn request_action<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
        request: LifecycleAction,
        preconditions: Preconditions,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let action = request.action();
            let patch = request.merge_patch(&preconditions);
            let params = PatchParams {
                field_manager: Some(CONSOLE_FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            let request =
                Self::requests(&key.namespace).patch(&key.name, &params, &Patch::Merge(&patch));
            self.send_as(who, key, action, request).await.map(drop)
        })
    }

    fn delete<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
        preconditions: Preconditions,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            // Background: the Wukong goes at once from the API's point of view and its finalizer
            // (the lifecycle controller) stops and deletes the VM. Foreground would wait for the
            // garbage collector to remove owned objects first.
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(kube::api::Preconditions {
                    uid: preconditions.uid,
                    resource_version: preconditions.resource_version,
                }),
                ..DeleteParams::default()
            };
            let request = Self::requests(&key.namespace).delete(&key.name, &params);
            self.send_as(who, key, Action::Delete, request)
                .await
                .map(drop)
        })
    }

    fn history<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ClusterError>> {
        Box::pin(async move {
            // Read as the person (their role must allow reading the Wukong and listing Events in
            // the namespace; the team roles in deploy/base/rbac do). Requests come from the Wukong's
            // status, which only the controller writes and which outlives Events (an hour).
            let wukong = self.get(who, key).await?;
            let mut entries = crate::history_from_status(&wukong);
            let uid = wukong.metadata.uid.clone().unwrap_or_default();
            let fields = format!(
                "involvedObject.kind=Wukong,involvedObject.name={},involvedObject.uid={uid}",
                key.name
            );
            let request = Request::new(Event::url_path(&(), Some(&key.namespace)))
                .list(&ListParams::default().fields(&fields).limit(200));
            let text = self.send_as(who, key, Action::Start, request).await?;
            let events: ObjectList<Event> = serde_json::from_str(&text).map_err(|e| {
                ClusterError::Unavailable(format!("the cluster sent unreadable Events: {e}"))
            })?;
            entries.extend(events.items.into_iter().filter_map(controller_event));
            entries.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
            entries.truncate(50);
            Ok(entries)
        })
    }

    fn kubevirt<'a>(&'a self, who: &'a Identity, key: &'a VmKey) -> BoxFuture<'a, KubeVirtFacts> {
        Box::pin(async move { self.read_kubevirt(who, key).await.facts() })
    }

    fn follow_kubevirt(&self, who: Identity, key: VmKey) -> BoxStream<'static, KubeVirtFacts> {
        let this = self.clone();
        let (out, facts) = tokio::sync::mpsc::channel::<KubeVirtFacts>(1);
        tokio::spawn(async move {
            let mut last = None::<KubeVirtFacts>;
            let mut send = |now: KubeVirtFacts, out: &tokio::sync::mpsc::Sender<_>| {
                let changed = last.as_ref() != Some(&now);
                last = Some(now.clone());
                let out = out.clone();
                async move { !changed || out.send(now).await.is_ok() }
            };
            loop {
                // Read both, then watch each from there; any trouble: read again.
                let mut seen = this.read_kubevirt(&who, &key).await;
                if !send(seen.facts(), &out).await {
                    return;
                }
                if seen.unreadable.is_none() {
                    let vm_from = seen.version(
                        seen.vm
                            .as_ref()
                            .and_then(|o| o.metadata.resource_version.as_deref()),
                    );
                    let vmi_from = seen.version(
                        seen.vmi
                            .as_ref()
                            .and_then(|o| o.metadata.resource_version.as_deref()),
                    );
                    let watches = futures::join!(
                        this.watch_object::<VirtualMachine>(&who, &key, &vm_from),
                        this.watch_object::<VirtualMachineInstance>(&who, &key, &vmi_from),
                    );
                    if let (Ok(vms), Ok(vmis)) = watches {
                        let mut changes = futures::stream::select(
                            vms.map(|e| e.map(Change::Vm)),
                            vmis.map(|e| e.map(Change::Vmi)),
                        );
                        loop {
                            let next = tokio::select! {
                                next = changes.next() => next,
                                () = out.closed() => return,
                            };
                            // A watch ended (its timeout), broke or said 410 Gone: read again.
                            let Some(Ok(change)) = next else { break };
                            if !seen.apply(change) {
                                break;
                            }
                            if !send(seen.facts(), &out).await {
                                return;
                            }
                        }
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(FOLLOW_RETRY) => {}
                    () = out.closed() => return,
                }
            }
        });
        futures::stream::unfold(facts, |mut facts| async move {
            facts.recv().await.map(|f| (f, facts))
        })
        .boxed()
    }

    fn events<'a>(
        &'a self,
        who: &'a Identity,
        key: &'a VmKey,
    ) -> BoxFuture<'a, Result<Vec<EventLine>, ClusterError>> {
        Box::pin(async move {
            // Events of the Wukong, its VM and its VMI: they share the name.
            let fields = format!("involvedObject.name={}", key.name);
            let request = Request::new(Event::url_path(&(), Some(&key.namespace)))
                .list(&ListParams::default().fields(&fields).limit(200));
            let text = self.send_as(who, key, Action::Start, request).await?;
            let events: ObjectList<Event> = serde_json::from_str(&text).map_err(|e| {
                ClusterError::Unavailable(format!("the cluster sent unreadable Events: {e}"))
            })?;
            Ok(crate::detail::newest_events(
                events
                    .items
                    .into_iter()
                    .filter_map(crate::detail::event_line)
                    .collect(),
            ))
        })
    }

    fn requester<'a>(&'a self, who: &'a Identity) -> BoxFuture<'a, String> {
        Box::pin(async move { self.writer(who).await.0 })
    }

    fn writer<'a>(&'a self, who: &'a Identity) -> BoxFuture<'a, (String, Vec<String>)> {
        Box::pin(async move {
            if let Some(writer) = who.as_writer() {
                return writer;
            }
            // Without sign-in the console writes as itself: record the name the apiserver
            // knows it by (a SelfSubjectReview), which is what an admission policy can check.
            let asked = self
                .own_name
                .get_or_try_init(|| async {
                    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
                    Api::<SelfSubjectReview>::all(self.client.clone())
                        .create(
                            &kube::api::PostParams::default(),
                            &SelfSubjectReview::default(),
                        )
                        .await
                        .ok()
                        .and_then(|r| {
                            let info = r.status?.user_info?;
                            Some((info.username?, info.groups.unwrap_or_default()))
                        })
                        .ok_or(())
                })
                .await;
            match asked {
                Ok(found) => found.clone(),
                // Not cached: asked again next time.
                Err(()) => (who.name().to_owned(), Vec::new()),
            }
        })
    }

    fn schedules(&self) -> BoxStream<'static, ScheduleSet> {
        schedule_watch(self.client.clone())
    }

    fn list_schedules<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Vec<WukongSchedule>, ClusterError>> {
        Box::pin(async move {
            let mut request = Request::new(WukongSchedule::url_path(&(), Some(namespace)))
                .list(&ListParams::default())
                .map_err(|e| ClusterError::Invalid(format!("cannot build the request: {e}")))?;
            let client = self.client_as(who, &mut request)?;
            client
                .request::<ObjectList<WukongSchedule>>(request)
                .await
                .map(|list| list.items)
                .map_err(|e| schedule_error(namespace, "", e))
        })
    }

    fn write_schedule<'a>(
        &'a self,
        who: &'a Identity,
        schedule: WukongSchedule,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let namespace = schedule.metadata.namespace.clone().unwrap_or_default();
            let name = schedule.metadata.name.clone().unwrap_or_default();
            let body = serde_json::to_vec(&schedule)
                .map_err(|e| ClusterError::Invalid(format!("cannot write the schedule: {e}")))?;
            let params = PostParams {
                field_manager: Some(CONSOLE_FIELD_MANAGER.into()),
                ..PostParams::default()
            };
            let url = Request::new(WukongSchedule::url_path(&(), Some(&namespace)));
            let request = match schedule.metadata.resource_version {
                None => url.create(&params, body),
                Some(_) => url.replace(&name, &params, body),
            };
            let mut request = request
                .map_err(|e| ClusterError::Invalid(format!("cannot build the request: {e}")))?;
            let client = self.client_as(who, &mut request)?;
            client
                .request_text(request)
                .await
                .map(drop)
                .map_err(|e| schedule_error(&namespace, &name, e))
        })
    }

    fn delete_schedule<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
        name: &'a str,
        uid: &'a str,
    ) -> BoxFuture<'a, Result<(), ClusterError>> {
        Box::pin(async move {
            let params = DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    uid: Some(uid.to_owned()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let mut request = Request::new(WukongSchedule::url_path(&(), Some(namespace)))
                .delete(name, &params)
                .map_err(|e| ClusterError::Invalid(format!("cannot build the request: {e}")))?;
            let client = self.client_as(who, &mut request)?;
            client
                .request_text(request)
                .await
                .map(drop)
                .map_err(|e| schedule_error(namespace, name, e))
        })
    }
}

/// A schedule write's error, for the person who made it.
fn schedule_error(namespace: &str, name: &str, error: kube::Error) -> ClusterError {
    let schedule = format!("{namespace}/{name}");
    match error {
        kube::Error::Api(status) => match status.code {
            403 => ClusterError::ScheduleForbidden {
                namespace: namespace.to_owned(),
                message: status.message,
            },
            // A precondition that failed (uid, resourceVersion) or a schedule gone since.
            404 | 409 if status.reason != "AlreadyExists" => {
                ClusterError::ScheduleConflict { schedule }
            }
            409 => ClusterError::schedule_exists(&schedule),
            400 | 422 => ClusterError::Invalid(status.message),
            _ => ClusterError::Unavailable(format!("{} ({})", status.message, status.code)),
        },
        other => ClusterError::Unavailable(other.to_string()),
    }
}

/// One watch each on schedules and calendars (the console's credentials), as whole sets after
/// each change: they are few, and a set is simpler to follow than deltas.
fn schedule_watch(client: Client) -> BoxStream<'static, ScheduleSet> {
    use kube::runtime::reflector;
    let (schedules, schedule_writer) = reflector::store::<WukongSchedule>();
    let (calendars, calendar_writer) = reflector::store::<WukongCalendar>();
    let changes = futures::stream::select(
        watcher(
            Api::<WukongSchedule>::all(client.clone()),
            watcher::Config::default(),
        )
        .backoff(wukong_api::watch::backoff())
        .reflect(schedule_writer)
        .map(|e| e.is_ok())
        .boxed(),
        watcher(
            Api::<WukongCalendar>::all(client),
            watcher::Config::default(),
        )
        .backoff(wukong_api::watch::backoff())
        .reflect(calendar_writer)
        .map(|e| e.is_ok())
        .boxed(),
    );
    changes
        .filter_map(move |ok| {
            let (schedules, calendars) = (schedules.clone(), calendars.clone());
            async move {
                // Only once both lists are in: a half-known set would show wrong next actions.
                if !ok
                    || schedules.wait_until_ready().now_or_never().is_none()
                    || calendars.wait_until_ready().now_or_never().is_none()
                {
                    return None;
                }
                Some(ScheduleSet {
                    schedules: schedules.state().iter().map(|s| (**s).clone()).collect(),
                    calendars: calendars.state().iter().map(|c| (**c).clone()).collect(),
                })
            }
        })
        .boxed()
}
