//! Helpers for the tests that run the console against the local control plane
//! (`./dev/cluster up`): deploy/base/rbac applied as it ships, namespaces, ServiceAccounts and their
//! tokens, Wukongs.

#![allow(dead_code)] // each test file uses its own subset

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use wukong_api::{Wukong, WukongSpec};
use wukong_view::RunStrategy;

/// Server-side applies every object of a YAML file from `deploy/base/rbac/`.
pub async fn apply_rbac(client: &Client, file: &str) {
    let path = format!("{}/../deploy/base/rbac/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let params = PatchParams::apply("wukong-rbac-test").force();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let object: Value = serde::Deserialize::deserialize(document).expect("yaml");
        if object.is_null() {
            continue;
        }
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let ns = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let patch = Patch::Apply(&object);
        let result = match object["kind"].as_str().unwrap() {
            "ServiceAccount" => {
                let ns = ns.as_deref().unwrap();
                ensure_namespace(client, ns).await;
                Api::<ServiceAccount>::namespaced(client.clone(), ns)
                    .patch(&name, &params, &patch)
                    .await
                    .map(drop)
            }
            "ClusterRole" => Api::<ClusterRole>::all(client.clone())
                .patch(&name, &params, &patch)
                .await
                .map(drop),
            "ClusterRoleBinding" => Api::<ClusterRoleBinding>::all(client.clone())
                .patch(&name, &params, &patch)
                .await
                .map(drop),
            "Role" => Api::<Role>::namespaced(client.clone(), ns.as_deref().unwrap())
                .patch(&name, &params, &patch)
                .await
                .map(drop),
            "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), ns.as_deref().unwrap())
                .patch(&name, &params, &patch)
                .await
                .map(drop),
            other => panic!("{file}: unexpected kind {other}"),
        };
        result.unwrap_or_else(|e| panic!("apply {file} {name}: {e}"));
    }
}

pub async fn ensure_namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("namespace {name}: {e}"),
    }
}

pub async fn service_account(client: &Client, ns: &str, name: &str) -> String {
    let sa: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::apply("wukong-rbac-test").force(),
            &Patch::Apply(&json!({
                "apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa.metadata
            })),
        )
        .await
        .expect("service account");
    token(client, ns, name).await
}

pub async fn token(client: &Client, ns: &str, name: &str) -> String {
    let request: TokenRequest =
        serde_json::from_value(json!({ "spec": { "audiences": [], "expirationSeconds": 3600 } }))
            .unwrap();
    let answer: TokenRequest = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .expect("token request");
    answer.status.and_then(|s| s.token).expect("a token")
}

pub async fn bind(client: &Client, ns: &str, binding: &str, role: &str, subject: Value) {
    let object = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": binding, "namespace": ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": [subject],
    });
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .patch(
            binding,
            &PatchParams::apply("wukong-rbac-test").force(),
            &Patch::Apply(&object),
        )
        .await
        .expect("role binding");
}

pub async fn running_wukong(client: &Client, ns: &str, name: &str) {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    let spec = WukongSpec {
        run_strategy: RunStrategy::Manual,
        ..Default::default()
    };
    api.create(&PostParams::default(), &Wukong::new(name, spec))
        .await
        .expect("create wukong");
    set_message(client, ns, name, "up").await;
}

pub async fn set_message(client: &Client, ns: &str, name: &str, message: &str) {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    let patch =
        json!({ "status": { "lifecycleState": { "state": "Running", "message": message } } });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("status");
}
