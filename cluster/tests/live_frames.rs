//! What a browser's live stream carries: snapshot first, deltas in order and never repeated,
//! heartbeats in silence, and a fresh snapshot (not a stall) for a client that fell behind.

use futures::StreamExt;
use std::time::Duration;
use wukong_api::{LifecycleState, Wukong, WukongSpec, WukongStatus};
use wukong_cluster::{Audience, LiveStore, WatchEvent};
use wukong_view::{ClusterInfo, ClusterKind, LiveMessage};

fn wukong(name: &str, state: &str) -> Wukong {
    let mut w = Wukong::new(name, WukongSpec::default());
    w.metadata.namespace = Some("team-a".into());
    w.status = Some(WukongStatus {
        lifecycle_state: Some(LifecycleState {
            state: state.into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    w
}

fn store() -> std::sync::Arc<LiveStore> {
    let store = LiveStore::new(ClusterInfo {
        kind: ClusterKind::Sandbox,
        name: "test".into(),
    });
    store.apply(WatchEvent::Restarted(vec![wukong("vm-a", "Running")]));
    store
}

fn parse(text: &str) -> LiveMessage {
    serde_json::from_str(text).expect("a live message")
}

#[tokio::test]
async fn snapshot_then_deltas_in_order() {
    let store = store();
    let mut frames = store.client_frames(Audience::open(), Duration::from_secs(60));
    let LiveMessage::Snapshot(snapshot) = parse(&frames.next().await.unwrap()) else {
        panic!("snapshot first")
    };
    assert_eq!(snapshot.rows.len(), 1);
    store.apply(WatchEvent::Applied(wukong("vm-a", "Stopping")));
    store.apply(WatchEvent::Applied(wukong("vm-b", "Stopped")));
    let mut seqs = Vec::new();
    for _ in 0..2 {
        match parse(&frames.next().await.unwrap()) {
            LiveMessage::Upsert { seq, .. } => seqs.push(seq),
            other => panic!("expected a delta, got {other:?}"),
        }
    }
    assert!(seqs[0] > snapshot.seq && seqs[1] > seqs[0], "{seqs:?}");
}

#[tokio::test(start_paused = true)]
async fn silence_brings_heartbeats() {
    let store = store();
    let mut frames = store.client_frames(Audience::open(), Duration::from_secs(10));
    frames.next().await.unwrap();
    assert_eq!(parse(&frames.next().await.unwrap()), LiveMessage::Heartbeat);
}

#[tokio::test]
async fn a_client_that_fell_behind_gets_a_fresh_snapshot() {
    let store = store();
    let mut frames = store.client_frames(Audience::open(), Duration::from_secs(60));
    frames.next().await.unwrap();
    // Far more changes than the buffer holds, while this client reads nothing.
    for i in 0..5_000 {
        let state = if i % 2 == 0 { "Stopping" } else { "Running" };
        store.apply(WatchEvent::Applied(wukong("vm-a", state)));
    }
    store.apply(WatchEvent::Applied(wukong("vm-last", "Stopped")));
    let LiveMessage::Snapshot(snapshot) = parse(&frames.next().await.unwrap()) else {
        panic!("a lagging client is resynchronised with a snapshot")
    };
    assert_eq!(
        snapshot.rows.len(),
        2,
        "the snapshot holds the latest state"
    );
    assert_eq!(snapshot.seq, store.snapshot().seq);
}

/// Grants by namespace: team-a may be seen but not changed; nothing else may be seen.
struct TeamAViewer;

impl wukong_cluster::Access for TeamAViewer {
    fn grants<'a>(
        &'a self,
        _: &'a wukong_cluster::Identity,
        namespace: &'a str,
    ) -> futures::future::BoxFuture<'a, wukong_cluster::Grants> {
        Box::pin(async move {
            wukong_cluster::Grants {
                list: namespace == "team-a",
                ..wukong_cluster::Grants::NONE
            }
        })
    }
    fn review_token<'a>(
        &'a self,
        _: &'a str,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Option<wukong_cluster::Person>, wukong_cluster::ClusterError>,
    > {
        Box::pin(async { Ok(None) })
    }
    fn lifetime(&self) -> Duration {
        Duration::from_secs(60)
    }
}

#[tokio::test]
async fn people_who_may_do_everything_share_one_serialized_snapshot_and_others_get_theirs() {
    let store = store();
    let mut b = wukong("vm-b", "Running");
    b.metadata.namespace = Some("team-b".into());
    store.apply(WatchEvent::Applied(b));
    let first = |audience: Audience| {
        let store = store.clone();
        async move {
            store
                .client_frames(audience, Duration::from_secs(60))
                .next()
                .await
                .unwrap()
        }
    };
    let one = first(Audience::open()).await;
    let two = first(Audience::open()).await;
    assert!(
        std::sync::Arc::ptr_eq(&one, &two),
        "serialized once, shared"
    );
    let viewer = Audience {
        who: wukong_cluster::Identity::person("ann", vec![]),
        viewer: Default::default(),
        access: std::sync::Arc::new(TeamAViewer),
    };
    let LiveMessage::Snapshot(seen) = parse(&first(viewer).await) else {
        panic!("snapshot first")
    };
    assert_eq!(seen.rows.len(), 1, "only team-a");
    assert_eq!(seen.rows[0].key.namespace, "team-a");
    assert!(
        seen.rows[0].actions.is_empty(),
        "a viewer is offered nothing"
    );
}
