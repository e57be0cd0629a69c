//! One shared table of rows per process, fed by one watch, fanned out to every browser.

use crate::schedules::{Book, ScheduleSet};
use crate::{row_from_wukong, Access, AccessUnknown, Cluster, Grants, Identity, WatchEvent};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
mod client;

use wukong_view::{
    ClusterInfo, ControllerPresence, Filter, LiveMessage, Snapshot, Upstream, View, Viewer, VmKey,
    VmRow,
};

/// How many deltas a slow browser may fall behind before it is sent a fresh snapshot instead.
const DELTA_BUFFER: usize = 4096;

/// What a delta does to the table, so each browser can tell whether its page is touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// News about the store itself (the cluster connection, the controller's presence): everyone
    /// gets it.
    Upstream,
    /// A row appeared: counts and page make-up may change.
    Added,
    /// A row changed; `moved` when its state changed (its place in a state-sorted view).
    Updated { moved: bool },
    /// A row went away.
    Removed,
}

/// A delta, serialized once for every subscriber.
#[derive(Clone, Debug)]
pub struct LiveFrame {
    pub seq: u64,
    pub json: Arc<str>,
    pub change: Change,
    /// The row it is about (`None` for [`Change::Upstream`]): only people who may list Wukongs
    /// in its namespace receive it, and only if it concerns the page they are looking at.
    pub key: Option<Arc<VmKey>>,
    /// The upserted row, re-serialized with fewer actions for people who may not do them all.
    pub row: Option<Arc<VmRow>>,
    /// When the change was seen on the watch (the push latency is measured from here).
    pub seen: std::time::Instant,
}

/// What RBAC answered for one namespace, or that it could not be asked.
type Answer = Result<Grants, AccessUnknown>;

/// Who a snapshot or stream is for: their identity (for RBAC) and what the page says about them.
#[derive(Clone)]
pub struct Audience {
    pub who: Identity,
    pub viewer: Viewer,
    pub access: Arc<dyn Access>,
}

impl Audience {
    /// Everyone, everything: the sandbox without sign-in, and tests of the store itself.
    pub fn open() -> Audience {
        Audience {
            who: Identity::Console,
            viewer: Viewer::default(),
            access: Arc::new(crate::OpenAccess),
        }
    }

    /// Grants in each of `namespaces`, asked concurrently, added to `known`.
    async fn ask(&self, namespaces: BTreeSet<String>, known: &mut BTreeMap<String, Answer>) {
        let asks = namespaces.into_iter().map(|ns| async move {
            let grants = self.access.grants(&self.who, &ns).await;
            (ns, grants)
        });
        known.extend(futures::future::join_all(asks).await);
    }
}

/// This process's wall clock (Unix ms), the one `requestedAt` is written with.
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn version_of(wukong: &wukong_api::Wukong) -> Option<String> {
    wukong.metadata.resource_version.clone()
}

fn namespaces_in(rows: &BTreeMap<VmKey, VmRow>) -> BTreeSet<String> {
    let mut namespaces = BTreeSet::new();
    for key in rows.keys() {
        if !namespaces.contains(&key.namespace) {
            namespaces.insert(key.namespace.clone());
        }
    }
    namespaces
}

/// A delta about a row arriving at a browser's stream: what to do with it.
enum Effect {
    /// Send it (the row is on the page).
    Forward,
    /// The page's make-up or counts may have changed: send a fresh page soon.
    Recompute,
    /// Not about anything this person sees.
    Skip,
}

/// What `/metrics` reports about the store.
#[derive(Clone, Copy, Debug)]
pub struct StoreStats {
    pub rows: usize,
    pub seq: u64,
    pub connected: bool,
    pub controller: ControllerPresence,
    /// Live streams subscribed to its deltas.
    pub browsers: usize,
}

/// A page and what was needed to compute it.
struct Page {
    snapshot: Snapshot,
    /// Namespaces with rows whose grants were not known (their rows were left out).
    unknown: BTreeSet<String>,
}

pub struct LiveStore {
    inner: RwLock<Inner>,
    frames: broadcast::Sender<LiveFrame>,
    ready: watch::Sender<bool>,
    cluster: ClusterInfo,
}

struct Inner {
    rows: BTreeMap<VmKey, VmRow>,
    /// Each row's Wukong `resourceVersion`, for writes conditional on what the row shows.
    versions: HashMap<VmKey, String>,
    seq: u64,
    upstream: Upstream,
    controller: ControllerPresence,
    /// Each row's Wukong labels (only non-empty ones): which schedules select it.
    labels: HashMap<VmKey, BTreeMap<String, String>>,
    /// The schedules and calendars as last listed, and their next edges.
    schedule_set: ScheduleSet,
    book: Book,
    clock: crate::Clock,
}

impl Inner {
    /// The row of a Wukong, with its next scheduled action; remembers its labels.
    fn row_of(&mut self, wukong: &wukong_api::Wukong) -> Option<VmRow> {
        let mut row = row_from_wukong(wukong)?;
        match wukong.metadata.labels.as_ref().filter(|l| !l.is_empty()) {
            Some(labels) => {
                self.labels.insert(row.key.clone(), labels.clone());
            }
            None => {
                self.labels.remove(&row.key);
            }
        }
        row.next = self.next_for(&row.key);
        Some(row)
    }

    fn next_for(&self, key: &VmKey) -> Option<wukong_view::ScheduledNext> {
        let empty = BTreeMap::new();
        self.book.next_for(
            &key.namespace,
            &key.name,
            self.labels.get(key).unwrap_or(&empty),
        )
    }
}

/// Several deltas that change a page's make-up within this long bring one fresh page, not many.
const RECOMPUTE_AFTER: Duration = Duration::from_millis(50);
/// How many times a page is recomputed when namespaces appear while grants are asked.
const GRANT_ROUNDS: usize = 3;

impl LiveStore {
    pub fn new(cluster: ClusterInfo) -> Arc<LiveStore> {
        Arc::new(LiveStore {
            inner: RwLock::new(Inner {
                rows: BTreeMap::new(),
                versions: HashMap::new(),
                seq: 0,
                upstream: Upstream::Reconnecting {
                    reason: "connecting to the cluster".to_owned(),
                },
                controller: ControllerPresence::Unknown,
                labels: HashMap::new(),
                schedule_set: ScheduleSet::default(),
                book: Book::default(),
                clock: crate::Clock::Wall,
            }),
            frames: broadcast::channel(DELTA_BUFFER).0,
            ready: watch::channel(false).0,
            cluster,
        })
    }

    /// Starts the process's one watch on `cluster` and keeps the table in step with it.
    pub fn spawn(cluster: &dyn Cluster) -> Arc<LiveStore> {
        let store = LiveStore::new(cluster.info());
        let mut events = cluster.watch();
        let feeder = store.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                feeder.apply(event);
            }
            feeder.apply(WatchEvent::Interrupted(
                "the cluster's change stream ended".to_owned(),
            ));
        });
        let mut sets = cluster.schedules();
        let clock = cluster.clock();
        store.write().clock = clock;
        let feeder = store.clone();
        tokio::spawn(async move {
            // Rows' next actions change when a schedule or calendar does, and as edges pass.
            let mut due: Option<k8s_openapi::jiff::Timestamp> = None;
            loop {
                let wait = due
                    .and_then(|at| Duration::try_from(at.duration_since(clock.now())).ok())
                    .map_or(Duration::from_secs(3600), |d| {
                        d + Duration::from_millis(500)
                    });
                tokio::select! {
                    set = sets.next() => match set {
                        Some(set) => due = feeder.set_schedules(set),
                        None => break,
                    },
                    () = tokio::time::sleep(wait) => due = feeder.refresh_schedules(),
                }
            }
        });
        let mut presence = cluster.controller();
        let feeder = store.clone();
        tokio::spawn(async move {
            while let Some(controller) = presence.next().await {
                feeder.set_controller(controller);
            }
        });
        store
    }

    /// The schedules and calendars changed: every row's next action is computed again. Returns
    /// when the next edge passes (look again then).
    pub fn set_schedules(&self, set: ScheduleSet) -> Option<k8s_openapi::jiff::Timestamp> {
        self.write().schedule_set = set;
        self.refresh_schedules()
    }

    /// Computes every row's next scheduled action as of now; the rows it changed are sent as
    /// deltas. Returns the earliest next edge.
    pub fn refresh_schedules(&self) -> Option<k8s_openapi::jiff::Timestamp> {
        let mut inner = self.write();
        inner.book = Book::new(&inner.schedule_set, inner.clock.now());
        let changed: Vec<VmRow> = inner
            .rows
            .values()
            .filter_map(|row| {
                let next = inner.next_for(&row.key);
                (next != row.next).then(|| VmRow {
                    next,
                    ..row.clone()
                })
            })
            .collect();
        for row in changed {
            self.upsert(&mut inner, row);
        }
        inner.book.earliest()
    }

    /// Schedules as the page lists them: each with its next edge and the VMs it runs now.
    pub fn schedule_views(
        &self,
        schedules: &[wukong_api::WukongSchedule],
    ) -> Vec<wukong_view::ScheduleView> {
        let inner = self.read();
        let empty = BTreeMap::new();
        schedules
            .iter()
            .map(|schedule| {
                let namespace = schedule.metadata.namespace.as_deref().unwrap_or_default();
                let selected = inner
                    .rows
                    .range(VmKey::new(namespace, "")..)
                    .take_while(|(k, _)| k.namespace == namespace)
                    .filter(|(k, _)| {
                        schedule.selects_vm(
                            namespace,
                            &k.name,
                            inner.labels.get(*k).unwrap_or(&empty),
                        )
                    })
                    .map(|(k, _)| k.name.clone())
                    .collect();
                inner.book.view(schedule, selected)
            })
            .collect()
    }

    /// Whether a lifecycle controller is there; browsers are told when it changes.
    pub fn set_controller(&self, controller: ControllerPresence) {
        let mut inner = self.write();
        if inner.controller != controller {
            inner.controller = controller;
            self.emit(&mut inner, Change::Upstream, None, None, |seq| {
                LiveMessage::Controller { seq, controller }
            });
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the first complete list has arrived (`/readyz`).
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until the first complete list has arrived.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// Counts for `/metrics`: rows, the stream position, whether the watch is connected, and
    /// whether a controller leads.
    pub fn stats(&self) -> StoreStats {
        let inner = self.read();
        StoreStats {
            rows: inner.rows.len(),
            seq: inner.seq,
            connected: inner.upstream == Upstream::Connected,
            controller: inner.controller,
            browsers: self.frames.receiver_count(),
        }
    }

    /// Every row, unfiltered and in key order (for tests and the console's own use).
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.read();
        let rows: Vec<VmRow> = inner.rows.values().cloned().collect();
        let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        Snapshot {
            seq: inner.seq,
            namespaces: namespaces_in(&inner.rows).into_iter().collect(),
            rows,
            upstream: inner.upstream.clone(),
            controller: inner.controller,
            // The store's state, not a moment: an unchanged store gives equal snapshots (the
            // tests' "changes nothing"). Pages for browsers carry the clock.
            server_time_ms: 0,
            cluster: self.cluster.clone(),
            viewer: Viewer::default(),
            view: View::default(),
            matching: count,
            total: count,
            unchecked: Vec::new(),
        }
    }

    /// One page of `view` as `audience` may see it: rows of namespaces they may list, with only
    /// the actions RBAC allows them, filtered, sorted and windowed here on the server.
    pub async fn page_for(&self, audience: &Audience, view: &View) -> Snapshot {
        let mut grants = BTreeMap::new();
        audience.ask(self.namespaces(), &mut grants).await;
        let mut snapshot = self.page_asking(audience, view, &mut grants).await;
        snapshot.viewer = audience.viewer.clone();
        snapshot
    }

    /// [`LiveStore::page`], asking for grants of namespaces that appear meanwhile.
    async fn page_asking(
        &self,
        audience: &Audience,
        view: &View,
        grants: &mut BTreeMap<String, Answer>,
    ) -> Snapshot {
        let mut page = self.page(view, grants);
        for _ in 0..GRANT_ROUNDS {
            if page.unknown.is_empty() {
                break;
            }
            audience
                .ask(std::mem::take(&mut page.unknown), grants)
                .await;
            page = self.page(view, grants);
        }
        page.snapshot
    }

    /// The keys of every row `audience` may see that match `filter`, now; [`AccessUnknown`] when
    /// a namespace with matching rows could not be checked (acting on the others only would
    /// quietly leave some out).
    pub async fn keys_matching(
        &self,
        audience: &Audience,
        filter: &Filter,
    ) -> Result<Vec<VmKey>, AccessUnknown> {
        self.matching(audience, filter, |key, _, _| key.clone())
            .await
    }

    /// The rows of [`LiveStore::keys_matching`], as `audience` sees them (their actions masked by
    /// RBAC): what a bulk action over a filter would meet.
    pub async fn rows_matching(
        &self,
        audience: &Audience,
        filter: &Filter,
    ) -> Result<Vec<VmRow>, AccessUnknown> {
        self.matching(audience, filter, |_, row, grants| grants.mask(row.clone()))
            .await
    }

    async fn matching<T>(
        &self,
        audience: &Audience,
        filter: &Filter,
        take: impl Fn(&VmKey, &VmRow, &Grants) -> T,
    ) -> Result<Vec<T>, AccessUnknown> {
        let mut grants = BTreeMap::new();
        audience.ask(self.namespaces(), &mut grants).await;
        let matches = filter.matcher();
        let mut found = Vec::new();
        for (key, row) in self.read().rows.iter().filter(|(key, _)| matches(key)) {
            match grants.get(&key.namespace) {
                Some(Ok(g)) if g.list => found.push(take(key, row, g)),
                Some(Err(unknown)) => return Err(unknown.clone()),
                _ => {}
            }
        }
        Ok(found)
    }

    /// One page, computed under one read lock. Rows of namespaces missing from `grants` are
    /// left out and named in `unknown`; rows of namespaces RBAC could not be asked about are left
    /// out and named in the snapshot's `unchecked`.
    fn page(&self, view: &View, grants: &BTreeMap<String, Answer>) -> Page {
        let inner = self.read();
        let matches = view.filter.matcher();
        let mut unknown = BTreeSet::new();
        let mut namespaces: Vec<&str> = Vec::new();
        let mut unchecked: Vec<&str> = Vec::new();
        let mut total = 0u32;
        let mut matching: Vec<(&VmRow, Grants)> = Vec::new();
        for (key, row) in &inner.rows {
            let g = match grants.get(&key.namespace) {
                Some(Ok(g)) => g,
                Some(Err(_)) => {
                    if unchecked.last() != Some(&key.namespace.as_str()) {
                        unchecked.push(&key.namespace);
                    }
                    continue;
                }
                None => {
                    unknown.insert(key.namespace.clone());
                    continue;
                }
            };
            if !g.list {
                continue;
            }
            total += 1;
            // Rows are in namespace order, so a namespace is new when it differs from the last.
            if namespaces.last() != Some(&key.namespace.as_str()) {
                namespaces.push(&key.namespace);
            }
            if matches(key) {
                matching.push((row, *g));
            }
        }
        // Only the rows up to the end of the page need to be in order: select them (linear),
        // then sort just those, rather than sorting every matching row.
        let end = view
            .offset()
            .saturating_add(view.page_size as usize)
            .min(matching.len());
        let order = |a: &(&VmRow, Grants), b: &(&VmRow, Grants)| view.order(a.0, b.0);
        if end > 0 && end < matching.len() {
            matching.select_nth_unstable_by(end - 1, order);
        }
        matching[..end].sort_unstable_by(order);
        let rows = matching[view.offset().min(end)..end]
            .iter()
            .map(|(row, g)| g.mask(VmRow::clone(row)))
            .collect();
        Page {
            snapshot: Snapshot {
                seq: inner.seq,
                rows,
                upstream: inner.upstream.clone(),
                controller: inner.controller,
                server_time_ms: wall_clock_ms(),
                cluster: self.cluster.clone(),
                viewer: Viewer::default(),
                view: view.clone(),
                matching: u32::try_from(matching.len()).unwrap_or(u32::MAX),
                total,
                namespaces: namespaces.into_iter().map(str::to_owned).collect(),
                unchecked: unchecked.into_iter().map(str::to_owned).collect(),
            },
            unknown,
        }
    }

    /// Every delta from now on, unfiltered (for tests and tools; browsers use `client_frames`).
    pub fn deltas(&self) -> broadcast::Receiver<LiveFrame> {
        self.frames.subscribe()
    }

    /// The namespaces that have rows now.
    fn namespaces(&self) -> BTreeSet<String> {
        namespaces_in(&self.read().rows)
    }

    /// What one browser receives, as JSON text: a snapshot of its page, then every later delta
    /// that touches that page, in order; a fresh page when the page's make-up changes (and
    /// whenever the browser sends a new view on `views`), a heartbeat after each `heartbeat` of
    /// silence, and a fresh page instead of the deltas it missed if it fell more than the buffer
    /// behind (a slow client never holds up others).
    ///
    /// Everything is filtered for `audience`: rows of namespaces they may not list never reach
    /// them, and rows offer only the actions RBAC allows. Their grants are asked again after each
    /// `Access::lifetime`; if they changed, the client gets a fresh page.
    pub fn client_frames(
        self: &Arc<Self>,
        audience: Audience,
        view: View,
        heartbeat: Duration,
        views: BoxStream<'static, View>,
    ) -> BoxStream<'static, Arc<str>> {
        let feed = client::ClientFeed::new(self.clone(), audience, view, heartbeat, views);
        futures::stream::unfold(feed, |mut feed| async move {
            let frame = feed.next_frame().await?;
            Some((frame, feed))
        })
        .boxed()
    }

    pub fn row(&self, key: &VmKey) -> Option<VmRow> {
        self.read().rows.get(key).cloned()
    }

    /// The row of `key` and the `resourceVersion` of the Wukong it was made from: enough to
    /// decide on an action and write it conditionally (a newer version answers 409).
    pub fn known(&self, key: &VmKey) -> Option<(VmRow, String)> {
        let inner = self.read();
        Some((
            inner.rows.get(key)?.clone(),
            inner.versions.get(key)?.clone(),
        ))
    }

    pub fn apply(&self, event: WatchEvent) {
        let mut inner = self.write();
        match event {
            WatchEvent::Restarted(list) => {
                crate::metrics::metrics().watch_restarts.inc();
                inner.versions = list
                    .iter()
                    .filter_map(|w| Some((row_from_wukong(w)?.key, version_of(w)?)))
                    .collect();
                inner.labels.clear();
                let fresh: BTreeMap<VmKey, VmRow> = list
                    .iter()
                    .filter_map(|w| inner.row_of(w))
                    .map(|row| (row.key.clone(), row))
                    .collect();
                let gone: Vec<VmKey> = inner
                    .rows
                    .keys()
                    .filter(|k| !fresh.contains_key(*k))
                    .cloned()
                    .collect();
                for key in gone {
                    self.remove(&mut inner, key);
                }
                for row in fresh.into_values() {
                    self.upsert(&mut inner, row);
                }
                if inner.upstream != Upstream::Connected {
                    self.set_upstream(&mut inner, Upstream::Connected);
                }
                self.ready.send_replace(true);
            }
            WatchEvent::Applied(wukong) => {
                if let Some(row) = inner.row_of(&wukong) {
                    match version_of(&wukong) {
                        Some(version) => inner.versions.insert(row.key.clone(), version),
                        None => inner.versions.remove(&row.key),
                    };
                    self.upsert(&mut inner, row);
                }
            }
            WatchEvent::Deleted(wukong) => {
                if let Some(row) = row_from_wukong(&wukong) {
                    inner.versions.remove(&row.key);
                    inner.labels.remove(&row.key);
                    self.remove(&mut inner, row.key);
                }
            }
            WatchEvent::Interrupted(reason) => {
                self.set_upstream(&mut inner, Upstream::Reconnecting { reason })
            }
        }
    }

    fn upsert(&self, inner: &mut Inner, mut row: VmRow) {
        // A request written without `requestedAt` (not by a console) has waited since this
        // store first saw it.
        if row.pending.is_some() && row.pending_since_ms.is_none() {
            row.pending_since_ms = inner
                .rows
                .get(&row.key)
                .filter(|old| old.pending.is_some())
                .and_then(|old| old.pending_since_ms)
                .or_else(|| Some(wall_clock_ms()));
        }
        let change = match inner.rows.get(&row.key) {
            Some(old) if *old == row => return,
            Some(old) => Change::Updated {
                moved: old.state != row.state,
            },
            None => Change::Added,
        };
        inner.rows.insert(row.key.clone(), row.clone());
        let key = Some(Arc::new(row.key.clone()));
        let shared = Some(Arc::new(row.clone()));
        self.emit(inner, change, key, shared, |seq| LiveMessage::Upsert {
            seq,
            row,
        });
    }

    fn remove(&self, inner: &mut Inner, key: VmKey) {
        if inner.rows.remove(&key).is_some() {
            let shared = Some(Arc::new(key.clone()));
            self.emit(inner, Change::Removed, shared, None, |seq| {
                LiveMessage::Remove { seq, key }
            });
        }
    }

    fn set_upstream(&self, inner: &mut Inner, upstream: Upstream) {
        inner.upstream = upstream.clone();
        self.emit(inner, Change::Upstream, None, None, |seq| {
            LiveMessage::Upstream { seq, upstream }
        });
    }

    fn emit(
        &self,
        inner: &mut Inner,
        change: Change,
        key: Option<Arc<VmKey>>,
        row: Option<Arc<VmRow>>,
        message: impl FnOnce(u64) -> LiveMessage,
    ) {
        inner.seq += 1;
        let seq = inner.seq;
        // Nobody is looking (no socket, no test): the position still moves, nothing is serialized.
        // A subscriber taken later starts from a page at or after this `seq`.
        if self.frames.receiver_count() == 0 {
            return;
        }
        match serde_json::to_string(&message(seq)) {
            // A subscriber gone since the count is not an error.
            Ok(json) => drop(self.frames.send(LiveFrame {
                seq,
                json: json.into(),
                change,
                key,
                row,
                seen: std::time::Instant::now(),
            })),
            Err(e) => tracing::error!(error = %e, "cannot serialize a live delta"),
        }
    }
}
