//! The VM page's facts: one VM's row from the shared store, and its Wukong, KubeVirt objects and
//! Events read as the person. What KubeVirt and the apiserver wrote is passed on as written.

use crate::{Audience, ClusterError, Console};
use k8s_openapi::api::core::v1::Event;
use serde_json::Value;
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_api::Wukong;
use wukong_view::{Condition, EventLine, Filter, View, VmDetail, VmFacts, VmKey, VmiFacts};

/// Most Events the page lists.
pub const MAX_EVENTS: usize = 50;

/// The one-row view of a VM page: the list's own view, narrowed to one exact name.
pub fn one_vm_view(key: &VmKey) -> View {
    View {
        filter: Filter {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            ..Filter::default()
        },
        ..View::default()
    }
    .normalized()
}

/// Everything the VM page shows, read as `audience`. A VM the person cannot see (no `list` in
/// its namespace) is `NotFound`, exactly like one that does not exist: the page never tells the
/// two apart.
pub async fn vm_detail(
    console: &Console,
    audience: &Audience,
    key: &VmKey,
) -> Result<VmDetail, ClusterError> {
    let grants = audience
        .access
        .grants(&audience.who, &key.namespace)
        .await?;
    let not_found = || ClusterError::NotFound { key: key.clone() };
    if !grants.list {
        return Err(not_found());
    }
    let snapshot = console.store.page_for(audience, &one_vm_view(key)).await;
    if snapshot.rows.is_empty() {
        return Err(not_found());
    }
    let cluster = &console.cluster;
    let who = &audience.who;
    let (wukong, kubevirt, events, history) = futures::join!(
        cluster.get(who, key),
        cluster.kubevirt(who, key),
        cluster.events(who, key),
        cluster.history(who, key),
    );
    let wukong = wukong?;
    let (events, events_unreadable) = match events {
        Ok(events) => (events, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let (history, history_unreadable) = match history {
        Ok(history) => (history, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(VmDetail {
        snapshot,
        spec: spec_lines(&wukong),
        kubevirt,
        events,
        events_unreadable,
        history,
        history_unreadable,
        yaml: yaml_of(&wukong),
    })
}

/// The Wukong's spec field by field (its request left out: the page shows that as state), each
/// value as it reads in YAML.
pub fn spec_lines(wukong: &Wukong) -> Vec<(String, String)> {
    let Ok(Value::Object(fields)) = serde_json::to_value(&wukong.spec) else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter(|(field, _)| field != "lifecycleAction")
        .map(|(field, value)| {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (field, text)
        })
        .collect()
}

/// The Wukong as `kubectl get -o yaml` shows it (without `managedFields`).
pub fn yaml_of(wukong: &Wukong) -> String {
    let mut wukong = wukong.clone();
    wukong.metadata.managed_fields = None;
    serde_yaml::to_string(&wukong).unwrap_or_else(|e| format!("# cannot be shown as YAML: {e}"))
}

/// What a person looks at in a VirtualMachine's status.
pub fn vm_facts(vm: &VirtualMachine) -> VmFacts {
    let status = vm.status.as_ref();
    VmFacts {
        printable_status: status.and_then(|s| s.printable_status.clone()),
        run_strategy: status
            .and_then(|s| s.run_strategy.clone())
            .or_else(|| vm.spec.run_strategy.clone()),
        ready: status.and_then(|s| s.ready),
        conditions: status
            .and_then(|s| s.rest.get("conditions"))
            .map(conditions_of)
            .unwrap_or_default(),
    }
}

/// What a person looks at in a VMI's status: phase, node, addresses, conditions.
pub fn vmi_facts(vmi: &VirtualMachineInstance) -> VmiFacts {
    let Some(status) = vmi.status.as_ref() else {
        return VmiFacts::default();
    };
    let mut ip_addresses: Vec<String> = Vec::new();
    let interfaces = status.rest.get("interfaces").and_then(Value::as_array);
    for interface in interfaces.into_iter().flatten() {
        let listed = interface.get("ipAddresses").and_then(Value::as_array);
        let addresses = interface
            .get("ipAddress")
            .into_iter()
            .chain(listed.into_iter().flatten())
            .filter_map(Value::as_str);
        for address in addresses {
            if !address.is_empty() && !ip_addresses.iter().any(|a| a == address) {
                ip_addresses.push(address.to_owned());
            }
        }
    }
    VmiFacts {
        phase: status.phase.clone().filter(|p| !p.is_empty()),
        node: status.node_name.clone(),
        ip_addresses,
        conditions: status
            .conditions
            .iter()
            .map(|c| Condition {
                kind: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone().filter(|r| !r.is_empty()),
                message: c.message.clone().filter(|m| !m.is_empty()),
            })
            .collect(),
    }
}

fn conditions_of(value: &Value) -> Vec<Condition> {
    let text = |c: &Value, field: &str| {
        c.get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(Condition {
                kind: text(c, "type")?,
                status: text(c, "status").unwrap_or_default(),
                reason: text(c, "reason"),
                message: text(c, "message"),
            })
        })
        .collect()
}

/// The object kinds whose Events the page shows (they share the VM's name).
const EVENT_KINDS: [&str; 3] = ["Wukong", "VirtualMachine", "VirtualMachineInstance"];

/// One Event as the page lists it; `None` for an Event about another kind of object.
pub fn event_line(event: Event) -> Option<EventLine> {
    let object = event.involved_object.kind.clone().unwrap_or_default();
    if !EVENT_KINDS.contains(&object.as_str()) {
        return None;
    }
    let at_ms = event
        .last_timestamp
        .map(|t| t.0.as_millisecond())
        .or_else(|| event.event_time.map(|t| t.0.as_millisecond()))
        .or_else(|| event.first_timestamp.map(|t| t.0.as_millisecond()))
        .or_else(|| {
            event
                .metadata
                .creation_timestamp
                .map(|t| t.0.as_millisecond())
        });
    let source = event
        .reporting_component
        .filter(|c| !c.is_empty())
        .or_else(|| event.source.and_then(|s| s.component));
    let mut message = event.message.unwrap_or_default();
    // The lifecycle controller's words as a code: only from the controller's own Events. Its
    // note names who asked in English; that is kept apart, for the page to word.
    let says = (source.as_deref() == Some(crate::kube_backend::CONTROLLER))
        .then(|| wukong_api::says_from_annotations(&event.metadata.annotations.unwrap_or_default()))
        .flatten();
    let mut requested_by = None;
    if says.is_some() {
        let (note, by) = wukong_api::split_requester(&message);
        requested_by = by.map(str::to_owned);
        message = note.to_owned();
    }
    Some(EventLine {
        at_ms,
        warning: event.type_.as_deref() == Some("Warning"),
        object,
        reason: event.reason.unwrap_or_default(),
        message,
        says,
        requested_by,
        source,
        count: event
            .count
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(1)
            .max(1),
    })
}

/// Newest first, at most [`MAX_EVENTS`].
pub fn newest_events(mut events: Vec<EventLine>) -> Vec<EventLine> {
    events.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    events.truncate(MAX_EVENTS);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_vmi_lists_each_address_once_in_kubevirts_order() {
        let vmi: VirtualMachineInstance = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": { "name": "web", "namespace": "a" },
            "spec": {},
            "status": {
                "phase": "Running", "nodeName": "n1",
                "conditions": [{ "type": "Ready", "status": "True" }],
                "interfaces": [
                    { "name": "default", "ipAddress": "10.0.0.5", "ipAddresses": ["10.0.0.5", "fd00::5"] },
                    { "name": "second", "ipAddresses": ["192.168.1.9"] }
                ]
            }
        }))
        .expect("a VMI");
        let facts = vmi_facts(&vmi);
        assert_eq!(facts.ip_addresses, ["10.0.0.5", "fd00::5", "192.168.1.9"]);
        assert_eq!(facts.node.as_deref(), Some("n1"));
        assert_eq!(facts.phase.as_deref(), Some("Running"));
        assert_eq!(facts.conditions[0].kind, "Ready");
    }

    #[test]
    fn a_vm_reads_its_printable_status_and_conditions() {
        let vm: VirtualMachine = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": { "name": "web", "namespace": "a" },
            "spec": { "runStrategy": "Always" },
            "status": {
                "printableStatus": "Stopped", "ready": false,
                "conditions": [{ "type": "Ready", "status": "False", "reason": "VMINotExists",
                                 "message": "VMI does not exist" }]
            }
        }))
        .expect("a VM");
        let facts = vm_facts(&vm);
        assert_eq!(facts.printable_status.as_deref(), Some("Stopped"));
        assert_eq!(facts.run_strategy.as_deref(), Some("Always"));
        assert_eq!(facts.conditions[0].reason.as_deref(), Some("VMINotExists"));
    }

    #[test]
    fn the_yaml_leaves_managed_fields_out_and_the_spec_lines_leave_the_request_out() {
        let wukong: Wukong = serde_json::from_value(json!({
            "apiVersion": "vm.novasphere.dev/v1alpha1", "kind": "Wukong",
            "metadata": { "name": "web", "namespace": "a",
                          "managedFields": [{ "manager": "kubectl", "operation": "Apply" }] },
            "spec": { "cpuCores": 2, "memory": "4Gi", "runStrategy": "Manual",
                      "lifecycleAction": { "action": "start", "requestId": "r1" } }
        }))
        .expect("a Wukong");
        let yaml = yaml_of(&wukong);
        assert!(yaml.contains("cpuCores: 2"), "{yaml}");
        assert!(!yaml.contains("managedFields"), "{yaml}");
        let lines = spec_lines(&wukong);
        assert!(
            lines.contains(&("memory".into(), "4Gi".into())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&("cpuCores".into(), "2".into())),
            "{lines:?}"
        );
        assert!(lines.iter().all(|(f, _)| f != "lifecycleAction"));
    }
}
