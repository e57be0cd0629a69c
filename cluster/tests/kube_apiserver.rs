//! The console's Kubernetes backend against a real kube-apiserver (the local control plane from
//! `./dev/cluster up`; `./dev/test` starts it and runs these). Each test works in its own fresh
//! namespace: there is no kube-controller-manager, so namespaces are never really deleted.

mod common;

use common::{admin, eventually, fresh_namespace, rows_in};
use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use wukong_api::{LifecycleAction, Wukong, WukongSpec};
use wukong_cluster::actions::{request_action, request_action_known, ActionRequest};
use wukong_cluster::{
    api_error, Cluster, ClusterError, Identity, KubeCluster, LiveStore, OpenAccess,
};
use wukong_view::{Action, RunStrategy, VmKey, VmState};

/// Creates a Wukong and gives it a lifecycle state, as the controller would.
async fn create_wukong(
    client: &Client,
    ns: &str,
    name: &str,
    state: VmState,
    run_strategy: RunStrategy,
) {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    let spec = WukongSpec {
        run_strategy,
        cpu_cores: Some(2),
        memory: Some("4Gi".into()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &Wukong::new(name, spec))
        .await
        .expect("create wukong");
    set_status(client, ns, name, json!({ "state": state.as_str() })).await;
}

async fn set_status(client: &Client, ns: &str, name: &str, lifecycle_state: serde_json::Value) {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    let patch = json!({ "status": { "lifecycleState": lifecycle_state } });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("status");
}

async fn started_store(cluster: &KubeCluster) -> Arc<LiveStore> {
    let store = LiveStore::spawn(cluster);
    tokio::time::timeout(Duration::from_secs(30), store.wait_ready())
        .await
        .expect("first list within 30 s");
    store
}

async fn eventually_30s<F: Fn() -> bool>(what: &str, check: F) {
    eventually(what, 30, check).await
}

fn stop(ns: &str, name: &str) -> ActionRequest {
    ActionRequest {
        key: VmKey::new(ns, name),
        action: Action::Stop,
        grace_period_seconds: Some(20),
        uid: None,
    }
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn list_watch_patch_delete_round_trip() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "roundtrip").await;
    for name in ["a", "b", "c"] {
        create_wukong(&client, &ns, name, VmState::Running, RunStrategy::Manual).await;
    }
    let store = started_store(&cluster).await;
    eventually_30s("the store lists the three VMs", || {
        rows_in(&store, &ns) == 3
    })
    .await;

    let accepted = request_action(&cluster, &OpenAccess, &Identity::Console, stop(&ns, "a"))
        .await
        .expect("stop accepted");
    let key = VmKey::new(&ns, "a");
    eventually_30s("the watch shows the request pending", || {
        store
            .row(&key)
            .is_some_and(|r| r.pending == Some(Action::Stop))
    })
    .await;
    let written = Api::<Wukong>::namespaced(client.clone(), &ns)
        .get("a")
        .await
        .unwrap();
    let action = written
        .spec
        .lifecycle_action
        .clone()
        .expect("lifecycleAction written");
    assert_eq!(
        (
            action.action(),
            action.request_id.as_str(),
            action.grace_period_seconds
        ),
        (Action::Stop, accepted.request_id.as_str(), Some(20))
    );
    let managers: Vec<_> = written
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "wukong-console"),
        "{managers:?}"
    );

    // The controller acknowledges: no longer pending, state Stopping.
    set_status(
        &client,
        &ns,
        "a",
        json!({ "state": "Stopping", "observedRequestId": accepted.request_id }),
    )
    .await;
    eventually_30s("the acknowledgement reaches the store", || {
        store
            .row(&key)
            .is_some_and(|r| r.pending.is_none() && r.state == VmState::Stopping)
    })
    .await;

    let delete = ActionRequest {
        key: VmKey::new(&ns, "b"),
        action: Action::Delete,
        grace_period_seconds: None,
        uid: None,
    };
    request_action(&cluster, &OpenAccess, &Identity::Console, delete)
        .await
        .expect("delete accepted");
    eventually_30s("the deleted VM leaves the store", || {
        rows_in(&store, &ns) == 2
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn the_crd_schema_rejects_unknown_actions_and_negative_grace_periods() {
    let (client, _cluster) = admin().await;
    let ns = fresh_namespace(&client, "schema").await;
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let api: Api<Wukong> = Api::namespaced(client.clone(), &ns);
    let key = VmKey::new(&ns, "vm");
    for (lifecycle_action, expected) in [
        (
            json!({ "action": "reboot", "requestId": "r1" }),
            "Unsupported value: \"reboot\"",
        ),
        (
            json!({ "action": "stop", "requestId": "r2", "gracePeriodSeconds": -1 }),
            "greater than or equal to 0",
        ),
    ] {
        let patch = json!({ "spec": { "lifecycleAction": lifecycle_action } });
        let err = api
            .patch("vm", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect_err("schema refuses");
        let shown = api_error(&key, Action::Stop, err);
        assert!(matches!(shown, ClusterError::Invalid(_)), "{shown:?}");
        let message = shown.to_string();
        assert!(
            message.starts_with("the cluster rejected the request:") && message.contains(expected),
            "{message}"
        );
    }
    let unchanged = api.get("vm").await.unwrap();
    assert!(
        unchanged.spec.lifecycle_action.is_none(),
        "a refused write changes nothing"
    );
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn a_stale_write_conflicts_and_the_action_is_decided_again_on_a_fresh_read() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "stale").await;
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let key = VmKey::new(&ns, "vm");
    let stale = cluster
        .get(&Identity::Console, &key)
        .await
        .unwrap()
        .metadata
        .resource_version;
    set_status(
        &client,
        &ns,
        "vm",
        json!({ "state": "Running", "message": "someone else wrote" }),
    )
    .await;

    let request = LifecycleAction::for_action(Action::Stop, None, "stale-1".into()).unwrap();
    let err = cluster
        .request_action(
            &Identity::Console,
            &key,
            request,
            wukong_api::Preconditions {
                uid: None,
                resource_version: stale,
            },
        )
        .await
        .expect_err("stale write");
    assert!(matches!(err, ClusterError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("try again"), "{err}");

    request_action(&cluster, &OpenAccess, &Identity::Console, stop(&ns, "vm"))
        .await
        .expect("decided again on fresh data and written");
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn an_action_decided_on_the_watched_row_is_decided_again_when_that_row_is_stale() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "known").await;
    create_wukong(&client, &ns, "vm", VmState::Stopped, RunStrategy::Manual).await;
    let key = VmKey::new(&ns, "vm");
    let seen = cluster.get(&Identity::Console, &key).await.unwrap();
    let stale_row = wukong_cluster::row_from_wukong(&seen).unwrap();
    let stale_version = seen.metadata.resource_version.clone().unwrap();
    // Since the console's watch saw it Stopped, the VM has started.
    set_status(&client, &ns, "vm", json!({ "state": "Running" })).await;

    // Start looks allowed on the stale row; the conditional write conflicts, the fresh read
    // says Running, and the person gets the real reason.
    let start = ActionRequest {
        key: key.clone(),
        action: Action::Start,
        grace_period_seconds: None,
        uid: None,
    };
    let err = request_action_known(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        start,
        Some((stale_row.clone(), stale_version.clone())),
    )
    .await
    .expect_err("refused on fresh data");
    assert!(matches!(err, ClusterError::Refused { .. }), "{err:?}");
    // Stop looks refused on the stale row (Stopped); the fresh read allows it.
    request_action_known(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        stop(&ns, "vm"),
        Some((stale_row, stale_version)),
    )
    .await
    .expect("decided again on fresh data and written");
    let written = cluster.get(&Identity::Console, &key).await.unwrap();
    assert_eq!(
        written.spec.lifecycle_action.map(|a| a.action()),
        Some(Action::Stop)
    );
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn a_viewer_is_refused_by_rbac_with_a_message_a_person_understands() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "rbac").await;
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let user = format!("viewer-{ns}");
    let role: Role =
        serde_json::from_value(json!({ "metadata": { "name": "wukong-viewer" } })).unwrap();
    let role = Role {
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["vm.novasphere.dev".into()]),
            resources: Some(vec!["wukongs".into()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..Default::default()
        }]),
        ..role
    };
    Api::<Role>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: serde_json::from_value(json!({ "name": "viewer" })).unwrap(),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "wukong-viewer".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.clone(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    // The console's own check is skipped (OpenAccess): the apiserver refuses the impersonated write.
    let viewer = Identity::person(user, vec!["system:authenticated".into()]);
    let err = request_action(&cluster, &OpenAccess, &viewer, stop(&ns, "vm"))
        .await
        .expect_err("viewers cannot stop");
    assert!(matches!(err, ClusterError::Forbidden { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("you are not allowed to stop {ns}/vm")),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn five_hundred_wukongs_list_and_stream() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "many").await;
    let names: Vec<String> = (0..500).map(|i| format!("vm-{i:03}")).collect();
    stream::iter(names.iter().cloned())
        .map(|name| {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                let api: Api<Wukong> = Api::namespaced(client, &ns);
                api.create(
                    &PostParams::default(),
                    &Wukong::new(&name, WukongSpec::default()),
                )
                .await
                .map(drop)
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("500 creates");
    let store = started_store(&cluster).await;
    eventually_30s("all 500 are listed", || rows_in(&store, &ns) == 500).await;
    for name in names.iter().take(20) {
        set_status(&client, &ns, name, json!({ "state": "Running" })).await;
    }
    eventually_30s("the 20 changes stream in", || {
        store
            .snapshot()
            .rows
            .iter()
            .filter(|r| r.key.namespace == ns && r.state == VmState::Running)
            .count()
            == 20
    })
    .await;
    assert_eq!(rows_in(&store, &ns), 500, "no row duplicated or dropped");
}

/// The controller's acknowledgement of whatever request is in the spec now, with a new state.
async fn acknowledge(client: &Client, ns: &str, name: &str, state: VmState) {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    let id = api
        .get(name)
        .await
        .expect("read")
        .spec
        .lifecycle_action
        .expect("a request")
        .request_id;
    set_status(
        client,
        ns,
        name,
        json!({ "state": state.as_str(), "observedRequestId": id }),
    )
    .await;
}

async fn stored_request(client: &Client, ns: &str, name: &str) -> serde_json::Value {
    let raw: serde_json::Value = client
        .request(
            http::Request::get(format!(
                "/apis/vm.novasphere.dev/v1alpha1/namespaces/{ns}/wukongs/{name}"
            ))
            .body(Vec::new())
            .expect("a request"),
        )
        .await
        .expect("read");
    let mut request = raw["spec"]["lifecycleAction"].clone();
    if let Some(fields) = request.as_object_mut() {
        // Fresh every time; compared separately where it matters.
        fields.remove("requestId");
        fields.remove("requestedBy");
        // The console stamps every request with the time it was written, to the microsecond (the
        // controller's take-up histogram is measured from it).
        let at = fields.remove("requestedAt");
        assert!(
            at.as_ref()
                .and_then(|at| at.as_str())
                .is_some_and(|at| at.len() == "2026-12-02T02:08:17.123456Z".len()),
            "every request carries requestedAt, to the microsecond: {at:?}"
        );
    }
    request
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn a_new_request_replaces_the_whole_previous_one() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "whole").await;
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let ask = |action, grace| ActionRequest {
        key: VmKey::new(&ns, "vm"),
        action,
        grace_period_seconds: grace,
        uid: None,
    };

    // Force stop → Start → Stop with 30 s, each acknowledged as the controller would.
    request_action(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        ask(Action::ForceStop, None),
    )
    .await
    .expect("force stop");
    assert_eq!(
        stored_request(&client, &ns, "vm").await,
        json!({ "action": "stop", "force": true, "gracePeriodSeconds": 0 })
    );
    acknowledge(&client, &ns, "vm", VmState::Stopped).await;
    request_action(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        ask(Action::Start, None),
    )
    .await
    .expect("start");
    assert_eq!(
        stored_request(&client, &ns, "vm").await,
        json!({ "action": "start" })
    );
    acknowledge(&client, &ns, "vm", VmState::Running).await;
    request_action(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        ask(Action::Stop, Some(30)),
    )
    .await
    .expect("stop");
    assert_eq!(
        stored_request(&client, &ns, "vm").await,
        json!({ "action": "stop", "gracePeriodSeconds": 30 }),
        "the stop is graceful: nothing of the force stop is left"
    );
    acknowledge(&client, &ns, "vm", VmState::Stopped).await;

    // A force restart written by hand (kubectl), then a restart from the console: graceful.
    request_action(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        ask(Action::Start, None),
    )
    .await
    .expect("start");
    acknowledge(&client, &ns, "vm", VmState::Running).await;
    let force_restart = json!({ "spec": { "lifecycleAction": {
        "action": "restart", "force": true, "gracePeriodSeconds": 0, "requestId": "by-hand"
    } } });
    Api::<Wukong>::namespaced(client.clone(), &ns)
        .patch("vm", &PatchParams::default(), &Patch::Merge(&force_restart))
        .await
        .expect("force restart by hand");
    acknowledge(&client, &ns, "vm", VmState::Running).await;
    request_action(
        &cluster,
        &OpenAccess,
        &Identity::Console,
        ask(Action::Restart, None),
    )
    .await
    .expect("restart");
    assert_eq!(
        stored_request(&client, &ns, "vm").await,
        json!({ "action": "restart" })
    );
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn a_wukong_created_again_is_never_acted_on_for_the_old_one() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "replaced").await;
    let api: Api<Wukong> = Api::namespaced(client.clone(), &ns);
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let seen = api.get("vm").await.expect("read").metadata.uid;
    // No controller runs here, so there is no finalizer: the delete is immediate.
    api.delete("vm", &Default::default()).await.expect("delete");
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let key = VmKey::new(&ns, "vm");

    for action in [Action::Stop, Action::Delete] {
        let request = ActionRequest {
            key: key.clone(),
            action,
            grace_period_seconds: None,
            uid: seen.clone(),
        };
        let err = request_action(&cluster, &OpenAccess, &Identity::Console, request)
            .await
            .expect_err("the person saw another object");
        assert!(matches!(err, ClusterError::Replaced { .. }), "{err:?}");
        assert!(err.to_string().contains("created again"), "{err}");
    }
    let now = api.get("vm").await.expect("the new one is still there");
    assert_eq!(now.spec.lifecycle_action, None, "nothing was written");

    // The apiserver's own answer to a write or delete on the old uid, which the sandbox mirrors.
    let stop = LifecycleAction::for_action(Action::Stop, None, "old".into()).unwrap();
    let old = wukong_api::Preconditions {
        uid: seen,
        resource_version: None,
    };
    let patch = cluster
        .request_action(&Identity::Console, &key, stop, old.clone())
        .await
        .expect_err("a patch on the old uid");
    let delete = cluster
        .delete(&Identity::Console, &key, old.clone())
        .await
        .expect_err("a delete on the old uid");
    eprintln!("apiserver answers: patch {patch:?}; delete {delete:?}");
    // A stale version and the old uid at once: the version is answered first (409).
    let stop = LifecycleAction::for_action(Action::Stop, None, "old-2".into()).unwrap();
    let both = cluster
        .request_action(
            &Identity::Console,
            &key,
            stop,
            wukong_api::Preconditions {
                uid: old.uid.clone(),
                resource_version: Some("1".into()),
            },
        )
        .await
        .expect_err("a patch on the old uid and an old version");
    assert!(matches!(both, ClusterError::Conflict { .. }), "{both:?}");
    // What the sandbox answers too (cluster/src/apiserver.rs).
    assert!(
        matches!(delete, ClusterError::Conflict { .. }),
        "{delete:?}"
    );
    assert!(
        delete.to_string().contains("deleted and then recreated"),
        "{delete}"
    );
    assert!(matches!(patch, ClusterError::Invalid(_)), "{patch:?}");
    assert!(patch.to_string().contains("field is immutable"), "{patch}");
    assert_eq!(api.get("vm").await.unwrap().spec.lifecycle_action, None);
}

#[tokio::test]
#[ignore = "needs the local control plane: ./dev/cluster up (./dev/test runs these)"]
async fn history_comes_from_status_and_the_controllers_own_events_for_this_wukong() {
    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "history").await;
    create_wukong(&client, &ns, "vm", VmState::Running, RunStrategy::Manual).await;
    let uid = Api::<Wukong>::namespaced(client.clone(), &ns)
        .get("vm")
        .await
        .expect("read")
        .metadata
        .uid
        .expect("a uid");
    // What the controller records when it takes a request up.
    let status = json!({ "status": { "recentRequests": [{
        "requestId": "r1", "action": "stop", "requestedBy": "alice",
        "at": "2026-12-01T10:00:00Z", "outcome": "Accepted", "message": "stop sent"
    }] } });
    Api::<Wukong>::namespaced(client.clone(), &ns)
        .patch_status("vm", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    // Events anyone who may create Events could write, and one the controller really wrote.
    let event = |name: &str, reason: &str, reporter: &str, uid: &str, note: &str| {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": name, "namespace": ns },
            "involvedObject": { "kind": "Wukong", "name": "vm", "namespace": ns, "uid": uid,
                                "apiVersion": "vm.novasphere.dev/v1alpha1" },
            "reason": reason, "message": note, "type": "Normal", "action": "stop",
            "reportingComponent": reporter, "reportingInstance": "x",
            "source": { "component": reporter },
            "eventTime": "2026-12-01T10:05:00.000000Z", "firstTimestamp": "2026-12-01T10:05:00Z",
        })
    };
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    for object in [
        event(
            "forged",
            "Accepted",
            "wukong-controller",
            &uid,
            "stop sent (requested by mallory)",
        ),
        event(
            "other-reporter",
            "ForcedStop",
            "someone-else",
            &uid,
            "forced",
        ),
        event(
            "older-wukong",
            "ForcedStop",
            "wukong-controller",
            "0000-old",
            "forced",
        ),
        event(
            "real",
            "ForcedStop",
            "wukong-controller",
            &uid,
            "the grace period ran out",
        ),
    ] {
        let object = serde_json::from_value(object).expect("an Event");
        events
            .create(&PostParams::default(), &object)
            .await
            .expect("create the Event");
    }

    let history = cluster
        .history(&Identity::Console, &VmKey::new(&ns, "vm"))
        .await
        .expect("history");
    let seen: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|e| (e.outcome.as_str(), e.requested_by.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [("ForcedStop", None), ("Accepted", Some("alice"))],
        "{history:?}"
    );
}

/// The console tells whether a controller runs from its Lease: there and renewed, run out, given
/// up; and its store tells every browser.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn the_controllers_lease_says_whether_a_controller_runs() {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use k8s_openapi::jiff::Timestamp;
    use wukong_cluster::presence::LeaseRef;
    use wukong_view::ControllerPresence::{Absent, Leading};

    let (client, cluster) = admin().await;
    let ns = fresh_namespace(&client, "lease").await;
    let cluster = cluster.with_controller_lease(Some(LeaseRef {
        namespace: ns.clone(),
        name: "wukong-controller".into(),
    }));
    let store = started_store(&cluster).await;
    let presence = || store.snapshot().controller;
    eventually_30s("no Lease: no controller", || presence() == Absent).await;

    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let spec = |holder: Option<&str>| LeaseSpec {
        holder_identity: holder.map(str::to_owned),
        lease_duration_seconds: Some(3),
        renew_time: Some(MicroTime(Timestamp::now())),
        ..LeaseSpec::default()
    };
    let mut lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("wukong-controller".into()),
            ..Default::default()
        },
        spec: Some(spec(Some("replica-a"))),
    };
    lease = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the Lease");
    eventually_30s("a holder: a controller", || presence() == Leading).await;
    // Not renewed: it runs out after its 3 s, with no event to say so.
    eventually("run out", 10, || presence() == Absent).await;
    lease.spec = Some(spec(Some("replica-b")));
    lease = leases
        .replace("wukong-controller", &PostParams::default(), &lease)
        .await
        .expect("renew");
    eventually_30s("taken over", || presence() == Leading).await;
    lease.spec = Some(spec(None));
    leases
        .replace("wukong-controller", &PostParams::default(), &lease)
        .await
        .expect("release");
    eventually_30s("given up on shutdown", || presence() == Absent).await;
}
