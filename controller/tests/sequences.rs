//! Sequences of requests on the same VM, written exactly as the console writes them, carried out
//! by the controller on the KubeVirt simulator through the real kube-apiserver. One request must
//! never inherit a field of the one before it (issue 12: a Force stop left `force: true` behind,
//! and every later Stop on that VM was a power cut).
//!
//!   WUKONG_KUBECONFIG=.dev/kubeconfig cargo test -p wukong-controller --test sequences -- --include-ignored

mod common;

use common::{manual, none, Harness};
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};
use std::time::Duration;
use wukong_lifecycle::{Action, VmState};

const BOOT: Duration = Duration::from_secs(15);
const SHORT: Duration = Duration::from_secs(10);

/// `spec.lifecycleAction` as stored, without the fields that differ per request.
async fn stored_request(h: &Harness, name: &str) -> Value {
    let w = h.get(name).await;
    let mut request = serde_json::to_value(&w.spec.lifecycle_action).expect("JSON");
    if let Some(fields) = request.as_object_mut() {
        for per_request in ["requestId", "requestedAt", "requestedBy"] {
            fields.remove(per_request);
        }
    }
    request
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn force_stop_then_start_then_a_graceful_stop_is_graceful() {
    let mut h = Harness::new("seq-stop").await;
    let _c = h.controller("a").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;

    let id = h.request("vm", Action::ForceStop, None).await;
    h.wait_acked("vm", &id, SHORT).await;
    h.wait_state("vm", VmState::Stopped, SHORT).await;
    let id = h.request("vm", Action::Start, None).await;
    h.wait_acked("vm", &id, SHORT).await;
    h.wait_state("vm", VmState::Running, BOOT).await;

    let id = h.request("vm", Action::Stop, Some(30)).await;
    assert_eq!(
        stored_request(&h, "vm").await,
        json!({ "action": "stop", "gracePeriodSeconds": 30 }),
        "nothing of the force stop is left in the request"
    );
    // Graceful: Stopping with a deadline 30 s out (the console's countdown), then Stopped when the
    // guest has shut down by itself, long before the deadline.
    let w = h.wait_acked("vm", &id, SHORT).await;
    assert_eq!(w.vm_state(), VmState::Stopping);
    let state = w.lifecycle_state().expect("a state");
    let deadline = state
        .stop_deadline
        .as_ref()
        .expect("a graceful stop has a deadline");
    let acted = state.last_action_time.as_ref().expect("when it was sent");
    let budget = deadline.0.duration_since(acted.0).as_secs_f64();
    assert!(
        (29.0..=31.0).contains(&budget),
        "deadline {budget} s after the stop"
    );
    let w = h.wait_state("vm", VmState::Stopped, SHORT).await;
    assert!(
        !Harness::message_of(&w).contains("forced"),
        "{}",
        Harness::message_of(&w)
    );
    // The history, in status: every request taken up, what it was and what became of it.
    let recorded: Vec<(String, String)> = w
        .status
        .as_ref()
        .map(|s| s.recent_requests.iter())
        .into_iter()
        .flatten()
        .map(|r| (r.action.clone(), r.outcome.clone()))
        .collect();
    let accepted = |action: &str| (action.to_owned(), "Accepted".to_owned());
    assert_eq!(
        recorded,
        [accepted("force-stop"), accepted("start"), accepted("stop")]
    );
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_restart_after_a_force_restart_is_graceful() {
    let mut h = Harness::new("seq-restart").await;
    let _c = h.controller("a").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;

    // A force restart written by hand (kubectl edit): restart with force and grace 0.
    let force_restart = json!({ "spec": { "lifecycleAction": {
        "action": "restart", "force": true, "gracePeriodSeconds": 0, "requestId": "by-hand"
    } } });
    h.wukongs
        .patch("vm", &PatchParams::default(), &Patch::Merge(&force_restart))
        .await
        .expect("force restart");
    h.wait_acked("vm", "by-hand", SHORT).await;
    h.wait_state("vm", VmState::Running, BOOT).await;

    let before = h.vmi_uid("vm").await;
    let id = h.request("vm", Action::Restart, None).await;
    assert_eq!(
        stored_request(&h, "vm").await,
        json!({ "action": "restart" }),
        "the restart carries no force and no grace period of the one before"
    );
    let w = h.wait_acked("vm", &id, SHORT).await;
    assert_eq!(w.vm_state(), VmState::Restarting);
    let w = h.wait_state("vm", VmState::Running, BOOT).await;
    assert_ne!(h.vmi_uid("vm").await, before, "a new VMI");
    // What History shows of the two: the first forced, the second not.
    let recorded: Vec<(String, String, String)> = w
        .status
        .as_ref()
        .map(|s| s.recent_requests.iter())
        .into_iter()
        .flatten()
        .map(|r| {
            let message = r.message.clone().unwrap_or_default();
            (r.request_id.clone(), r.outcome.clone(), message)
        })
        .collect();
    let record =
        |id: &str, message: &str| (id.to_owned(), "Accepted".to_owned(), message.to_owned());
    assert_eq!(
        recorded,
        [
            record("by-hand", "force restarting"),
            record(&id, "restarting")
        ],
        "the second restart was sent without force"
    );
}

/// Restarts one after another, each asked as soon as the VM runs again: each restarts the VM once.
/// The controller decides a request on its cached Wukong once the cache shows its own last write
/// (no fresh read); a cache behind the last acknowledgement would make a restart look pending again
/// and restart the VM a second time (a new VMI nobody asked for).
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn restarts_asked_one_after_another_restart_once_each() {
    use futures::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    let mut h = Harness::new("seq-again").await;
    let c = h.controller("a").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;

    // Every VMI the VM has from now on, as the apiserver's watch shows them.
    let first = h.vmi_uid("vm").await.expect("a VMI");
    let uids = Arc::new(Mutex::new(BTreeSet::from([first])));
    let seen = uids.clone();
    let watch = tokio::spawn(
        watcher(
            h.vmis.clone(),
            watcher::Config::default().fields("metadata.name=vm"),
        )
        .applied_objects()
        .for_each(move |vmi| {
            if let (Ok(vmi), Ok(mut seen)) = (vmi, seen.lock()) {
                seen.extend(vmi.metadata.uid);
            }
            futures::future::ready(())
        }),
    );

    let reads = |from: &'static str| {
        common::metric_sum(
            c.metrics_port,
            "wukong_controller_request_reads_total",
            from,
        )
    };
    let afresh_before = reads("\"apiserver\"").await;
    const ROUNDS: usize = 4;
    for _ in 0..ROUNDS {
        let id = h.request("vm", Action::Restart, None).await;
        let w = h.wait_acked("vm", &id, SHORT).await;
        assert_eq!(
            w.vm_state(),
            VmState::Restarting,
            "{}",
            Harness::message_of(&w)
        );
        h.wait_state("vm", VmState::Running, BOOT).await;
    }
    // A second restart of the last request would come within moments of the first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    watch.abort();
    let vmis = uids.lock().map(|u| u.len()).unwrap_or_default();
    assert_eq!(vmis, 1 + ROUNDS, "one new VMI per restart, no more");
    assert_eq!(
        c.requests_reaching("accepted", ROUNDS as f64, SHORT).await,
        ROUNDS as f64,
        "each request taken up once (a request decided again on a stale cache counts twice)"
    );
    let cached = reads("\"cache\"").await;
    // Each request came after the controller's last write was in its cache: they are decided on
    // the cache (one may still be read afresh, if a status write was just under way).
    assert!(
        cached >= (ROUNDS - 1) as f64,
        "{ROUNDS} requests were read from the cache {cached} times"
    );
    // The restart's VMI events wake the Wukong between the acknowledgement's write and its watch
    // event; the cache then still shows the request pending. That turn waits for the watch
    // (`awaited`) rather than reading the Wukong again.
    let afresh = reads("\"apiserver\"").await - afresh_before;
    let awaited = reads("\"awaited\"").await;
    eprintln!(
        "request reads during the restarts: cache {cached}, apiserver {afresh}, awaited {awaited}"
    );
    assert!(
        afresh <= 1.0,
        "{afresh} requests read afresh while our own acknowledgement was on its way ({awaited} awaited)"
    );
}
