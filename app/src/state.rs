//! The page's state: one page of rows as last seen on the live stream (the server filters, sorts
//! and pages), and what the person has clicked. Created from the server-rendered snapshot, so
//! server and browser render the same first frame.

use leptos::prelude::*;
use std::collections::{BTreeMap, HashMap};
use wukong_view::{
    Action, BulkHolds, BulkOutcome, BulkTarget, ClusterInfo, ControllerPresence, KubeVirtFacts,
    LiveMessage, Snapshot, Upstream, View, Viewer, VmKey, VmRow,
};

/// A row and the stream position at which it last changed (the `For` key, so a changed row
/// re-renders and an unchanged one does not).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub rev: u64,
    pub row: VmRow,
}

/// A click whose request is in flight (or answered, waiting for the row to change).
#[derive(Clone, Debug, PartialEq)]
pub struct Click {
    pub action: Action,
    pub since_rev: u64,
    pub answered: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
}

/// A bulk action, from confirmation to its per-VM results.
#[derive(Clone, Debug, PartialEq)]
pub enum Bulk {
    Confirm {
        target: BulkTarget,
        action: Action,
        count: usize,
        /// How many of them cannot take the action, and why (counted before confirming;
        /// `None` while the server counts "all matching the filter").
        holds: Option<BulkHolds>,
    },
    Running {
        action: Action,
        count: usize,
    },
    Done {
        action: Action,
        outcomes: Vec<BulkOutcome>,
    },
    Failed(String),
}

/// What the confirmation dialog is asking about.
#[derive(Clone, Debug, PartialEq)]
pub struct Dialog {
    pub key: VmKey,
    /// The uid of the Wukong the dialog was opened for.
    pub uid: String,
    pub action: Action,
    pub default_grace_period_seconds: u32,
}

#[derive(Clone, Copy)]
// `seq` and `apply` serve the live stream, which runs only in the browser.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub struct ConsoleState {
    /// The rows of the page, in the view's order.
    pub rows: RwSignal<Vec<Entry>>,
    /// The view the person asked for (filter, sort, page); the page shows it once the server
    /// has answered.
    pub view: RwSignal<View>,
    /// How many VMs match the filter, and how many the person may see at all.
    pub matching: RwSignal<u32>,
    pub total: RwSignal<u32>,
    /// Namespaces with VMs the person may see.
    pub namespaces: RwSignal<Vec<String>>,
    /// Namespaces whose permissions could not be checked (their VMs are not on the page).
    pub unchecked: RwSignal<Vec<String>>,
    pub seq: RwSignal<u64>,
    pub socket_open: RwSignal<bool>,
    /// The live socket is answered by another build than the one this page came from (the
    /// console was upgraded, or is being, while the tab stayed open): the page asks to be
    /// reloaded.
    pub upgraded: RwSignal<bool>,
    pub upstream: RwSignal<Upstream>,
    /// Whether a lifecycle controller is there to carry out requests.
    pub controller: RwSignal<ControllerPresence>,
    /// The server's clock as of the last page, and the browser's when it arrived.
    server_clock: StoredValue<ServerClock>,
    pub cluster: StoredValue<ClusterInfo>,
    /// Who is looking (fixed for the page's life: signing in or out loads a new page).
    pub viewer: StoredValue<Viewer>,
    pub clicks: RwSignal<HashMap<VmKey, Click>>,
    pub row_errors: RwSignal<HashMap<VmKey, String>>,
    pub toasts: RwSignal<Vec<Toast>>,
    pub dialog: RwSignal<Option<Dialog>>,
    /// Rows ticked for a bulk action.
    pub selected: RwSignal<BTreeMap<VmKey, String>>,
    /// "All matching the filter" instead of the ticked rows.
    pub all_matching: RwSignal<bool>,
    pub bulk: RwSignal<Option<Bulk>>,
    /// The VM whose request history is open.
    pub history: RwSignal<Option<VmKey>>,
    /// Wall clock in the browser (Unix ms), ticking once a second; `None` on the server and
    /// before hydration, so countdowns never cause a hydration mismatch.
    pub now_ms: RwSignal<Option<i64>>,
    pub hydrated: RwSignal<bool>,
    /// Which control of which row had keyboard focus (a row is rebuilt when it changes, and
    /// its new control takes the focus back): the row and a selector inside it.
    pub row_focus: StoredValue<Option<(VmKey, String)>>,
    /// VMs this person asked something of on this page: their state changes are announced.
    pub acted_on: RwSignal<std::collections::HashSet<VmKey>>,
    /// The last announcement for screen readers (a polite live region).
    pub announcement: RwSignal<String>,
    /// What KubeVirt says about the one VM of a VM page (live on its socket); `None` on the list.
    pub kubevirt: RwSignal<Option<KubeVirtFacts>>,
    next_toast: StoredValue<u64>,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl ConsoleState {
    pub fn new(snapshot: Snapshot) -> Self {
        let rows = entries(snapshot.seq, snapshot.rows);
        ConsoleState {
            rows: RwSignal::new(rows),
            view: RwSignal::new(snapshot.view),
            matching: RwSignal::new(snapshot.matching),
            total: RwSignal::new(snapshot.total),
            namespaces: RwSignal::new(snapshot.namespaces),
            unchecked: RwSignal::new(snapshot.unchecked),
            seq: RwSignal::new(snapshot.seq),
            // The snapshot was fresh when rendered; the socket flips this off if it cannot connect.
            socket_open: RwSignal::new(true),
            upgraded: RwSignal::new(false),
            upstream: RwSignal::new(snapshot.upstream),
            controller: RwSignal::new(snapshot.controller),
            server_clock: StoredValue::new(ServerClock {
                server_ms: snapshot.server_time_ms,
                local_ms: None,
            }),
            cluster: StoredValue::new(snapshot.cluster),
            viewer: StoredValue::new(snapshot.viewer),
            clicks: RwSignal::new(HashMap::new()),
            row_errors: RwSignal::new(HashMap::new()),
            toasts: RwSignal::new(Vec::new()),
            dialog: RwSignal::new(None),
            history: RwSignal::new(None),
            selected: RwSignal::new(BTreeMap::new()),
            all_matching: RwSignal::new(false),
            bulk: RwSignal::new(None),
            now_ms: RwSignal::new(None),
            hydrated: RwSignal::new(false),
            kubevirt: RwSignal::new(None),
            acted_on: RwSignal::new(Default::default()),
            row_focus: StoredValue::new(None),
            announcement: RwSignal::new(String::new()),
            next_toast: StoredValue::new(0),
        }
    }

    /// Live only when both the browser's socket and the server's watch on the cluster are up.
    pub fn is_live(&self) -> bool {
        self.socket_open.get() && self.upstream.with(|u| *u == Upstream::Connected)
    }

    /// The server's clock now (Unix ms), ticking with the browser's: how long a request has
    /// waited is measured on the clock it was written with. Before the browser's clock runs (and
    /// on the server), the time the page was computed.
    pub fn server_now_ms(&self) -> i64 {
        let now = self.now_ms.get();
        let clock = self.server_clock.get_value();
        match (now, clock.local_ms) {
            (Some(now), Some(at)) => clock.server_ms + (now - at),
            _ => clock.server_ms,
        }
    }

    /// Starts reading the server's clock on the browser's (its first tick).
    pub fn clock_started(&self, local_ms: i64) {
        self.server_clock.update_value(|c| {
            c.local_ms.get_or_insert(local_ms);
        });
    }

    /// Whether this row's request waits for a controller that is not carrying it out.
    pub fn waiting_for_controller(&self, row: &VmRow) -> bool {
        row.waiting_for_controller(self.controller.get(), self.server_now_ms())
    }

    pub fn busy(&self, key: &VmKey) -> bool {
        self.clicks.with(|c| c.contains_key(key))
    }

    pub fn toast(&self, text: String) {
        let id = self.next_toast.get_value();
        self.next_toast.set_value(id + 1);
        self.toasts.update(|t| t.push(Toast { id, text }));
    }

    pub fn dismiss(&self, id: u64) {
        self.toasts.update(|t| t.retain(|toast| toast.id != id));
    }

    /// Applies one frame of the live stream; frames at or before the current position are stale.
    pub fn apply(&self, message: LiveMessage) {
        match message {
            LiveMessage::Snapshot(snapshot) => {
                // An answer to a view the person has since left is of no use.
                if self.view.with_untracked(|v| *v != snapshot.view) {
                    return;
                }
                let seq = snapshot.seq;
                // Keep the revision of unchanged rows so they are not re-rendered.
                self.rows.update(|rows| {
                    let old = std::mem::take(rows);
                    *rows = entries(seq, snapshot.rows)
                        .into_iter()
                        .map(
                            |entry| match old.iter().find(|e| e.row.key == entry.row.key) {
                                Some(prev) if prev.row == entry.row => prev.clone(),
                                _ => entry,
                            },
                        )
                        .collect();
                });
                self.seq.set(seq);
                self.matching.set(snapshot.matching);
                self.total.set(snapshot.total);
                if self.unchecked.with_untracked(|u| *u != snapshot.unchecked) {
                    self.unchecked.set(snapshot.unchecked);
                }
                if self
                    .namespaces
                    .with_untracked(|n| *n != snapshot.namespaces)
                {
                    self.namespaces.set(snapshot.namespaces);
                }
                self.upstream.set(snapshot.upstream);
                self.controller.set(snapshot.controller);
                if snapshot.server_time_ms > 0 {
                    let local_ms = self.now_ms.get_untracked();
                    self.server_clock.set_value(ServerClock {
                        server_ms: snapshot.server_time_ms,
                        local_ms,
                    });
                }
                self.settle_clicks(None);
            }
            LiveMessage::Upsert { seq, row } => {
                if seq <= self.seq.get_untracked() {
                    return;
                }
                let key = row.key.clone();
                let state = row.state;
                // Only rows of this page come as deltas (a row that is not here was on a page
                // the person has just left).
                let mut before = None;
                self.rows.update(|rows| {
                    if let Some(entry) = rows.iter_mut().find(|e| e.row.key == key) {
                        before = Some(entry.row.state);
                        *entry = Entry { rev: seq, row };
                    }
                });
                if before.is_some_and(|b| b != state)
                    && self.acted_on.with_untracked(|a| a.contains(&key))
                {
                    self.announcement
                        .set(crate::i18n::texts().announce_state(&key.name, state));
                }
                self.seq.set(seq);
                self.row_errors.update(|e| {
                    e.remove(&key);
                });
                self.settle_clicks(Some(&key));
            }
            LiveMessage::Remove { seq, key } => {
                if seq <= self.seq.get_untracked() {
                    return;
                }
                self.rows.update(|rows| rows.retain(|e| e.row.key != key));
                self.seq.set(seq);
                self.clicks.update(|c| {
                    c.remove(&key);
                });
            }
            LiveMessage::Upstream { seq, upstream } => {
                if seq > self.seq.get_untracked() {
                    self.seq.set(seq);
                }
                self.upstream.set(upstream);
            }
            LiveMessage::Controller { seq, controller } => {
                if seq > self.seq.get_untracked() {
                    self.seq.set(seq);
                }
                self.controller.set(controller);
            }
            LiveMessage::Heartbeat => {}
            LiveMessage::KubeVirt(facts) => self.kubevirt.set(Some(facts)),
            // Compared with the page's own build by the socket (`live_client`), which sets
            // `upgraded`.
            LiveMessage::Hello { .. } => {}
        }
    }

    /// A click is over once its answer came back and its row has changed since.
    fn settle_clicks(&self, only: Option<&VmKey>) {
        let rows = self.rows;
        self.clicks.update(|clicks| {
            clicks.retain(|key, click| {
                if only.is_some_and(|k| k != key) || !click.answered {
                    return true;
                }
                rows.with_untracked(|r| {
                    r.iter()
                        .any(|e| e.row.key == *key && e.rev <= click.since_rev)
                })
            })
        });
    }

    /// The stream position at which the row of `key` last changed, if it is on the page.
    pub fn rev(&self, key: &VmKey) -> Option<u64> {
        self.rows
            .with_untracked(|r| r.iter().find(|e| e.row.key == *key).map(|e| e.rev))
    }

    /// Records the server's answer to a click.
    pub fn answered(&self, key: &VmKey, error: Option<String>) {
        let rev = self.rev(key);
        self.clicks
            .update(|clicks| match (clicks.get_mut(key), &error, rev) {
                (Some(click), None, Some(rev)) if rev <= click.since_rev => click.answered = true,
                _ => {
                    clicks.remove(key);
                }
            });
        if let Some(error) = error {
            self.row_errors.update(|e| {
                e.insert(key.clone(), error.clone());
            });
            self.toast(error);
        }
    }
}

/// The server's clock at one moment, and the browser's at the same moment (once it runs).
#[derive(Clone, Copy)]
struct ServerClock {
    server_ms: i64,
    local_ms: Option<i64>,
}

fn entries(rev: u64, rows: Vec<VmRow>) -> Vec<Entry> {
    rows.into_iter().map(|row| Entry { rev, row }).collect()
}
