//! Observe: what stands under a Wukong's name in KubeVirt, read from the controller's reflector
//! stores of VirtualMachines and VirtualMachineInstances (kept by the same watches that wake the
//! reconciler), so a reconcile makes no read of its own for them.
//!
//! Only a VM this Wukong controls (`vm::is_controlled_by` with its uid) is its own; only a VMI
//! that VM controls is that VM's. A store may lag a write this controller just made (a VM it
//! created a moment ago); the one place that matters, a create answered 409, reads afresh
//! ([`Observer::fresh`]).

use crate::vm;
use crate::written::Written;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use std::sync::Arc;
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::Wukong;
use wukong_lifecycle::decide::{self, Backing, Vm};
use wukong_lifecycle::kubevirt::{Observed, ObservedVmi};
use wukong_lifecycle::DEFAULT_GRACE_PERIOD_SECONDS;

/// The VM and VMI of one name, as last seen.
#[derive(Clone, Default)]
pub struct Seen {
    pub vm: Option<Arc<VirtualMachine>>,
    pub vmi: Option<Arc<VirtualMachineInstance>>,
}

/// Reads Wukongs, VMs and VMIs from the reflector stores.
#[derive(Clone)]
pub struct Observer {
    pub wukongs: Store<Wukong>,
    pub vms: Store<VirtualMachine>,
    pub vmis: Store<VirtualMachineInstance>,
}

impl Observer {
    /// The VM and VMI named `name` in `namespace`, from the stores.
    pub fn seen(&self, namespace: &str, name: &str) -> Seen {
        Seen {
            vm: self.vms.get(&ObjectRef::new(name).within(namespace)),
            vmi: self.vmis.get(&ObjectRef::new(name).within(namespace)),
        }
    }

    /// The cached Wukong `uid`, when the cache shows what this controller last knew of it
    /// ([`Written`]); `None`: read it afresh.
    pub fn current(
        &self,
        written: &Written,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> Option<Arc<Wukong>> {
        // Asked first, read after: a Wukong read from the cache after the answer is at least as new.
        // Asked again after the read: a relist that replaced the store meanwhile forgot first.
        if !written.shown(uid) {
            return None;
        }
        let cached = self
            .wukongs
            .get(&ObjectRef::new(name).within(namespace))
            .filter(|w| w.metadata.uid.as_deref() == Some(uid))?;
        written.shown(uid).then_some(cached)
    }

    /// The resourceVersion of the cached Wukong `name`, when it is `uid`.
    pub fn cached_version(&self, namespace: &str, name: &str, uid: &str) -> Option<String> {
        self.wukongs
            .get(&ObjectRef::new(name).within(namespace))
            .filter(|w| w.metadata.uid.as_deref() == Some(uid))
            .and_then(|w| w.metadata.resource_version.clone())
    }

    /// Waits (briefly) until the VM store holds the VM this controller just created, so the next
    /// reconcile of the Wukong (already queued by the finalizer write) finds it there instead of
    /// creating it again and reading afresh after the 409. Returns whether it arrived.
    pub async fn created(&self, namespace: &str, name: &str) -> bool {
        let key = ObjectRef::new(name).within(namespace);
        for _ in 0..40 {
            if self.vms.get(&key).is_some() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        false
    }

    /// The VM and VMI read from the API server, both at once (after a create answered 409).
    pub async fn fresh(
        vms: &Api<VirtualMachine>,
        vmis: &Api<VirtualMachineInstance>,
        name: &str,
    ) -> Result<Seen, kube::Error> {
        let (vm, vmi) = futures::try_join!(vms.get_opt(name), vmis.get_opt(name))?;
        Ok(Seen {
            vm: vm.map(Arc::new),
            vmi: vmi.map(Arc::new),
        })
    }
}

impl Seen {
    /// The VM, when it is the Wukong's (`uid`).
    pub fn ours(&self, uid: &str) -> Option<&VirtualMachine> {
        self.vm
            .as_deref()
            .filter(|vm| vm::is_controlled_by(*vm, uid))
    }

    /// The VMI, when its VM controls it: one of the same name created by someone else says
    /// nothing about ours.
    pub fn vmi_of(&self, vm: &VirtualMachine) -> Option<&VirtualMachineInstance> {
        let vm_uid = vm.uid().unwrap_or_default();
        self.vmi
            .as_deref()
            .filter(|vmi| vm::is_controlled_by(*vmi, &vm_uid))
    }

    /// What `decide` reads: nothing, someone else's VM, or ours as KubeVirt shows it.
    pub fn backing(&self, wukong: &Wukong, uid: &str) -> Backing<'_> {
        if self.vm.is_none() {
            return Backing::Nothing;
        }
        let Some(vm) = self.ours(uid) else {
            return Backing::NotOurs;
        };
        let vmi = self.vmi_of(vm);
        Backing::Ours(Vm {
            observed: Observed {
                printable_status: vm.printable_status(),
                vmi: vmi.map(|v| ObservedVmi {
                    phase: v.phase().unwrap_or_default(),
                    deleting: v.metadata.deletion_timestamp.is_some(),
                    problem: v.problem(),
                }),
            },
            run_strategy: vm.run_strategy(),
            pending: vm.has_pending_requests(),
            pending_action: decide::pending_action(
                vm.status
                    .iter()
                    .flat_map(|s| &s.state_change_requests)
                    .map(|r| r.action.as_str()),
            ),
            vmi_uid: vmi.and_then(|v| v.metadata.uid.as_deref()),
            grace_seconds: wukong
                .spec
                .termination_grace_period_seconds
                .or(vm.template_grace_period_seconds())
                .unwrap_or(i64::from(DEFAULT_GRACE_PERIOD_SECONDS)),
        })
    }

    /// The node the VMI runs on.
    pub fn node_name(&self, vm: &VirtualMachine) -> Option<String> {
        self.vmi_of(vm)?.status.as_ref()?.node_name.clone()
    }

    /// The VMI's phase, verbatim.
    pub fn vmi_phase(&self, vm: &VirtualMachine) -> Option<String> {
        self.vmi_of(vm)
            .map(|vmi| vmi.phase().unwrap_or_default().to_owned())
    }
}
