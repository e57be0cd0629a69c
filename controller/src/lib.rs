//! The Wukong lifecycle controller (library side, so tests can drive the pieces).
//!
//! - [`reconcile`]: the reconciler (kube-rs `Controller` over Wukongs, woken by VirtualMachines
//!   and VirtualMachineInstances of the same name), as [`observe`] → `wukong_lifecycle::decide` →
//!   [`act`];
//! - [`observe`]: the VM and VMI under a Wukong's name, from reflector stores;
//! - [`act`]: every write (KubeVirt call results, VM, finalizer, status, Events);
//! - [`kubevirt`]: calls to KubeVirt's subresource API;
//! - [`lease`]: leader election through a coordination.k8s.io Lease;
//! - [`metrics`]: Prometheus metrics;
//! - [`schedules`]: power schedules, carried out at their edges as ordinary requests;
//! - [`vm`]: the VirtualMachine behind a Wukong (how it is built, which one is its own);
//! - [`written`]: whether the Wukong cache shows the controller's last write yet (when a request
//!   must be read afresh).

pub mod act;
pub mod events;
pub mod kubevirt;
pub mod lease;
pub mod metrics;
pub mod observe;
pub mod reconcile;
pub mod schedules;
pub mod vm;
pub mod written;
