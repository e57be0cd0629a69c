//! The VirtualMachine behind a Wukong: how it is built from the Wukong, and how the controller
//! tells that one is its own.
//!
//! A VM's name is not proof of anything: whoever may create VMs in a namespace can create one
//! under any name. A VM belongs to a Wukong only if it carries a *controller* ownerReference with
//! that Wukong's uid; the controller never starts, stops, pauses, adopts, patches or deletes any
//! other VM, and it copies onto the VMs it creates only the annotations the operator allowed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;
use wukong_api::kubevirt::VirtualMachine;
use wukong_api::Wukong;

/// The label that names the Wukong a VM was created for (for people and selectors; ownership is
/// the ownerReference's).
pub const WUKONG_LABEL: &str = "vm.novasphere.dev/wukong";

/// Whether `object` (a VM; or a VMI, controlled by its VM) is controlled by the object with
/// `owner_uid` (a `controller: true` ownerReference carrying that uid). A reference without
/// `controller: true` does not count: Kubernetes lets any number of owners be listed, but only
/// one controls.
pub fn is_controlled_by<K: Resource>(object: &K, owner_uid: &str) -> bool {
    !owner_uid.is_empty()
        && object
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == owner_uid)
}

pub use wukong_lifecycle::decide::not_owned_message;

/// The Wukong's annotations that may reach its VM: those whose key starts with one of
/// `prefixes` (matched literally, so `sim.novasphere.dev/` names one domain, and an operator who
/// writes `example.com` without the slash also lets `example.com.evil/` through). Nothing by
/// default: annotations steer KubeVirt (`kubevirt.io/*`) and other tools, and the person who
/// writes a Wukong must not steer them through the controller.
pub fn copied_annotations(
    annotations: &BTreeMap<String, String>,
    prefixes: &[String],
) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(key, _)| {
            prefixes
                .iter()
                .any(|p| !p.is_empty() && key.starts_with(p.as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The VirtualMachine for a Wukong: same name and namespace, controlled by the Wukong (`owner`,
/// which must carry its uid), from its spec, with the allowed annotations.
pub fn desired(
    wukong: &Wukong,
    owner: OwnerReference,
    annotation_prefixes: &[String],
) -> Result<VirtualMachine, serde_json::Error> {
    let name = wukong.name_any();
    let spec = &wukong.spec;
    let mut domain = json!({ "devices": {} });
    if let Some(cores) = spec.cpu_cores {
        domain["cpu"] = json!({ "cores": cores });
    }
    if let Some(memory) = &spec.memory {
        domain["memory"] = json!({ "guest": memory });
    }
    let mut template_spec = json!({ "domain": domain });
    if let Some(grace) = spec.termination_grace_period_seconds {
        template_spec["terminationGracePeriodSeconds"] = json!(grace);
    }
    if let Some(image) = &spec.image {
        template_spec["volumes"] =
            json!([{ "name": "rootdisk", "containerDisk": { "image": image } }]);
    }
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {
            "name": name,
            "namespace": wukong.namespace(),
            "annotations": copied_annotations(wukong.annotations(), annotation_prefixes),
            "labels": { WUKONG_LABEL: name },
            "ownerReferences": [owner],
        },
        "spec": {
            "runStrategy": spec.run_strategy.as_str(),
            "template": { "metadata": { "labels": { "kubevirt.io/vm": name } }, "spec": template_spec },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm_with(owners: serde_json::Value) -> VirtualMachine {
        serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": { "name": "web-01", "namespace": "team-a", "ownerReferences": owners },
            "spec": {},
        }))
        .expect("a VirtualMachine")
    }

    fn owner(uid: &str, controller: Option<bool>) -> serde_json::Value {
        json!({ "apiVersion": "vm.novasphere.dev/v1alpha1", "kind": "Wukong", "name": "web-01",
                "uid": uid, "controller": controller })
    }

    #[test]
    fn only_a_controller_reference_with_the_wukongs_uid_makes_a_vm_ours() {
        assert!(is_controlled_by(
            &vm_with(json!([owner("u-1", Some(true))])),
            "u-1"
        ));
        // Not ours: none, another uid (an older Wukong of the same name), not the controller.
        assert!(!is_controlled_by(&vm_with(json!([])), "u-1"));
        assert!(!is_controlled_by(
            &vm_with(json!([owner("u-0", Some(true))])),
            "u-1"
        ));
        assert!(!is_controlled_by(
            &vm_with(json!([owner("u-1", None)])),
            "u-1"
        ));
        assert!(!is_controlled_by(
            &vm_with(json!([owner("u-1", Some(false))])),
            "u-1"
        ));
        // Another controller listed beside a plain reference to us: still not ours.
        assert!(!is_controlled_by(
            &vm_with(json!([owner("u-0", Some(true)), owner("u-1", None)])),
            "u-1"
        ));
        // A Wukong without a uid (never stored) owns nothing, not even a VM with an empty uid.
        assert!(!is_controlled_by(
            &vm_with(json!([owner("", Some(true))])),
            ""
        ));
    }

    #[test]
    fn the_not_owned_message_names_namespace_and_name() {
        assert_eq!(
            not_owned_message("team-a", "web-01"),
            "VirtualMachine team-a/web-01 exists and is not managed by this Wukong"
        );
    }

    fn annotations(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), "v".to_owned()))
            .collect()
    }

    #[test]
    fn only_annotations_under_an_allowed_prefix_are_copied() {
        let on_wukong = annotations(&[
            "kubevirt.io/foo",
            "example.com/bar",
            "sim.novasphere.dev/x",
            "kubectl.kubernetes.io/last-applied-configuration",
            "xsim.novasphere.dev/y",
        ]);
        let sim = vec!["sim.novasphere.dev/".to_owned()];
        assert_eq!(
            copied_annotations(&on_wukong, &sim),
            annotations(&["sim.novasphere.dev/x"])
        );
        // The default: nothing.
        assert!(copied_annotations(&on_wukong, &[]).is_empty());
        // An empty prefix would match everything; it matches nothing.
        assert!(copied_annotations(&on_wukong, &[String::new()]).is_empty());
        let two = vec!["sim.novasphere.dev/".to_owned(), "example.com/".to_owned()];
        assert_eq!(
            copied_annotations(&on_wukong, &two),
            annotations(&["example.com/bar", "sim.novasphere.dev/x"])
        );
    }

    #[test]
    fn the_desired_vm_is_controlled_by_its_wukong_and_carries_only_allowed_annotations() {
        let mut wukong: Wukong = serde_json::from_value(json!({
            "apiVersion": "vm.novasphere.dev/v1alpha1",
            "kind": "Wukong",
            "metadata": { "name": "web-01", "namespace": "team-a", "uid": "u-1",
                          "annotations": { "kubevirt.io/foo": "1", "sim.novasphere.dev/x": "2" } },
            "spec": { "runStrategy": "Manual", "cpuCores": 2, "memory": "1Gi" },
        }))
        .expect("a Wukong");
        let owner = wukong.controller_owner_ref(&()).expect("has a uid");
        let vm = desired(&wukong, owner, &["sim.novasphere.dev/".to_owned()]).expect("a VM");
        assert!(is_controlled_by(&vm, "u-1"));
        assert_eq!(vm.namespace().as_deref(), Some("team-a"));
        assert_eq!(vm.spec.run_strategy.as_deref(), Some("Manual"));
        assert_eq!(
            vm.annotations().keys().collect::<Vec<_>>(),
            ["sim.novasphere.dev/x"]
        );
        assert_eq!(
            vm.labels().get(WUKONG_LABEL).map(String::as_str),
            Some("web-01")
        );
        // Without a uid there is no owner reference to give: the caller must not create.
        wukong.metadata.uid = None;
        assert!(wukong.controller_owner_ref(&()).is_none());
    }
}
