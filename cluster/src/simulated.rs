//! One Wukong and the simulated VM behind it: plays the lifecycle controller and KubeVirt for it.
//!
//! Used by the in-memory sandbox and by the `wukong-sim-controller` test helper, which does the same
//! on a real API server until the real lifecycle controller exists. It owns `status`; it takes
//! `metadata` and `spec` from whoever stores the object.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use wukong_api::{LifecycleState, Wukong, WukongStatus};
use wukong_lifecycle::{effective_grace_period, Action, VmState};
use wukong_sim::{Guest, SimVm, Timings};

/// Annotation marking a simulated guest that ignores the ACPI shutdown signal.
pub const IGNORE_ACPI_ANNOTATION: &str = "sim.novasphere.dev/ignore-acpi";
/// Annotation marking a simulated guest that never boots (CrashLoopBackOff).
pub const FAIL_BOOT_ANNOTATION: &str = "sim.novasphere.dev/fail-boot";

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
    sim: SimVm,
}

impl SimulatedVm {
    /// Picks up a Wukong as it is: its reported state (Stopped when none), its run strategy,
    /// and its guest's behaviour from the `sim.novasphere.dev/*` annotations.
    pub fn from_wukong(wukong: Wukong, timings: Timings) -> SimulatedVm {
        let annotated = |name: &str| {
            wukong
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(name))
                .is_some_and(|v| v == "true")
        };
        let guest = Guest {
            ignores_acpi: annotated(IGNORE_ACPI_ANNOTATION),
            fails_boot: annotated(FAIL_BOOT_ANNOTATION),
        };
        let state = match wukong.vm_state() {
            VmState::Unknown | VmState::Deleting => VmState::Stopped,
            transitional if transitional.is_transitional() => VmState::Stopped,
            settled => settled,
        };
        let run_strategy = wukong
            .status
            .as_ref()
            .and_then(|s| s.run_strategy)
            .unwrap_or(wukong.spec.run_strategy);
        SimulatedVm {
            sim: SimVm::new(state, run_strategy, guest, timings),
            wukong,
        }
    }

    pub fn wukong(&self) -> &Wukong {
        &self.wukong
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
        self.sim.next_event_at()
    }

    /// Takes up deletion or a pending request, and finishes a transition whose time has come.
    pub fn step(&mut self, now_ms: u64, wall: Timestamp) -> Step {
        let took_up = self.take_up_requests(now_ms, wall);
        match self.sim.advance(now_ms) {
            Some(settled) if settled.state.is_none() => Step::Gone,
            Some(settled) => {
                self.write_status(
                    settled.state.unwrap_or(VmState::Unknown),
                    None,
                    settled.message,
                    None,
                );
                Step::StatusChanged
            }
            None if took_up => Step::StatusChanged,
            None => Step::Unchanged,
        }
    }

    /// Starts deletion or the pending lifecycle request, if any. Returns whether status changed.
    fn take_up_requests(&mut self, now_ms: u64, wall: Timestamp) -> bool {
        let vm_grace = self.wukong.spec.termination_grace_period_seconds;
        if self.wukong.metadata.deletion_timestamp.is_some() {
            if self.sim.state() == VmState::Deleting {
                return false;
            }
            let grace = effective_grace_period(false, None, vm_grace);
            return match self.sim.request(Action::Delete, grace, now_ms) {
                Ok(accepted) => {
                    self.write_status(
                        accepted.state,
                        Some((Action::Delete, wall)),
                        accepted.message,
                        None,
                    );
                    true
                }
                Err(_) => false,
            };
        }
        let Some(request) = self.wukong.pending_request().cloned() else {
            return false;
        };
        let action = request.action();
        let grace = effective_grace_period(
            action == Action::ForceStop,
            request.grace_period_seconds,
            vm_grace,
        );
        match self.sim.request(action, grace, now_ms) {
            Ok(accepted) => {
                let deadline = accepted
                    .stop_deadline_ms
                    .map(|at| wall + SignedDuration::from_millis(at.saturating_sub(now_ms) as i64));
                self.write_status(
                    accepted.state,
                    Some((action, wall)),
                    accepted.message,
                    deadline,
                );
            }
            Err(refusal) => {
                let state = self.sim.state();
                self.write_status(state, None, format!("{action} refused: {refusal}"), None);
            }
        }
        if let Some(lifecycle) = self
            .wukong
            .status
            .as_mut()
            .and_then(|s| s.lifecycle_state.as_mut())
        {
            lifecycle.observed_request_id = Some(request.request_id);
        }
        true
    }

    fn write_status(
        &mut self,
        state: VmState,
        action: Option<(Action, Timestamp)>,
        message: String,
        stop_deadline: Option<Timestamp>,
    ) {
        let node = state.has_live_guest().then(|| node_for(&self.wukong));
        let run_strategy = self.sim.run_strategy();
        let status = self.wukong.status.get_or_insert_with(WukongStatus::default);
        status.node_name = node;
        status.run_strategy = Some(run_strategy);
        let lifecycle = status
            .lifecycle_state
            .get_or_insert_with(LifecycleState::default);
        lifecycle.state = state.as_str().to_owned();
        lifecycle.message = Some(message);
        lifecycle.stop_deadline = stop_deadline.map(Time);
        if let Some((action, at)) = action {
            lifecycle.last_action = Some(action.as_str().to_owned());
            lifecycle.last_action_time = Some(Time(at));
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
