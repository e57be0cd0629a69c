//! One browser's feed from the live store (`LiveStore::client_frames`): its page, the deltas
//! that touch it, fresh pages when its make-up changes or the view changes, heartbeats, and
//! re-asked grants.

use super::{Answer, Audience, Change, Effect, LiveFrame, LiveStore, RECOMPUTE_AFTER};
use crate::Grants;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use wukong_view::{LiveMessage, SortBy, View, VmKey, VmRow};

/// One browser's place in the live store's stream of deltas.
pub(super) struct ClientFeed {
    store: Arc<LiveStore>,
    audience: Audience,
    view: View,
    views: Option<BoxStream<'static, View>>,
    /// The keys on the page last sent.
    on_page: HashSet<VmKey>,
    frames: Option<broadcast::Receiver<LiveFrame>>,
    seq: u64,
    heartbeat: Duration,
    last_sent: Instant,
    grants: BTreeMap<String, Answer>,
    checked: Instant,
    /// When a fresh page is due, after a change to the page's make-up.
    recompute_at: Option<Instant>,
    /// How long the person's grants are believed before they are asked again.
    recheck: Duration,
}

impl ClientFeed {
    /// A fresh page. The page knows who its viewer is (it was rendered for them), so
    /// socket snapshots carry the default viewer.
    async fn resync(&mut self) -> Option<Arc<str>> {
        if self.frames.is_none() {
            // Subscribe before computing, so no delta after the page is missed (and
            // those before it are skipped by `seq`).
            self.frames = Some(self.store.frames.subscribe());
        }
        // Namespaces not asked yet, and those whose answer was unknown: ask again.
        let mut fresh = self.store.namespaces();
        fresh.retain(|ns| !matches!(self.grants.get(ns), Some(Ok(_))));
        self.audience.ask(fresh, &mut self.grants).await;
        self.checked = Instant::now();
        let snapshot = self
            .store
            .page_asking(&self.audience, &self.view, &mut self.grants)
            .await;
        self.recompute_at = None;
        self.seq = snapshot.seq;
        self.on_page = snapshot.rows.iter().map(|r| r.key.clone()).collect();
        self.sent(serde_json::to_string(&LiveMessage::Snapshot(snapshot)).ok()?)
    }

    fn sent(&mut self, text: impl Into<Arc<str>>) -> Option<Arc<str>> {
        self.last_sent = Instant::now();
        Some(text.into())
    }

    /// True when the person's grants changed since they were last asked.
    async fn grants_changed(&mut self) -> bool {
        let mut namespaces: BTreeSet<String> = self.grants.keys().cloned().collect();
        namespaces.extend(self.store.namespaces());
        let mut fresh = BTreeMap::new();
        self.audience.ask(namespaces, &mut fresh).await;
        self.checked = Instant::now();
        // An answer that became known or unknown counts as a change, so the page says so.
        let changed = fresh.iter().any(|(ns, g)| {
            self.grants
                .get(ns)
                .is_some_and(|old| old.as_ref().ok() != g.as_ref().ok())
        });
        self.grants = fresh;
        changed
    }

    /// Grants in `namespace`; an unknown answer is kept until the next recheck (so a
    /// throttled apiserver is not asked again for every delta) and shows nothing.
    async fn grants_for(&mut self, namespace: &str) -> Grants {
        if let Some(g) = self.grants.get(namespace) {
            return g.as_ref().copied().unwrap_or(Grants::NONE);
        }
        let g = self
            .audience
            .access
            .grants(&self.audience.who, namespace)
            .await;
        let known = g.as_ref().copied().unwrap_or(Grants::NONE);
        self.grants.insert(namespace.to_owned(), g);
        known
    }

    /// What `frame` means for this person's page.
    async fn effect(&mut self, frame: &LiveFrame) -> (Effect, Grants) {
        let Some(key) = frame.key.as_deref() else {
            return (Effect::Forward, Grants::ALL);
        };
        let grants = self.grants_for(&key.namespace).await;
        if !grants.list {
            return (Effect::Skip, grants);
        }
        let effect = match frame.change {
            Change::Upstream => Effect::Forward,
            Change::Added | Change::Removed => Effect::Recompute,
            Change::Updated { moved: true }
                if self.view.sort == SortBy::State && self.view.filter.matches(key) =>
            {
                Effect::Recompute
            }
            Change::Updated { .. } if self.on_page.contains(key) => Effect::Forward,
            Change::Updated { .. } => Effect::Skip,
        };
        (effect, grants)
    }

    /// The frame as this person may see it, if it concerns their page.
    async fn filter(&mut self, frame: LiveFrame) -> Option<Arc<str>> {
        match self.effect(&frame).await {
            (Effect::Skip, _) => None,
            (Effect::Recompute, _) => {
                let due = Instant::now() + RECOMPUTE_AFTER;
                self.recompute_at.get_or_insert(due);
                None
            }
            (Effect::Forward, grants) => match &frame.row {
                Some(row) if grants.masks() => {
                    let row = grants.mask(VmRow::clone(row));
                    let message = LiveMessage::Upsert {
                        seq: frame.seq,
                        row,
                    };
                    serde_json::to_string(&message).ok().map(Into::into)
                }
                _ => Some(frame.json),
            },
        }
    }
    /// The next text frame for the browser; `None` ends the stream (the store is gone).
    pub(super) async fn next_frame(&mut self) -> Option<Arc<str>> {
        loop {
            if self.frames.is_none()
                || self.recompute_at.is_some_and(|at| at <= Instant::now())
                || (self.checked.elapsed() >= self.recheck && self.grants_changed().await)
            {
                let snapshot = self.resync().await?;
                return Some(snapshot);
            }
            let until_beat = self.heartbeat.saturating_sub(self.last_sent.elapsed());
            let until_check = self.recheck.saturating_sub(self.checked.elapsed());
            let until_recompute = self.recompute_at.map_or(Duration::MAX, |at| {
                at.saturating_duration_since(Instant::now())
            });
            let wait = until_beat.min(until_check).min(until_recompute);
            let frames = self.frames.as_mut()?;
            let next_view = async {
                match self.views.as_mut() {
                    Some(views) => views.next().await,
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                biased;
                view = next_view => Err(view),
                received = tokio::time::timeout(wait, frames.recv()) => Ok(received),
            };
            match received {
                Err(Some(view)) => {
                    self.view = view.normalized();
                    let snapshot = self.resync().await?;
                    return Some(snapshot);
                }
                // The browser will send no more views; keep serving the last one.
                Err(None) => self.views = None,
                Ok(Err(_silence)) => {
                    if self.last_sent.elapsed() >= self.heartbeat {
                        let beat = serde_json::to_string(&LiveMessage::Heartbeat).ok()?;
                        let beat = self.sent(beat)?;
                        return Some(beat);
                    }
                }
                Ok(Ok(Ok(frame))) if frame.seq <= self.seq => {}
                Ok(Ok(Ok(frame))) => {
                    self.seq = frame.seq;
                    let seen = frame.seen;
                    if let Some(text) = self.filter(frame).await {
                        crate::metrics::metrics()
                            .push_seconds
                            .observe(seen.elapsed().as_secs_f64());
                        let text = self.sent(text)?;
                        return Some(text);
                    }
                }
                Ok(Ok(Err(broadcast::error::RecvError::Lagged(_)))) => {
                    let snapshot = self.resync().await?;
                    return Some(snapshot);
                }
                Ok(Ok(Err(broadcast::error::RecvError::Closed))) => return None,
            }
        }
    }
}

impl ClientFeed {
    pub(super) fn new(
        store: Arc<LiveStore>,
        audience: Audience,
        view: View,
        heartbeat: Duration,
        views: BoxStream<'static, View>,
    ) -> ClientFeed {
        let recheck = audience.access.lifetime();
        ClientFeed {
            store,
            audience,
            view: view.normalized(),
            views: Some(views),
            on_page: HashSet::new(),
            frames: None,
            seq: 0,
            heartbeat,
            last_sent: Instant::now(),
            grants: BTreeMap::new(),
            checked: Instant::now(),
            recompute_at: None,
            recheck,
        }
    }
}
