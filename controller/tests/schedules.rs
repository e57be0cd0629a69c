//! Power schedules (issue 17), end to end on the real kube-apiserver: the controller runs as its
//! ServiceAccount (the requestedBy policy admits only it writing `schedule:` names), a team lead
//! writes the schedule (the owner policy holds them to it), the KubeVirt simulator runs the VMs.
//! Edges are set a few seconds ahead (times with seconds).
//!
//!   WUKONG_KUBECONFIG=.dev/kubeconfig cargo test -p wukong-controller --test schedules -- --include-ignored

mod common;

use common::{manual, none, Harness};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::{tz::TimeZone, Timestamp, ToSpan};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wukong_api::{Wukong, WukongSchedule};
use wukong_controller::events::EventWriter;
use wukong_controller::metrics::Metrics;
use wukong_controller::schedules::{self, Scheduler};
use wukong_lifecycle::{Action, VmState};

const BOOT: Duration = Duration::from_secs(20);
const ZONE: &str = "Asia/Shanghai";

/// The admin's client, impersonating `user` (with the groups the schedule then records).
async fn as_user(user: &str) -> Client {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(common::kubeconfig_path()).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    config.auth_info.impersonate = Some(user.to_owned());
    config.auth_info.impersonate_groups = Some(vec!["system:authenticated".into()]);
    Client::try_from(config).expect("client")
}

/// A team lead of the test's namespace who may manage schedules and patch only `vms`.
async fn lead(h: &Harness, vms: &[&str]) -> String {
    let user = format!("lead-{}", h.ns);
    let role: Role = serde_json::from_value(json!({
        "metadata": { "name": "lead", "namespace": h.ns },
        "rules": [
            { "apiGroups": ["vm.novasphere.dev"], "resources": ["wukongschedules", "wukongcalendars"],
              "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"] },
            { "apiGroups": ["vm.novasphere.dev"], "resources": ["wukongs"],
              "resourceNames": vms, "verbs": ["get", "patch"] }
        ]
    }))
    .expect("a Role");
    Api::<Role>::namespaced(h.client.clone(), &h.ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("the lead's Role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": "lead", "namespace": h.ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lead" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }]
    }))
    .expect("a RoleBinding");
    Api::<RoleBinding>::namespaced(h.client.clone(), &h.ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("the lead's RoleBinding");
    user
}

/// `at` as a local time of day in the schedule's zone, with seconds.
fn local(at: Timestamp) -> String {
    at.to_zoned(TimeZone::get(ZONE).expect("zone"))
        .strftime("%H:%M:%S")
        .to_string()
}

/// A schedule that stops its VMs at `stop` and starts them at `start` (a window from `start`
/// to `stop` the next day, every day), written by `owner`.
async fn write_schedule(
    h: &Harness,
    owner: &str,
    name: &str,
    stop: Timestamp,
    start: Timestamp,
    selection: serde_json::Value,
) -> WukongSchedule {
    let mut spec = json!({
        "owner": owner,
        "ownerGroups": ["system:authenticated"],
        "timeZone": ZONE,
        "windows": [{
            "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
            "start": local(start),
            "stop": local(stop),
        }],
        "stop": { "gracePeriodSeconds": 20 },
    });
    if let (Some(spec), Some(selection)) = (spec.as_object_mut(), selection.as_object()) {
        spec.extend(selection.clone());
    }
    let api: Api<WukongSchedule> = Api::namespaced(as_user(owner).await, &h.ns);
    api.patch(
        name,
        &PatchParams::apply("wukong-schedule-test"),
        &Patch::Apply(json!({
            "apiVersion": "vm.novasphere.dev/v1alpha1", "kind": "WukongSchedule",
            "metadata": { "name": name, "namespace": h.ns },
            "spec": spec,
        })),
    )
    .await
    .expect("the lead writes the schedule")
}

/// The requests a Wukong's status records as taken up in a schedule's name.
fn schedule_requests(w: &Wukong, schedule: &str) -> Vec<(String, String)> {
    w.status
        .as_ref()
        .map(|s| {
            s.recent_requests
                .iter()
                .filter(|r| {
                    r.requested_by
                        .as_deref()
                        .is_some_and(|by| by.starts_with(&format!("schedule:{}", schedule)))
                })
                .map(|r| (r.action.clone(), r.request_id.clone()))
                .collect()
        })
        .unwrap_or_default()
}

async fn schedule_status(h: &Harness, name: &str) -> WukongSchedule {
    Api::<WukongSchedule>::namespaced(h.client.clone(), &h.ns)
        .get(name)
        .await
        .expect("the schedule")
}

async fn wait_for_schedule(
    h: &Harness,
    name: &str,
    within: Duration,
    what: &str,
    pred: impl Fn(&WukongSchedule) -> bool,
) -> WukongSchedule {
    let started = Instant::now();
    loop {
        let s = schedule_status(h, name).await;
        if pred(&s) {
            return s;
        }
        assert!(
            started.elapsed() < within,
            "{what}: schedule {name} status {:?}{}",
            s.status,
            h.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The schedule records an edge of `action` as its last.
fn last_edge_is(action: wukong_schedule::EdgeAction) -> impl Fn(&WukongSchedule) -> bool {
    move |s| {
        s.status
            .as_ref()
            .and_then(|s| s.last_edge.as_ref())
            .is_some_and(|e| e.action == action)
    }
}

/// The controller has seen the schedule and says when it acts next.
fn knows_next_edge(s: &WukongSchedule) -> bool {
    s.status
        .as_ref()
        .and_then(|s| s.next_edge.as_ref())
        .is_some()
}

/// A running VM `vm`, a lead who may patch it, controller `a` (as in a pod), and the lead's
/// schedule `nightly` that stops `vm` in 8 s and starts it `start_in_seconds` from now, once `a`
/// has seen it. Returns the lead, `a`, and the stop and start edges.
async fn nightly(
    h: &mut Harness,
    start_in_seconds: i64,
) -> (String, common::Controller, Timestamp, Timestamp) {
    h.create("vm", manual(true), none()).await;
    let owner = lead(h, &["vm"]).await;
    let a = h.controller_in_pod("a").await;
    h.wait_state("vm", VmState::Running, BOOT).await;
    let now = Timestamp::now();
    let stop = now + 8.seconds();
    let start = now + start_in_seconds.seconds();
    write_schedule(h, &owner, "nightly", stop, start, json!({ "vms": ["vm"] })).await;
    wait_for_schedule(
        h,
        "nightly",
        Duration::from_secs(6),
        "next edge",
        knows_next_edge,
    )
    .await;
    (owner, a, stop, start)
}

/// Waits until `c` holds the Lease (the one before it was killed: up to the lease's 6 s).
async fn leads(c: &common::Controller) {
    let started = Instant::now();
    while common::metric_sum(c.metrics_port, "wukong_controller_leader", "").await < 1.0 {
        assert!(started.elapsed() < Duration::from_secs(15), "never led");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sleep_until(at: Timestamp) {
    let left = at.duration_since(Timestamp::now());
    if let Ok(d) = Duration::try_from(left) {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_schedule_stops_then_starts_its_vms_in_its_name_and_a_click_between_the_edges_wins() {
    let mut h = Harness::new("sched").await;
    let _c = h.controller_in_pod("a").await;
    for vm in ["vm-1", "vm-2", "vm-3"] {
        h.create(vm, manual(true), none()).await;
    }
    // vm-1 and vm-2 by label, vm-3 by name; the lead may patch vm-1 and vm-2 only.
    for vm in ["vm-1", "vm-2"] {
        h.wukongs
            .patch(
                vm,
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "labels": { "team": "dev" } } })),
            )
            .await
            .expect("label");
    }
    let owner = lead(&h, &["vm-1", "vm-2"]).await;
    for vm in ["vm-1", "vm-2", "vm-3"] {
        h.wait_state(vm, VmState::Running, BOOT).await;
    }
    let now = Timestamp::now();
    let stop = now + 10.seconds();
    let start = now + 30.seconds();
    write_schedule(
        &h,
        &owner,
        "dev-hours",
        stop,
        start,
        json!({ "selector": { "matchLabels": { "team": "dev" } }, "vms": ["vm-3"] }),
    )
    .await;
    // The controller has seen it and says when it acts next.
    let s = wait_for_schedule(
        &h,
        "dev-hours",
        Duration::from_secs(10),
        "next edge",
        knows_next_edge,
    )
    .await;
    let next = s.status.and_then(|s| s.next_edge).expect("a next edge");
    assert_eq!(next.action, wukong_schedule::EdgeAction::Stop);
    assert_eq!(
        next.at.0.as_second(),
        stop.as_second(),
        "the stop, to the second"
    );

    // Nothing before the edge.
    assert_eq!(h.get("vm-1").await.vm_state(), VmState::Running);

    // The stop edge: vm-1 and vm-2 stop, as requests in the schedule's name, gracefully.
    let requester = format!("schedule:{}/dev-hours for {owner}", h.ns);
    for vm in ["vm-1", "vm-2"] {
        let w = h
            .wait_until(
                vm,
                Duration::from_secs(40),
                "stopped by the schedule",
                |w| w.vm_state() == VmState::Stopped,
            )
            .await;
        let requests = schedule_requests(&w, "");
        assert_eq!(requests.len(), 1, "{vm}: {requests:?}");
        assert_eq!(requests[0].0, "stop", "a graceful stop, not a force stop");
        let record = w
            .status
            .as_ref()
            .and_then(|s| s.recent_requests.last())
            .expect("a record");
        assert_eq!(record.requested_by.as_deref(), Some(requester.as_str()));
        assert!(Timestamp::now() >= stop, "never before the edge");
    }
    // vm-3: the owner may not patch it; no request, a Warning Event on it.
    let s = wait_for_schedule(
        &h,
        "dev-hours",
        Duration::from_secs(10),
        "the stop recorded",
        last_edge_is(wukong_schedule::EdgeAction::Stop),
    )
    .await;
    let message = s.status.and_then(|s| s.message).unwrap_or_default();
    assert!(
        message.contains("requested: vm-1, vm-2")
            && message.contains("not permitted to the owner: vm-3"),
        "{message}"
    );
    let vm3 = h.get("vm-3").await;
    assert_eq!(vm3.vm_state(), VmState::Running);
    assert!(vm3.spec.lifecycle_action.is_none(), "no request on vm-3");
    let events = Api::<Event>::namespaced(h.client.clone(), &h.ns)
        .list(&ListParams::default())
        .await
        .expect("events");
    let warning = events
        .items
        .iter()
        .find(|e| {
            e.reason.as_deref() == Some("ScheduleNotPermitted")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("vm-3")
        })
        .expect("a ScheduleNotPermitted Event on vm-3");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert!(
        warning.note.as_deref().unwrap_or_default().contains(&owner),
        "{:?}",
        warning.note
    );

    // Between the edges, a person starts vm-2: theirs wins until the next edge.
    let id = h.request("vm-2", Action::Start, None).await;
    h.wait_acked("vm-2", &id, Duration::from_secs(10)).await;
    h.wait_state("vm-2", VmState::Running, BOOT).await;
    // It is not stopped again before the start edge...
    sleep_until(start).await;
    // ...and the start edge starts vm-1 and leaves vm-2 (already running) alone.
    h.wait_until(
        "vm-1",
        Duration::from_secs(40),
        "started by the schedule",
        |w| w.vm_state() == VmState::Running && schedule_requests(w, "").len() == 2,
    )
    .await;
    let s = wait_for_schedule(
        &h,
        "dev-hours",
        Duration::from_secs(10),
        "the start recorded",
        last_edge_is(wukong_schedule::EdgeAction::Start),
    )
    .await;
    let message = s.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.contains("requested: vm-1"), "{message}");
    assert!(
        message.contains("already as asked or busy: vm-2"),
        "{message}"
    );
    let vm2 = h.get("vm-2").await;
    assert_eq!(vm2.vm_state(), VmState::Running);
    assert_eq!(
        schedule_requests(&vm2, "")
            .iter()
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>(),
        vec!["stop"],
        "vm-2 got the schedule's stop and nothing else from it"
    );
    assert_eq!(
        vm2.spec.lifecycle_action.map(|r| r.request_id),
        Some(id),
        "the person's start is vm-2's last request"
    );
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_controller_restart_across_an_edge_acts_once_and_an_edge_older_than_the_catch_up_is_not_replayed(
) {
    let mut h = Harness::new("sched-restart").await;
    let (_, mut a, stop, start) = nightly(&mut h, 50).await;
    // Down across the stop edge, back 3 s after it (well within the default hour): acts once.
    a.kill().await;
    sleep_until(stop + 3.seconds()).await;
    assert_eq!(
        h.get("vm").await.vm_state(),
        VmState::Running,
        "nobody acted while down"
    );
    let mut b = h.controller_in_pod("b").await;
    leads(&b).await;
    let w = h
        .wait_until(
            "vm",
            Duration::from_secs(40),
            "stopped after the restart",
            |w| w.vm_state() == VmState::Stopped,
        )
        .await;
    assert_eq!(schedule_requests(&w, "").len(), 1);
    // Another restart right after: the edge is recorded, nothing is written again.
    b.kill().await;
    h.extra_args = vec!["--schedule-catch-up".into(), "2s".into()];
    let mut c = h.controller_in_pod("c").await;
    leads(&c).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let w = h.get("vm").await;
    assert_eq!(
        schedule_requests(&w, "").len(),
        1,
        "the stop edge acted on once"
    );
    // Down across the start edge, back 5 s after it with a catch-up of 2 s: written off as missed.
    c.kill().await;
    sleep_until(start + 5.seconds()).await;
    let _d = h.controller_in_pod("d").await;
    let s = wait_for_schedule(
        &h,
        "nightly",
        Duration::from_secs(10),
        "the start written off",
        last_edge_is(wukong_schedule::EdgeAction::Start),
    )
    .await;
    let message = s.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.starts_with("missed the start"), "{message}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let w = h.get("vm").await;
    assert_eq!(
        w.vm_state(),
        VmState::Stopped,
        "a missed edge is not replayed"
    );
    assert_eq!(schedule_requests(&w, "").len(), 1);
}

/// The controller's ServiceAccount (the only one the requestedBy policy lets write `schedule:`
/// names), by the admin's impersonation.
const CONTROLLER: &str = "system:serviceaccount:wukong-system:wukong-controller";

/// Counts the scheduler's writes of a schedule's status, and answers the next `blips` of them
/// 503 (as an apiserver does that is briefly overloaded or restarting) without passing them on.
#[derive(Default)]
struct Blips {
    blips: AtomicUsize,
    status_writes: AtomicUsize,
}

/// A client as the controller, whose schedule status writes go through `blips`.
async fn blipping_client(ns: &str, blips: Arc<Blips>) -> Client {
    let real = as_user(CONTROLLER).await;
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (real, blips) = (real.clone(), blips.clone());
        async move {
            let path = request.uri().path();
            if request.method() == http::Method::PATCH
                && path.contains("/wukongschedules/")
                && path.ends_with("/status")
            {
                blips.status_writes.fetch_add(1, Ordering::SeqCst);
                let lost = blips
                    .blips
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if lost {
                    let status = json!({
                        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                        "reason": "ServiceUnavailable", "message": "the test lost this write",
                    });
                    return http::Response::builder()
                        .status(503)
                        .header("content-type", "application/json")
                        .body(kube::client::Body::from(status.to_string().into_bytes()))
                        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            real.send(request)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        }
    });
    Client::new(service, ns)
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_schedule_status_write_lost_to_blips_is_tried_again_and_the_edge_is_announced_and_acted_on_once(
) {
    let mut h = Harness::new("sched-blip").await;
    let (owner, mut a, stop, _) = nightly(&mut h, 3600).await;
    // From here the schedule is the in-process scheduler's alone, its status writes through the
    // lossy client; the VM's request waits for a controller process below.
    a.kill().await;
    let blips = Arc::new(Blips::default());
    let client = blipping_client(&h.ns, blips.clone()).await;
    let scheduler = Arc::new(Scheduler::new(
        client.clone(),
        EventWriter::new(client, "wukong-controller", "blips"),
        Arc::new(Metrics::default()),
        Duration::from_secs(3600),
    ));
    let ns = h.ns.clone();
    let follow = tokio::spawn(async move { schedules::run(scheduler, Some(&ns)).await });
    // The edge's record: its first two writes are lost, the third (after 1 s and 2 s) lands.
    let before = blips.status_writes.load(Ordering::SeqCst);
    blips.blips.store(2, Ordering::SeqCst);
    sleep_until(stop).await;
    let s = wait_for_schedule(
        &h,
        "nightly",
        Duration::from_secs(15),
        "the stop recorded",
        last_edge_is(wukong_schedule::EdgeAction::Stop),
    )
    .await;
    assert_eq!(blips.blips.load(Ordering::SeqCst), 0, "both blips taken");
    assert_eq!(
        blips.status_writes.load(Ordering::SeqCst) - before,
        3,
        "two lost writes and the one that landed"
    );
    let message = s.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.contains("requested: vm"), "{message}");
    // The request is written once, in the schedule's name.
    let w = h.get("vm").await;
    let request = w.spec.lifecycle_action.expect("the schedule's request");
    assert_eq!(request.action, wukong_api::LifecycleActionKind::Stop);
    assert!(!request.force, "a graceful stop");
    assert_eq!(
        request.grace_period_seconds,
        Some(20),
        "the schedule's grace"
    );
    assert!(
        request
            .requested_by
            .as_deref()
            .is_some_and(|by| by.starts_with(&format!("schedule:{}/nightly", h.ns))),
        "{:?}",
        request.requested_by
    );
    // Later looks (woken by the owner's change to the schedule) find the edge recorded: nothing
    // again.
    Api::<WukongSchedule>::namespaced(as_user(&owner).await, &h.ns)
        .patch(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "looked": "again" } } })),
        )
        .await
        .expect("touch the schedule");
    tokio::time::sleep(Duration::from_secs(2)).await;
    follow.abort();
    let edges: Vec<Event> = Api::<Event>::namespaced(h.client.clone(), &h.ns)
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("ScheduleEdge")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("nightly")
        })
        .collect();
    assert_eq!(edges.len(), 1, "one Event for the edge: {edges:?}");
    assert_eq!(
        h.get("vm")
            .await
            .spec
            .lifecycle_action
            .map(|r| r.request_id),
        Some(request.request_id.clone()),
        "the request is not written again"
    );
    // A controller carries it out: the VM stops, once, gracefully.
    let b = h.controller_in_pod("b").await;
    leads(&b).await;
    let w = h
        .wait_until("vm", Duration::from_secs(40), "stopped", |w| {
            w.vm_state() == VmState::Stopped
        })
        .await;
    let requests = schedule_requests(&w, "");
    assert_eq!(requests, vec![("stop".to_owned(), request.request_id)]);
}
