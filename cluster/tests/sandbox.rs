//! The sandbox behind the `Cluster` trait, through the live store and the action service, on
//! Tokio's paused clock (simulated seconds pass instantly, in order).

use std::time::Duration;
use wukong_cluster::actions::{request_action, ActionRequest};
use wukong_cluster::{
    sandbox_seed, Cluster, ClusterError, Identity, LiveStore, OpenAccess, Sandbox,
};
use wukong_sim::Timings;
use wukong_view::{Action, LiveMessage, Upstream, VmKey, VmState};

async fn start() -> (Sandbox, std::sync::Arc<LiveStore>) {
    let sandbox = Sandbox::start(sandbox_seed(), Timings::default());
    let store = LiveStore::spawn(&sandbox);
    store.wait_ready().await;
    (sandbox, store)
}

fn state(store: &LiveStore, ns: &str, name: &str) -> VmState {
    store
        .row(&VmKey::new(ns, name))
        .map(|r| r.state)
        .unwrap_or(VmState::Unknown)
}

async fn wait_for(store: &LiveStore, ns: &str, name: &str, want: VmState, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while state(store, ns, name) != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ns}/{name} never became {want}; is {}",
            state(store, ns, name)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn req(ns: &str, name: &str, action: Action, grace: Option<u32>) -> ActionRequest {
    ActionRequest {
        key: VmKey::new(ns, name),
        action,
        grace_period_seconds: grace,
        uid: None,
    }
}

#[tokio::test(start_paused = true)]
async fn the_seed_is_listed_and_connected() {
    let (_sandbox, store) = start().await;
    let snapshot = store.snapshot();
    assert_eq!(snapshot.rows.len(), sandbox_seed().len());
    assert_eq!(snapshot.upstream, Upstream::Connected);
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_passes_through_stopping_and_ends_stopped() {
    let (sandbox, store) = start().await;
    let accepted = request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "web-01", Action::Stop, Some(30)),
    )
    .await
    .unwrap();
    assert!(!accepted.request_id.is_empty());
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Stopping,
        Duration::from_secs(1),
    )
    .await;
    let row = store.row(&VmKey::new("team-a", "web-01")).unwrap();
    assert!(
        row.stop_deadline_ms.is_some(),
        "a graceful stop shows its deadline"
    );
    assert_eq!(row.actions, vec![Action::ForceStop, Action::Delete]);
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Stopped,
        Duration::from_secs(10),
    )
    .await;
    let row = store.row(&VmKey::new("team-a", "web-01")).unwrap();
    assert_eq!(row.last_action.as_deref(), Some("stop"));
    assert_eq!(row.actions, vec![Action::Start, Action::Delete]);
    assert_eq!(row.node, None);
}

#[tokio::test(start_paused = true)]
async fn a_guest_ignoring_acpi_is_forced_at_its_grace_deadline() {
    let (sandbox, store) = start().await;
    let started = tokio::time::Instant::now();
    request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "legacy-01", Action::Stop, Some(8)),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "team-a",
        "legacy-01",
        VmState::Stopped,
        Duration::from_secs(20),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(9),
        "forced after {took:?}"
    );
    let row = store.row(&VmKey::new("team-a", "legacy-01")).unwrap();
    assert!(row.message.unwrap_or_default().contains("forced"));
}

#[tokio::test(start_paused = true)]
async fn start_suspend_resume_restart_reach_their_states() {
    let (sandbox, store) = start().await;
    // Each action, then the states it must pass through and end in.
    let steps = [
        (Action::Start, [VmState::Starting, VmState::Running]),
        (Action::Suspend, [VmState::Suspending, VmState::Suspended]),
        (Action::Resume, [VmState::Resuming, VmState::Running]),
        (Action::Restart, [VmState::Restarting, VmState::Running]),
    ];
    for (action, [through, end]) in steps {
        request_action(
            &sandbox,
            &OpenAccess,
            &Identity::Console,
            req("team-a", "db-02", action, None),
        )
        .await
        .unwrap();
        wait_for(&store, "team-a", "db-02", through, Duration::from_secs(1)).await;
        wait_for(&store, "team-a", "db-02", end, Duration::from_secs(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn refused_actions_change_nothing_and_say_why() {
    let (sandbox, store) = start().await;
    let before = store.snapshot();
    let err = request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "db-02", Action::Suspend, None),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClusterError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("not running"), "{err}");
    let err = request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("ml-lab", "gpu-01", Action::Start, None),
    )
    .await
    .unwrap_err();
    // KubeVirt looks at the VMI first: a crash-looping VM between tries says "does not support
    // manual start requests", one booting again says "already running".
    let said = err.to_string();
    assert!(
        said.contains("does not support manual start requests") || said.contains("already running"),
        "{err}"
    );
    let err = request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "nope", Action::Start, None),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ClusterError::NotFound {
            key: VmKey::new("team-a", "nope")
        }
    );
    assert_eq!(store.snapshot(), before);
}

#[tokio::test(start_paused = true)]
async fn a_pending_request_blocks_a_duplicate() {
    let (sandbox, store) = start().await;
    request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-b", "worker-01", Action::Start, None),
    )
    .await
    .unwrap();
    // A person's second click comes after the watch has delivered the first request.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-b", "worker-01", Action::Start, None),
    )
    .await;
    assert!(second.is_err(), "second start must be refused: {second:?}");
    wait_for(
        &store,
        "team-b",
        "worker-01",
        VmState::Running,
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn delete_stops_the_vm_then_removes_the_row() {
    let (sandbox, store) = start().await;
    let mut deltas = store.deltas();
    request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("ml-lab", "scratch-02", Action::Delete, None),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "ml-lab",
        "scratch-02",
        VmState::Deleting,
        Duration::from_secs(1),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while store.row(&VmKey::new("ml-lab", "scratch-02")).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut saw_remove = false;
    let mut last_seq = 0;
    while let Ok(frame) = deltas.try_recv() {
        assert!(frame.seq > last_seq, "deltas arrive in order");
        last_seq = frame.seq;
        if let Ok(LiveMessage::Remove { key, .. }) =
            serde_json::from_str::<LiveMessage>(&frame.json)
        {
            saw_remove |= key == VmKey::new("ml-lab", "scratch-02");
        }
    }
    assert!(saw_remove, "browsers are told the row is gone");
}

#[tokio::test(start_paused = true)]
async fn a_stale_write_is_retried_once_on_a_fresh_read() {
    use wukong_cluster::Cluster;
    let (sandbox, store) = start().await;
    let key = VmKey::new("team-a", "web-02");
    let stale = sandbox
        .get(&Identity::Console, &key)
        .await
        .unwrap()
        .metadata
        .resource_version;
    // Someone else changes the VM after our read.
    request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "web-02", Action::Suspend, None),
    )
    .await
    .unwrap();
    let request =
        wukong_api::LifecycleAction::for_action(Action::Stop, None, "stale".into()).unwrap();
    let err = sandbox
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
        .unwrap_err();
    assert!(matches!(err, ClusterError::Conflict { .. }), "{err:?}");
    // Through the action service the decision is made again on fresh data: Suspending now
    // allows a stop, so the stop goes through.
    wait_for(
        &store,
        "team-a",
        "web-02",
        VmState::Suspended,
        Duration::from_secs(5),
    )
    .await;
    request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "web-02", Action::Stop, Some(5)),
    )
    .await
    .unwrap();
    wait_for(
        &store,
        "team-a",
        "web-02",
        VmState::Stopped,
        Duration::from_secs(10),
    )
    .await;
}

/// Issue 12: the same VM through Force stop → Start → Stop with 30 s. The sandbox applies the
/// console's merge patch with the apiserver's rules, so a field left over from the force stop
/// would make this stop forced here too.
#[tokio::test(start_paused = true)]
async fn a_graceful_stop_after_a_force_stop_and_a_start_is_graceful() {
    let (sandbox, store) = start().await;
    let (ns, name) = ("ml-lab", "scratch-02");
    let key = VmKey::new(ns, name);
    let sandbox = &sandbox;
    let ask = |action, grace| async move {
        request_action(
            sandbox,
            &OpenAccess,
            &Identity::Console,
            req(ns, name, action, grace),
        )
        .await
        .expect("accepted")
    };
    ask(Action::ForceStop, None).await;
    wait_for(&store, ns, name, VmState::Stopped, Duration::from_secs(10)).await;
    ask(Action::Start, None).await;
    wait_for(&store, ns, name, VmState::Running, Duration::from_secs(10)).await;
    ask(Action::Stop, Some(30)).await;

    let stored = sandbox
        .get(&Identity::Console, &key)
        .await
        .expect("read")
        .spec
        .lifecycle_action
        .expect("a request");
    assert_eq!(
        (stored.force, stored.grace_period_seconds),
        (false, Some(30))
    );
    wait_for(&store, ns, name, VmState::Stopping, Duration::from_secs(1)).await;
    let row = store.row(&key).expect("a row");
    assert!(
        row.stop_deadline_ms.is_some(),
        "graceful: a deadline, a countdown"
    );
    wait_for(&store, ns, name, VmState::Stopped, Duration::from_secs(10)).await;
    let row = store.row(&key).expect("a row");
    assert!(
        !row.message.unwrap_or_default().contains("forced"),
        "the guest shut down by itself"
    );
}

#[tokio::test(start_paused = true)]
async fn a_click_on_another_object_of_the_same_name_is_refused_as_replaced() {
    let (sandbox, store) = start().await;
    let key = VmKey::new("team-a", "web-01");
    let uid = store.row(&key).expect("a row").uid;
    assert!(!uid.is_empty(), "rows carry the uid");
    for action in [Action::Stop, Action::Delete] {
        let request = ActionRequest {
            uid: Some("00000000-0000-4000-8000-ffffffffffff".into()),
            ..req("team-a", "web-01", action, None)
        };
        let err = request_action(&sandbox, &OpenAccess, &Identity::Console, request)
            .await
            .expect_err("another object");
        assert!(matches!(err, ClusterError::Replaced { .. }), "{err:?}");
    }
    // A decision made on a row of another object (same name, same version, another uid) is
    // written conditionally on that uid: the apiserver's 422, read again, is "replaced".
    let (mut row, version) = store.known(&key).expect("a watched row");
    row.uid = "00000000-0000-4000-8000-eeeeeeeeeeee".into();
    let err = wukong_cluster::actions::request_action_known(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "web-01", Action::Stop, None),
        Some((row, version)),
    )
    .await
    .expect_err("written on another uid");
    assert!(matches!(err, ClusterError::Replaced { .. }), "{err:?}");

    let request = ActionRequest {
        uid: Some(uid),
        ..req("team-a", "web-01", Action::Stop, None)
    };
    request_action(&sandbox, &OpenAccess, &Identity::Console, request)
        .await
        .expect("the object the person saw");
}

#[tokio::test(start_paused = true)]
async fn a_bulk_action_acts_only_on_the_objects_the_person_picked() {
    let (sandbox, store) = start().await;
    let picked = |name: &str, uid: Option<String>| wukong_view::VmRef {
        key: VmKey::new("team-b", name),
        uid,
    };
    let seen = store
        .row(&VmKey::new("team-b", "api-01"))
        .expect("a row")
        .uid;
    let outcomes = wukong_cluster::actions::request_many(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        vec![
            picked("api-01", Some(seen)),
            picked(
                "api-02",
                Some("00000000-0000-4000-8000-dddddddddddd".into()),
            ),
            picked("api-03", None),
        ],
        Action::Stop,
        None,
        Some(&store),
    )
    .await;
    let accepted: Vec<(&str, bool)> = outcomes
        .iter()
        .map(|o| (o.key.name.as_str(), o.accepted))
        .collect();
    assert_eq!(
        accepted,
        [("api-01", true), ("api-02", false), ("api-03", true)]
    );
    assert!(
        outcomes[1].message.contains("created again"),
        "{}",
        outcomes[1].message
    );
}

#[tokio::test(start_paused = true)]
async fn a_poweroff_inside_the_guest_is_in_the_history_as_a_change_no_request_explains() {
    let mut seed: Vec<_> = sandbox_seed()
        .into_iter()
        .filter(|vm| (vm.namespace, vm.name) == ("team-a", "web-01"))
        .collect();
    seed[0].guest.poweroff_after_ms = Some(5_000);
    let sandbox = Sandbox::start(seed, Timings::default());
    let store = LiveStore::spawn(&sandbox);
    store.wait_ready().await;
    // The adopted guest is running; it powers itself off 5 s after its next boot, so start one.
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Running,
        Duration::from_secs(5),
    )
    .await;
    request_action(
        &sandbox,
        &OpenAccess,
        &Identity::Console,
        req("team-a", "web-01", Action::Restart, None),
    )
    .await
    .expect("restart accepted");
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Running,
        Duration::from_secs(30),
    )
    .await;
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Stopped,
        Duration::from_secs(30),
    )
    .await;
    let history = sandbox
        .history(&Identity::Console, &VmKey::new("team-a", "web-01"))
        .await
        .expect("history");
    let change = history
        .iter()
        .find(|e| e.outcome == "NoRequest")
        .unwrap_or_else(|| panic!("no entry for the poweroff in {history:?}"));
    assert_eq!(change.action, "state-change");
    assert!(
        change
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("Running → Stopped with no request")),
        "{change:?}"
    );
    assert!(
        history.iter().any(|e| e.action == "restart"),
        "the restart is there too: {history:?}"
    );
}

/// Power schedules run on the simulated VMs too, through the controller's own decisions: a stop
/// edge stops the VM with a request in the schedule's name, a start the next edge starts it, and
/// the row says what comes next.
#[tokio::test(start_paused = true)]
async fn a_schedule_stops_and_starts_a_simulated_vm_in_its_name() {
    use k8s_openapi::jiff::{tz::TimeZone, Timestamp, ToSpan};
    use wukong_cluster::schedules::schedule_from_form;
    use wukong_view::{ScheduleForm, WindowForm, DAYS};
    let (sandbox, store) = start().await;
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Running,
        Duration::from_secs(60),
    )
    .await;
    let now = Timestamp::now();
    let local = |at: Timestamp| at.to_zoned(TimeZone::UTC).strftime("%H:%M:%S").to_string();
    let (stop, start_at) = (now + 60.seconds(), now + 180.seconds());
    let form = ScheduleForm {
        namespace: "team-a".into(),
        name: "nightly".into(),
        time_zone: "UTC".into(),
        windows: vec![WindowForm {
            days: DAYS.map(String::from).to_vec(),
            start: local(start_at),
            stop: local(stop),
        }],
        vms: vec!["web-01".into()],
        grace_period_seconds: Some(20),
        ..ScheduleForm::default()
    };
    let (owner, groups) = sandbox.writer(&Identity::Console).await;
    let schedule = schedule_from_form(&form, &owner, &groups, None).expect("a valid schedule");
    sandbox
        .write_schedule(&Identity::Console, schedule.clone())
        .await
        .expect("written");
    // Written again under the same name: refused, as the apiserver refuses it.
    let again = sandbox
        .write_schedule(&Identity::Console, schedule.clone())
        .await;
    assert!(matches!(again, Err(ClusterError::Invalid(ref m)) if m.contains("already exists")));
    // The owner policy, as the apiserver's admission answers it: a person cannot write a
    // schedule in someone else's name, nor with groups that are not theirs.
    let alice = Identity::person("alice", vec!["devs".into()]);
    let mut as_other = schedule.clone();
    as_other.metadata.name = Some("as-other".into());
    let refused = sandbox.write_schedule(&alice, as_other.clone()).await;
    assert!(
        matches!(refused, Err(ClusterError::ScheduleForbidden { ref message, .. }) if message.contains("spec.owner")),
        "{refused:?}"
    );
    as_other.spec.owner = "alice".into();
    as_other.spec.owner_groups = vec![
        "devs".into(),
        "admins".into(),
        "system:authenticated".into(),
    ];
    let refused = sandbox.write_schedule(&alice, as_other.clone()).await;
    assert!(
        matches!(refused, Err(ClusterError::ScheduleForbidden { ref message, .. }) if message.contains("spec.ownerGroups")),
        "{refused:?}"
    );
    // Refused writes leave no trace: the schedule written first is still at its version.
    let listed = sandbox
        .list_schedules(&Identity::Console, "team-a")
        .await
        .expect("listed");
    assert_eq!(
        listed
            .iter()
            .map(|s| s.metadata.name.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("nightly")]
    );
    let version = listed[0].metadata.resource_version.clone();
    as_other.spec.owner_groups = vec!["devs".into(), "system:authenticated".into()];
    sandbox
        .write_schedule(&alice, as_other)
        .await
        .expect("alice's own schedule, in her name and groups");
    let listed = sandbox
        .list_schedules(&Identity::Console, "team-a")
        .await
        .expect("listed");
    let nightly = listed
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("nightly"));
    assert_eq!(
        nightly.map(|s| &s.metadata.resource_version),
        Some(&version)
    );
    assert_eq!(listed.len(), 2);
    // Gone again, so that only "nightly" acts on web-01 below.
    let uid = listed
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("as-other"))
        .and_then(|s| s.metadata.uid.clone())
        .expect("a uid");
    sandbox
        .delete_schedule(&alice, "team-a", "as-other", &uid)
        .await
        .expect("deleted");
    // The row says what comes next, in the schedule's zone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let next = loop {
        if let Some(next) = store
            .row(&VmKey::new("team-a", "web-01"))
            .and_then(|r| r.next)
        {
            break next;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no next action on the row"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (next.action, next.schedule.as_str(), next.offset_seconds),
        (Action::Stop, "nightly", 0)
    );
    assert_eq!(state(&store, "team-a", "web-01"), VmState::Running);
    // The stop edge.
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Stopped,
        Duration::from_secs(120),
    )
    .await;
    let history = sandbox
        .history(&Identity::Console, &VmKey::new("team-a", "web-01"))
        .await
        .expect("history");
    let by_schedule = format!("schedule:team-a/nightly for {owner}");
    assert_eq!(
        history[0].requested_by.as_deref(),
        Some(by_schedule.as_str())
    );
    // The start edge.
    wait_for(
        &store,
        "team-a",
        "web-01",
        VmState::Running,
        Duration::from_secs(180),
    )
    .await;
    let history = sandbox
        .history(&Identity::Console, &VmKey::new("team-a", "web-01"))
        .await
        .expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|h| h.requested_by.as_deref() == Some(by_schedule.as_str()))
            .count(),
        2,
        "{history:?}"
    );
    let listed = sandbox
        .list_schedules(&Identity::Console, "team-a")
        .await
        .expect("listed");
    let status = listed[0].status.clone().expect("a status");
    assert!(
        status.message.unwrap_or_default().contains("start at"),
        "the last edge is recorded"
    );
}
