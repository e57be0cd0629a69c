//! One Wukong and the simulated KubeVirt VM behind it, for the in-memory sandbox.
//!
//! KubeVirt is `wukong_sim::virt::VirtVm`, the same model the KubeVirt simulator
//! (`wukong-kubevirt-sim`) runs for a real API server. The controller's part is the lifecycle
//! controller's own decision, `wukong_lifecycle::decide`: this only carries out its answers
//! (a KubeVirt call, the status to write, the object gone once deletion is through).
//! It owns `status`; it takes `metadata` and `spec` from whoever stores the object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::collections::VecDeque;
use wukong_api::{LifecycleState, Wukong};
use wukong_lifecycle::decide::{decide, pending_action, Answer, Backing, Input, Vm, Work};
use wukong_lifecycle::kubevirt::{Observed, ObservedVmi};
use wukong_lifecycle::{RunStrategy, VmState, DEFAULT_GRACE_PERIOD_SECONDS};
use wukong_sim::kubevirt::StateChange;
use wukong_sim::virt::VirtVm;
use wukong_sim::{Guest, Timings};
use wukong_view::{Condition, EventLine, HistoryEntry, KubeVirtFacts, VmFacts, VmiFacts};

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
    /// When (on the sandbox clock) the decision asked to be looked at again (a deadline).
    wake_at_ms: Option<u64>,
    /// The Events the controller would have recorded on this Wukong, newest last.
    events: VecDeque<EventLine>,
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
            run_strategy.into(),
            wukong.spec.termination_grace_period_seconds,
            guest,
            timings,
            running,
        );
        SimulatedVm {
            wukong,
            kubevirt,
            wake_at_ms: None,
            events: VecDeque::new(),
        }
    }

    pub fn wukong(&self) -> &Wukong {
        &self.wukong
    }

    /// Requests taken up, newest first (from status, as on a cluster).
    pub fn history(&self) -> Vec<HistoryEntry> {
        crate::history_from_status(&self.wukong)
    }

    /// The Events recorded on this Wukong, newest first.
    pub fn events(&self) -> Vec<EventLine> {
        self.events.iter().rev().cloned().collect()
    }

    /// What the simulated KubeVirt shows: the same conditions, node and address the KubeVirt
    /// simulator writes on a cluster (`wukong_sim::status`).
    pub fn kubevirt_facts(&self) -> KubeVirtFacts {
        let condition = |c: wukong_sim::status::Condition| Condition {
            kind: c.kind.to_owned(),
            status: c.status.to_owned(),
            reason: c.reason.map(str::to_owned),
            message: c.message.map(str::to_owned),
        };
        let vmi = self.kubevirt.vmi();
        let vm = VmFacts {
            printable_status: Some(self.kubevirt.printable_status().to_owned()),
            run_strategy: Some(self.kubevirt.run_strategy().to_string()),
            ready: Some(self.kubevirt.ready()),
            conditions: vec![condition(wukong_sim::status::vm_ready_condition(
                self.kubevirt.ready(),
                vmi.is_some(),
            ))],
        };
        let namespace = self
            .wukong
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default();
        let vmi = vmi.map(|vmi| {
            let running = vmi.phase == wukong_sim::kubevirt::VmiPhase::Running;
            VmiFacts {
                phase: Some(vmi.phase.as_str().to_owned()).filter(|p| !p.is_empty()),
                node: running.then(|| node_for(&self.wukong)),
                ip_addresses: if running {
                    vec![wukong_sim::status::vmi_address(
                        namespace,
                        &self.name(),
                        vmi.generation,
                    )]
                } else {
                    Vec::new()
                },
                conditions: wukong_sim::status::vmi_conditions(vmi.phase, vmi.paused, vmi.problem)
                    .into_iter()
                    .map(condition)
                    .collect(),
            }
        });
        KubeVirtFacts {
            vm: Some(vm),
            vmi,
            unreadable: None,
        }
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
        [self.kubevirt.next_event_at(), self.wake_at_ms]
            .into_iter()
            .flatten()
            .min()
    }

    /// The uid the sandbox gives a VMI: one per VMI generation, as a new VMI gets a new uid.
    fn vmi_uid(&self) -> Option<String> {
        self.kubevirt
            .vmi()
            .map(|vmi| format!("sandbox-vmi-{}", vmi.generation))
    }

    fn name(&self) -> String {
        self.wukong.metadata.name.clone().unwrap_or_default()
    }

    /// One turn: KubeVirt moves on, then `wukong_lifecycle::decide` (the controller's own
    /// decision) says what to call on KubeVirt and what to report, and this carries it out.
    pub fn step(&mut self, now_ms: u64, wall: Timestamp) -> Step {
        self.kubevirt.tick(now_ms);
        let before = self.wukong.status.clone();
        let wall_ms = wall.as_millisecond();
        let deleting = self.wukong.metadata.deletion_timestamp.is_some();
        let namespace = self.wukong.metadata.namespace.clone().unwrap_or_default();
        let name = self.name();
        let vmi_uid = self.vmi_uid();
        let decision = {
            let vmi = self.kubevirt.vmi();
            let vm = Vm {
                observed: Observed {
                    printable_status: Some(self.kubevirt.printable_status()),
                    vmi: vmi.map(|v| ObservedVmi {
                        phase: v.phase.as_str(),
                        deleting: v.shutdown.is_some(),
                        problem: v.problem.map(|p| p.condition().2),
                    }),
                },
                run_strategy: RunStrategy::from(self.kubevirt.run_strategy()),
                pending: !self.kubevirt.state_change_requests().is_empty(),
                pending_action: pending_action(self.kubevirt.state_change_requests().iter().map(
                    |r| match r {
                        StateChange::Start { .. } => "Start",
                        StateChange::Stop { .. } => "Stop",
                    },
                )),
                vmi_uid: vmi_uid.as_deref(),
                grace_seconds: self
                    .wukong
                    .spec
                    .termination_grace_period_seconds
                    .unwrap_or(i64::from(DEFAULT_GRACE_PERIOD_SECONDS)),
            };
            let input = Input {
                now_ms: wall_ms,
                deleting,
                auto_start: self
                    .wukong
                    .spec
                    .start_strategy
                    .as_ref()
                    .is_some_and(|s| s.auto_start),
                grace_seconds: self.wukong.spec.termination_grace_period_seconds,
                reported: self
                    .wukong
                    .lifecycle_state()
                    .map(LifecycleState::reported)
                    .unwrap_or_default(),
                request: if deleting {
                    None
                } else {
                    self.wukong.decision_request()
                },
                backing: Backing::Ours(vm),
            };
            decide(&input, &namespace, &name)
        };
        let refused = match decision.work {
            // The guest is off: the VM goes, and with it the finalizer and the object.
            Work::DeleteVm | Work::Release => return Step::Gone,
            // The sandbox's VM always exists.
            Work::Report | Work::CreateVm | Work::AlreadyDone(_) => None,
            Work::Call(call, _) => self.kubevirt.request(call, &name, now_ms).err(),
        };
        let outcome = decision.conclude(match &refused {
            None => Answer::Done,
            Some(e) => Answer::Refused {
                code: e.code,
                message: &e.message,
            },
        });
        self.wake_at_ms = outcome
            .wake_at_ms
            .map(|at| now_ms + u64::try_from(at - wall_ms).unwrap_or(0));
        for note in &outcome.notes {
            let event = EventLine {
                at_ms: Some(wall_ms),
                warning: note.reason.is_warning(),
                object: "Wukong".to_owned(),
                reason: note.reason.as_str().to_owned(),
                // As `detail::event_line` reads the controller's Events: the note without who
                // asked, who asked apart.
                message: note.message.clone().unwrap_or_default(),
                says: note.says.clone(),
                requested_by: note
                    .names_requester()
                    .then(|| self.wukong.pending_request()?.requested_by.clone())
                    .flatten(),
                source: Some(crate::kube_backend::CONTROLLER.to_owned()),
                count: 1,
            };
            if self.events.len() == crate::detail::MAX_EVENTS {
                self.events.pop_front();
            }
            self.events.push_back(event);
        }
        let mut status = self.wukong.status.clone().unwrap_or_default();
        self.wukong.record(&mut status, outcome.records, Time(wall));
        let live = self.kubevirt.vmi().is_some_and(|vmi| !vmi.phase.is_final());
        status.node_name = live.then(|| node_for(&self.wukong));
        status.run_strategy = Some(RunStrategy::from(self.kubevirt.run_strategy()));
        status.printable_status = Some(self.kubevirt.printable_status().to_owned());
        status.vmi_phase = self.kubevirt.vmi().map(|vmi| vmi.phase.as_str().to_owned());
        status.lifecycle_state = Some(LifecycleState::from_report(outcome.report));
        self.wukong.status = Some(status);
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
