use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wukong_lifecycle::{decide, Action, RunStrategy, Says, VmState};

/// A virtual machine as a team declares it; a KubeVirt `VirtualMachine` of the same name backs it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "vm.novasphere.dev",
    version = "v1alpha1",
    kind = "Wukong",
    plural = "wukongs",
    shortname = "wk",
    namespaced,
    status = "WukongStatus",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.lifecycleState.state"}"#,
    printcolumn = r#"{"name":"Last action","type":"string","jsonPath":".status.lifecycleState.lastAction"}"#,
    printcolumn = r#"{"name":"Run strategy","type":"string","jsonPath":".spec.runStrategy"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WukongSpec {
    /// Virtual CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 512))]
    pub cpu_cores: Option<u32>,
    /// Guest memory as a Kubernetes quantity, e.g. `4Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Container disk image the VM boots from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// KubeVirt run strategy; `Manual` when unset.
    #[serde(default)]
    pub run_strategy: RunStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_strategy: Option<StartStrategy>,
    /// The VM's own graceful-stop budget; KubeVirt's 30 s when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub termination_grace_period_seconds: Option<i64>,
    /// The lifecycle operation a person asked for; the controller carries out each request id once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_action: Option<LifecycleAction>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartStrategy {
    /// Start the VM as soon as the Wukong is created.
    #[serde(default)]
    pub auto_start: bool,
}

/// The seed's actions. Force stop is `stop` with `force: true`; delete is deleting the Wukong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleActionKind {
    Start,
    Stop,
    Restart,
    Suspend,
    Resume,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleAction {
    pub action: LifecycleActionKind,
    /// Stop or restart at once (grace period 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Graceful-stop budget for this request; the VM's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub grace_period_seconds: Option<i64>,
    /// A fresh id per request: asking for the same action twice is two requests.
    #[schemars(length(min = 1, max = 64))]
    pub request_id: String,
    /// Who asked (the console fills it in; audit trails read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// When the request was written (the console fills it in), to the microsecond: the controller's
    /// take-up and acknowledgement histograms are measured from it, and a whole-second time would
    /// add half a second to their means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<MicroTime>,
}

impl LifecycleAction {
    /// The request for a console action; `None` for delete, which is not written to the spec.
    pub fn for_action(
        action: Action,
        grace_period_seconds: Option<u32>,
        request_id: String,
    ) -> Option<Self> {
        let (kind, force) = match action {
            Action::Start => (LifecycleActionKind::Start, false),
            Action::Stop => (LifecycleActionKind::Stop, false),
            Action::ForceStop => (LifecycleActionKind::Stop, true),
            Action::Restart => (LifecycleActionKind::Restart, false),
            Action::Suspend => (LifecycleActionKind::Suspend, false),
            Action::Resume => (LifecycleActionKind::Resume, false),
            Action::Delete => return None,
        };
        Some(LifecycleAction {
            action: kind,
            force,
            grace_period_seconds: if force {
                Some(0)
            } else {
                grace_period_seconds.map(i64::from)
            },
            request_id,
            requested_by: None,
            requested_at: None,
        })
    }

    /// The console action this request stands for (`stop` + `force` is force stop).
    pub fn action(&self) -> Action {
        match (
            self.action,
            self.force || self.grace_period_seconds == Some(0),
        ) {
            (LifecycleActionKind::Start, _) => Action::Start,
            (LifecycleActionKind::Stop, false) => Action::Stop,
            (LifecycleActionKind::Stop, true) => Action::ForceStop,
            (LifecycleActionKind::Restart, _) => Action::Restart,
            (LifecycleActionKind::Suspend, _) => Action::Suspend,
            (LifecycleActionKind::Resume, _) => Action::Resume,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WukongStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<LifecycleState>,
    /// The node the VM runs on, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The run strategy KubeVirt applies now; it differs from the spec's after KubeVirt's own
    /// flips (a stop under `Always` halts the VM, a start under `Halted` sets `Always`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_strategy: Option<RunStrategy>,
    /// KubeVirt's own `status.printableStatus` of the VirtualMachine, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printable_status: Option<String>,
    /// The VirtualMachineInstance's `status.phase`, verbatim; absent when there is no VMI. The
    /// rules need it where the state alone cannot say what KubeVirt would accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmi_phase: Option<String>,
    /// The last requests the controller took up, oldest first (at most [`RECENT_REQUESTS`]):
    /// the request history. Events say the same but expire after an hour and anyone who may
    /// create Events can write one; status is written by the controller only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub recent_requests: Vec<RequestRecord>,
}

/// How many requests a Wukong's status remembers.
pub const RECENT_REQUESTS: usize = 20;

/// One request as the controller took it up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub request_id: String,
    /// The console's name of the action (`stop`, `force-stop`, ...).
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// When the controller took it up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Time>,
    /// `Accepted`, `Refused`, `KubeVirtRefused`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The message as a code (`wukong_lifecycle::Says::code`), so a console words it in the
    /// person's language; `message` stays the English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The code's parameters (`Says::params`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reason_params: BTreeMap<String, String>,
}

/// `reason` and `reasonParams` for what the controller says.
fn reason_of(says: Option<&Says>) -> (Option<String>, BTreeMap<String, String>) {
    match says {
        Some(says) => (Some(says.code().to_owned()), says.params()),
        None => (None, BTreeMap::new()),
    }
}

/// The annotation of an Event that holds what the controller says as a code (`Says::code`).
pub const EVENT_REASON_ANNOTATION: &str = "vm.novasphere.dev/reason";
/// The annotation of an Event that holds the code's parameters, as a JSON object of strings.
pub const EVENT_REASON_PARAMS_ANNOTATION: &str = "vm.novasphere.dev/reason-params";

/// The annotations an Event carries for `says` (none without it).
pub fn says_annotations(says: Option<&Says>) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if let Some(says) = says {
        annotations.insert(EVENT_REASON_ANNOTATION.to_owned(), says.code().to_owned());
        let params = serde_json::to_string(&says.params()).unwrap_or_default();
        annotations.insert(EVENT_REASON_PARAMS_ANNOTATION.to_owned(), params);
    }
    annotations
}

/// What an Event's annotations say, if it has them and this build knows the code.
pub fn says_from_annotations(annotations: &BTreeMap<String, String>) -> Option<Says> {
    let params = annotations
        .get(EVENT_REASON_PARAMS_ANNOTATION)
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    says_of(
        annotations.get(EVENT_REASON_ANNOTATION).map(String::as_str),
        &params,
    )
}

/// What `reason` and `reasonParams` say, if this build knows the code.
pub fn says_of(reason: Option<&str>, params: &BTreeMap<String, String>) -> Option<Says> {
    reason.and_then(|code| Says::from_parts(code, params))
}

impl RequestRecord {
    /// The record of `request`, taken up at `at` with `outcome` (and the status message then).
    pub fn taken_up(
        request: &LifecycleAction,
        outcome: decide::RequestOutcome,
        message: Option<String>,
        says: Option<&Says>,
        at: Time,
    ) -> RequestRecord {
        let (reason, reason_params) = reason_of(says);
        RequestRecord {
            request_id: request.request_id.clone(),
            action: request.action().as_str().to_owned(),
            requested_by: request.requested_by.clone(),
            at: Some(at),
            outcome: outcome.as_str().to_owned(),
            message,
            reason,
            reason_params,
        }
    }

    /// What `reason` and `reasonParams` say.
    pub fn says(&self) -> Option<Says> {
        says_of(self.reason.as_deref(), &self.reason_params)
    }
}

impl RequestRecord {
    /// The history's record of a change of state no request explains
    /// (`wukong_lifecycle::kubevirt::unexplained_change`), seen at `at`.
    pub fn unexplained(message: String, says: &Says, at: Time) -> RequestRecord {
        let (reason, reason_params) = reason_of(Some(says));
        RequestRecord {
            request_id: format!("observed-{}", at.0.as_millisecond()),
            action: wukong_lifecycle::kubevirt::UNEXPLAINED_ACTION.to_owned(),
            requested_by: None,
            at: Some(at),
            outcome: wukong_lifecycle::kubevirt::UNEXPLAINED_OUTCOME.to_owned(),
            message: Some(message),
            reason,
            reason_params,
        }
    }
}

impl WukongStatus {
    /// Remembers `record`, dropping the oldest beyond [`RECENT_REQUESTS`]. A record for a request
    /// id already remembered replaces it (a repeated take-up after a crash is one request).
    pub fn remember(&mut self, record: RequestRecord) {
        self.recent_requests
            .retain(|r| r.request_id != record.request_id);
        self.recent_requests.push(record);
        let excess = self.recent_requests.len().saturating_sub(RECENT_REQUESTS);
        self.recent_requests.drain(..excess);
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleState {
    /// One of `wukong_lifecycle::VmState`'s names (Starting, Running, Stopping, Stopped, ...).
    #[schemars(schema_with = "vm_state_schema")]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The message as a code (`wukong_lifecycle::Says::code`), so a console words it in the
    /// person's language; `message` stays the English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The code's parameters (`Says::params`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reason_params: BTreeMap<String, String>,
    /// The request id of the last `spec.lifecycleAction` the controller took up (accepted or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_request_id: Option<String>,
    /// When a graceful stop in progress will be forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_deadline: Option<Time>,
    /// The uid of the VirtualMachineInstance a restart was sent for, or the ended one a start
    /// replaces: a VMI with another uid tells that the restart or start has happened (kept here
    /// so any controller replica can tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_vmi: Option<String>,
    /// A request whose restart the controller is about to send (written before the call): a
    /// controller that finds it set looks at KubeVirt before calling again, so a crash between
    /// KubeVirt's answer and the acknowledgement never restarts a VM twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_request_id: Option<String>,
}

fn millis(t: &Time) -> i64 {
    t.0.as_millisecond()
}

fn time(ms: i64) -> Option<Time> {
    k8s_openapi::jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(Time)
}

impl LifecycleState {
    /// What `reason` and `reasonParams` say.
    pub fn says(&self) -> Option<Says> {
        says_of(self.reason.as_deref(), &self.reason_params)
    }

    /// What `wukong_lifecycle::decide` reads of it.
    pub fn reported(&self) -> decide::Reported<'_> {
        decide::Reported {
            state: VmState::parse(&self.state),
            message: self.message.as_deref(),
            says: self.says(),
            last_action: self.last_action.as_deref(),
            last_action_at_ms: self.last_action_time.as_ref().map(millis),
            observed_request_id: self.observed_request_id.as_deref(),
            stop_deadline_ms: self.stop_deadline.as_ref().map(millis),
            restarted_vmi: self.restarted_vmi.as_deref(),
            in_flight_request_id: self.in_flight_request_id.as_deref(),
        }
    }

    /// The status field for what `decide` reports.
    pub fn from_report(report: decide::Report) -> LifecycleState {
        let (reason, reason_params) = reason_of(report.says.as_ref());
        LifecycleState {
            state: report.state.as_str().to_owned(),
            last_action: report.last_action,
            last_action_time: report.last_action_at_ms.and_then(time),
            message: report.message,
            reason,
            reason_params,
            observed_request_id: report.observed_request_id,
            stop_deadline: report.stop_deadline_ms.and_then(time),
            restarted_vmi: report.restarted_vmi,
            in_flight_request_id: report.in_flight_request_id,
        }
    }
}

impl Wukong {
    /// The note of the Event `note` records on this Wukong: an Event about a person's request
    /// names who asked (`with_requester`); the history reads requesters from status only.
    pub fn event_note(&self, note: &decide::Note) -> Option<String> {
        let by = self
            .spec
            .lifecycle_action
            .as_ref()
            .and_then(|r| r.requested_by.as_deref());
        match (note.message.as_deref(), by) {
            (Some(message), Some(by)) if note.names_requester() => {
                Some(crate::with_requester(message, by))
            }
            (message, _) => message.map(str::to_owned),
        }
    }

    /// The pending request as `decide` reads it.
    pub fn decision_request(&self) -> Option<decide::Request<'_>> {
        self.pending_request().map(|r| decide::Request {
            id: &r.request_id,
            action: r.action(),
            force: r.force,
            grace_period_seconds: r.grace_period_seconds,
        })
    }

    /// Adds to `status` the history lines of one turn (`decide::Outcome::records`), at `now`.
    pub fn record(&self, status: &mut WukongStatus, records: Vec<decide::Record>, now: Time) {
        for record in records {
            match record {
                decide::Record::Unexplained { message, says } => {
                    status.remember(RequestRecord::unexplained(message, &says, now.clone()));
                }
                decide::Record::TakenUp {
                    outcome,
                    message,
                    says,
                } => {
                    if let Some(request) = self.pending_request() {
                        status.remember(RequestRecord::taken_up(
                            request,
                            outcome,
                            message,
                            says.as_ref(),
                            now.clone(),
                        ));
                    }
                }
            }
        }
    }
}

/// `lifecycleState.state` is one of [`VmState::ALL`]'s names.
fn vm_state_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = VmState::ALL.into_iter().map(VmState::as_str).collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

impl WukongStatus {
    /// What the rules need to know about KubeVirt's VMI: from `vmiPhase` when the controller
    /// recorded it, else guessed from the state.
    pub fn vmi(&self, state: VmState) -> wukong_lifecycle::Vmi {
        match (&self.vmi_phase, &self.printable_status) {
            (None, None) => wukong_lifecycle::Vmi::assumed(state),
            (phase, _) => wukong_lifecycle::Vmi::from_phase(phase.as_deref()),
        }
    }
}

impl Wukong {
    /// The lifecycle state, `Unknown` when the controller has not reported one (or one this build does not know).
    pub fn vm_state(&self) -> VmState {
        if self.metadata.deletion_timestamp.is_some() {
            return VmState::Deleting;
        }
        self.lifecycle_state()
            .and_then(|s| VmState::parse(&s.state))
            .unwrap_or(VmState::Unknown)
    }

    pub fn lifecycle_state(&self) -> Option<&LifecycleState> {
        self.status.as_ref()?.lifecycle_state.as_ref()
    }

    /// What the lifecycle rules look at for this Wukong (its state, run strategy, pending request
    /// and VMI), for a console's row and a schedule's edge alike.
    pub fn situation(&self) -> wukong_lifecycle::Situation {
        let state = self.vm_state();
        let status = self.status.as_ref();
        wukong_lifecycle::Situation {
            state,
            run_strategy: status
                .and_then(|s| s.run_strategy)
                .unwrap_or(self.spec.run_strategy),
            pending: self.pending_request().is_some(),
            vmi: status.map_or(wukong_lifecycle::Vmi::assumed(state), |s| s.vmi(state)),
        }
    }

    /// A request has been written that the controller has not acknowledged yet.
    pub fn pending_request(&self) -> Option<&LifecycleAction> {
        let request = self.spec.lifecycle_action.as_ref()?;
        let observed = self
            .lifecycle_state()
            .and_then(|s| s.observed_request_id.as_deref());
        (observed != Some(request.request_id.as_str())).then_some(request)
    }
}

#[cfg(test)]
mod recent_requests_tests {
    use super::*;

    fn record(id: usize) -> RequestRecord {
        RequestRecord {
            request_id: id.to_string(),
            action: "stop".into(),
            outcome: "Accepted".into(),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn status_keeps_the_last_twenty_requests_once_each() {
        let mut status = WukongStatus::default();
        for id in 0..25 {
            status.remember(record(id));
        }
        status.remember(record(24));
        let ids: Vec<&str> = status
            .recent_requests
            .iter()
            .map(|r| r.request_id.as_str())
            .collect();
        assert_eq!(ids.len(), RECENT_REQUESTS);
        assert_eq!((ids[0], ids[19]), ("5", "24"));
    }
}
