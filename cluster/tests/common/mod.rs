//! Shared by the tests that run against the local control plane (`./dev/cluster up`).

#![allow(dead_code)] // each test file uses its own subset

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use std::time::Duration;
use wukong_cluster::{KubeCluster, LiveStore};

/// The admin configuration: `WUKONG_KUBECONFIG`, else the repository's `.dev/kubeconfig`.
pub async fn admin_config() -> Config {
    let path = std::env::var("WUKONG_KUBECONFIG")
        .unwrap_or_else(|_| format!("{}/../.dev/kubeconfig", env!("CARGO_MANIFEST_DIR")));
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!("no control plane kubeconfig at {path} ({e}); run ./dev/cluster up")
    });
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable kubeconfig")
}

pub async fn admin() -> (Client, KubeCluster) {
    let config = admin_config().await;
    let client = Client::try_from(config.clone()).expect("client");
    (client, KubeCluster::from_config(config).expect("cluster"))
}

/// A new namespace per test: without kube-controller-manager namespaces are never really deleted.
pub async fn fresh_namespace(client: &Client, purpose: &str) -> String {
    let name = format!(
        "it-{purpose}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    name
}

pub async fn eventually<F: Fn() -> bool>(what: &str, seconds: u64, check: F) {
    for _ in 0..seconds * 10 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {seconds} s waiting until {what}");
}

pub fn rows_in(store: &LiveStore, ns: &str) -> usize {
    store
        .snapshot()
        .rows
        .iter()
        .filter(|r| r.key.namespace == ns)
        .count()
}
