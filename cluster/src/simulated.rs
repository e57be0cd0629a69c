//! One Wukong and the simulated KubeVirt VM behind it, for the in-memory sandbox.
//!
//! KubeVirt is `wukong_sim::virt::VirtVm`, the same model the KubeVirt simulator
//! (`wukong-kubevirt-sim`) runs for a real API server. The controller's part is done with the same
//! pure functions the lifecycle controller uses (`wukong_lifecycle::check`, `kubevirt::call_for`,
//! `kubevirt::settle`): a request is checked, turned into a KubeVirt call, acknowledged; a graceful
//! stop is forced at its deadline; the state is read back from KubeVirt's printableStatus.
//! It owns `status`; it takes `metadata` and `spec` from whoever stores the object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use wukong_api::{LifecycleState, RequestRecord, Wukong, WukongStatus};
use wukong_lifecycle::kubevirt::{
    accepted_message, call_for, next_message, refused_message, settle, unexplained_change, Call,
    Observed, ObservedVmi, FORCED_MESSAGE,
};
use wukong_lifecycle::{
    check, effective_grace_period, plan, Action, RunStrategy, Situation, VmState,
    DEFAULT_GRACE_PERIOD_SECONDS,
};
use wukong_sim::kubevirt::KvRunStrategy;
use wukong_sim::virt::{Exit, VirtVm};
use wukong_sim::{Guest, Timings};
use wukong_view::HistoryEntry;

/// What one step did to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Unchanged,
    StatusChanged,
    /// Deletion finished: the finalizer is released and the object is gone.
    Gone,
}

pub struct SimulatedVm {
    wukong: Wukong,
    kubevirt: VirtVm,
    /// When (on the sandbox clock) the last request was carried out.
    last_action_ms: Option<u64>,
    /// A graceful stop is forced then.
    stop_deadline_ms: Option<u64>,
    /// The VMI generation a restart was sent for.
    restarted_from: Option<u64>,
}

fn kv_run_strategy(rs: RunStrategy) -> KvRunStrategy {
    match rs {
        RunStrategy::Always => KvRunStrategy::Always,
        RunStrategy::RerunOnFailure => KvRunStrategy::RerunOnFailure,
        RunStrategy::Manual => KvRunStrategy::Manual,
        RunStrategy::Halted => KvRunStrategy::Halted,
        RunStrategy::Once => KvRunStrategy::Once,
    }
}

fn run_strategy(rs: KvRunStrategy) -> RunStrategy {
    match rs {
        KvRunStrategy::Always => RunStrategy::Always,
        KvRunStrategy::Once => RunStrategy::Once,
        KvRunStrategy::RerunOnFailure => RunStrategy::RerunOnFailure,
        KvRunStrategy::Manual => RunStrategy::Manual,
        KvRunStrategy::Halted => RunStrategy::Halted,
    }
}

impl SimulatedVm {
    /// Picks up a Wukong as it is: a VM that is Running or Suspended gets a running (paused) VMI,
    /// any other state none; the run strategy from status (else spec); the guest's behaviour from
    /// the `sim.novasphere.dev/*` annotations.
    pub fn from_wukong(wukong: Wukong, timings: Timings) -> SimulatedVm {
        let annotations = wukong.metadata.annotations.clone().unwrap_or_default();
        let guest = Guest::from_annotations(|name| annotations.get(name).map(String::as_str));
        let run_strategy = wukong
            .status
            .as_ref()
            .and_then(|s| s.run_strategy)
            .unwrap_or(wukong.spec.run_strategy);
        let running = match wukong.vm_state() {
            VmState::Running => Some((1, false)),
            VmState::Suspended => Some((1, true)),
            _ => None,
        };
        let kubevirt = VirtVm::adopt(
            kv_run_strategy(run_strategy),
            wukong.spec.termination_grace_period_seconds,
            guest,
            timings,
            running,
        );
        SimulatedVm {
            wukong,
            kubevirt,
            last_action_ms: None,
            stop_deadline_ms: None,
            restarted_from: None,
        }
    }

    pub fn wukong(&self) -> &Wukong {
        &self.wukong
    }

    /// Requests taken up, newest first (from status, as on a cluster).
    pub fn history(&self) -> Vec<HistoryEntry> {
        crate::history_from_status(&self.wukong)
    }

    /// A newer version of the object was stored: take its metadata and spec, keep our status.
    pub fn observe(&mut self, newer: Wukong) {
        let status = self.wukong.status.take();
        self.wukong = Wukong { status, ..newer };
    }

    pub fn metadata_mut(
        &mut self,
    ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &mut self.wukong.metadata
    }

    pub fn spec_mut(&mut self) -> &mut wukong_api::WukongSpec {
        &mut self.wukong.spec
    }

    pub fn next_event_at(&self) -> Option<u64> {
        [self.kubevirt.next_event_at(), self.stop_deadline_ms]
            .into_iter()
            .flatten()
            .min()
    }

    fn vm_grace_seconds(&self) -> i64 {
        self.wukong
            .spec
            .termination_grace_period_seconds
            .unwrap_or(i64::from(DEFAULT_GRACE_PERIOD_SECONDS))
    }

    fn guest_up(&self) -> bool {
        self.kubevirt.vmi().is_some_and(|vmi| !vmi.phase.is_final())
    }

    fn observed(&self) -> Observed<'_> {
        let vmi = self.kubevirt.vmi();
        Observed {
            printable_status: Some(self.kubevirt.printable_status()),
            vmi: vmi.map(|v| ObservedVmi {
                phase: v.phase.as_str(),
                deleting: v.shutdown.is_some(),
                problem: v.problem.map(|p| p.condition().2),
            }),
        }
    }

    fn name(&self) -> String {
        self.wukong.metadata.name.clone().unwrap_or_default()
    }

    /// Lets KubeVirt move on, takes up deletion or a pending request, forces a stop past its
    /// deadline, and reports the state.
    pub fn step(&mut self, now_ms: u64, wall: Timestamp) -> Step {
        self.kubevirt.tick(now_ms);
        let before = self.wukong.status.clone();
        let mut next = self
            .wukong
            .lifecycle_state()
            .cloned()
            .unwrap_or_else(|| LifecycleState {
                state: self.observed().state().as_str().to_owned(),
                ..LifecycleState::default()
            });
        if self.wukong.metadata.deletion_timestamp.is_some() {
            if !self.guest_up() {
                return Step::Gone;
            }
            next.state = VmState::Deleting.as_str().to_owned();
            match self.stop_deadline_ms {
                None => {
                    let name = self.name();
                    let _ = self
                        .kubevirt
                        .request(Call::Stop { grace_period: None }, &name, now_ms);
                    let grace = u64::try_from(self.vm_grace_seconds()).unwrap_or(30);
                    self.stop_deadline_ms = Some(now_ms + grace * 1000);
                    next.message = Some("deleting: stopping the VM first".to_owned());
                }
                Some(deadline) if deadline <= now_ms => {
                    let name = self.name();
                    let _ = self.kubevirt.request(
                        Call::Stop {
                            grace_period: Some(0),
                        },
                        &name,
                        now_ms,
                    );
                    self.stop_deadline_ms = Some(u64::MAX);
                }
                Some(_) => {}
            }
            return self.finish(before, next);
        }

        let since_ms = self
            .last_action_ms
            .map_or(u64::MAX, |at| now_ms.saturating_sub(at));
        let same_vmi = self
            .restarted_from
            .map(|g| self.kubevirt.vmi().map(|vmi| vmi.generation) == Some(g));
        if self.stop_deadline_ms.is_some()
            && !self.guest_up()
            && self.kubevirt.last_exit() == Some(Exit::Killed)
        {
            // KubeVirt's own kill at the VM's grace period beat the controller's deadline.
            next.message = Some(FORCED_MESSAGE.to_owned());
        }
        let shown = VmState::parse(&next.state).unwrap_or(VmState::Unknown);
        let observed = self.observed();
        let settled = settle(shown, observed.state(), since_ms, same_vmi);
        let problem = observed.problem();
        if let Some(message) =
            next_message(next.message.as_deref(), shown, settled, problem.as_deref())
        {
            next.message = Some(message);
        }
        if let Some(change) = unexplained_change(shown, settled) {
            self.wukong
                .status
                .get_or_insert_with(WukongStatus::default)
                .remember(RequestRecord::unexplained(change, Time(wall)));
        }
        next.state = settled.as_str().to_owned();

        if let Some(deadline) = self.stop_deadline_ms {
            if !self.guest_up() {
                self.stop_deadline_ms = None;
                next.stop_deadline = None;
            } else if deadline <= now_ms {
                let name = self.name();
                let _ = self.kubevirt.request(
                    Call::Stop {
                        grace_period: Some(0),
                    },
                    &name,
                    now_ms,
                );
                self.stop_deadline_ms = None;
                next.stop_deadline = None;
                next.message = Some(FORCED_MESSAGE.to_owned());
            }
        }

        if let Some(request) = self.wukong.pending_request().cloned() {
            let action = request.action();
            let rs = run_strategy(self.kubevirt.run_strategy());
            let pending = !self.kubevirt.state_change_requests().is_empty();
            let current = VmState::parse(&next.state).unwrap_or(VmState::Unknown);
            next.observed_request_id = Some(request.request_id.clone());
            let situation = Situation {
                state: current,
                run_strategy: rs,
                pending,
                vmi: self.observed().vmi(),
            };
            let outcome = match check(action, &situation) {
                Err(refusal) => {
                    next.message = Some(format!("{} refused: {refusal}", action.as_str()));
                    "Refused"
                }
                Ok(()) => {
                    let vm_grace = self.vm_grace_seconds();
                    let grace = effective_grace_period(
                        request.force,
                        request.grace_period_seconds,
                        Some(vm_grace),
                    );
                    let generation = self.kubevirt.vmi().map(|vmi| vmi.generation);
                    let name = self.name();
                    let result = match call_for(action, request.force, grace, vm_grace) {
                        Some(call) => self.kubevirt.request(call, &name, now_ms).map(|_| ()),
                        None => Ok(()),
                    };
                    match result {
                        Ok(()) => {
                            next.state = plan(action, rs).passes_through.as_str().to_owned();
                            next.last_action = Some(action.as_str().to_owned());
                            next.last_action_time = Some(Time(wall));
                            next.message = Some(accepted_message(action, request.force, grace));
                            self.last_action_ms = Some(now_ms);
                            self.restarted_from =
                                (action == Action::Restart).then_some(generation).flatten();
                            let deadline = (action == Action::Stop && grace > 0)
                                .then(|| now_ms + u64::from(grace) * 1000);
                            self.stop_deadline_ms = deadline;
                            next.stop_deadline = deadline
                                .map(|_| Time(wall + SignedDuration::from_secs(i64::from(grace))));
                            "Accepted"
                        }
                        Err(e) => {
                            next.message = Some(refused_message(action, e.code, &e.message));
                            "KubeVirtRefused"
                        }
                    }
                }
            };
            let record =
                RequestRecord::taken_up(&request, outcome, next.message.clone(), Time(wall));
            self.wukong
                .status
                .get_or_insert_with(WukongStatus::default)
                .remember(record);
        }
        self.finish(before, next)
    }

    fn finish(&mut self, before: Option<WukongStatus>, next: LifecycleState) -> Step {
        let live = self.guest_up();
        let node = live.then(|| node_for(&self.wukong));
        let run_strategy = run_strategy(self.kubevirt.run_strategy());
        let printable = self.kubevirt.printable_status().to_owned();
        let vmi_phase = self.kubevirt.vmi().map(|vmi| vmi.phase.as_str().to_owned());
        let status = self.wukong.status.get_or_insert_with(WukongStatus::default);
        status.node_name = node;
        status.run_strategy = Some(run_strategy);
        status.printable_status = Some(printable);
        status.vmi_phase = vmi_phase;
        status.lifecycle_state = Some(next);
        if self.wukong.status == before {
            Step::Unchanged
        } else {
            Step::StatusChanged
        }
    }
}

/// A stable pretend node per VM name.
pub fn node_for(wukong: &Wukong) -> String {
    let name = wukong.metadata.name.as_deref().unwrap_or_default();
    let n = name.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 3
        + 1;
    format!("sandbox-node-{n}")
}
