//! One shared table of rows per process, fed by one watch, fanned out to every browser.

use crate::{row_from_wukong, Cluster, WatchEvent};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use wukong_view::{ClusterInfo, LiveMessage, Snapshot, Upstream, VmKey, VmRow};

/// How many deltas a slow browser may fall behind before it is sent a fresh snapshot instead.
const DELTA_BUFFER: usize = 4096;

/// A delta, serialized once for every subscriber.
#[derive(Clone, Debug)]
pub struct LiveFrame {
    pub seq: u64,
    pub json: Arc<str>,
}

pub struct LiveStore {
    inner: RwLock<Inner>,
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
        }
    }

    /// A snapshot and the deltas after it, taken together so none is missed or repeated:
    /// skip frames whose `seq` is not above the snapshot's.
    pub fn subscribe(&self) -> (Snapshot, broadcast::Receiver<LiveFrame>) {
        let inner = self.read();
        (self.snapshot_of(&inner), self.frames.subscribe())
    }

    /// What one browser receives, as JSON text: its snapshot, then every later delta in order,
    /// a heartbeat after each `heartbeat` of silence, and a fresh snapshot instead of the deltas
    /// it missed if it fell more than the buffer behind (a slow client never holds up others).
    pub fn client_frames(self: &Arc<Self>, heartbeat: Duration) -> BoxStream<'static, Arc<str>> {
        struct Client {
            store: Arc<LiveStore>,
            frames: Option<broadcast::Receiver<LiveFrame>>,
            seq: u64,
            heartbeat: Duration,
        }
        impl Client {
            fn resync(&mut self) -> Option<Arc<str>> {
                let (snapshot, frames) = self.store.subscribe();
                self.frames = Some(frames);
                self.seq = snapshot.seq;
                serde_json::to_string(&LiveMessage::Snapshot(snapshot))
                    .ok()
                    .map(Into::into)
            }
        }
        let client = Client {
            store: self.clone(),
            frames: None,
            seq: 0,
            heartbeat,
        };
        futures::stream::unfold(client, |mut client| async move {
            loop {
                let Some(frames) = client.frames.as_mut() else {
                    let snapshot = client.resync()?;
                    return Some((snapshot, client));
                };
                match tokio::time::timeout(client.heartbeat, frames.recv()).await {
                    Err(_silence) => {
                        let beat = serde_json::to_string(&LiveMessage::Heartbeat).ok()?;
                        return Some((beat.into(), client));
                    }
                    Ok(Ok(frame)) if frame.seq <= client.seq => continue,
                    Ok(Ok(frame)) => {
                        client.seq = frame.seq;
                        return Some((frame.json, client));
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        let snapshot = client.resync()?;
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
        self.emit(inner, |seq| LiveMessage::Upsert { seq, row });
    }

    fn remove(&self, inner: &mut Inner, key: VmKey) {
        if inner.rows.remove(&key).is_some() {
            self.emit(inner, |seq| LiveMessage::Remove { seq, key });
        }
    }

    fn set_upstream(&self, inner: &mut Inner, upstream: Upstream) {
        inner.upstream = upstream.clone();
        self.emit(inner, |seq| LiveMessage::Upstream { seq, upstream });
    }

    fn emit(&self, inner: &mut Inner, message: impl FnOnce(u64) -> LiveMessage) {
        inner.seq += 1;
        let seq = inner.seq;
        match serde_json::to_string(&message(seq)) {
            // No subscriber is not an error: nobody is looking.
            Ok(json) => drop(self.frames.send(LiveFrame {
                seq,
                json: json.into(),
            })),
            Err(e) => tracing::error!(error = %e, "cannot serialize a live delta"),
        }
    }
}
