//! What the browser sees: one row per VM, the live-update messages, and which cluster it is.
//!
//! These types cross the wire as JSON (server function results and websocket frames). They depend on
//! nothing but serde and the pure lifecycle enums, so the WASM bundle stays small and the browser
//! never sees a kube or k8s-openapi type.

mod detail;
mod hold;
mod lang;
mod said;
mod schedule;
mod theme;
mod time;
mod validate;

pub use detail::{Condition, EventLine, KubeVirtFacts, VmDetail, VmFacts, VmiFacts};
pub use hold::{BulkHolds, Hold};
pub use lang::{cookie_value, group_digits, Lang};
pub use said::{Said, SignedOutWhy};
pub use schedule::{
    ExceptionForm, ScheduleChange, ScheduleForm, ScheduleOp, ScheduleView, ScheduledNext,
    SchedulesPage, WindowForm, DAYS,
};
pub use theme::Theme;

pub use time::{
    ago, format_at, format_utc, iso_utc, when, zone_from_cookies, zone_label, zone_name, Ago,
    ZONE_COOKIE,
};
pub use validate::{
    validate_action, validate_dns1123_label, validate_dns1123_subdomain, validate_request,
    validate_uid, ValidRequest,
};
pub use wukong_lifecycle::{
    check, Action, Refusal, RunStrategy, Says, Situation, VmState, Vmi, MAX_GRACE_PERIOD_SECONDS,
};

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
    /// The Wukong's `metadata.uid`. The browser sends it back with an action, so a Wukong deleted
    /// and created again under the same name is never acted on for a click on the old one.
    pub uid: String,
    pub state: VmState,
    pub run_strategy: RunStrategy,
    /// KubeVirt's VMI as the rules see it (none, alive, final).
    #[serde(default)]
    pub vmi: Vmi,
    pub last_action: Option<String>,
    /// Unix time in milliseconds.
    pub last_action_time_ms: Option<i64>,
    /// The controller's message, in English.
    pub message: Option<String>,
    /// The same as a code with parameters, which the page words in the person's language
    /// (`None`: written before codes, or a code this build does not know: `message` is shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub says: Option<Says>,
    pub cpu_cores: Option<u32>,
    pub memory: Option<String>,
    pub node: Option<String>,
    /// The grace period a Stop dialog starts with (the VM's own, else KubeVirt's 30 s).
    pub default_grace_period_seconds: u32,
    /// The actions offered now, in button order.
    pub actions: Vec<Action>,
    /// A request written but not yet taken up by the controller.
    pub pending: Option<Action>,
    /// When that request was written (its `requestedAt`, Unix ms).
    #[serde(default)]
    pub pending_since_ms: Option<i64>,
    /// When a graceful stop in progress will be forced (Unix ms), for the countdown.
    pub stop_deadline_ms: Option<i64>,
    /// The next action a power schedule takes on this VM (the earliest, if several name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<ScheduledNext>,
}

impl VmRow {
    pub fn offers(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }

    /// Whether this row's request waits for a controller that is not carrying it out: none leads,
    /// or it has gone unanswered for [`WAITING_AFTER_MS`]. `now_ms` is the server's clock.
    pub fn waiting_for_controller(&self, controller: ControllerPresence, now_ms: i64) -> bool {
        self.pending.is_some()
            && (controller == ControllerPresence::Absent
                || self
                    .pending_since_ms
                    .is_some_and(|since| now_ms - since >= WAITING_AFTER_MS))
    }

    /// What the lifecycle rules look at for this row.
    pub fn situation(&self) -> Situation {
        Situation {
            state: self.state,
            run_strategy: self.run_strategy,
            pending: self.pending.is_some(),
            vmi: self.vmi,
        }
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

/// Whether a lifecycle controller is there to carry out requests, as its Lease tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerPresence {
    /// A replica holds the Lease and renews it (on the sandbox always: its controller is built in).
    Leading,
    /// Nobody holds the Lease, or its holder stopped renewing it: requests are kept and wait.
    Absent,
    /// The console cannot tell (no Lease configured, or not allowed to read it): only a request
    /// left unanswered for [`WAITING_AFTER_MS`] says so.
    #[default]
    Unknown,
}

/// A request unanswered this long reads "waiting for the controller" even while one leads (it
/// may be stuck, overloaded, or not allowed into the namespace). A controller at its usual pace
/// answers within a second; a bulk action of hundreds queues for longer, and then the rows are
/// indeed waiting for it.
pub const WAITING_AFTER_MS: i64 = 15_000;

/// Whether the server's own change stream from the cluster is healthy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Upstream {
    Connected,
    Reconnecting { reason: String },
}

/// One page of the list at one point of the change stream, as one person may see it. The server
/// filters, sorts and pages (see [`View`]); the browser holds only this page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The sequence number of the last change included.
    pub seq: u64,
    /// The rows of the page, in the view's order.
    pub rows: Vec<VmRow>,
    pub upstream: Upstream,
    /// Whether a lifecycle controller is there to carry out requests.
    #[serde(default)]
    pub controller: ControllerPresence,
    /// The server's clock when it computed this page (Unix ms): the browser measures how long a
    /// request has waited on this clock, not on its own (which may be off).
    #[serde(default)]
    pub server_time_ms: i64,
    pub cluster: ClusterInfo,
    #[serde(default)]
    pub viewer: Viewer,
    /// The view this page was computed for.
    #[serde(default)]
    pub view: View,
    /// How many VMs match the view's filter (all pages).
    #[serde(default)]
    pub matching: u32,
    /// How many VMs this person may see at all.
    #[serde(default)]
    pub total: u32,
    /// The namespaces with VMs this person may see (for the namespace filter).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces with VMs where this person's permissions could not be checked (the cluster did
    /// not answer an access review): their VMs are left out of this page, which must say so
    /// rather than look empty or refused.
    #[serde(default)]
    pub unchecked: Vec<String>,
}

/// How the table is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SortBy {
    /// By name, then namespace.
    #[default]
    Name,
    /// By state, then namespace and name.
    State,
}

impl SortBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::State => "state",
        }
    }

    /// Anything but `state` sorts by name.
    pub fn parse(value: &str) -> SortBy {
        if value == "state" {
            SortBy::State
        } else {
            SortBy::Name
        }
    }
}

/// Rows per page unless the page asks otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The fewest rows one page may hold.
pub const MIN_PAGE_SIZE: u32 = 5;

/// What part of the list a page shows: filter, order and window. Computed on the server, so a
/// browser never holds more than one page, however many VMs there are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub filter: Filter,
    pub sort: SortBy,
    /// Zero-based.
    pub page: u32,
    pub page_size: u32,
}

impl Default for View {
    fn default() -> Self {
        View {
            filter: Filter::default(),
            sort: SortBy::Name,
            page: 0,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl View {
    /// The view with its page size within bounds and its page reachable (at most the last page
    /// of `u32` rows): what both ends use, so an answer always names the view that was asked for.
    pub fn normalized(mut self) -> View {
        for text in [&mut self.filter.search, &mut self.filter.name] {
            if text.len() > MAX_SEARCH_LEN {
                let mut end = MAX_SEARCH_LEN;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
            }
        }
        self.page_size = self.page_size.clamp(MIN_PAGE_SIZE, MAX_PAGE_SIZE);
        self.page = self.page.min(u32::MAX / self.page_size - 1);
        self
    }

    /// The view a page address asks for (`?namespace=&q=&sort=&page=&size=`, `page` counting
    /// from 1), normalized; anything unreadable falls back to the default.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> View {
        let number = |name: &str| get(name).and_then(|v| v.trim().parse::<u32>().ok());
        View {
            filter: Filter {
                namespace: get("namespace").unwrap_or_default(),
                search: get("q").unwrap_or_default(),
                name: get("name").unwrap_or_default(),
            },
            sort: SortBy::parse(&get("sort").unwrap_or_default()),
            page: number("page").unwrap_or(1).saturating_sub(1),
            page_size: number("size").unwrap_or(DEFAULT_PAGE_SIZE),
        }
        .normalized()
    }

    /// The query string that [`View::from_query`] reads back (defaults left out), without `?`.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if !self.filter.namespace.is_empty() {
            parts.push(format!("namespace={}", encode(&self.filter.namespace)));
        }
        if !self.filter.search.is_empty() {
            parts.push(format!("q={}", encode(&self.filter.search)));
        }
        if !self.filter.name.is_empty() {
            parts.push(format!("name={}", encode(&self.filter.name)));
        }
        if self.sort != SortBy::Name {
            parts.push(format!("sort={}", self.sort.as_str()));
        }
        if self.page > 0 {
            parts.push(format!("page={}", self.page + 1));
        }
        if self.page_size != DEFAULT_PAGE_SIZE {
            parts.push(format!("size={}", self.page_size));
        }
        parts.join("&")
    }

    /// Index of the first row of the page among the matching rows.
    pub fn offset(&self) -> usize {
        self.page as usize * self.page_size as usize
    }

    /// The order of rows in this view.
    pub fn order(&self, a: &VmRow, b: &VmRow) -> std::cmp::Ordering {
        match self.sort {
            SortBy::Name => (&a.key.name, &a.key.namespace).cmp(&(&b.key.name, &b.key.namespace)),
            SortBy::State => (a.state, &a.key).cmp(&(b.state, &b.key)),
        }
    }

    /// The page count for `matching` rows (at least one, so an empty list has a page 1 of 1).
    pub fn pages(&self, matching: u32) -> u32 {
        matching.div_ceil(self.page_size.max(1)).max(1)
    }
}

/// The longest search text a view keeps.
pub const MAX_SEARCH_LEN: usize = 253;

/// Percent-encodes all but unreserved URL characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A websocket frame from browser to server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Show this view from now on: the server answers with its snapshot, then its deltas.
    View(View),
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

/// A websocket frame from server to browser: a snapshot of the page first, then changes to it in
/// `seq` order, and a fresh snapshot whenever the page's make-up changes (rows added or removed,
/// or moved by a state change when sorted by state).
///
/// Externally tagged (`{"upsert":{"seq":1,"row":{...}}}`, `"heartbeat"`): the browser decodes these,
/// and an internally tagged enum (`#[serde(tag)]`) would decode every row a second time through
/// serde's buffered `Content`, a second copy of the row decoder in the WASM bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// The controller came or went.
    Controller {
        seq: u64,
        controller: ControllerPresence,
    },
    /// Sent every few seconds so a silent, dead connection is noticed.
    Heartbeat,
    /// What KubeVirt now says about the VM a VM page shows (only on a VM page's socket).
    KubeVirt(KubeVirtFacts),
    /// The first frame of every connection: which build of the console answers (the hash of its
    /// WASM; none from a build without hashed file names). A tab whose page came from another
    /// build runs an old WASM against an upgraded server and is asked to reload. Keep this
    /// variant as it is: the tabs of every build since it was added read it from any newer one.
    Hello {
        build: String,
    },
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
    /// The controller's message, in English.
    pub message: Option<String>,
    /// The same as a code with parameters (see [`VmRow::says`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub says: Option<Says>,
}

/// The table's filter: a namespace (empty: all), a search text found in the name or namespace,
/// and an exact name (empty: any; the VM page's one-row view). One rule for the browser's table
/// and the server's "all matching the filter".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub namespace: String,
    pub search: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Filter {
    pub fn matches(&self, key: &VmKey) -> bool {
        self.matcher()(key)
    }

    /// [`Filter::matches`] with the search text prepared once, for testing many keys.
    pub fn matcher(&self) -> impl Fn(&VmKey) -> bool + '_ {
        let needle = self.search.trim().to_lowercase();
        move |key| {
            (self.namespace.is_empty() || key.namespace == self.namespace)
                && (self.name.is_empty() || key.name == self.name)
                && (needle.is_empty()
                    || key.name.contains(&needle)
                    || key.namespace.contains(&needle))
        }
    }
}

/// Most VMs a bulk action may list by name (a filter has no such limit).
pub const MAX_BULK_KEYS: usize = 500;

/// A VM a person picked: its key and the uid of the Wukong they saw, so that a Wukong deleted and
/// created again under that name is not acted on. On the wire `{namespace, name, uid?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmRef {
    #[serde(flatten)]
    pub key: VmKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// Which VMs a bulk action is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BulkTarget {
    /// These (at most [`MAX_BULK_KEYS`]), each with the uid the person saw.
    Keys(Vec<VmRef>),
    /// Every VM the person can see that matches the filter, at the moment the server gets it.
    Matching(Filter),
}

/// What became of one VM of a bulk action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    pub key: VmKey,
    pub accepted: bool,
    /// Why it was refused (or "accepted"), in English.
    pub message: String,
    /// The same as a code, worded by the page in the person's language.
    pub said: Said,
}

/// What the server answers when it has accepted an action request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub key: VmKey,
    pub action: Action,
    /// Empty for delete, which is not a lifecycle request.
    pub request_id: String,
}

/// A row for tests: `name` in namespace `a`, Manual, nothing pending.
#[cfg(test)]
pub(crate) fn test_row(name: &str, state: VmState, actions: Vec<Action>) -> VmRow {
    VmRow {
        key: VmKey::new("a", name),
        uid: String::new(),
        state,
        run_strategy: RunStrategy::Manual,
        vmi: Vmi::assumed(state),
        last_action: None,
        last_action_time_ms: None,
        message: None,
        says: None,
        cpu_cores: None,
        memory: None,
        node: None,
        default_grace_period_seconds: 30,
        actions,
        pending: None,
        pending_since_ms: None,
        stop_deadline_ms: None,
        next: None,
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;

    fn row(pending: Option<Action>, since: Option<i64>) -> VmRow {
        VmRow {
            pending,
            pending_since_ms: since,
            ..test_row("web-01", VmState::Running, Vec::new())
        }
    }

    #[test]
    fn a_request_waits_for_the_controller_when_none_leads_or_after_15_s_unanswered() {
        use ControllerPresence::*;
        let now = 1_000_000;
        let fresh = row(Some(Action::Stop), Some(now - 1_000));
        let old = row(Some(Action::Stop), Some(now - WAITING_AFTER_MS));
        let unknown_age = row(Some(Action::Stop), None);
        let none = row(None, Some(now - 60_000));
        for c in [Leading, Unknown] {
            assert!(!fresh.waiting_for_controller(c, now), "{c:?}: just asked");
            assert!(
                old.waiting_for_controller(c, now),
                "{c:?}: unanswered for 15 s"
            );
            assert!(!unknown_age.waiting_for_controller(c, now));
        }
        for r in [&fresh, &old, &unknown_age] {
            assert!(r.waiting_for_controller(Absent, now), "nobody leads");
        }
        for c in [Leading, Unknown, Absent] {
            assert!(!none.waiting_for_controller(c, now), "nothing asked");
        }
    }
}
