//! One shared table of rows per process, fed by one watch, fanned out to every browser.

use crate::{row_from_wukong, Access, Cluster, Grants, Identity, WatchEvent};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use wukong_view::{ClusterInfo, LiveMessage, Snapshot, Upstream, Viewer, VmKey, VmRow};

/// How many deltas a slow browser may fall behind before it is sent a fresh snapshot instead.
const DELTA_BUFFER: usize = 4096;

/// A delta, serialized once for every subscriber.
#[derive(Clone, Debug)]
pub struct LiveFrame {
    pub seq: u64,
    pub json: Arc<str>,
    /// The namespace of the row it is about (`None` for news about the store itself): only
    /// people who may list Wukongs there receive it.
    pub namespace: Option<Arc<str>>,
    /// The upserted row, re-serialized with fewer actions for people who may not do them all.
    pub row: Option<Arc<VmRow>>,
}

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
}

/// Grants of `audience` in each of `namespaces`, asked concurrently.
async fn grants_in(audience: &Audience, namespaces: BTreeSet<String>) -> BTreeMap<String, Grants> {
    let asks = namespaces.into_iter().map(|ns| async move {
        let grants = audience.access.grants(&audience.who, &ns).await;
        (ns, grants)
    });
    futures::future::join_all(asks).await.into_iter().collect()
}

/// `snapshot` as `audience` may see it: rows of namespaces they may list, with only the actions
/// RBAC allows them.
fn restrict(
    mut snapshot: Snapshot,
    grants: &BTreeMap<String, Grants>,
    viewer: &Viewer,
) -> Snapshot {
    snapshot.rows = std::mem::take(&mut snapshot.rows)
        .into_iter()
        .filter_map(|row| {
            let g = grants
                .get(&row.key.namespace)
                .copied()
                .unwrap_or(Grants::NONE);
            g.list.then(|| g.mask(row))
        })
        .collect();
    snapshot.viewer = viewer.clone();
    snapshot
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

fn namespaces_of(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot
        .rows
        .iter()
        .map(|r| r.key.namespace.clone())
        .collect()
}

pub struct LiveStore {
    inner: RwLock<Inner>,
    /// The whole snapshot as JSON at one `seq`: serialized once, shared by every browser whose
    /// person may see and do everything (rather than once per connecting browser).
    full_json: std::sync::Mutex<Option<(u64, Arc<str>)>>,
    frames: broadcast::Sender<LiveFrame>,
    ready: watch::Sender<bool>,
    cluster: ClusterInfo,
}

struct Inner {
    rows: BTreeMap<VmKey, VmRow>,
    seq: u64,
    upstream: Upstream,
}

impl LiveStore {
    pub fn new(cluster: ClusterInfo) -> Arc<LiveStore> {
        Arc::new(LiveStore {
            inner: RwLock::new(Inner {
                rows: BTreeMap::new(),
                seq: 0,
                upstream: Upstream::Reconnecting {
                    reason: "connecting to the cluster".to_owned(),
                },
            }),
            full_json: std::sync::Mutex::new(None),
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
        store
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

    /// Waits until the first complete list has arrived.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|ready| *ready).await;
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_of(&self.read())
    }

    fn snapshot_of(&self, inner: &Inner) -> Snapshot {
        Snapshot {
            seq: inner.seq,
            rows: inner.rows.values().cloned().collect(),
            upstream: inner.upstream.clone(),
            cluster: self.cluster.clone(),
            viewer: Viewer::default(),
        }
    }

    /// The snapshot as `audience` may see it (see [`restrict`]).
    pub async fn snapshot_for(&self, audience: &Audience) -> Snapshot {
        let snapshot = self.snapshot();
        let grants = grants_in(audience, namespaces_of(&snapshot)).await;
        restrict(snapshot, &grants, &audience.viewer)
    }

    /// A snapshot and the deltas after it, taken together so none is missed or repeated:
    /// skip frames whose `seq` is not above the snapshot's.
    pub fn subscribe(&self) -> (Snapshot, broadcast::Receiver<LiveFrame>) {
        let inner = self.read();
        (self.snapshot_of(&inner), self.frames.subscribe())
    }

    /// [`LiveStore::subscribe`] for someone who may see everything, as the shared JSON frame.
    /// Also returns the namespaces in it, so the caller can check it may see every one of them.
    #[allow(clippy::type_complexity)]
    fn subscribe_full(
        &self,
    ) -> Option<(
        u64,
        Arc<str>,
        broadcast::Receiver<LiveFrame>,
        BTreeSet<String>,
    )> {
        let inner = self.read();
        let namespaces = namespaces_in(&inner.rows);
        let mut cached = self.full_json.lock().unwrap_or_else(|p| p.into_inner());
        let json = match cached.as_ref() {
            Some((seq, json)) if *seq == inner.seq => json.clone(),
            _ => {
                let message = LiveMessage::Snapshot(self.snapshot_of(&inner));
                let json: Arc<str> = serde_json::to_string(&message).ok()?.into();
                *cached = Some((inner.seq, json.clone()));
                json
            }
        };
        Some((inner.seq, json, self.frames.subscribe(), namespaces))
    }

    /// The namespaces that have rows now.
    fn namespaces(&self) -> BTreeSet<String> {
        namespaces_in(&self.read().rows)
    }

    /// What one browser receives, as JSON text: its snapshot, then every later delta in order,
    /// a heartbeat after each `heartbeat` of silence, and a fresh snapshot instead of the deltas
    /// it missed if it fell more than the buffer behind (a slow client never holds up others).
    ///
    /// Everything is filtered for `audience`: rows (and deltas) of namespaces they may not list
    /// never reach them, and rows offer only the actions RBAC allows. Their grants are asked again
    /// after each `Access::lifetime`; if they changed, the client gets a fresh snapshot.
    pub fn client_frames(
        self: &Arc<Self>,
        audience: Audience,
        heartbeat: Duration,
    ) -> BoxStream<'static, Arc<str>> {
        struct Client {
            store: Arc<LiveStore>,
            audience: Audience,
            frames: Option<broadcast::Receiver<LiveFrame>>,
            seq: u64,
            heartbeat: Duration,
            last_sent: Instant,
            grants: BTreeMap<String, Grants>,
            checked: Instant,
        }
        impl Client {
            /// A fresh snapshot. The page knows who its viewer is (it was rendered for them), so
            /// socket snapshots carry the default viewer, and people who may see and do
            /// everything all get the same shared JSON.
            async fn resync(&mut self) -> Option<Arc<str>> {
                self.grants = grants_in(&self.audience, self.store.namespaces()).await;
                self.checked = Instant::now();
                let everything = self.grants.values().all(|g| g.list && g.patch && g.delete);
                if everything {
                    let (seq, json, frames, namespaces) = self.store.subscribe_full()?;
                    // Only if no namespace appeared since the grants were asked for.
                    if namespaces.iter().all(|ns| self.grants.contains_key(ns)) {
                        self.frames = Some(frames);
                        self.seq = seq;
                        return self.sent(json);
                    }
                }
                let (snapshot, frames) = self.store.subscribe();
                self.frames = Some(frames);
                self.seq = snapshot.seq;
                for ns in namespaces_of(&snapshot) {
                    if !self.grants.contains_key(&ns) {
                        let g = self.audience.access.grants(&self.audience.who, &ns).await;
                        self.grants.insert(ns, g);
                    }
                }
                let snapshot = restrict(snapshot, &self.grants, &Viewer::default());
                self.sent(serde_json::to_string(&LiveMessage::Snapshot(snapshot)).ok()?)
            }

            fn sent(&mut self, text: impl Into<Arc<str>>) -> Option<Arc<str>> {
                self.last_sent = Instant::now();
                Some(text.into())
            }

            /// True when the person's grants changed since they were last asked.
            async fn grants_changed(&mut self) -> bool {
                let mut namespaces: BTreeSet<String> = self.grants.keys().cloned().collect();
                namespaces.extend(namespaces_of(&self.store.snapshot()));
                let fresh = grants_in(&self.audience, namespaces).await;
                self.checked = Instant::now();
                let changed = fresh
                    .iter()
                    .any(|(ns, g)| self.grants.get(ns).is_some_and(|old| old != g));
                self.grants = fresh;
                changed
            }

            /// The frame as this person may see it, if at all.
            async fn filter(&mut self, frame: LiveFrame) -> Option<Arc<str>> {
                let Some(namespace) = frame.namespace.as_deref() else {
                    return Some(frame.json);
                };
                let grants = match self.grants.get(namespace) {
                    Some(g) => *g,
                    None => {
                        let g = self
                            .audience
                            .access
                            .grants(&self.audience.who, namespace)
                            .await;
                        self.grants.insert(namespace.to_owned(), g);
                        g
                    }
                };
                if !grants.list {
                    return None;
                }
                match &frame.row {
                    Some(row) if !(grants.patch && grants.delete) => {
                        let row = grants.mask(VmRow::clone(row));
                        let message = LiveMessage::Upsert {
                            seq: frame.seq,
                            row,
                        };
                        serde_json::to_string(&message).ok().map(Into::into)
                    }
                    _ => Some(frame.json),
                }
            }
        }
        let recheck = audience.access.lifetime();
        let client = Client {
            store: self.clone(),
            audience,
            frames: None,
            seq: 0,
            heartbeat,
            last_sent: Instant::now(),
            grants: BTreeMap::new(),
            checked: Instant::now(),
        };
        futures::stream::unfold(client, move |mut client| async move {
            loop {
                if client.frames.is_none() || client.checked.elapsed() >= recheck {
                    if client.frames.is_none() || client.grants_changed().await {
                        let snapshot = client.resync().await?;
                        return Some((snapshot, client));
                    }
                }
                let until_beat = client.heartbeat.saturating_sub(client.last_sent.elapsed());
                let until_check = recheck.saturating_sub(client.checked.elapsed());
                let frames = client.frames.as_mut()?;
                match tokio::time::timeout(until_beat.min(until_check), frames.recv()).await {
                    Err(_silence) => {
                        if client.last_sent.elapsed() >= client.heartbeat {
                            let beat = serde_json::to_string(&LiveMessage::Heartbeat).ok()?;
                            let beat = client.sent(beat)?;
                            return Some((beat, client));
                        }
                    }
                    Ok(Ok(frame)) if frame.seq <= client.seq => continue,
                    Ok(Ok(frame)) => {
                        client.seq = frame.seq;
                        if let Some(text) = client.filter(frame).await {
                            let text = client.sent(text)?;
                            return Some((text, client));
                        }
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        let snapshot = client.resync().await?;
                        return Some((snapshot, client));
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                }
            }
        })
        .boxed()
    }

    pub fn row(&self, key: &VmKey) -> Option<VmRow> {
        self.read().rows.get(key).cloned()
    }

    pub fn apply(&self, event: WatchEvent) {
        let mut inner = self.write();
        match event {
            WatchEvent::Restarted(list) => {
                let fresh: BTreeMap<VmKey, VmRow> = list
                    .iter()
                    .filter_map(row_from_wukong)
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
                if let Some(row) = row_from_wukong(&wukong) {
                    self.upsert(&mut inner, row);
                }
            }
            WatchEvent::Deleted(wukong) => {
                if let Some(row) = row_from_wukong(&wukong) {
                    self.remove(&mut inner, row.key);
                }
            }
            WatchEvent::Interrupted(reason) => {
                self.set_upstream(&mut inner, Upstream::Reconnecting { reason })
            }
        }
    }

    fn upsert(&self, inner: &mut Inner, row: VmRow) {
        if inner.rows.get(&row.key) == Some(&row) {
            return;
        }
        inner.rows.insert(row.key.clone(), row.clone());
        let namespace = Some(row.key.namespace.as_str().into());
        let shared = Some(Arc::new(row.clone()));
        self.emit(inner, namespace, shared, |seq| LiveMessage::Upsert {
            seq,
            row,
        });
    }

    fn remove(&self, inner: &mut Inner, key: VmKey) {
        if inner.rows.remove(&key).is_some() {
            let namespace = Some(key.namespace.as_str().into());
            self.emit(inner, namespace, None, |seq| LiveMessage::Remove {
                seq,
                key,
            });
        }
    }

    fn set_upstream(&self, inner: &mut Inner, upstream: Upstream) {
        inner.upstream = upstream.clone();
        self.emit(inner, None, None, |seq| LiveMessage::Upstream {
            seq,
            upstream,
        });
    }

    fn emit(
        &self,
        inner: &mut Inner,
        namespace: Option<Arc<str>>,
        row: Option<Arc<VmRow>>,
        message: impl FnOnce(u64) -> LiveMessage,
    ) {
        inner.seq += 1;
        let seq = inner.seq;
        match serde_json::to_string(&message(seq)) {
            // No subscriber is not an error: nobody is looking.
            Ok(json) => drop(self.frames.send(LiveFrame {
                seq,
                json: json.into(),
                namespace,
                row,
            })),
            Err(e) => tracing::error!(error = %e, "cannot serialize a live delta"),
        }
    }
}
