//! Power schedules as the page sees them (issue 17): plain strings and numbers, no time-zone
//! database (that stays on the server, in `wukong-schedule`); the server computes every instant.

use crate::Action;
use serde::{Deserialize, Serialize};

/// A VM's next scheduled action: "stops today 20:00 UTC+8, schedule dev-hours".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledNext {
    /// `Start`, `Stop` or `ForceStop`.
    pub action: Action,
    /// Unix ms.
    pub at_ms: i64,
    /// The schedule's zone's UTC offset at that instant, in seconds: the time is shown as the
    /// schedule means it, with its offset, whatever the browser's zone.
    pub offset_seconds: i32,
    pub schedule: String,
}

/// A schedule as a person writes it in the console (the `WukongSchedule` spec, less the owner,
/// which is always whoever writes it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleForm {
    pub namespace: String,
    pub name: String,
    /// IANA, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    pub windows: Vec<WindowForm>,
    /// `spec.selector.matchLabels` (the console writes and shows only equality selectors; a
    /// schedule with expressions is shown, and editing it keeps them).
    pub match_labels: Vec<(String, String)>,
    pub vms: Vec<String>,
    pub grace_period_seconds: Option<u32>,
    pub force: bool,
    pub suspend: bool,
    pub calendars: Vec<String>,
    pub exceptions: Vec<ExceptionForm>,
}

/// A weekly window: `days` are English weekday names (`Monday`…), times `HH:MM`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowForm {
    pub days: Vec<String>,
    pub start: String,
    pub stop: String,
}

/// A one-off exception: skip the `start`/`stop` edge of a date, or keep running until an
/// instant (RFC 3339, or a local `YYYY-MM-DDTHH:MM` in the schedule's zone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExceptionForm {
    Skip { action: Action, date: String },
    KeepRunningUntil(String),
}

/// A schedule as listed: what was written, and what the controller made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub form: ScheduleForm,
    pub uid: String,
    pub owner: String,
    /// Its next edge (computed by the console's server, like the rows').
    pub next: Option<ScheduledNext>,
    /// Why it is not followed (a bad zone, a missing calendar), in English.
    pub problem: Option<String>,
    /// What its controller last said (status.message).
    pub message: Option<String>,
    /// The VMs it runs now (names in its namespace).
    pub selected: Vec<String>,
    /// Its `resourceVersion`: an edit is written only if nobody changed it since.
    pub version: String,
}

/// A change to one schedule that needs no form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleChange {
    /// Suspend (true) or resume (false).
    Suspend(bool),
    AddException(ExceptionForm),
    /// Removes the exception at this index.
    RemoveException(usize),
    /// Bulk "apply schedule to selected VMs": these names join `vms`.
    AddVms(Vec<String>),
}

/// What the schedules page asks of the server. One server function carries all of them: each
/// server function costs the main WASM its own glue, and the page's are in a split-off piece.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleOp {
    /// The schedules the person may read.
    List,
    /// Create (`version` none) or replace a schedule, only if still at `version`.
    Save {
        form: ScheduleForm,
        version: Option<String>,
    },
    /// A change that needs no form, on the schedule as it is now.
    Change {
        namespace: String,
        name: String,
        change: ScheduleChange,
    },
    /// Delete the schedule, if it is still the one the person saw (`uid`).
    Delete {
        namespace: String,
        name: String,
        uid: String,
    },
}

/// The schedules page: the schedules a person may read, and the namespaces they may see VMs in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulesPage {
    pub schedules: Vec<ScheduleView>,
    pub namespaces: Vec<String>,
    /// Namespaces whose schedules they may not list.
    pub unreadable: Vec<String>,
    /// Of the namespaces they may list schedules in, those where RBAC lets them create, change
    /// (update: edit, suspend, exceptions, add VMs) and delete schedules: the page offers only
    /// these. A namespace whose rights could not be checked is in all three (the apiserver
    /// still decides).
    #[serde(default)]
    pub creatable: Vec<String>,
    #[serde(default)]
    pub changeable: Vec<String>,
    #[serde(default)]
    pub deletable: Vec<String>,
}

/// The weekdays as a schedule names them, Monday first.
pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
