//! Power schedules (issue 17): `WukongSchedule` ("run these VMs weekdays 08:00–20:00 in
//! Asia/Shanghai") and `WukongCalendar` (dates that turn a workday off or an off day into a
//! workday). What the windows, calendars and exceptions mean is `wukong_schedule`'s (pure); these
//! are the objects people write.
//!
//! Why a resource of its own and not `spec.powerSchedule` on each Wukong: one schedule names many
//! VMs (a label selector: "the team's development VMs"), it has an owner whose rights it acts
//! with (an admission policy checks `spec.owner` against whoever writes it, which a field on the
//! Wukong could not separate from the Wukong's other writers), and its RBAC is its own (a team
//! lead may manage schedules without the right to edit every VM's spec).

use crate::LifecycleAction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use wukong_schedule::{
    due, next_edges, CalendarDate, Due, Edge, EdgeAction, Exception, Plan, ScheduleError, Window,
};

/// Starts and stops a set of Wukongs at the edges of weekly windows, as ordinary requests
/// written with `requestedBy: schedule:<namespace>/<name> for <owner>`.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "vm.novasphere.dev",
    version = "v1alpha1",
    kind = "WukongSchedule",
    plural = "wukongschedules",
    shortname = "wks",
    namespaced,
    status = "WukongScheduleStatus",
    printcolumn = r#"{"name":"Zone","type":"string","jsonPath":".spec.timeZone"}"#,
    printcolumn = r#"{"name":"Owner","type":"string","jsonPath":".spec.owner"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextEdge.action"}"#,
    printcolumn = r#"{"name":"At","type":"date","jsonPath":".status.nextEdge.at"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WukongScheduleSpec {
    /// The person the schedule acts as: its requests carry their name and are checked against
    /// their rights. Must be whoever last wrote the schedule (admission policy
    /// `wukong-schedule-owner`).
    #[schemars(length(min = 1, max = 253))]
    pub owner: String,
    /// The owner's groups, as the apiserver knew them when they wrote the schedule (the same
    /// policy checks them): the controller's SubjectAccessReviews for the owner need them, since
    /// RBAC often binds a team's role to a group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_groups: Vec<String>,
    /// The Wukongs of this namespace it runs, by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// ...and/or by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vms: Vec<String>,
    /// An IANA time zone, e.g. `Asia/Shanghai`, `Europe/Berlin`.
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: String,
    /// When the VMs run; outside every window they are stopped.
    #[schemars(length(min = 1, max = 32))]
    pub windows: Vec<Window>,
    /// How a window's end stops the VMs.
    #[serde(default)]
    pub stop: ScheduledStop,
    /// A suspended schedule does nothing.
    #[serde(default)]
    pub suspend: bool,
    /// `WukongCalendar`s of this namespace it follows, in order (a later one wins for a date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calendars: Vec<String>,
    /// One-off changes: skip an edge, keep running until an instant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
}

/// How a scheduled stop stops: gracefully, with this grace period, and optionally forced at its
/// deadline, as a click does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledStop {
    /// The graceful-stop budget; the VM's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub grace_period_seconds: Option<i64>,
    /// Stop at once instead (grace period 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WukongScheduleStatus {
    /// The latest edge acted on (the controller acts on each edge once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_edge: Option<ScheduledEdge>,
    /// The next edge, as the controller computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_edge: Option<ScheduledEdge>,
    /// Why the schedule does not run, or what its last edge did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The `metadata.generation` the controller follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the controller began following that generation: edges before it are not acted on,
    /// so an edit (a new window, resuming a suspended schedule) never acts on an edge already
    /// past, only on the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledEdge {
    pub action: EdgeAction,
    pub at: Time,
}

/// Dates that turn a workday off or an off day into a workday, for the schedules that name it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "vm.novasphere.dev",
    version = "v1alpha1",
    kind = "WukongCalendar",
    plural = "wukongcalendars",
    shortname = "wkc",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct WukongCalendarSpec {
    #[schemars(length(max = 1000))]
    pub dates: Vec<CalendarDate>,
}

/// The `WukongSchedule` and `WukongCalendar` CRDs as one YAML stream (`deploy/base/crd-schedules.yaml`).
pub fn schedule_crds_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    Ok(format!(
        "{}---\n{}",
        serde_yaml::to_string(&WukongSchedule::crd())?,
        serde_yaml::to_string(&WukongCalendar::crd())?
    ))
}

/// The name a schedule's requests carry in `requestedBy`.
pub fn schedule_requester(namespace: &str, name: &str, owner: &str) -> String {
    format!("schedule:{namespace}/{name} for {owner}")
}

impl WukongSchedule {
    /// The schedule checked and ready to compute with, its calendars looked up by name in its
    /// namespace (`calendar`); a calendar it names that does not exist is an error, not a
    /// calendar without dates (a holiday would silently become a workday).
    pub fn plan<'a>(
        &self,
        calendar: impl Fn(&str) -> Option<&'a WukongCalendarSpec>,
    ) -> Result<Plan, ScheduleError> {
        let mut dates = Vec::with_capacity(self.spec.calendars.len());
        for name in &self.spec.calendars {
            let found = calendar(name).ok_or_else(|| {
                ScheduleError(format!(
                    "calendar {name:?} does not exist in namespace {}; create the WukongCalendar or remove it from spec.calendars",
                    self.metadata.namespace.as_deref().unwrap_or("default")
                ))
            })?;
            dates.push(found.dates.as_slice());
        }
        Plan::new(
            &self.spec.time_zone,
            &self.spec.windows,
            &dates,
            &self.spec.exceptions,
        )
    }

    /// The latest instant the schedule is done with: its last edge acted on (or written off),
    /// the moment the controller began following its current version, or, before either, its
    /// creation. `wukong_schedule::due` acts only on a later edge.
    pub fn done(&self) -> Option<Timestamp> {
        let status = self.status.as_ref();
        let following = status
            .filter(|s| s.observed_generation == self.metadata.generation)
            .and_then(|s| s.since.as_ref())
            .map(|t| t.0);
        [
            status.and_then(|s| s.last_edge.as_ref()).map(|e| e.at.0),
            following,
            self.metadata.creation_timestamp.as_ref().map(|t| t.0),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// Whether the schedule runs this Wukong: named in `spec.vms`, or matched by
    /// `spec.selector` (an empty selector matches every Wukong of the namespace), in the
    /// schedule's namespace. A selector that cannot be parsed matches nothing.
    pub fn selects(&self, wukong: &crate::Wukong) -> bool {
        let empty = Default::default();
        self.selects_vm(
            wukong.metadata.namespace.as_deref().unwrap_or_default(),
            wukong.metadata.name.as_deref().unwrap_or_default(),
            wukong.metadata.labels.as_ref().unwrap_or(&empty),
        )
    }

    /// [`Self::selects`] for a Wukong known by namespace, name and labels.
    pub fn selects_vm(
        &self,
        namespace: &str,
        name: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        use kube::core::SelectorExt;
        if self.metadata.namespace.as_deref() != Some(namespace) {
            return false;
        }
        if self.spec.vms.iter().any(|vm| vm == name) {
            return true;
        }
        self.label_selector()
            .is_some_and(|selector| selector.matches(labels))
    }

    /// `spec.selector` as kube's selector (for a list call's `labelSelector` too).
    pub fn label_selector(&self) -> Option<kube::core::Selector> {
        kube::core::Selector::try_from(self.spec.selector.clone()?).ok()
    }
}

/// What whoever follows a schedule (the controller; the sandbox's own) does about it at `now`:
/// [`WukongSchedule::tend`].
#[derive(Clone, Debug, PartialEq)]
pub struct Tended {
    /// The status to write: `lastEdge` set for an edge acted on or missed (its message for an
    /// edge acted on is the follower's to fill in, [`wukong_schedule::request::summary`]).
    pub status: WukongScheduleStatus,
    /// The edge to carry out now, on each selected Wukong.
    pub act: Option<Edge>,
    /// An edge older than the catch-up limit, written off (status says so).
    pub missed: Option<Edge>,
    /// When to look again at the latest: the next edge.
    pub next: Option<Timestamp>,
}

impl WukongSchedule {
    /// The one decision about a schedule at `now`, for the controller and the sandbox alike:
    /// suspended, not followable (a bad zone, a missing calendar), or following, with its next
    /// edge, and whether its latest edge is due ([`wukong_schedule::due`]).
    pub fn tend<'a>(
        &self,
        calendar: impl Fn(&str) -> Option<&'a WukongCalendarSpec>,
        now: Timestamp,
        catch_up: SignedDuration,
    ) -> Tended {
        let mut status = self.status.clone().unwrap_or_default();
        if status.observed_generation != self.metadata.generation {
            status.observed_generation = self.metadata.generation;
            status.since = Some(Time(now));
        }
        let mut tended = Tended {
            status,
            act: None,
            missed: None,
            next: None,
        };
        if self.spec.suspend {
            tended.status.next_edge = None;
            tended.status.message = Some("suspended: no edge is acted on".into());
            return tended;
        }
        let plan = match self.plan(calendar) {
            Ok(plan) => plan,
            Err(e) => {
                tended.status.next_edge = None;
                tended.status.message = Some(format!("not followed: {e}"));
                return tended;
            }
        };
        let edges = next_edges(&plan, now);
        tended.status.next_edge = edges.next.map(ScheduledEdge::from);
        tended.next = edges.next.map(|e| e.at);
        let done = [self.done(), tended.status.since.as_ref().map(|t| t.0)]
            .into_iter()
            .flatten()
            .max();
        match due(&edges, done, now, catch_up) {
            Due::Nothing => {}
            Due::Act(edge) => {
                tended.status.last_edge = Some(edge.into());
                tended.act = Some(edge);
            }
            Due::Missed(edge) => {
                tended.status.last_edge = Some(edge.into());
                tended.status.message = Some(format!(
                    "missed the {} at {}: nothing acted within {catch_up:#} of it; acting again from the next edge",
                    edge.action, edge.at
                ));
                tended.missed = Some(edge);
            }
        }
        tended
    }

    /// What `edge` does to `wukong` ([`wukong_schedule::request::for_vm`] on its situation and
    /// current request).
    pub fn decide_for(
        &self,
        edge: &Edge,
        wukong: &crate::Wukong,
    ) -> wukong_schedule::request::ForVm {
        let current =
            wukong
                .spec
                .lifecycle_action
                .as_ref()
                .map(|r| wukong_schedule::request::Current {
                    request_id: &r.request_id,
                    requested_at: r.requested_at.as_ref().map(|t| t.0),
                });
        wukong_schedule::request::for_vm(
            edge,
            self.spec.stop.force,
            &wukong.situation(),
            current,
            self.metadata.uid.as_deref().unwrap_or_default(),
        )
    }

    /// The request an edge writes on a Wukong: `action` (what `request::for_vm` decided), with
    /// the schedule's grace period, its name as `requestedBy`, and the edge's request id.
    pub fn request_for(
        &self,
        edge: &Edge,
        action: wukong_lifecycle::Action,
        now: Timestamp,
    ) -> Option<LifecycleAction> {
        let grace = self
            .spec
            .stop
            .grace_period_seconds
            .and_then(|g| u32::try_from(g).ok());
        let uid = self.metadata.uid.as_deref().unwrap_or_default();
        let mut request = LifecycleAction::for_action(
            action,
            grace,
            wukong_schedule::request::request_id(uid, edge),
        )?;
        request.requested_by = Some(schedule_requester(
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default(),
            &self.spec.owner,
        ));
        request.requested_at = Some(MicroTime(now));
        Some(request)
    }
}

impl From<Edge> for ScheduledEdge {
    fn from(edge: Edge) -> ScheduledEdge {
        ScheduledEdge {
            action: edge.action,
            at: Time(edge.at),
        }
    }
}
