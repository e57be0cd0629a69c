//! What a browser's live stream carries: a snapshot of its page first, deltas for that page in
//! order and never repeated, a fresh page when the page's make-up changes or the browser asks for
//! another view, heartbeats in silence, and a fresh page (not a stall) for a client that fell
//! behind.

use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use wukong_api::{LifecycleState, Wukong, WukongSpec, WukongStatus};
use wukong_cluster::{Audience, LiveStore, WatchEvent};
use wukong_view::{ClusterInfo, ClusterKind, Filter, LiveMessage, Snapshot, SortBy, View};

fn wukong(name: &str, state: &str) -> Wukong {
    wukong_in("team-a", name, state)
}

fn wukong_in(namespace: &str, name: &str, state: &str) -> Wukong {
    let mut w = Wukong::new(name, WukongSpec::default());
    w.metadata.namespace = Some(namespace.into());
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

/// A browser's stream of `view`, which never changes its view.
fn frames(store: &Arc<LiveStore>, view: View, heartbeat: Duration) -> BoxStream<'static, Arc<str>> {
    store.client_frames(
        Audience::open(),
        view,
        heartbeat,
        futures::stream::pending().boxed(),
    )
}

async fn next(frames: &mut BoxStream<'static, Arc<str>>) -> LiveMessage {
    parse(&frames.next().await.expect("the stream goes on"))
}

async fn snapshot(frames: &mut BoxStream<'static, Arc<str>>) -> Snapshot {
    match next(frames).await {
        LiveMessage::Snapshot(snapshot) => snapshot,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

fn names(snapshot: &Snapshot) -> Vec<String> {
    snapshot.rows.iter().map(|r| r.key.name.clone()).collect()
}

/// A store of `count` VMs named vm-000, vm-001, ... in team-a (every third one Stopped).
fn store_of(count: usize) -> Arc<LiveStore> {
    let store = LiveStore::new(ClusterInfo {
        kind: ClusterKind::Sandbox,
        name: "test".into(),
    });
    let list = (0..count)
        .map(|i| {
            let state = if i % 3 == 0 { "Stopped" } else { "Running" };
            wukong(&format!("vm-{i:03}"), state)
        })
        .collect();
    store.apply(WatchEvent::Restarted(list));
    store
}

fn page(page: u32, page_size: u32) -> View {
    View {
        page,
        page_size,
        ..View::default()
    }
}

#[tokio::test]
async fn snapshot_then_deltas_in_order() {
    let store = store();
    let mut frames = frames(&store, View::default(), Duration::from_secs(60));
    let first = snapshot(&mut frames).await;
    assert_eq!(first.rows.len(), 1);
    store.apply(WatchEvent::Applied(wukong("vm-a", "Stopping")));
    store.apply(WatchEvent::Applied(wukong("vm-a", "Stopped")));
    let mut seqs = Vec::new();
    for _ in 0..2 {
        match next(&mut frames).await {
            LiveMessage::Upsert { seq, .. } => seqs.push(seq),
            other => panic!("expected a delta, got {other:?}"),
        }
    }
    assert!(seqs[0] > first.seq && seqs[1] > seqs[0], "{seqs:?}");
    // A new row changes the page's make-up: a fresh page, with the counts.
    store.apply(WatchEvent::Applied(wukong("vm-b", "Stopped")));
    let fresh = snapshot(&mut frames).await;
    assert_eq!(names(&fresh), ["vm-a", "vm-b"]);
    assert_eq!((fresh.matching, fresh.total), (2, 2));
    assert!(fresh.seq > seqs[1]);
}

#[tokio::test(start_paused = true)]
async fn silence_brings_heartbeats() {
    let store = store();
    let mut frames = frames(&store, View::default(), Duration::from_secs(10));
    frames.next().await.unwrap();
    assert_eq!(next(&mut frames).await, LiveMessage::Heartbeat);
}

#[tokio::test]
async fn a_client_that_fell_behind_gets_a_fresh_snapshot() {
    let store = store();
    let mut frames = frames(&store, View::default(), Duration::from_secs(60));
    frames.next().await.unwrap();
    // Far more changes than the buffer holds, while this client reads nothing.
    for i in 0..5_000 {
        let state = if i % 2 == 0 { "Stopping" } else { "Running" };
        store.apply(WatchEvent::Applied(wukong("vm-a", state)));
    }
    store.apply(WatchEvent::Applied(wukong("vm-last", "Stopped")));
    let snapshot = snapshot(&mut frames).await;
    assert_eq!(
        snapshot.rows.len(),
        2,
        "the snapshot holds the latest state"
    );
    assert_eq!(snapshot.seq, store.snapshot().seq);
}

#[tokio::test]
async fn the_server_filters_sorts_and_pages() {
    let store = store_of(250);
    let second = snapshot(&mut frames(&store, page(1, 100), Duration::from_secs(60))).await;
    assert_eq!(second.rows.len(), 100);
    assert_eq!(second.rows[0].key.name, "vm-100");
    assert_eq!(second.rows[99].key.name, "vm-199");
    assert_eq!((second.matching, second.total), (250, 250));
    assert_eq!(second.namespaces, ["team-a"]);

    let last = snapshot(&mut frames(&store, page(2, 100), Duration::from_secs(60))).await;
    assert_eq!(last.rows.len(), 50, "the last page holds the rest");

    let searched = View {
        filter: Filter {
            namespace: "team-a".into(),
            search: "VM-24".into(),
            ..Filter::default()
        },
        ..View::default()
    };
    let found = snapshot(&mut frames(&store, searched, Duration::from_secs(60))).await;
    assert_eq!(
        names(&found),
        (240..250).map(|i| format!("vm-{i}")).collect::<Vec<_>>()
    );
    assert_eq!((found.matching, found.total), (10, 250));

    let by_state = View {
        sort: SortBy::State,
        ..page(0, 5)
    };
    let sorted = snapshot(&mut frames(&store, by_state, Duration::from_secs(60))).await;
    let states: Vec<_> = sorted.rows.iter().map(|r| r.state).collect();
    let mut expected = states.clone();
    expected.sort();
    assert_eq!(states, expected, "sorted by state");
}

#[tokio::test]
async fn only_changes_to_rows_on_the_page_are_sent() {
    let store = store_of(20);
    let mut frames = frames(&store, page(0, 5), Duration::from_secs(60));
    snapshot(&mut frames).await;
    // vm-010 is on page 3: nothing for this browser. vm-002 is on its page.
    store.apply(WatchEvent::Applied(wukong("vm-010", "Stopping")));
    store.apply(WatchEvent::Applied(wukong("vm-002", "Stopping")));
    match next(&mut frames).await {
        LiveMessage::Upsert { row, .. } => assert_eq!(row.key.name, "vm-002"),
        other => panic!("expected vm-002's change, got {other:?}"),
    }
}

#[tokio::test]
async fn a_state_change_reorders_a_page_sorted_by_state() {
    let store = store_of(20);
    let view = View {
        sort: SortBy::State,
        ..page(0, 5)
    };
    let mut frames = frames(&store, view, Duration::from_secs(60));
    let before = snapshot(&mut frames).await;
    // vm-019 (Running, last of the Running ones) starts: Starting sorts first, so it moves to
    // the top of page 1.
    assert!(!names(&before).contains(&"vm-019".to_owned()));
    store.apply(WatchEvent::Applied(wukong("vm-019", "Starting")));
    let after = snapshot(&mut frames).await;
    assert_eq!(after.rows[0].key.name, "vm-019");
    assert_eq!(names(&after)[1..], names(&before)[..4]);
}

#[tokio::test]
async fn a_new_view_from_the_browser_brings_its_page() {
    let store = store_of(30);
    let (mut ask, views) = futures::channel::mpsc::channel::<View>(1);
    let mut frames = store.client_frames(
        Audience::open(),
        page(0, 10),
        Duration::from_secs(60),
        views.boxed(),
    );
    assert_eq!(snapshot(&mut frames).await.rows[0].key.name, "vm-000");
    ask.send(page(2, 10)).await.unwrap();
    let third = snapshot(&mut frames).await;
    assert_eq!(
        third.view,
        page(2, 10),
        "the answer names the view asked for"
    );
    assert_eq!(third.rows[0].key.name, "vm-020");
    // From now on, deltas follow the new page.
    store.apply(WatchEvent::Applied(wukong("vm-001", "Stopping")));
    store.apply(WatchEvent::Applied(wukong("vm-021", "Stopping")));
    match next(&mut frames).await {
        LiveMessage::Upsert { row, .. } => assert_eq!(row.key.name, "vm-021"),
        other => panic!("expected vm-021's change, got {other:?}"),
    }
}

/// Grants by namespace: team-a may be seen but not changed; nothing else may be seen.
struct TeamAViewer;

impl wukong_cluster::Access for TeamAViewer {
    fn grants<'a>(
        &'a self,
        _: &'a wukong_cluster::Identity,
        namespace: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<wukong_cluster::Grants, wukong_cluster::AccessUnknown>>
    {
        Box::pin(async move {
            Ok(wukong_cluster::Grants {
                list: namespace == "team-a",
                ..wukong_cluster::Grants::NONE
            })
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
    fn may_schedules<'a>(
        &'a self,
        _: &'a wukong_cluster::Identity,
        _: &'a str,
        _: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<bool, wukong_cluster::AccessUnknown>> {
        Box::pin(async { Ok(false) })
    }
}

/// A schedule in team-a that runs vm-a every day, 08:00–20:00 UTC.
fn a_schedule_for_vm_a(store: &LiveStore) {
    use wukong_view::{ScheduleForm, WindowForm, DAYS};
    let form = ScheduleForm {
        namespace: "team-a".into(),
        name: "dev-hours".into(),
        time_zone: "UTC".into(),
        windows: vec![WindowForm {
            days: DAYS.map(String::from).to_vec(),
            start: "08:00".into(),
            stop: "20:00".into(),
        }],
        vms: vec!["vm-a".into()],
        ..ScheduleForm::default()
    };
    let schedule = wukong_cluster::schedules::schedule_from_form(&form, "lead", &[], None)
        .expect("a valid schedule");
    store.set_schedules(wukong_cluster::schedules::ScheduleSet {
        schedules: vec![schedule],
        calendars: vec![],
    });
}

#[tokio::test]
async fn a_viewer_sees_only_namespaces_they_may_list_and_no_actions() {
    let store = store();
    store.apply(WatchEvent::Applied(wukong_in("team-b", "vm-b", "Running")));
    // vm-a has a next scheduled action; this viewer may not read schedules, so it is not sent.
    a_schedule_for_vm_a(&store);
    let mut open = frames(&store, View::default(), Duration::from_secs(60));
    let all = snapshot(&mut open).await;
    let a = all.rows.iter().find(|r| r.key.name == "vm-a");
    assert_eq!(
        a.and_then(|r| r.next.as_ref()).map(|n| n.schedule.as_str()),
        Some("dev-hours"),
        "someone who may read schedules sees the next action"
    );
    let viewer = Audience {
        who: wukong_cluster::Identity::person("ann", vec![]),
        viewer: Default::default(),
        access: Arc::new(TeamAViewer),
    };
    let mut frames = store.client_frames(
        viewer,
        View::default(),
        Duration::from_secs(60),
        futures::stream::pending().boxed(),
    );
    let seen = snapshot(&mut frames).await;
    assert_eq!(names(&seen), ["vm-a"], "only team-a");
    assert_eq!((seen.matching, seen.total), (1, 1));
    assert_eq!(seen.namespaces, ["team-a"]);
    assert!(
        seen.rows[0].actions.is_empty(),
        "a viewer is offered nothing"
    );
    assert_eq!(
        seen.rows[0].next, None,
        "nor shown schedules they may not read"
    );
    // Changes in team-b never reach them; those in team-a come without actions.
    store.apply(WatchEvent::Applied(wukong_in("team-b", "vm-b", "Stopping")));
    store.apply(WatchEvent::Applied(wukong("vm-a", "Stopping")));
    match next(&mut frames).await {
        LiveMessage::Upsert { row, .. } => {
            assert_eq!(row.key.name, "vm-a");
            assert!(row.actions.is_empty());
            assert_eq!(row.next, None);
        }
        other => panic!("expected vm-a's change, got {other:?}"),
    }
}

/// team-a's rights are known (everything); team-b's could not be checked (the apiserver did not
/// answer the access review).
struct TeamBUnchecked;

impl wukong_cluster::Access for TeamBUnchecked {
    fn grants<'a>(
        &'a self,
        _: &'a wukong_cluster::Identity,
        namespace: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<wukong_cluster::Grants, wukong_cluster::AccessUnknown>>
    {
        Box::pin(async move {
            if namespace == "team-b" {
                Err(wukong_cluster::AccessUnknown {
                    namespace: namespace.into(),
                    reason: "the cluster answered 429 Too Many Requests".into(),
                })
            } else {
                Ok(wukong_cluster::Grants::ALL)
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
    fn may_schedules<'a>(
        &'a self,
        _: &'a wukong_cluster::Identity,
        _: &'a str,
        _: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<bool, wukong_cluster::AccessUnknown>> {
        Box::pin(async { Ok(false) })
    }
}

#[tokio::test]
async fn a_namespace_whose_rights_are_unknown_is_named_not_shown_and_not_acted_on() {
    let store = store();
    store.apply(WatchEvent::Applied(wukong_in("team-b", "vm-b", "Running")));
    let audience = Audience {
        who: wukong_cluster::Identity::person("ann", vec![]),
        viewer: Default::default(),
        access: Arc::new(TeamBUnchecked),
    };
    let page = store.page_for(&audience, &View::default()).await;
    assert_eq!(names(&page), ["vm-a"]);
    assert_eq!(page.unchecked, ["team-b"], "the page says which namespace");
    let mut frames = store.client_frames(
        audience.clone(),
        View::default(),
        Duration::from_secs(60),
        futures::stream::pending().boxed(),
    );
    assert_eq!(snapshot(&mut frames).await.unchecked, ["team-b"]);
    // "All matching" would leave team-b's VMs out without saying so: it is refused instead.
    let refused = store
        .keys_matching(&audience, &Filter::default())
        .await
        .expect_err("team-b is unknown");
    assert_eq!(refused.namespace, "team-b");
    let only_a = Filter {
        namespace: "team-a".into(),
        ..Filter::default()
    };
    let keys = store
        .keys_matching(&audience, &only_a)
        .await
        .expect("known");
    assert_eq!(keys.len(), 1);
}

#[tokio::test]
async fn every_browser_is_told_when_the_controller_comes_and_goes() {
    use wukong_view::ControllerPresence;
    let store = store();
    assert_eq!(store.snapshot().controller, ControllerPresence::Unknown);
    let mut a = frames(&store, View::default(), Duration::from_secs(60));
    let first = snapshot(&mut a).await;
    assert!(
        first.server_time_ms > 1_700_000_000_000,
        "the server's clock"
    );

    store.set_controller(ControllerPresence::Absent);
    store.set_controller(ControllerPresence::Absent); // no change: no frame
    store.set_controller(ControllerPresence::Leading);
    let seq = |m: &LiveMessage| match m {
        LiveMessage::Controller { seq, controller } => (*seq, *controller),
        other => panic!("expected the controller's presence, got {other:?}"),
    };
    let (s1, c1) = seq(&next(&mut a).await);
    let (s2, c2) = seq(&next(&mut a).await);
    assert_eq!(
        (c1, c2),
        (ControllerPresence::Absent, ControllerPresence::Leading)
    );
    assert!(first.seq < s1 && s1 < s2, "in order, after the page");
    // A page opened now says so from its first frame.
    let mut b = frames(&store, View::default(), Duration::from_secs(60));
    assert_eq!(
        snapshot(&mut b).await.controller,
        ControllerPresence::Leading
    );
}

#[tokio::test]
async fn a_request_written_without_requested_at_waits_from_when_it_was_first_seen() {
    use wukong_api::LifecycleAction;
    use wukong_lifecycle::Action;
    let store = store();
    let mut w = wukong("vm-a", "Running");
    w.spec.lifecycle_action = LifecycleAction::for_action(Action::Stop, None, "r1".into());
    store.apply(WatchEvent::Applied(w.clone()));
    let since = store.snapshot().rows[0]
        .pending_since_ms
        .expect("seen pending");
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Another change while still pending keeps the first sighting.
    w.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
    store.apply(WatchEvent::Applied(w.clone()));
    assert_eq!(store.snapshot().rows[0].pending_since_ms, Some(since));
    // A console's request carries its own time.
    let at = k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).expect("a time");
    if let Some(a) = w.spec.lifecycle_action.as_mut() {
        a.requested_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            at,
        ));
    }
    store.apply(WatchEvent::Applied(w));
    assert_eq!(
        store.snapshot().rows[0].pending_since_ms,
        Some(1_800_000_000_000)
    );
}
