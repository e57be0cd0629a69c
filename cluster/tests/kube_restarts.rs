//! The console's one watch survives the API server and etcd going away and coming back: it says
//! "reconnecting" while the API server is gone, then converges on the true state by relisting,
//! without duplicating or dropping rows. Restarts go through `./dev/cluster restart` (the same
//! harness people use). Run alone (`--test-threads=1`): they take the control plane down.

mod common;

use common::{admin, eventually, fresh_namespace, rows_in};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use wukong_api::{Wukong, WukongSpec};
use wukong_cluster::{Audience, KubeCluster, LiveStore};
use wukong_view::{Upstream, VmKey, VmState};

/// Runs `./dev/cluster restart NAME SECONDS` (in a blocking thread: it sleeps).
async fn restart(component: &'static str, seconds: &'static str) {
    let script = format!("{}/../dev/cluster", env!("CARGO_MANIFEST_DIR"));
    let status = tokio::task::spawn_blocking(move || {
        Command::new(script)
            .args(["restart", component, seconds])
            .status()
    })
    .await
    .unwrap()
    .expect("./dev/cluster runs");
    assert!(status.success(), "./dev/cluster restart {component} failed");
}

async fn setup(client: &Client, purpose: &str) -> String {
    let ns = fresh_namespace(client, purpose).await;
    let api: Api<Wukong> = Api::namespaced(client.clone(), &ns);
    for i in 0..5 {
        api.create(
            &PostParams::default(),
            &Wukong::new(&format!("vm-{i}"), WukongSpec::default()),
        )
        .await
        .unwrap();
    }
    ns
}

async fn set_state(client: &Client, ns: &str, name: &str, state: VmState) {
    let api: Api<Wukong> = Api::namespaced(client.clone(), ns);
    let patch = json!({ "status": { "lifecycleState": { "state": state.as_str() } } });
    // Right after a restart the API server may still refuse for a moment: retry briefly.
    for _ in 0..50 {
        if api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("could not write status after the restart");
}

async fn started_store(cluster: &KubeCluster, ns: &str) -> Arc<LiveStore> {
    let store = LiveStore::spawn(cluster);
    store.wait_ready().await;
    eventually("the store lists the five VMs", 30, || {
        rows_in(&store, ns) == 5
    })
    .await;
    store
}

#[tokio::test]
#[ignore = "takes the local control plane down and up: ./dev/test runs it alone"]
async fn the_watch_survives_an_apiserver_restart_and_converges() {
    let (client, cluster) = admin().await;
    let ns = setup(&client, "apirestart").await;
    let store = started_store(&cluster, &ns).await;

    let store_during = store.clone();
    let watcher = tokio::spawn(async move {
        eventually("the store reports reconnecting", 30, || {
            store_during.snapshot().upstream != Upstream::Connected
        })
        .await;
    });
    restart("kube-apiserver", "3").await;
    watcher
        .await
        .expect("reconnecting was reported while the API server was down");

    set_state(&client, &ns, "vm-2", VmState::Stopped).await;
    eventually("connected again", 60, || {
        store.snapshot().upstream == Upstream::Connected
    })
    .await;
    let key = VmKey::new(&ns, "vm-2");
    eventually("the change made after the restart arrives", 60, || {
        store.row(&key).is_some_and(|r| r.state == VmState::Stopped)
    })
    .await;
    assert_eq!(rows_in(&store, &ns), 5, "no row duplicated or dropped");
}

#[tokio::test]
#[ignore = "takes the local control plane down and up: ./dev/test runs it alone"]
async fn the_watch_survives_an_etcd_restart_and_converges() {
    let (client, cluster) = admin().await;
    let ns = setup(&client, "etcdrestart").await;
    let store = started_store(&cluster, &ns).await;

    restart("etcd", "3").await;
    set_state(&client, &ns, "vm-3", VmState::Suspended).await;
    let key = VmKey::new(&ns, "vm-3");
    eventually("the change made after the restart arrives", 60, || {
        store
            .row(&key)
            .is_some_and(|r| r.state == VmState::Suspended)
    })
    .await;
    assert_eq!(store.snapshot().upstream, Upstream::Connected);
    assert_eq!(rows_in(&store, &ns), 5, "no row duplicated or dropped");
}

#[tokio::test]
#[ignore = "takes the local control plane down and up: ./dev/test runs it alone"]
async fn an_expired_watch_relists_without_duplicating_or_dropping_rows() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    let (client, cluster) = admin().await;
    let ns = setup(&client, "gone").await;
    let store = started_store(&cluster, &ns).await;
    let mut frames = store.client_frames(
        Audience::open(),
        wukong_view::View::default(),
        Duration::from_secs(60),
        futures::stream::pending().boxed(),
    );
    let reasons = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = reasons.clone();
    tokio::spawn(async move {
        while let Some(frame) = frames.next().await {
            if let Ok(wukong_view::LiveMessage::Upstream {
                upstream: Upstream::Reconnecting { reason },
                ..
            }) = serde_json::from_str(&frame)
            {
                seen.lock().unwrap().push(reason);
            }
        }
    });
    // Writes the Wukong watch does not see move etcd's revision past the watch's last one; a
    // restarted API server's watch cache starts after them, so resuming the watch answers 410 Gone.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({ "metadata": { "name": format!("bump-{i}") } })).unwrap();
        config_maps
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }
    restart("kube-apiserver", "1").await;
    set_state(&client, &ns, "vm-1", VmState::Running).await;
    let key = VmKey::new(&ns, "vm-1");
    eventually("the change after the relist arrives", 60, || {
        store.row(&key).is_some_and(|r| r.state == VmState::Running)
            && store.snapshot().upstream == Upstream::Connected
    })
    .await;
    let reasons = reasons.lock().unwrap().clone();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("too old resource version") || r.contains("Expired")),
        "the watch expired (410) and was relisted: {reasons:?}"
    );
    assert_eq!(rows_in(&store, &ns), 5, "no row duplicated or dropped");
}
