//! The committed CRD must be exactly what the Rust types generate, and its schema must refuse
//! what the console refuses (unknown actions, negative grace periods).

use kube::CustomResourceExt;
use wukong_api::Wukong;

const COMMITTED: &str = include_str!("../../deploy/base/crd.yaml");

#[test]
fn committed_crd_matches_the_rust_types() {
    let generated = serde_yaml::to_string(&Wukong::crd()).expect("CRD serializes");
    assert!(
        generated == COMMITTED,
        "deploy/base/crd.yaml is out of date; regenerate it with:\n  cargo run -p wukong-api --bin crdgen > deploy/base/crd.yaml"
    );
}

#[test]
fn committed_schedule_crds_match_the_rust_types() {
    const COMMITTED: &str = include_str!("../../deploy/base/crd-schedules.yaml");
    let generated = wukong_api::schedule_crds_yaml().expect("CRDs serialize");
    assert!(
        generated == COMMITTED,
        "deploy/base/crd-schedules.yaml is out of date; regenerate it with:\n  cargo run -p wukong-api --bin crdgen schedules > deploy/base/crd-schedules.yaml"
    );
}

fn lifecycle_action_schema() -> serde_json::Value {
    let crd = serde_json::to_value(Wukong::crd()).expect("CRD as JSON");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["lifecycleAction"]
        .clone()
}

#[test]
fn schema_allows_only_the_seed_actions() {
    let actions = &lifecycle_action_schema()["properties"]["action"]["enum"];
    assert_eq!(
        actions,
        &serde_json::json!(["start", "stop", "restart", "suspend", "resume"])
    );
}

#[test]
fn schema_bounds_the_grace_period_and_requires_a_request_id() {
    let schema = lifecycle_action_schema();
    let grace = &schema["properties"]["gracePeriodSeconds"];
    assert_eq!(grace["minimum"], serde_json::json!(0.0));
    assert_eq!(grace["maximum"], serde_json::json!(3600.0));
    assert_eq!(
        schema["required"],
        serde_json::json!(["action", "requestId"])
    );
}

#[test]
fn crd_is_namespaced_with_a_status_subresource() {
    let crd = Wukong::crd();
    assert_eq!(crd.spec.group, "vm.novasphere.dev");
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version
        .subresources
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .is_some());
}
