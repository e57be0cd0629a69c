//! The lifecycle controller against the real kube-apiserver and the KubeVirt simulator (served
//! through the aggregation layer). Needs `./dev/cluster up` with the dev controller stopped
//! (`./dev/cluster stop-controller`); `./dev/test` does both. Ignored in a plain `cargo test`.
//!
//!   WUKONG_KUBECONFIG=.dev/kubeconfig cargo test -p wukong-controller --test lifecycle -- --include-ignored

mod common;

use common::{manual, none, strategy, Harness};
use kube::ResourceExt;
use serde_json::json;
use std::time::{Duration, Instant};
use wukong_api::Wukong;
use wukong_lifecycle::{Action, VmState};

const BOOT: Duration = Duration::from_secs(15);
const SHORT: Duration = Duration::from_secs(10);

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn auto_start_on_create_and_every_operation_from_its_allowed_state() {
    let mut h = Harness::new("ops").await;
    let _c = h.controller("a").await;
    h.create("vm", manual(true), none()).await;
    // Auto-start: the controller creates the VM (owned by the Wukong) and starts it.
    h.wait_state("vm", VmState::Running, BOOT).await;
    let vm = h.vms.get("vm").await.expect("the VirtualMachine exists");
    let owner = &vm.metadata.owner_references.as_ref().expect("owned")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Wukong", "vm"));
    assert_eq!(vm.spec.run_strategy.as_deref(), Some("Manual"));
    let w = h.get("vm").await;
    assert_eq!(w.finalizers(), ["vm.novasphere.dev/lifecycle"]);
    assert!(w
        .status
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some());

    // Suspend, resume (the VMI's Paused condition drives Suspended).
    let id = h.request("vm", Action::Suspend, None).await;
    let w = h.wait_acked("vm", &id, SHORT).await;
    assert!(matches!(
        w.vm_state(),
        VmState::Suspending | VmState::Suspended
    ));
    h.wait_state("vm", VmState::Suspended, SHORT).await;
    assert!(h.vmis.get("vm").await.expect("vmi").is_paused());
    let id = h.request("vm", Action::Resume, None).await;
    h.wait_acked("vm", &id, SHORT).await;
    h.wait_state("vm", VmState::Running, SHORT).await;

    // Restart: a new VMI, through Restarting.
    let before = h.vmi_uid("vm").await;
    let id = h.request("vm", Action::Restart, None).await;
    let w = h.wait_acked("vm", &id, SHORT).await;
    assert_eq!(w.vm_state(), VmState::Restarting);
    let w = h.wait_state("vm", VmState::Running, BOOT).await;
    assert_eq!(
        w.lifecycle_state().unwrap().last_action.as_deref(),
        Some("restart")
    );
    assert_ne!(h.vmi_uid("vm").await, before, "restart replaced the VMI");

    // Graceful stop (the guest honours ACPI: done well within the 30 s grace period).
    let started = Instant::now();
    let id = h.request("vm", Action::Stop, Some(30)).await;
    let w = h.wait_acked("vm", &id, SHORT).await;
    assert_eq!(w.vm_state(), VmState::Stopping);
    assert!(w.lifecycle_state().unwrap().stop_deadline.is_some());
    // Said as a code with parameters beside the English, for a console to word it.
    let state = w.lifecycle_state().unwrap();
    let says = wukong_lifecycle::Says::Accepted {
        action: Action::Stop,
        force: false,
        grace: 30,
    };
    assert_eq!(state.reason.as_deref(), Some("Accepted"));
    assert_eq!(state.says(), Some(says.clone()));
    assert_eq!(state.message, Some(says.to_string()));
    let w = h.wait_state("vm", VmState::Stopped, SHORT).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ACPI shutdown, no forcing"
    );
    assert!(w.lifecycle_state().unwrap().stop_deadline.is_none());
    assert!(
        h.vmis.get_opt("vm").await.unwrap().is_none(),
        "the VMI is gone"
    );

    // Start from Stopped, then force stop: at once.
    let id = h.request("vm", Action::Start, None).await;
    h.wait_acked("vm", &id, SHORT).await;
    h.wait_state("vm", VmState::Running, BOOT).await;
    let started = Instant::now();
    let id = h.request("vm", Action::ForceStop, None).await;
    h.wait_acked("vm", &id, SHORT).await;
    h.wait_state("vm", VmState::Stopped, SHORT).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "force stop kills at once"
    );
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_controller_in_a_pod_finds_the_cluster_from_its_service_account() {
    let mut h = Harness::new("in-pod").await;
    let c = h.controller_in_pod("pod").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;
    let id = h.request("vm", Action::Stop, None).await;
    h.wait_acked("vm", &id, SHORT).await;
    h.wait_state("vm", VmState::Stopped, BOOT).await;
    let log = std::fs::read_to_string(h.log_path("pod")).unwrap_or_default();
    assert!(log.contains("in-cluster ServiceAccount"), "{log}");
    drop(c);
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn requests_not_allowed_now_are_refused_acknowledged_and_change_nothing() {
    let mut h = Harness::new("refuse").await;
    let _c = h.controller("a").await;
    h.create("stopped", manual(false), none()).await;
    h.create("running", manual(true), none()).await;
    h.create("always", strategy("Always", false), none()).await;
    h.create("halted", strategy("Halted", false), none()).await;
    h.wait_state("stopped", VmState::Stopped, BOOT).await;
    h.wait_state("running", VmState::Running, BOOT).await;
    h.wait_state("always", VmState::Running, BOOT).await;
    h.wait_state("halted", VmState::Stopped, BOOT).await;

    for (name, action, state, says) in [
        ("stopped", Action::Stop, VmState::Stopped, "not running"),
        ("stopped", Action::Suspend, VmState::Stopped, "not running"),
        ("stopped", Action::Resume, VmState::Stopped, "not suspended"),
        ("stopped", Action::Restart, VmState::Stopped, "not running"),
        (
            "running",
            Action::Start,
            VmState::Running,
            "already running",
        ),
        ("running", Action::Resume, VmState::Running, "not suspended"),
        // KubeVirt looks at the VMI before the run strategy: "VM is already running".
        ("always", Action::Start, VmState::Running, "already running"),
        ("halted", Action::Restart, VmState::Stopped, "Halted"),
        // KubeVirt: Halted without a VMI is "VM is not running" (lifecycle.go:234).
        ("halted", Action::Stop, VmState::Stopped, "not running"),
    ] {
        let vmi_before = h.vmi_uid(name).await;
        let id = h.request(name, action, None).await;
        let w = h.wait_acked(name, &id, SHORT).await;
        let message = Harness::message_of(&w);
        assert!(
            message.contains("refused") && message.contains(says),
            "{name} {action}: {message}"
        );
        assert_eq!(w.vm_state(), state, "{name} {action} changed nothing");
        assert!(
            matches!(
                w.lifecycle_state().unwrap().says(),
                Some(wukong_lifecycle::Says::Refused { action: a, .. }) if a == action
            ),
            "{name} {action}: the refusal as a code"
        );
        assert_eq!(
            h.vmi_uid(name).await,
            vmi_before,
            "{name} {action}: the VMI is untouched"
        );
    }
    // Each refusal is an Event on the Wukong too.
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(h.client.clone(), &h.ns);
    let started = Instant::now();
    loop {
        let list = events.list(&Default::default()).await.expect("events");
        // With what the controller said as a code, in annotations.
        let refused = list
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some("Refused"))
            .filter(|e| {
                let annotations = e.metadata.annotations.clone().unwrap_or_default();
                matches!(
                    wukong_api::says_from_annotations(&annotations),
                    Some(wukong_lifecycle::Says::Refused { .. })
                )
            })
            .count();
        if refused >= 9 {
            break;
        }
        assert!(started.elapsed() < SHORT, "only {refused} Refused events");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn kubevirt_answers_through_the_aggregation_layer_like_kubevirt() {
    let h = Harness::new("agg").await;
    let mut hh = h;
    let _c = hh.controller("a").await;
    let h = hh;
    h.create("always", strategy("Always", false), none()).await;
    h.create("manual", manual(false), none()).await;
    h.wait_state("always", VmState::Running, BOOT).await;
    h.wait_state("manual", VmState::Stopped, BOOT).await;
    let put = |resource: &str, name: &str, sub: &str, body: serde_json::Value| {
        let path = format!(
            "/apis/subresources.kubevirt.io/v1/namespaces/{}/{resource}/{name}/{sub}",
            h.ns
        );
        let client = h.client.clone();
        async move {
            let request = http::Request::put(path)
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&body).unwrap())
                .unwrap();
            match client.request_text(request).await {
                Ok(_) => (202, String::new()),
                Err(kube::Error::Api(s)) => (s.code, s.message.clone()),
                Err(e) => panic!("{e}"),
            }
        }
    };
    // KubeVirt v1.8.0's own Status messages (errors.NewConflict / NewNotFound).
    assert_eq!(
        put("virtualmachines", "always", "start", json!({})).await,
        (
            409,
            "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"always\": VM is already running"
                .into()
        )
    );
    assert_eq!(
        put("virtualmachines", "manual", "stop", json!({})).await,
        (
            409,
            "Operation cannot be fulfilled on virtualmachine.kubevirt.io \"manual\": VM is not running"
                .into()
        )
    );
    // No VMI: pause is a 404 in KubeVirt.
    assert_eq!(
        put("virtualmachineinstances", "manual", "pause", json!({})).await,
        (
            404,
            "virtualmachineinstance.kubevirt.io \"manual\" not found".into()
        )
    );
    // Pause and unpause of a running VMI answer 200 (here read as success).
    assert_eq!(
        put("virtualmachineinstances", "always", "pause", json!({}))
            .await
            .0,
        202
    );
    let (code, message) = put(
        "virtualmachines",
        "always",
        "restart",
        json!({ "gracePeriodSeconds": 5 }),
    )
    .await;
    assert_eq!(code, 400, "{message}");
    assert_eq!(
        put("virtualmachines", "nope", "start", json!({})).await.0,
        404
    );
    // A dry run is answered but changes nothing.
    assert_eq!(
        put(
            "virtualmachines",
            "manual",
            "start",
            json!({ "dryRun": ["All"] })
        )
        .await
        .0,
        202
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.get("manual").await.vm_state(), VmState::Stopped);
    // Stop under Always halts the VM (KubeVirt patches spec.runStrategy).
    assert_eq!(
        put("virtualmachines", "always", "stop", json!({})).await.0,
        202
    );
    // virt-api's own write is made before it answers; printableStatus is virt-controller's, after.
    let vm = h.vms.get("always").await.unwrap();
    assert_eq!(vm.spec.run_strategy.as_deref(), Some("Halted"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let vm = h.vms.get("always").await.unwrap();
        if matches!(vm.printable_status(), Some("Stopping" | "Stopped")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "printableStatus still {:?} 5 s after the stop",
            vm.printable_status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_guest_ignoring_acpi_is_forced_off_at_the_deadline_even_across_a_controller_restart() {
    let mut h = Harness::new("acpi").await;
    let mut c = h.controller("a").await;
    let deaf = json!({ "sim.novasphere.dev/ignore-acpi": "true" });
    h.create("deaf", manual(true), deaf.clone()).await;
    h.create("deaf2", manual(true), deaf).await;
    h.wait_state("deaf", VmState::Running, BOOT).await;
    h.wait_state("deaf2", VmState::Running, BOOT).await;

    // Forced at the deadline (the VM's own grace is 30 s; the request's 6 s is the controller's).
    let asked = Instant::now();
    let id = h.request("deaf", Action::Stop, Some(6)).await;
    h.wait_acked("deaf", &id, SHORT).await;
    let w = h
        .wait_state("deaf", VmState::Stopped, Duration::from_secs(20))
        .await;
    let took = asked.elapsed().as_secs_f64();
    assert!(
        (4.0..=8.0).contains(&took),
        "forced after {took:.1} s, want 6 ± 2"
    );
    assert!(
        Harness::message_of(&w).contains("forced"),
        "{}",
        Harness::message_of(&w)
    );

    // The controller dies mid-stop; a new one forces at the original deadline (from status).
    let asked = Instant::now();
    let id = h.request("deaf2", Action::Stop, Some(8)).await;
    h.wait_acked("deaf2", &id, SHORT).await;
    c.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _c2 = h.controller("b").await;
    h.wait_state("deaf2", VmState::Stopped, Duration::from_secs(20))
        .await;
    let took = asked.elapsed().as_secs_f64();
    assert!(
        (6.0..=10.0).contains(&took),
        "forced after {took:.1} s, want 8 ± 2"
    );
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn the_same_request_id_twice_acts_once_and_two_replicas_act_once_with_failover() {
    let mut h = Harness::new("once").await;
    let mut a = h.controller("a").await;
    let mut b = h.controller("b").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;

    let before = h.vmi_uid("vm").await;
    let id = "same-id-0001";
    h.request_with_id("vm", Action::Restart, None, id).await;
    h.wait_acked("vm", id, SHORT).await;
    h.wait_state("vm", VmState::Running, BOOT).await;
    let after = h.vmi_uid("vm").await;
    assert_ne!(after, before);
    // The same request written again (a retried client) is not carried out again.
    h.request_with_id("vm", Action::Restart, None, id).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.vmi_uid("vm").await, after, "no second restart");
    assert_eq!(h.get("vm").await.vm_state(), VmState::Running);

    // Exactly one of the two replicas carried it out.
    let accepted = a.requests("accepted").await + b.requests("accepted").await;
    assert_eq!(accepted, 1.0, "one acceptance across both replicas");
    let a_leads = common::metric_sum(a.metrics_port, "wukong_controller_leader", "").await;
    let b_leads = common::metric_sum(b.metrics_port, "wukong_controller_leader", "").await;
    assert_eq!(a_leads + b_leads, 1.0, "one leader");

    // The leader dies (no chance to release the Lease): the standby takes over once the 6 s Lease
    // runs out and carries out the next request.
    let (leader, standby) = if a_leads == 1.0 {
        (&mut a, &b)
    } else {
        (&mut b, &a)
    };
    leader.kill().await;
    let asked = Instant::now();
    let id = h.request("vm", Action::Stop, None).await;
    h.wait_acked("vm", &id, Duration::from_secs(20)).await;
    let took = asked.elapsed().as_secs_f64();
    assert!(took < 15.0, "the standby took {took:.1} s to take over");
    assert_eq!(
        standby
            .requests_reaching("accepted", 1.0, Duration::from_secs(5))
            .await,
        1.0,
        "the standby carried it out"
    );
    h.wait_state("vm", VmState::Stopped, SHORT).await;
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn delete_stops_the_vm_then_releases_the_wukong() {
    let mut h = Harness::new("del").await;
    let _c = h.controller("a").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;
    h.delete("vm").await;
    h.wait_until("vm", SHORT, "reported as deleting", |w| {
        w.vm_state() == VmState::Deleting && Harness::message_of(w).contains("deleting")
    })
    .await;
    // Shut down by ACPI (4 s), then the VM goes, then the Wukong.
    let started = Instant::now();
    while h.wukongs.get_opt("vm").await.unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the Wukong is still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        h.vms.get_opt("vm").await.unwrap().is_none(),
        "the VirtualMachine is gone"
    );
    assert!(
        h.vmis.get_opt("vm").await.unwrap().is_none(),
        "the VMI is gone"
    );
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn run_strategies_behave_as_kubevirts_table_says() {
    let mut h = Harness::new("rs").await;
    let _c = h.controller("a").await;
    h.create("always", strategy("Always", false), none()).await;
    h.create("rerun", strategy("RerunOnFailure", false), none())
        .await;
    h.create("manual", strategy("Manual", false), none()).await;
    h.create("halted", strategy("Halted", false), none()).await;
    h.create(
        "crash",
        strategy("Always", false),
        json!({ "sim.novasphere.dev/fail-boot": "true" }),
    )
    .await;
    // Always and RerunOnFailure start on creation; Manual (no autoStart) and Halted do not.
    h.wait_state("always", VmState::Running, BOOT).await;
    h.wait_state("rerun", VmState::Running, BOOT).await;
    h.wait_state("manual", VmState::Stopped, BOOT).await;
    h.wait_state("halted", VmState::Stopped, BOOT).await;
    // A guest that never boots under Always: CrashLoopBackOff (Failed); stop is still allowed.
    h.wait_state("crash", VmState::Failed, BOOT).await;
    let vm = h.vms.get("crash").await.unwrap();
    assert!(matches!(
        vm.printable_status(),
        Some("CrashLoopBackOff" | "Starting")
    ));

    // Stop under Always halts the VM; start flips it back to Always.
    let id = h.request("always", Action::Stop, None).await;
    h.wait_acked("always", &id, SHORT).await;
    let w = h.wait_state("always", VmState::Stopped, SHORT).await;
    assert_eq!(
        w.status.unwrap().run_strategy,
        Some(wukong_lifecycle::RunStrategy::Halted)
    );
    let id = h.request("always", Action::Start, None).await;
    h.wait_acked("always", &id, SHORT).await;
    let w = h.wait_state("always", VmState::Running, BOOT).await;
    assert_eq!(
        w.status.unwrap().run_strategy,
        Some(wukong_lifecycle::RunStrategy::Always)
    );

    // RerunOnFailure: a stopped VM stays stopped.
    let id = h.request("rerun", Action::Stop, None).await;
    h.wait_acked("rerun", &id, SHORT).await;
    h.wait_state("rerun", VmState::Stopped, SHORT).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(h.get("rerun").await.vm_state(), VmState::Stopped);
    assert_eq!(
        h.vms
            .get("rerun")
            .await
            .unwrap()
            .spec
            .run_strategy
            .as_deref(),
        Some("RerunOnFailure")
    );

    // Halted: start sets Always and runs it.
    let id = h.request("halted", Action::Start, None).await;
    h.wait_acked("halted", &id, SHORT).await;
    h.wait_state("halted", VmState::Running, BOOT).await;
    assert_eq!(
        h.vms
            .get("halted")
            .await
            .unwrap()
            .spec
            .run_strategy
            .as_deref(),
        Some("Always")
    );

    // Manual: started by request only.
    let id = h.request("manual", Action::Start, None).await;
    h.wait_acked("manual", &id, SHORT).await;
    h.wait_state("manual", VmState::Running, BOOT).await;

    // The crash-looping Always VM can be stopped (halted).
    let id = h.request("crash", Action::Stop, None).await;
    h.wait_acked("crash", &id, SHORT).await;
    h.wait_state("crash", VmState::Stopped, SHORT).await;
}

/// Not a pass/fail gate: measures the time from writing a request (the console's merge patch) to
/// the controller's first status write for it (its acknowledgement, seen on a watch) over 200
/// accepted requests: suspend/resume on 10 VMs, each a KubeVirt call through the aggregation layer.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn measure_request_to_first_status_write() {
    use futures::StreamExt;
    use kube::runtime::{watcher, WatchStreamExt};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let mut h = Harness::new("lat").await;
    let _c = h.controller("a").await;
    let names: Vec<String> = (0..10).map(|i| format!("vm-{i}")).collect();
    for name in &names {
        h.create(name, manual(true), none()).await;
    }
    for name in &names {
        h.wait_state(name, VmState::Running, BOOT).await;
    }
    // One watch records when each request id is first acknowledged.
    let acked: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let written: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = acked.clone();
    let seen_written = written.clone();
    let mut stream = watcher(h.wukongs.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let watch = tokio::spawn(async move {
        while let Some(Ok(w)) = stream.next().await {
            if let Some(id) = w
                .spec
                .lifecycle_action
                .as_ref()
                .map(|a| a.request_id.clone())
            {
                seen_written
                    .lock()
                    .unwrap()
                    .entry(id)
                    .or_insert_with(Instant::now);
            }
            if let Some(id) = w
                .lifecycle_state()
                .and_then(|s| s.observed_request_id.clone())
            {
                seen.lock().unwrap().entry(id).or_insert_with(Instant::now);
            }
        }
    });
    let h = &h;
    let mut sent: Vec<(String, Instant)> = Vec::new();
    for _round in 0..10 {
        let rounds = names.iter().map(|name| async move {
            let mut out = Vec::new();
            for (action, settled) in [
                (Action::Suspend, VmState::Suspended),
                (Action::Resume, VmState::Running),
            ] {
                let asked = Instant::now();
                let id = h.request(name, action, None).await;
                out.push((id.clone(), asked));
                h.wait_acked(name, &id, SHORT).await;
                h.wait_state(name, settled, SHORT).await;
            }
            out
        });
        for out in futures::future::join_all(rounds).await {
            sent.extend(out);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    watch.abort();
    let acked = acked.lock().unwrap();
    let mut samples: Vec<f64> = sent
        .iter()
        .filter_map(|(id, asked)| {
            Some(acked.get(id)?.duration_since(*asked).as_secs_f64() * 1000.0)
        })
        .collect();
    assert_eq!(
        samples.len(),
        200,
        "every request was seen acknowledged on the watch"
    );
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    // The floor: the same patch seen on the same watch (API server + etcd + watch delivery).
    let written = written.lock().unwrap();
    let mut floor: Vec<f64> = sent
        .iter()
        .filter_map(|(id, asked)| {
            Some(written.get(id)?.duration_since(*asked).as_secs_f64() * 1000.0)
        })
        .collect();
    floor.sort_by(|a, b| a.total_cmp(b));
    let line = format!(
        "request -> controller's first status write (seen on a watch), {} accepted requests on 10 VMs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; floor (the request itself seen on the watch): p50 {:.1} ms, p99 {:.1} ms",
        samples.len(),
        pct(&samples, 0.5),
        pct(&samples, 0.99),
        samples[samples.len() - 1],
        pct(&floor, 0.5),
        pct(&floor, 0.99),
    );
    println!("{line}");
    if let Some(path) = std::env::var_os("WUKONG_LATENCY_REPORT") {
        let _ = std::fs::write(path, format!("{line}\n"));
    }
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn the_less_common_allowed_transitions() {
    let mut h = Harness::new("more").await;
    let _c = h.controller("a").await;
    let deaf = json!({ "sim.novasphere.dev/ignore-acpi": "true" });
    let broken = json!({ "sim.novasphere.dev/fail-boot": "true" });
    h.create("paused", manual(true), none()).await;
    h.create("stuck", manual(true), deaf).await;
    h.create("broken", manual(true), broken).await;
    h.create("early", manual(false), none()).await;
    h.wait_state("paused", VmState::Running, BOOT).await;
    h.wait_state("stuck", VmState::Running, BOOT).await;
    h.wait_state("early", VmState::Stopped, BOOT).await;

    // Suspended -> stop: a paused guest cannot answer ACPI; forced at the 3 s deadline.
    let id = h.request("paused", Action::Suspend, None).await;
    h.wait_acked("paused", &id, SHORT).await;
    h.wait_state("paused", VmState::Suspended, SHORT).await;
    let id = h.request("paused", Action::Stop, Some(3)).await;
    h.wait_acked("paused", &id, SHORT).await;
    h.wait_state("paused", VmState::Stopped, SHORT).await;

    // Stopping -> force stop cuts a long graceful stop short.
    let id = h.request("stuck", Action::Stop, Some(600)).await;
    h.wait_acked("stuck", &id, SHORT).await;
    h.wait_state("stuck", VmState::Stopping, SHORT).await;
    let started = Instant::now();
    let id = h.request("stuck", Action::ForceStop, None).await;
    let w = h.wait_acked("stuck", &id, SHORT).await;
    assert!(
        !Harness::message_of(&w).contains("refused"),
        "{}",
        Harness::message_of(&w)
    );
    h.wait_state("stuck", VmState::Stopped, SHORT).await;
    assert!(started.elapsed() < Duration::from_secs(4));

    // Failed (Manual, the guest never boots) -> start is allowed, and fails again.
    h.wait_state("broken", VmState::Failed, BOOT).await;
    let id = h.request("broken", Action::Start, None).await;
    let w = h.wait_acked("broken", &id, SHORT).await;
    assert_eq!(
        w.vm_state(),
        VmState::Starting,
        "{}",
        Harness::message_of(&w)
    );
    h.wait_state("broken", VmState::Failed, BOOT).await;

    // Starting -> stop.
    let id = h.request("early", Action::Start, None).await;
    h.wait_acked("early", &id, SHORT).await;
    let id = h.request("early", Action::Stop, Some(30)).await;
    let w = h.wait_acked("early", &id, SHORT).await;
    assert!(
        !Harness::message_of(&w).contains("refused"),
        "{}",
        Harness::message_of(&w)
    );
    h.wait_state("early", VmState::Stopped, SHORT).await;
}

/// Every action the rules refuse, from every settled state under every run strategy it can be
/// reached in here: acknowledged as refused, with the reason, and the VM left as it was.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn every_refused_action_from_every_settled_state_changes_nothing() {
    use wukong_lifecycle::{check, RunStrategy};
    let mut h = Harness::new("matrix").await;
    let _c = h.controller("a").await;
    let broken = json!({ "sim.novasphere.dev/fail-boot": "true" });
    // (name, run strategy, autoStart, annotations, state to reach, suspend first)
    let cases = [
        (
            "stopped-manual",
            "Manual",
            false,
            none(),
            VmState::Stopped,
            false,
        ),
        (
            "stopped-rerun",
            "RerunOnFailure",
            true,
            none(),
            VmState::Stopped,
            false,
        ),
        (
            "stopped-halted",
            "Halted",
            false,
            none(),
            VmState::Stopped,
            false,
        ),
        (
            "running-manual",
            "Manual",
            true,
            none(),
            VmState::Running,
            false,
        ),
        (
            "running-always",
            "Always",
            false,
            none(),
            VmState::Running,
            false,
        ),
        (
            "running-rerun",
            "RerunOnFailure",
            false,
            none(),
            VmState::Running,
            false,
        ),
        (
            "suspended-manual",
            "Manual",
            true,
            none(),
            VmState::Suspended,
            true,
        ),
        (
            "suspended-always",
            "Always",
            false,
            none(),
            VmState::Suspended,
            true,
        ),
        (
            "failed-manual",
            "Manual",
            true,
            broken,
            VmState::Failed,
            false,
        ),
    ];
    for (name, rs, auto, annotations, _, _) in &cases {
        h.create(name, strategy(rs, *auto), annotations.clone())
            .await;
    }
    let h = &h;
    let runs = cases
        .iter()
        .map(|(name, rs, _, _, want, suspend)| async move {
            if *name == "stopped-rerun" {
                h.wait_state(name, VmState::Running, BOOT).await;
                let id = h.request(name, Action::Stop, None).await;
                h.wait_acked(name, &id, SHORT).await;
            }
            if *suspend {
                h.wait_state(name, VmState::Running, BOOT).await;
                let id = h.request(name, Action::Suspend, None).await;
                h.wait_acked(name, &id, SHORT).await;
            }
            let settled = h.wait_state(name, *want, BOOT).await;
            let rs: RunStrategy = serde_json::from_value(json!(rs)).expect("a run strategy");
            // The rules as the console applies them: with KubeVirt's VMI as the status records it.
            let vmi = settled
                .status
                .as_ref()
                .map_or(wukong_lifecycle::Vmi::assumed(*want), |s| s.vmi(*want));
            let situation = wukong_lifecycle::Situation::new(*want, rs, false).with_vmi(vmi);
            let mut refused = 0;
            for action in Action::ALL {
                if action == Action::Delete || check(action, &situation).is_ok() {
                    continue;
                }
                let vmi_before = h.vmi_uid(name).await;
                let id = h.request(name, action, None).await;
                let w = h.wait_acked(name, &id, SHORT).await;
                let message = Harness::message_of(&w);
                assert!(message.contains("refused"), "{name} {action}: {message}");
                assert_eq!(
                    w.vm_state(),
                    *want,
                    "{name} {action}: the state is unchanged"
                );
                assert_eq!(
                    h.vmi_uid(name).await,
                    vmi_before,
                    "{name} {action}: the VMI is untouched"
                );
                refused += 1;
            }
            refused
        });
    let refused: usize = futures::future::join_all(runs).await.into_iter().sum();
    assert!(refused >= 25, "{refused} refusals checked");
}

/// The events.k8s.io Events about one Wukong with this reason.
async fn events_about(
    h: &Harness,
    name: &str,
    reason: &str,
) -> Vec<k8s_openapi::api::events::v1::Event> {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(h.client.clone(), &h.ns);
    events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
        })
        .collect()
}

/// Polls until at least `count` Warning Events with `reason` are recorded about `name`.
async fn wait_warnings(h: &Harness, name: &str, reason: &str, count: usize) {
    let started = Instant::now();
    loop {
        let found = events_about(h, name, reason).await;
        if found.len() >= count {
            assert!(found.iter().all(|e| e.type_.as_deref() == Some("Warning")));
            return;
        }
        assert!(
            started.elapsed() < SHORT,
            "{}/{name}: {} {reason} Events, want {count}",
            h.ns,
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a VM looks like to someone who might be disturbed: its spec, owners, annotations,
/// labels and status.
fn fingerprint(vm: &wukong_api::kubevirt::VirtualMachine) -> serde_json::Value {
    json!({
        "uid": vm.metadata.uid,
        "spec": vm.spec,
        "owners": vm.metadata.owner_references,
        "annotations": vm.metadata.annotations,
        "labels": vm.metadata.labels,
        "status": vm.status,
    })
}

/// A VM of the Wukong's name that the Wukong does not control: the Wukong reports Unknown and
/// why, a request on it is refused (acknowledged, VM untouched), and deleting it leaves the VM.
async fn assert_hands_off(h: &Harness, name: &str, request: Action) {
    let want = format!(
        "VirtualMachine {}/{name} exists and is not managed by this Wukong",
        h.ns
    );
    let w = h
        .wait_until(name, BOOT, "reporting the VM as not its own", |w| {
            Harness::message_of(w) == want
        })
        .await;
    assert_eq!(w.vm_state(), VmState::Unknown);
    assert_eq!(
        wukong_lifecycle::offered_actions(&wukong_lifecycle::Situation::new(
            VmState::Unknown,
            w.spec.run_strategy,
            false
        )),
        vec![Action::Delete],
        "only Delete is offered"
    );
    wait_warnings(h, name, "VirtualMachineNotOwned", 1).await;
    let before = fingerprint(&h.vms.get(name).await.expect("the VM"));
    let vmi_before = h.vmi_uid(name).await;

    let id = h.request(name, request, None).await;
    let w = h.wait_acked(name, &id, SHORT).await;
    assert_eq!(Harness::message_of(&w), want, "refused with the reason");
    assert_eq!(w.vm_state(), VmState::Unknown);
    wait_warnings(h, name, "VirtualMachineNotOwned", 2).await;
    // Longer than the simulator needs to carry out a start or a stop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        fingerprint(&h.vms.get(name).await.expect("the VM")),
        before,
        "the VM is untouched"
    );
    assert_eq!(h.vmi_uid(name).await, vmi_before, "the VMI is untouched");

    h.delete(name).await;
    let started = Instant::now();
    while h.wukongs.get_opt(name).await.expect("get").is_some() {
        assert!(started.elapsed() < SHORT, "the Wukong was not released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        fingerprint(&h.vms.get(name).await.expect("the VM is still there")),
        before,
        "deleting the Wukong left the VM alone"
    );
    assert_eq!(h.vmi_uid(name).await, vmi_before);
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_vm_created_by_someone_else_under_the_wukongs_name_is_never_touched() {
    let mut h = Harness::new("foreign").await;
    let _c = h.controller("a").await;
    // Someone else's VM, stopped (Halted): a start would flip it to Always and boot it.
    let vm: wukong_api::kubevirt::VirtualMachine = serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": { "name": "web-01", "namespace": h.ns },
        "spec": { "runStrategy": "Halted", "template": { "spec": { "domain": { "devices": {} } } } },
    }))
    .expect("a VirtualMachine");
    h.vms
        .create(&Default::default(), &vm)
        .await
        .expect("create the VM");
    let started = Instant::now();
    while h
        .vms
        .get("web-01")
        .await
        .expect("the VM")
        .printable_status()
        != Some("Stopped")
    {
        assert!(
            started.elapsed() < BOOT,
            "the simulator did not report the VM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.create("web-01", strategy("Manual", true), none()).await;
    assert_hands_off(&h, "web-01", Action::Start).await;
    let vm = h.vms.get("web-01").await.expect("the VM");
    assert_eq!(vm.spec.run_strategy.as_deref(), Some("Halted"));
    assert!(vm.metadata.owner_references.unwrap_or_default().is_empty());
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_vm_left_by_an_older_wukong_of_the_same_name_is_never_touched() {
    let mut h = Harness::new("older").await;
    let mut a = h.controller("a").await;
    let old = h.create("web-01", manual(true), none()).await;
    h.wait_state("web-01", VmState::Running, BOOT).await;
    // The old Wukong goes without its controller (and there is no garbage collector here), so
    // its VM stays behind, still owned by the old uid; a new Wukong takes the name.
    a.kill().await;
    h.wukongs
        .patch(
            "web-01",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .expect("drop the finalizer");
    h.delete("web-01").await;
    while h.wukongs.get_opt("web-01").await.expect("get").is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let new = h.create("web-01", manual(true), none()).await;
    assert_ne!(new.uid(), old.uid());
    let _b = h.controller("b").await;
    assert_hands_off(&h, "web-01", Action::Stop).await;
    let vm = h.vms.get("web-01").await.expect("the VM");
    assert_eq!(vm.printable_status(), Some("Running"), "still running");
    assert_eq!(
        vm.metadata.owner_references.unwrap_or_default()[0].uid,
        old.uid().expect("a uid"),
        "still the old Wukong's"
    );
}

#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn only_annotations_under_the_allowed_prefix_reach_the_vm() {
    let mut h = Harness::new("annot").await;
    let _c = h.controller("a").await;
    let annotations = json!({
        "kubevirt.io/foo": "1",
        "example.com/bar": "2",
        "sim.novasphere.dev/x": "3",
    });
    h.create("vm", manual(false), annotations).await;
    h.wait_state("vm", VmState::Stopped, BOOT).await;
    let vm = h.vms.get("vm").await.expect("the VM");
    let copied = vm.annotations();
    assert_eq!(
        copied.get("sim.novasphere.dev/x").map(String::as_str),
        Some("3")
    );
    assert!(!copied.contains_key("kubevirt.io/foo"), "{copied:?}");
    assert!(!copied.contains_key("example.com/bar"), "{copied:?}");
}

/// What the apiserver answers the controller's writes when they carry an older uid (a Wukong or
/// VM deleted and created again under the same name) as their precondition: JSON patches of the
/// Wukong and its status whose `test` of /metadata/uid fails are refused with 422 (the controller
/// reads the Wukong afresh to tell that from a stale write: "replaced"), a VM delete with a uid
/// precondition with 409. (Server-side apply to the status subresource is no precondition: it
/// ignores metadata.uid in its body and applies, which is why status is a JSON patch.)
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn the_apiserver_refuses_writes_meant_for_an_older_object_of_the_same_name() {
    use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
    let h = Harness::new("uid").await;
    h.create("vm", manual(false), none()).await;
    let stale = "00000000-0000-0000-0000-000000000000";
    let uid_test = json!({ "op": "test", "path": "/metadata/uid", "value": stale });
    let refusal = |answer: Result<Wukong, kube::Error>, what: &str| {
        let Err(kube::Error::Api(s)) = answer else {
            panic!("{what} with a failed uid test was not refused: {answer:?}");
        };
        println!(
            "{what}, failed uid test: {} {} {:?}",
            s.code, s.reason, s.message
        );
        s.code
    };
    let finalizer: json_patch::Patch = serde_json::from_value(json!([
        uid_test,
        { "op": "add", "path": "/metadata/finalizers", "value": ["vm.novasphere.dev/lifecycle"] },
    ]))
    .expect("a JSON patch");
    let answer = h
        .wukongs
        .patch("vm", &PatchParams::default(), &Patch::<()>::Json(finalizer))
        .await;
    assert_eq!(refusal(answer, "finalizer JSON patch"), 422);
    let status: json_patch::Patch = serde_json::from_value(json!([
        uid_test,
        { "op": "add", "path": "/status", "value": { "lifecycleState": { "state": "Running" } } },
    ]))
    .expect("a JSON patch");
    let answer = h
        .wukongs
        .patch_status("vm", &PatchParams::default(), &Patch::<()>::Json(status))
        .await;
    assert_eq!(refusal(answer, "status JSON patch"), 422);
    let w = h.get("vm").await;
    assert!(
        w.finalizers().is_empty() && w.status.is_none(),
        "nothing landed"
    );

    // The VM a controller created, deleted with another uid as precondition: refused, kept.
    let mut h = h;
    let _c = h.controller("a").await;
    h.create("vm2", manual(false), none()).await;
    h.wait_state("vm2", VmState::Stopped, BOOT).await;
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(stale.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let Err(kube::Error::Api(s)) = h.vms.delete("vm2", &delete).await else {
        panic!("a VM delete with another uid was not refused");
    };
    println!(
        "VM delete, other uid: {} {} {:?}",
        s.code, s.reason, s.message
    );
    assert_eq!(s.code, 409);
    assert!(h.vms.get_opt("vm2").await.expect("get").is_some());

    // The controller's own cleanup (`Target::delete_vm`), handed the uid of a VM it looked at
    // before the name was taken by another: it reports the VM replaced and deletes nothing; with
    // the VM's own uid it deletes it.
    use std::sync::Arc;
    use wukong_controller::act::{Target, VmDeleted};
    use wukong_controller::events::EventWriter;
    use wukong_controller::kubevirt::{KubevirtClient, DEFAULT_BASE_PATH};
    use wukong_controller::metrics::Metrics;
    use wukong_controller::reconcile::Context;
    let ctx = Context::new(
        h.client.clone(),
        KubevirtClient::new(h.client.clone(), DEFAULT_BASE_PATH),
        EventWriter::new(h.client.clone(), "wukong-controller-test", "test"),
        Arc::new(Metrics::default()),
        Vec::new(),
        1,
    );
    let w = h.get("vm2").await;
    let target = Target {
        ctx: &ctx,
        wukongs: h.wukongs.clone(),
        vms: h.vms.clone(),
        vmis: h.vmis.clone(),
        namespace: h.ns.clone(),
        name: "vm2".to_owned(),
        uid: w.uid().expect("a uid"),
    };
    let deleted = target.delete_vm(Some(stale.to_owned())).await;
    assert!(
        matches!(deleted, Ok(VmDeleted::Replaced)),
        "a delete for another VM's uid is reported as replaced"
    );
    let vm = h
        .vms
        .get_opt("vm2")
        .await
        .expect("get")
        .expect("the VM is kept");
    assert!(vm.metadata.deletion_timestamp.is_none(), "and not deleted");
    let deleted = target.delete_vm(vm.uid()).await;
    assert!(
        matches!(deleted, Ok(VmDeleted::Gone)),
        "its own uid deletes it"
    );
}

/// KubeVirt's other states, as the controller reports them from the real KubeVirt CRDs the
/// simulator writes: an image that cannot be pulled is Error with KubeVirt's reason (and a start
/// is refused as KubeVirt would), a disk import is Provisioning, a poweroff inside the guest is
/// Stopped and recorded in the history as a change no request explains.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn kubevirts_other_states_are_reported_as_kubevirt_shows_them() {
    let mut h = Harness::new("states").await;
    let _c = h.controller("a").await;
    h.create(
        "pull",
        strategy("Always", false),
        json!({ "sim.novasphere.dev/start-problem": "ErrImagePull" }),
    )
    .await;
    h.create(
        "import",
        strategy("Halted", false),
        json!({ "sim.novasphere.dev/provisioning-seconds": "600" }),
    )
    .await;
    h.create(
        "poweroff",
        manual(true),
        json!({ "sim.novasphere.dev/poweroff-after-seconds": "3" }),
    )
    .await;

    let pull = h.wait_state("pull", VmState::Error, BOOT).await;
    let message = Harness::message_of(&pull);
    assert!(message.starts_with("ErrImagePull: "), "{message}");
    let status = pull.status.as_ref().expect("a status");
    assert_eq!(status.printable_status.as_deref(), Some("ErrImagePull"));
    assert_eq!(status.vmi_phase.as_deref(), Some("Scheduling"));
    let id = h.request("pull", Action::Start, None).await;
    let w = h.wait_acked("pull", &id, SHORT).await;
    let message = Harness::message_of(&w);
    assert!(message.contains("start refused"), "{message}");

    let import = h.wait_state("import", VmState::Provisioning, BOOT).await;
    assert_eq!(
        import.status.as_ref().and_then(|s| s.vmi_phase.clone()),
        None,
        "no VMI while the disk imports"
    );

    h.wait_state("poweroff", VmState::Running, BOOT).await;
    let stopped = h.wait_state("poweroff", VmState::Stopped, BOOT).await;
    let records = &stopped.status.as_ref().expect("a status").recent_requests;
    assert!(
        records.iter().any(|r| r.outcome == "NoRequest"
            && r.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Running → Stopped"))),
        "the poweroff is in the history: {records:?}"
    );
}

/// `Once` is a run strategy of its own, as in KubeVirt: the VM runs once, a restart is refused
/// (KubeVirt answers 409 for it), a stop halts it; a VM switched to Once outside the console is
/// reported under Once.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn once_runs_once_refuses_restart_and_stops_to_halted() {
    let mut h = Harness::new("once").await;
    let _c = h.controller("a").await;
    h.create("once", strategy("Once", false), none()).await;
    h.create("edited", manual(true), none()).await;
    let w = h.wait_state("once", VmState::Running, BOOT).await;
    assert_eq!(
        w.status.as_ref().and_then(|s| s.run_strategy),
        Some(wukong_lifecycle::RunStrategy::Once)
    );
    let id = h.request("once", Action::Restart, None).await;
    let w = h.wait_acked("once", &id, SHORT).await;
    let message = Harness::message_of(&w);
    assert!(
        message.contains("run strategy Once does not support manual restart requests"),
        "{message}"
    );
    let id = h.request("once", Action::Stop, None).await;
    h.wait_acked("once", &id, SHORT).await;
    let w = h.wait_state("once", VmState::Stopped, BOOT).await;
    assert_eq!(
        w.status.as_ref().and_then(|s| s.run_strategy),
        Some(wukong_lifecycle::RunStrategy::Halted),
        "KubeVirt's stop switches Once to Halted"
    );

    h.wait_state("edited", VmState::Running, BOOT).await;
    let patch = json!({ "spec": { "runStrategy": "Once" } });
    h.vms
        .patch(
            "edited",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("edit the VM");
    h.wait_until("edited", BOOT, "reporting Once", |w| {
        w.status.as_ref().and_then(|s| s.run_strategy) == Some(wukong_lifecycle::RunStrategy::Once)
    })
    .await;
}

/// The window a crash opens: a leader writes its intent, KubeVirt takes the restart, and the leader
/// dies before acknowledging it. The next leader sees the restart underway in KubeVirt and
/// acknowledges the request as accepted without sending it again: the guest reboots once.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_restart_sent_by_a_leader_that_died_before_acknowledging_is_not_sent_again() {
    use kube::api::{Patch, PatchParams};
    use wukong_controller::kubevirt::{KubevirtClient, DEFAULT_BASE_PATH};
    use wukong_lifecycle::kubevirt::Call;

    let mut h = Harness::new("crash").await;
    let mut a = h.controller("a").await;
    h.create("vm", manual(true), none()).await;
    h.wait_state("vm", VmState::Running, BOOT).await;
    a.kill().await;
    let first = h.vmi_uid("vm").await.expect("a running VMI");

    // What leader "a" did before it died: the request, its intent in status, the call.
    let id = "crash-restart-0001";
    h.request_with_id("vm", Action::Restart, None, id).await;
    let intent = json!({ "status": { "lifecycleState": {
        "state": "Running", "inFlightRequestId": id, "restartedVmi": first,
    } } });
    h.wukongs
        .patch_status("vm", &PatchParams::default(), &Patch::Merge(&intent))
        .await
        .expect("write the intent");
    KubevirtClient::new(h.client.clone(), DEFAULT_BASE_PATH)
        .call(
            &h.ns,
            "vm",
            Call::Restart {
                grace_period_seconds: None,
            },
        )
        .await
        .expect("KubeVirt takes the restart");

    // Leader "b" takes over: it must not restart again.
    let _b = h.controller("b").await;
    // b waits out a's Lease (6 s) first.
    let w = h.wait_acked("vm", id, Duration::from_secs(20)).await;
    let records = &w.status.as_ref().expect("status").recent_requests;
    let record = records
        .iter()
        .find(|r| r.request_id == id)
        .expect("in the history");
    assert_eq!(record.outcome, "Accepted", "{record:?}");
    let mut vmis = std::collections::BTreeSet::from([first.clone()]);
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        if let Some(uid) = h.vmi_uid("vm").await {
            vmis.insert(uid);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        vmis.len(),
        2,
        "one restart: the first VMI and one new one, saw {vmis:?}"
    );
    let w = h.wait_state("vm", VmState::Running, BOOT).await;
    let state = w.lifecycle_state().expect("a state");
    assert_eq!(state.in_flight_request_id, None);
    assert_eq!(state.last_action.as_deref(), Some("restart"));
}
