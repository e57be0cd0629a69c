//! The reconciler: one Wukong at a time, in the shape of kube-rs's controller-rs, as
//! observe → decide → act.
//!
//! - **observe** (`observe`): the VM and VMI under the Wukong's name, from reflector stores kept
//!   by the same watches that wake the reconciler; a pending request is decided on the cached
//!   Wukong once the watch has shown our last write to it, and read afresh from the API server
//!   until then (a stale cache must never make us act on a request twice: `written`);
//! - **decide** (`wukong_lifecycle::decide`, pure, shared with the sandbox): what to do on
//!   KubeVirt this turn, then, from KubeVirt's answer, the `lifecycleState`, the history line, the
//!   Event and when to look again;
//! - **act** (`act`): the KubeVirt call, the VM create/delete, the finalizer, one status write,
//!   the Event.
//!
//! Everything about a request lives in the Wukong's status (deadline, restarted VMI,
//! acknowledged request id), so any replica that leads next decides the same.

use crate::act::{Created, Target, VmDeleted};
use crate::events::EventWriter;
use crate::kubevirt::{CallError, KubevirtClient};
use crate::metrics::{ActionLabels, Metrics, ReadFrom};
use crate::observe::{Observer, Seen};
use crate::written::{Written, WAIT_FOR_OWN_WRITE};
use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{self, Action as Requeue, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, info_span, warn, Instrument};
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::{LifecycleState, Wukong, WukongStatus, FINALIZER};
use wukong_lifecycle::decide::{self, Answer, Input, Purpose, Record, Work};

/// The field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "wukong-controller";

/// How many Wukongs are reconciled at once unless configured otherwise (`--concurrency`).
///
/// A reconcile is I/O bound: at most a fresh read when a request is pending, one KubeVirt call, one
/// status write, each a round trip of a few milliseconds that leaves the CPU idle. One at a time
/// caps a bulk action at a few hundred requests a second however fast the apiserver is; unbounded
/// (kube-rs's default) lets a relist of 10,000 Wukongs open thousands of requests at once, past
/// the apiserver's `--max-mutating-requests-inflight` (200), which answers 429. 64 keeps well
/// inside that limit with room for the console and the simulator, and already saturates the two
/// cores of the machines measured in docs/performance.md.
pub const DEFAULT_CONCURRENCY: u16 = 64;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("KubeVirt did not answer: {0}")]
    Kubevirt(kube::Error),
    #[error("the Wukong has no namespace")]
    NotNamespaced,
    #[error("the Wukong has no uid (not read from the API server)")]
    NoUid,
    /// The Wukong this reconcile decided on was deleted, or deleted and created again under the
    /// same name, before a write for it landed: nothing to retry (the new one, if any, gets a
    /// reconcile of its own from the watch).
    #[error("the Wukong is gone or was replaced by a new one of the same name")]
    Replaced,
    /// A turn took longer than [`TURN_TIMEOUT`] (a request the API server never answered).
    #[error("the API server did not answer within {0:?}; looking again")]
    TimedOut(Duration),
}

/// The longest one turn may take. kube's client sets no read timeout, and the controller runs one
/// turn per Wukong at a time, so a request the API server never answers (one sent as it shuts
/// down) would stop that Wukong's every later turn. Past this the turn is dropped, which is safe
/// for the same reason a crash is (what a turn is about to do is in status first), and tried again.
/// Longer than the API server's own timeout for a proxied KubeVirt call (60 s).
const TURN_TIMEOUT: Duration = Duration::from_secs(90);

impl Error {
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(_) => "kube",
            Error::Kubevirt(_) => "kubevirt",
            Error::NotNamespaced | Error::NoUid => "invalid",
            Error::Replaced => "replaced",
            Error::TimedOut(_) => "timeout",
        }
    }
}

pub struct Context {
    pub client: Client,
    pub kubevirt: KubevirtClient,
    pub events: EventWriter,
    pub metrics: Arc<Metrics>,
    /// Annotations of a Wukong copied onto its VM: only those under these prefixes
    /// (`--copy-annotation-prefix`).
    pub copy_annotation_prefixes: Vec<String>,
    /// How many Wukongs are reconciled at once.
    pub concurrency: u16,
    /// Requests whose last KubeVirt call got no answer (the connection broke), and when: KubeVirt
    /// may have taken that call, and then refuses its retry 409 before its objects show why. A
    /// hint for how long to wait before reporting such a refusal, nothing more: lost with the
    /// process, the refusal is reported at once, as before.
    pub unanswered: std::sync::Mutex<HashMap<String, Instant>>,
    /// Whether the Wukong cache shows our last write to each Wukong (then a request is decided on
    /// the cached Wukong, with no fresh read).
    pub written: Written,
}

/// How long after a call that got no answer a 409 for its retry is not reported yet, while
/// KubeVirt's objects do not show why (they catch up within seconds after an outage).
const UNANSWERED_GRACE: Duration = Duration::from_secs(10);

impl Context {
    pub fn new(
        client: Client,
        kubevirt: KubevirtClient,
        events: EventWriter,
        metrics: Arc<Metrics>,
        copy_annotation_prefixes: Vec<String>,
        concurrency: u16,
    ) -> Context {
        Context {
            client,
            kubevirt,
            events,
            metrics,
            copy_annotation_prefixes,
            concurrency,
            unanswered: std::sync::Mutex::default(),
            written: Written::default(),
        }
    }

    /// Notes that `request`'s call got no answer (entries older than a minute go).
    fn call_unanswered(&self, request: &str) {
        if let Ok(mut unanswered) = self.unanswered.lock() {
            unanswered.retain(|_, at| at.elapsed() < Duration::from_secs(60));
            unanswered.insert(request.to_owned(), Instant::now());
        }
    }

    /// Whether `request`'s last call got no answer less than [`UNANSWERED_GRACE`] ago.
    fn recently_unanswered(&self, request: &str) -> bool {
        self.unanswered.lock().is_ok_and(|u| {
            u.get(request)
                .is_some_and(|at| at.elapsed() < UNANSWERED_GRACE)
        })
    }
}

/// The reconciler's shared state: the context and the VM/VMI stores.
struct Shared {
    ctx: Arc<Context>,
    observer: Observer,
}

/// Runs the controller until `shutdown` completes: over all namespaces, or only `namespace`.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    // Leading again after a time on standby: another leader wrote meanwhile.
    ctx.written.relisted();
    let (wukongs, vms, vmis) = match namespace {
        Some(ns) => (
            Api::<Wukong>::namespaced(client.clone(), ns),
            Api::<VirtualMachine>::namespaced(client.clone(), ns),
            Api::<VirtualMachineInstance>::namespaced(client, ns),
        ),
        None => (
            Api::<Wukong>::all(client.clone()),
            Api::<VirtualMachine>::all(client.clone()),
            Api::<VirtualMachineInstance>::all(client),
        ),
    };
    // One watch each on VMs and VMIs, reflected into the stores `observe` reads and used as the
    // reconciler's triggers.
    // Every cache drops what the controller never reads (`lean`): at 10,000 Wukongs, VMs and VMIs
    // their managedFields were most of the process's memory.
    let (wukong_store, wukong_writer) = reflector::store();
    let (vm_store, vm_writer) = reflector::store();
    let (vmi_store, vmi_writer) = reflector::store();
    // A (re)list of any of the three reconciles every Wukong once its store holds the list (see
    // `settled`).
    let (relisted, relists) = futures::channel::mpsc::unbounded::<()>();
    let (before_cache, after_cache) = (ctx.clone(), ctx.clone());
    let wukong_events = settled(
        watcher(wukongs, watcher::Config::default())
            .backoff(wukong_api::watch::backoff())
            .modify(lean)
            // Before the store takes the event: a relist or a deletion is forgotten first, so a
            // reconcile that reads the store after it sees it forgotten (`Observer::current`).
            .inspect_ok(move |event| cache_will_take(&before_cache.written, event))
            .reflect(wukong_writer)
            // After: a write of ours the cache now holds.
            .inspect_ok(move |event| cache_took(&after_cache.written, event)),
        relisted.clone(),
        "wukongs",
    );
    let vm_events = settled(
        watcher(vms, watcher::Config::default())
            .backoff(wukong_api::watch::backoff())
            .modify(lean)
            .reflect(vm_writer),
        relisted.clone(),
        "virtualmachines",
    );
    let vmi_events = settled(
        watcher(vmis, watcher::Config::default())
            .backoff(wukong_api::watch::backoff())
            .modify(lean)
            .reflect(vmi_writer),
        relisted,
        "virtualmachineinstances",
    );
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        observer: Observer {
            wukongs: wukong_store.clone(),
            vms: vm_store.clone(),
            vmis: vmi_store.clone(),
        },
    });
    let controller = Controller::for_stream(wukong_events, wukong_store)
        .with_config(controller::Config::default().concurrency(ctx.concurrency))
        // By name rather than ownership: a VM of the Wukong's name that is someone else's must
        // wake the Wukong too (to report it, and to create its own VM once that one is gone).
        // Whether a VM is the Wukong's is decided in `observe`, never by this mapping.
        .watches_stream(vm_events, |vm| {
            Some(ObjectRef::<Wukong>::new(&vm.name_any()).within(&vm.namespace()?))
        })
        // A VMI belongs to the VM of the same name, which belongs to the Wukong of the same name.
        .watches_stream(vmi_events, |vmi| {
            Some(ObjectRef::<Wukong>::new(&vmi.name_any()).within(&vmi.namespace()?))
        })
        .reconcile_all_on(relists)
        .graceful_shutdown_on(shutdown);
    controller
        .run(reconcile, error_policy, shared)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The objects a watch touched, passed on once the store it feeds holds them: an applied or
/// deleted object as it comes; a (re)list only as a whole, at its end, by a signal on `relisted`
/// (which reconciles every Wukong). The store takes a relist whole at its end (`InitDone`), so
/// an object passed on while the list arrives would be looked at in the store before it is
/// there: after a kube-apiserver restart, 25 of 1,000 Wukongs were reconciled against the
/// Running VMs the old store still held, and nothing woke them again (found by the fault runs).
///
/// Each (re)list and each failure of the watch is logged (`watch` = `what`): the controller's
/// run drops its triggers' errors, and a watch that comes back late is otherwise invisible.
fn settled<K>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    relisted: futures::channel::mpsc::UnboundedSender<()>,
    what: &'static str,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Send + 'static,
{
    events.filter_map(move |event| {
        let out = match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::Delete(object)) => Some(Ok(object)),
            Ok(watcher::Event::InitDone) => {
                info!(watch = what, "listed");
                // Only fails once the controller is gone.
                let _ = relisted.unbounded_send(());
                None
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
            Err(e) => {
                warn!(watch = what, error = %e, "watch failed; retrying");
                Some(Err(e))
            }
        };
        futures::future::ready(out)
    })
}

/// Tells `written` what the Wukong cache is about to lose: a deleted Wukong, or everything when a
/// relist begins and when it replaces the store.
fn cache_will_take(written: &Written, event: &watcher::Event<Wukong>) {
    match event {
        watcher::Event::Delete(w) => {
            if let Some(uid) = &w.metadata.uid {
                written.gone(uid);
            }
        }
        watcher::Event::Init | watcher::Event::InitDone => written.relisted(),
        watcher::Event::Apply(_) | watcher::Event::InitApply(_) => {}
    }
}

/// Tells `written` which version of a Wukong the cache now holds.
fn cache_took(written: &Written, event: &watcher::Event<Wukong>) {
    if let watcher::Event::Apply(w) = event {
        if let (Some(uid), Some(version)) = (&w.metadata.uid, &w.metadata.resource_version) {
            written.passed(uid, version);
        }
    }
}

/// Drops from a cached object what no decision reads: its managedFields (the field managers of
/// every write, often larger than the object) and a `kubectl apply` copy of the whole object.
fn lean<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

fn error_policy(_wukong: Arc<Wukong>, error: &Error, shared: Arc<Shared>) -> Requeue {
    shared.ctx.metrics.count_error(error.kind());
    match error {
        Error::Replaced => {
            info!("the Wukong is gone or was replaced; dropping this reconcile");
            Requeue::await_change()
        }
        // Our view was stale: look again at once.
        Error::Kube(kube::Error::Api(s)) if s.code == 409 => {
            Requeue::requeue(Duration::from_millis(200))
        }
        _ => {
            warn!(error = %error, "reconcile failed; retrying in 5 s");
            Requeue::requeue(Duration::from_secs(5))
        }
    }
}

async fn reconcile(wukong: Arc<Wukong>, shared: Arc<Shared>) -> Result<Requeue, Error> {
    let ctx = &shared.ctx;
    let namespace = wukong.namespace().ok_or(Error::NotNamespaced)?;
    let name = wukong.name_any();
    let uid = wukong.uid().ok_or(Error::NoUid)?;
    let request_id = wukong
        .spec
        .lifecycle_action
        .as_ref()
        .map(|a| a.request_id.clone())
        .unwrap_or_default();
    // Named apart from the console's `request_id` (its HTTP request's, on every line it writes).
    let span = info_span!("reconcile", %namespace, %name, lifecycle_request_id = %request_id);
    ctx.metrics.reconciles.inc();
    let target = Target {
        ctx,
        wukongs: Api::namespaced(ctx.client.clone(), &namespace),
        vms: Api::namespaced(ctx.client.clone(), &namespace),
        vmis: Api::namespaced(ctx.client.clone(), &namespace),
        namespace,
        name,
        uid,
    };
    async {
        // Decide on nothing before the stores hold the cluster: an empty store reads as "no VM"
        // and would make us create one that exists. Not awaited: the stores' readiness signal
        // wakes only the last of several waiting reconciles (a oneshot holds one waker), so a
        // reconcile that finds them not ready yet comes back shortly instead.
        let vms = shared.observer.vms.wait_until_ready().now_or_never();
        let vmis = shared.observer.vmis.wait_until_ready().now_or_never();
        match (vms, vmis) {
            (Some(Ok(())), Some(Ok(()))) => {
                tokio::time::timeout(TURN_TIMEOUT, turn(&target, &shared.observer, wukong))
                    .await
                    .unwrap_or(Err(Error::TimedOut(TURN_TIMEOUT)))
            }
            // The stores' writers are gone: the controller is shutting down.
            (Some(Err(_)), _) | (_, Some(Err(_))) => Ok(Requeue::await_change()),
            _ => Ok(Requeue::requeue(Duration::from_millis(100))),
        }
    }
    .instrument(span)
    .await
}

/// One turn for one Wukong: observe, decide, act.
async fn turn(
    target: &Target<'_>,
    observer: &Observer,
    wukong: Arc<Wukong>,
) -> Result<Requeue, Error> {
    let deleting = wukong.metadata.deletion_timestamp.is_some();
    let has_finalizer = wukong.finalizers().iter().any(|f| f == FINALIZER);
    if deleting && !has_finalizer {
        return Ok(Requeue::await_change());
    }
    if !deleting && !has_finalizer {
        target.add_finalizer(&wukong).await?;
    }
    // A request, or an auto-start not yet reported, is decided on a Wukong that shows our last
    // write: decided on one that does not, a request already acknowledged goes to KubeVirt again,
    // and an auto-start goes out twice (KubeVirt refuses the second, and its report overwrote the
    // first's Starting with Stopped). The cache shows it once the watch passed it (`Written`);
    // until then the Wukong is read afresh.
    let auto_start_due = wukong
        .spec
        .start_strategy
        .as_ref()
        .is_some_and(|s| s.auto_start)
        && wukong.lifecycle_state().is_none();
    // A request this controller already acknowledged, shown as pending by a cache older than that
    // write: the watch brings the write, and with it another turn (`Written::acknowledging`).
    if let Some(request) = wukong.pending_request().filter(|_| !deleting) {
        if target
            .ctx
            .written
            .acknowledging(&target.uid, &request.request_id)
        {
            target
                .ctx
                .metrics
                .request_reads
                .get_or_create(&ReadFrom { from: "awaited" })
                .inc();
            return Ok(Requeue::requeue(WAIT_FOR_OWN_WRITE));
        }
    }
    let mut wukong = if !deleting && (wukong.pending_request().is_some() || auto_start_due) {
        let cached = observer.current(
            &target.ctx.written,
            &target.namespace,
            &target.name,
            &target.uid,
        );
        let from = if cached.is_some() {
            "cache"
        } else {
            "apiserver"
        };
        target
            .ctx
            .metrics
            .request_reads
            .get_or_create(&ReadFrom { from })
            .inc();
        let taken = match cached {
            Some(cached) => cached,
            None => {
                let fresh = Arc::new(target.fresh().await?);
                target.knew(&fresh, observer);
                fresh
            }
        };
        if let Some(s) = Metrics::since_requested(taken.pending_request()) {
            target.ctx.metrics.request_taken_up.observe(s);
        }
        taken
    } else {
        wukong
    };
    let mut seen = observer.seen(&target.namespace, &target.name);
    // An intent the installed CRD dropped (see `carried_on`), kept for this reconcile only.
    let mut dropped_intent: Option<String> = None;
    // Whether a refusal already made this reconcile read KubeVirt afresh (once at most).
    let mut refusal_rechecked = false;
    // A few turns at most: a create answered 409 looks again afresh; a turn that asks to be
    // looked at again at once (an intent written, a deadline forced before a request) goes on here.
    for _ in 0..3 {
        let input = input(target, &wukong, &seen, dropped_intent.as_deref());
        let decision = decide::decide(&input, &target.namespace, &target.name);
        let request_id = input.request.map(|r| r.id.to_owned());
        let carried = carry_out(target, observer, &wukong, &seen, decision.work).await;
        if let (Err(Error::Kubevirt(_)), Some(id)) = (&carried, &request_id) {
            target.ctx.call_unanswered(id);
        }
        let answer = match carried? {
            Carried::Answer(answer) => answer,
            Carried::LookAgain(fresh) => {
                seen = fresh;
                continue;
            }
            Carried::Done(requeue) => return Ok(requeue),
        };
        let purpose = match decision.work {
            Work::Call(_, purpose) => Some(purpose),
            _ => None,
        };
        // KubeVirt refused a request's call as in conflict with the VM's state, which the watch
        // may show late: after a crash or a KubeVirt restart, our own earlier call may be what
        // changed it. Decide once more on a fresh read, where `decide` recognises a VM already on
        // the request's way (accepted, not refused); the same VM and VMI as before mean a real
        // refusal.
        if let (Some((409, _)), Some(Purpose::Request { .. }), false) =
            (&answer, purpose, refusal_rechecked)
        {
            refusal_rechecked = true;
            let fresh = Observer::fresh(&target.vms, &target.vmis, &target.name).await?;
            let version = |s: &Seen| {
                let vm = s.vm.as_ref().and_then(|vm| vm.resource_version());
                (vm, s.vmi.as_ref().and_then(|vmi| vmi.resource_version()))
            };
            if version(&fresh) != version(&seen) {
                seen = fresh;
                continue;
            }
            // Our own earlier call, whose answer was lost, may be what KubeVirt refuses for:
            // look again shortly, before reporting a refusal its objects do not explain yet.
            if request_id
                .as_deref()
                .is_some_and(|id| target.ctx.recently_unanswered(id))
            {
                return Ok(Requeue::requeue(Duration::from_secs(1)));
            }
        }
        let outcome = decision.conclude(match &answer {
            None => Answer::Done,
            Some((code, message)) => Answer::Refused {
                code: *code,
                message,
            },
        });
        let status = status_for(&wukong, &seen, &target.uid, &outcome);
        let writing = Instant::now();
        let stored = target.write_status(&wukong, &status).await?;
        if let Some(stored) = &stored {
            target.knew(stored, observer);
        }
        target
            .ctx
            .metrics
            .status_write
            .observe(writing.elapsed().as_secs_f64());
        count(target, &wukong, &outcome, purpose);
        for note in outcome.notes.iter().cloned() {
            target.event(&wukong, note);
        }
        if outcome.recheck_after_ms > 0 {
            return Ok(Requeue::requeue(ms(outcome.recheck_after_ms)));
        }
        let Some(stored) = stored else {
            return Ok(Requeue::requeue(ms(0)));
        };
        dropped_intent = carried_on(&outcome, &stored);
        wukong = Arc::new(stored);
        seen = observer.seen(&target.namespace, &target.name);
    }
    Ok(Requeue::requeue(ms(0)))
}

/// What `decide` reads: the Wukong, what KubeVirt shows of it, the clock.
fn input<'a>(
    target: &Target<'_>,
    wukong: &'a Wukong,
    seen: &'a Seen,
    dropped_intent: Option<&'a str>,
) -> Input<'a> {
    let deleting = wukong.metadata.deletion_timestamp.is_some();
    let mut reported = wukong
        .lifecycle_state()
        .map(LifecycleState::reported)
        .unwrap_or_default();
    if reported.in_flight_request_id.is_none() {
        reported.in_flight_request_id = dropped_intent;
    }
    Input {
        now_ms: Timestamp::now().as_millisecond(),
        deleting,
        auto_start: wukong
            .spec
            .start_strategy
            .as_ref()
            .is_some_and(|s| s.auto_start),
        grace_seconds: wukong.spec.termination_grace_period_seconds,
        reported,
        request: if deleting {
            None
        } else {
            wukong.decision_request()
        },
        backing: seen.backing(wukong, &target.uid),
    }
}

/// How carrying out a decision's work went.
enum Carried {
    /// KubeVirt's refusal (code, message), or `None`: done (or nothing to call). Conclude with it.
    Answer(Option<(u16, String)>),
    /// Decide again on what was read afresh (a create answered 409).
    LookAgain(Seen),
    /// The turn ends here (a VM created, the finalizer released, a VM replaced under us).
    Done(Requeue),
}

/// Carries out `work`: the KubeVirt call, or the VM's create or delete, or the finalizer.
async fn carry_out(
    target: &Target<'_>,
    observer: &Observer,
    wukong: &Wukong,
    seen: &Seen,
    work: Work,
) -> Result<Carried, Error> {
    let again = Requeue::requeue(ms(decide::WORK_RECHECK_MS));
    Ok(match work {
        Work::CreateVm => match target.create_vm(wukong).await? {
            Created::New => {
                // Its watch event wakes the Wukong again; until the store has it, a turn would
                // read "no VM" and create it again (a 409 and two reads wasted).
                if !observer.created(&target.namespace, &target.name).await {
                    warn!("the VirtualMachine created 1 s ago is not in the watch yet (a slow watch); the next turn may find its name taken and read afresh");
                }
                Carried::Done(again)
            }
            Created::NameTaken => {
                Carried::LookAgain(Observer::fresh(&target.vms, &target.vmis, &target.name).await?)
            }
        },
        Work::Release => {
            target.remove_finalizer(wukong).await?;
            info!("nothing of this Wukong's is left in KubeVirt; released it");
            Carried::Done(Requeue::await_change())
        }
        Work::DeleteVm => {
            let vm_uid = seen.vm.as_ref().and_then(|vm| vm.uid());
            match target.delete_vm(vm_uid).await? {
                VmDeleted::Gone => Carried::Answer(None),
                VmDeleted::Replaced => Carried::Done(again),
            }
        }
        // A previous leader's call that KubeVirt took: acknowledged, not repeated.
        Work::Report | Work::AlreadyDone(_) => Carried::Answer(None),
        Work::Call(call, purpose) => {
            let started = Instant::now();
            let result = target
                .ctx
                .kubevirt
                .call(&target.namespace, &target.name, call)
                .await;
            if let Purpose::Request { action, .. } = purpose {
                target
                    .ctx
                    .metrics
                    .action_duration
                    .get_or_create(&ActionLabels {
                        action: action.as_str().to_owned(),
                    })
                    .observe(started.elapsed().as_secs_f64());
            }
            match result {
                Ok(()) => Carried::Answer(None),
                Err(CallError::Refused { code, message }) => Carried::Answer(Some((code, message))),
                // No answer: nothing is acknowledged; the error policy retries.
                Err(CallError::Unanswered(e)) => return Err(Error::Kubevirt(e)),
            }
        }
    })
}

/// After a turn that goes on at once: the intent it wrote, if the stored object lost it. An older
/// CRD prunes the field; the restart still goes out (this reconcile keeps the intent), without its
/// guard against a crash before the acknowledgement.
fn carried_on(outcome: &decide::Outcome, stored: &Wukong) -> Option<String> {
    let intent = outcome.report.in_flight_request_id.clone()?;
    let kept = stored
        .lifecycle_state()
        .is_some_and(|s| s.in_flight_request_id.is_some());
    if kept {
        return None;
    }
    warn!("the installed Wukong CRD drops status.lifecycleState.inFlightRequestId (older than this controller): apply deploy/base/crd.yaml");
    Some(intent)
}

/// The whole status for one turn's outcome: the report, the history, and what KubeVirt shows of
/// the VM (nothing read from someone else's VM is reported).
fn status_for(wukong: &Wukong, seen: &Seen, uid: &str, outcome: &decide::Outcome) -> WukongStatus {
    let mut status = WukongStatus {
        recent_requests: wukong
            .status
            .as_ref()
            .map(|s| s.recent_requests.clone())
            .unwrap_or_default(),
        lifecycle_state: Some(LifecycleState::from_report(outcome.report.clone())),
        ..WukongStatus::default()
    };
    if let Some(vm) = seen.ours(uid).filter(|_| outcome.report_vm) {
        status.node_name = seen.node_name(vm);
        status.run_strategy = Some(vm.run_strategy());
        status.printable_status = vm.printable_status().map(str::to_owned);
        status.vmi_phase = seen.vmi_phase(vm);
    }
    wukong.record(&mut status, outcome.records.clone(), Time(Timestamp::now()));
    status
}

/// Metrics and the log line of a request taken up.
fn count(
    target: &Target<'_>,
    wukong: &Wukong,
    outcome: &decide::Outcome,
    purpose: Option<Purpose>,
) {
    let metrics = &target.ctx.metrics;
    if purpose == Some(Purpose::ForceAtDeadline) {
        metrics.count_request(wukong_lifecycle::Action::Stop.as_str(), "forced");
    }
    for record in &outcome.records {
        match record {
            Record::TakenUp {
                outcome: taken,
                message,
                ..
            } => {
                let action = wukong
                    .pending_request()
                    .map(|r| r.action().as_str())
                    .unwrap_or_default();
                metrics.count_request(action, taken.label());
                if let Some(s) = Metrics::since_requested(wukong.pending_request()) {
                    metrics.request_acknowledged.observe(s);
                }
                info!(
                    action,
                    outcome = taken.as_str(),
                    message = message.as_deref().unwrap_or(""),
                    "request taken up"
                );
            }
            Record::Unexplained { message, .. } => info!(%message, "state changed with no request"),
        }
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}
