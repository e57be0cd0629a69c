//! The `Wukong` custom resource, `vm.novasphere.dev/v1alpha1`.
//!
//! Field names follow the lifecycle design (`spec.lifecycleAction {action, force, gracePeriodSeconds}`,
//! `status.lifecycleState {state, lastAction, lastActionTime, message}`), plus what correctness needs:
//! a request id on every action and its acknowledgement in status (`observedRequestId`), the
//! deadline of a graceful stop, and KubeVirt's `runStrategy` / `startStrategy.autoStart`.
//!
//! Only server-side crates depend on this one; the browser gets small view types from `app`.

pub mod kubevirt;
mod wukong;

pub use wukong::*;

/// The finalizer with which the lifecycle controller stops and removes the VM before a Wukong goes.
pub const FINALIZER: &str = "vm.novasphere.dev/lifecycle";
/// The field manager the console writes `spec.lifecycleAction` with.
pub const CONSOLE_FIELD_MANAGER: &str = "wukong-console";
