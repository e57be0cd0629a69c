//! The Wukong lifecycle controller (library side, so tests can drive the pieces).
//!
//! - [`reconcile`]: the reconciler (kube-rs `Controller` over Wukongs, owning VirtualMachines and
//!   watching VirtualMachineInstances);
//! - [`kubevirt`]: calls to KubeVirt's subresource API;
//! - [`lease`]: leader election through a coordination.k8s.io Lease;
//! - [`metrics`]: Prometheus metrics;
//! - [`vm`]: the VirtualMachine behind a Wukong (how it is built, which one is its own).

pub mod kubevirt;
pub mod lease;
pub mod metrics;
pub mod reconcile;
pub mod vm;
