//! KubeVirt's own CLI, virtctl v1.8.0 (built from `kubevirt.io/kubevirt@v1.8.0/cmd/virtctl`), against
//! the simulator through kube-apiserver's aggregation layer: every lifecycle command and every
//! refusal, with the exit code, the line virtctl prints and the VM/VMI state read back from the API.
//!
//! Needs `./dev/cluster up` (the simulator behind `subresources.kubevirt.io`) and virtctl
//! (`./dev/cluster build`); no Wukongs and no controller are involved: the VirtualMachines are
//! created here, one fresh namespace `virtctl-<random>` per test. Ignored in a plain `cargo test`;
//! `./dev/test` runs it:
//!
//!   WUKONG_KUBECONFIG=.dev/kubeconfig WUKONG_VIRTCTL=~/.cache/wukong/kubevirt/v1.8.0/bin/virtctl \
//!     cargo test -p wukong-kubevirt-sim --test virtctl -- --include-ignored
//!
//! What KubeVirt answers is from the v1.8.0 source: the handlers in `pkg/virt-api/rest/lifecycle.go`
//! (named per case), the 404s of `subresource.go` (`fetchVirtualMachine`,
//! `FetchVirtualMachineInstance`), and what virtctl prints from `pkg/virtctl/vm/{start,stop,
//! restart}.go`, `pkg/virtctl/pause/pause.go`, `pkg/virtctl/unpause/unpause.go` and
//! `pkg/virtctl/softreboot/softreboot.go`; virtctl's `Execute` (`pkg/virtctl/root.go`) prints a
//! returned error on stderr and exits 1. The intermediate states (a Stop request still pending while
//! the guest shuts down) assume the simulator's default timings (`./dev/cluster` without
//! `WUKONG_KUBEVIRT_SIM_SPEED`: boot 3 s, ACPI shutdown 4 s, pause 1 s).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wukong_api::kubevirt::{VirtualMachine, VirtualMachineInstance};
use wukong_sim::annotations;

/// Boot, shutdown, restart: seconds in the simulator, generous for a loaded CI machine.
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

fn kubeconfig_path() -> PathBuf {
    std::env::var_os("WUKONG_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.dev/kubeconfig"))
}

/// `WUKONG_VIRTCTL`, else where `./dev/cluster build` caches it.
fn virtctl_path() -> PathBuf {
    if let Some(path) = std::env::var_os("WUKONG_VIRTCTL") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("WUKONG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/wukong")
        });
    cache.join("kubevirt/v1.8.0/bin/virtctl")
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:08x}", hasher.finish() as u32)
}

/// What the API says about a VM and its VMI.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    printable: String,
    /// `spec.runStrategy`.
    run_strategy: String,
    /// `status.stateChangeRequests`: (action, uid).
    requests: Vec<(String, Option<String>)>,
    vmi: Option<VmiSeen>,
}

#[derive(Clone, Debug, PartialEq)]
struct VmiSeen {
    uid: String,
    phase: String,
    /// Condition `Paused=True`.
    paused: bool,
    /// Has a deletion timestamp (virt-controller deleted it; the guest is shutting down).
    deleting: bool,
    /// `spec.terminationGracePeriodSeconds`.
    grace: Option<i64>,
}

impl Seen {
    /// printableStatus Running with a running, unpaused VMI and no request pending.
    fn running(&self) -> bool {
        self.printable == "Running"
            && self.requests.is_empty()
            && self
                .vmi
                .as_ref()
                .is_some_and(|v| v.phase == "Running" && !v.paused && !v.deleting)
    }

    /// printableStatus Paused with a running VMI whose Paused condition is True.
    fn paused(&self) -> bool {
        self.printable == "Paused"
            && self
                .vmi
                .as_ref()
                .is_some_and(|v| v.phase == "Running" && v.paused && !v.deleting)
    }

    /// printableStatus Stopped, no VMI, no request pending.
    fn stopped(&self) -> bool {
        self.printable == "Stopped" && self.vmi.is_none() && self.requests.is_empty()
    }

    fn vmi_uid(&self) -> String {
        self.vmi.as_ref().map(|v| v.uid.clone()).unwrap_or_default()
    }
}

/// One virtctl run: exit code and output. KubeVirt's client logs some calls as JSON lines on stderr
/// (`{"component":…,"level":"info","msg":"SoftReboot VMI",…}`); they are kept apart.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    /// stderr without the JSON log lines.
    stderr: String,
}

struct Env {
    ns: String,
    vms: Api<VirtualMachine>,
    vmis: Api<VirtualMachineInstance>,
    kubeconfig: PathBuf,
    virtctl: PathBuf,
}

impl Env {
    async fn new() -> Env {
        let kubeconfig = kubeconfig_path();
        let config = Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| {
            panic!(
                "no kubeconfig at {} ({e}); start the local control plane with ./dev/cluster up",
                kubeconfig.display()
            )
        });
        let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
            .await
            .expect("a usable kubeconfig");
        let client = Client::try_from(config).expect("a client");
        let virtctl = virtctl_path();
        assert!(
            virtctl.is_file(),
            "no virtctl at {} (set WUKONG_VIRTCTL, or build it with ./dev/cluster build)",
            virtctl.display()
        );
        // Namespaces never finish deleting here (no namespace controller): each test its own.
        let ns = format!("virtctl-{}", random_suffix());
        let namespace: Namespace =
            serde_json::from_value(json!({ "metadata": { "name": ns } })).expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create the test namespace");
        Env {
            vms: Api::namespaced(client.clone(), &ns),
            vmis: Api::namespaced(client, &ns),
            ns,
            kubeconfig,
            virtctl,
        }
    }

    /// A KubeVirt VirtualMachine as a user writes it (KubeVirt's CRD needs
    /// `spec.template.spec.domain.devices`).
    async fn vm(&self, name: &str, run_strategy: &str, annotations: &[(&str, &str)]) {
        let annotations: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let vm: VirtualMachine = serde_json::from_value(json!({
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": { "name": name, "namespace": self.ns, "annotations": annotations },
            "spec": {
                "runStrategy": run_strategy,
                "template": { "spec": { "domain": { "devices": {} } } },
            },
        }))
        .expect("a VirtualMachine");
        self.vms
            .create(&PostParams::default(), &vm)
            .await
            .unwrap_or_else(|e| panic!("create VirtualMachine {}/{name}: {e}", self.ns));
    }

    async fn seen(&self, name: &str) -> Seen {
        let vm = self
            .vms
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("read VirtualMachine {}/{name}: {e}", self.ns));
        let vmi = self
            .vmis
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("read VirtualMachineInstance {}/{name}: {e}", self.ns));
        let status = vm.status.clone().unwrap_or_default();
        Seen {
            printable: status.printable_status.clone().unwrap_or_default(),
            run_strategy: vm.spec.run_strategy.clone().unwrap_or_default(),
            requests: status
                .state_change_requests
                .iter()
                .map(|r| (r.action.clone(), r.uid.clone()))
                .collect(),
            vmi: vmi.map(|vmi| VmiSeen {
                uid: vmi.uid().unwrap_or_default(),
                phase: vmi.phase().unwrap_or_default().to_owned(),
                paused: vmi.is_paused(),
                deleting: vmi.metadata.deletion_timestamp.is_some(),
                grace: vmi.spec.termination_grace_period_seconds,
            }),
        }
    }

    /// Polls until `holds`, at most [`DEADLINE`].
    async fn wait(&self, name: &str, what: &str, holds: impl Fn(&Seen) -> bool) -> Seen {
        let started = Instant::now();
        loop {
            let seen = self.seen(name).await;
            if holds(&seen) {
                return seen;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{}/{name}: {what}, not within {DEADLINE:?}; last seen {seen:#?}",
                self.ns
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn run(&self, args: &[&str]) -> Ran {
        let mut command = std::process::Command::new(&self.virtctl);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", &self.ns])
            .args(args)
            .env_remove("KUBECONFIG");
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the virtctl task")
            .unwrap_or_else(|e| panic!("run {}: {e}", self.virtctl.display()));
        let stderr = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|line| !(line.starts_with('{') && line.contains("\"level\":")))
            .map(|line| format!("{line}\n"))
            .collect();
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        }
    }

    /// virtctl succeeds (exit 0) and prints `says` on stdout, nothing on stderr.
    async fn accepted(&self, args: &[&str], says: &str, kubevirt: &str) -> Ran {
        let ran = self.run(args).await;
        let command = format!("virtctl {}", args.join(" "));
        assert!(
            ran.code == Some(0) && ran.stdout == format!("{says}\n") && ran.stderr.is_empty(),
            "`{command}`: KubeVirt v1.8.0 {kubevirt}, so virtctl exits 0 printing {says:?}; got {ran:#?}"
        );
        ran
    }

    /// virtctl fails (exit 1) and prints `says` on stderr, nothing on stdout.
    async fn refused(&self, args: &[&str], says: &str, kubevirt: &str) -> Ran {
        let ran = self.run(args).await;
        let command = format!("virtctl {}", args.join(" "));
        assert!(
            ran.code == Some(1) && ran.stdout.is_empty() && ran.stderr == format!("{says}\n"),
            "`{command}`: KubeVirt v1.8.0 {kubevirt}, so virtctl exits 1 printing {says:?}; got {ran:#?}"
        );
        ran
    }

    /// A refusal changed nothing: the VM and its VMI read as before.
    async fn unchanged(&self, name: &str, before: &Seen, command: &str) {
        let after = self.seen(name).await;
        assert_eq!(
            &after, before,
            "`virtctl {command}` was refused: KubeVirt changes nothing"
        );
    }
}

/// A Manual VM through start, pause, unpause, soft reboot, restart (graceful and forced) and stop,
/// with every refusal on the way.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn a_manual_vm_through_every_command_and_refusal() {
    let e = Env::new().await;
    e.vm("m", "Manual", &[]).await;
    let stopped = e
        .wait("m", "a new Manual VM reads Stopped", Seen::stopped)
        .await;

    // StopVMRequestHandler: Manual without a VMI -> errors.NewConflict(virtualmachine, vmNotRunning).
    e.refused(
        &["stop", "m"],
        r#"error stopping VirtualMachine Operation cannot be fulfilled on virtualmachine.kubevirt.io "m": VM is not running"#,
        "answers 409 `VM is not running` to a stop of a Manual VM without a VMI",
    )
    .await;
    e.unchanged("m", &stopped, "stop m").await;

    // PauseVMIRequestHandler -> putRequestHandler: FetchVirtualMachineInstance 404; virtctl's
    // handleNotFoundError: the VM is not Halted -> "it was not found".
    e.refused(
        &["pause", "vm", "m"],
        "Error pausing VirtualMachineInstance m, it was not found",
        "answers 404 virtualmachineinstance not found to a pause without a VMI",
    )
    .await;
    e.unchanged("m", &stopped, "pause vm m").await;

    // UnpauseVMIRequestHandler: the VM exists, no snapshot; putRequestHandler: 404 VMI.
    e.refused(
        &["unpause", "vm", "m"],
        r#"Error unpausing VirtualMachineInstance m: virtualmachineinstance.kubevirt.io "m" not found"#,
        "answers 404 virtualmachineinstance not found to an unpause without a VMI",
    )
    .await;
    e.unchanged("m", &stopped, "unpause vm m").await;

    // SoftRebootVMIRequestHandler -> putRequestHandler: FetchVirtualMachineInstance 404.
    e.refused(
        &["soft-reboot", "m"],
        r#"Error soft rebooting VirtualMachineInstance m: virtualmachineinstance.kubevirt.io "m" not found"#,
        "answers 404 virtualmachineinstance not found to a soft reboot without a VMI",
    )
    .await;
    e.unchanged("m", &stopped, "soft-reboot m").await;

    // RestartVMRequestHandler: Manual, the VMI Get is NotFound -> 409 "VM is not running: Halted".
    e.refused(
        &["restart", "m"],
        r#"error restarting VirtualMachine: Operation cannot be fulfilled on virtualmachine.kubevirt.io "m": VM is not running: Halted"#,
        "answers 409 `VM is not running: Halted` to a restart without a VMI",
    )
    .await;
    e.unchanged("m", &stopped, "restart m").await;

    // StartVMRequestHandler: Manual, no VMI -> getChangeRequestJson [{Start}], 202; virt-controller
    // creates the VMI and trims the request; the run strategy stays Manual.
    e.accepted(
        &["start", "m"],
        "VM m was scheduled to start",
        "accepts a start of a stopped Manual VM (202, a Start request)",
    )
    .await;
    let running = e
        .wait("m", "Running after `virtctl start m`", Seen::running)
        .await;
    assert_eq!(
        running.run_strategy, "Manual",
        "`virtctl start m`: KubeVirt leaves a Manual VM's runStrategy alone"
    );

    // StartVMRequestHandler: a VMI that is not final and has a phase -> 409 "VM is already running".
    e.refused(
        &["start", "m"],
        r#"Error starting VirtualMachine Operation cannot be fulfilled on virtualmachine.kubevirt.io "m": VM is already running"#,
        "answers 409 `VM is already running` to a start of a running VM",
    )
    .await;
    e.unchanged("m", &running, "start m").await;

    // virtctl's stopRun (pkg/virtctl/vm/stop.go): --grace-period without --force is refused
    // before any request is sent (and --force without --grace-period alike).
    for args in [
        &["stop", "--grace-period=5", "m"][..],
        &["stop", "--force", "m"][..],
    ] {
        e.refused(
            args,
            "Must both use --force=true and set --grace-period.",
            "is never asked: virtctl refuses the flags itself",
        )
        .await;
        e.unchanged("m", &running, &args.join(" ")).await;
    }

    // UnpauseVMIRequestHandler: Running, no Paused condition -> 409 VMI "VMI is not paused".
    e.refused(
        &["unpause", "vm", "m"],
        r#"Error unpausing VirtualMachineInstance m: Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "m": VMI is not paused"#,
        "answers 409 `VMI is not paused` to an unpause of a running VMI",
    )
    .await;
    e.unchanged("m", &running, "unpause vm m").await;

    // PauseVMIRequestHandler: Running, no liveness probe, not paused -> 200; virt-handler pauses.
    e.accepted(
        &["pause", "vm", "m"],
        "VMI m was scheduled to pause",
        "accepts a pause of a running VMI (200)",
    )
    .await;
    let paused = e
        .wait(
            "m",
            "Paused (VMI condition Paused=True) after `virtctl pause vm m`",
            Seen::paused,
        )
        .await;
    assert_eq!(
        paused.vmi_uid(),
        running.vmi_uid(),
        "`virtctl pause vm m`: KubeVirt pauses the same VMI"
    );

    // PauseVMIRequestHandler: condition Paused present -> 409 VMI "VMI is already paused".
    e.refused(
        &["pause", "vm", "m"],
        r#"Error pausing VirtualMachineInstance m: Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "m": VMI is already paused"#,
        "answers 409 `VMI is already paused` to a pause of a paused VMI",
    )
    .await;
    e.unchanged("m", &paused, "pause vm m").await;

    // SoftRebootVMIRequestHandler: Paused=True -> 409 VMI "VMI is paused".
    e.refused(
        &["soft-reboot", "m"],
        r#"Error soft rebooting VirtualMachineInstance m: Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io "m": VMI is paused"#,
        "answers 409 `VMI is paused` to a soft reboot of a paused VMI",
    )
    .await;
    e.unchanged("m", &paused, "soft-reboot m").await;

    // UnpauseVMIRequestHandler: Running and paused -> 200; virt-handler unpauses.
    e.accepted(
        &["unpause", "vm", "m"],
        "VMI m was scheduled to unpause",
        "accepts an unpause of a paused VMI (200)",
    )
    .await;
    let running = e
        .wait("m", "Running after `virtctl unpause vm m`", Seen::running)
        .await;
    assert_eq!(
        running.vmi_uid(),
        paused.vmi_uid(),
        "`virtctl unpause vm m`: KubeVirt unpauses the same VMI"
    );

    // SoftRebootVMIRequestHandler: Running, not paused, ACPI not disabled -> 200; the guest
    // reboots inside the same VMI.
    e.accepted(
        &["soft-reboot", "m"],
        "VMI m was scheduled to soft-reboot",
        "accepts a soft reboot of a running VMI (200)",
    )
    .await;
    let rebooted = e.seen("m").await;
    assert!(
        rebooted.running() && rebooted.vmi_uid() == running.vmi_uid(),
        "`virtctl soft-reboot m`: KubeVirt reboots the guest in the same VMI, which stays Running; \
         got {rebooted:#?}"
    );

    // RestartVMRequestHandler: gracePeriodSeconds > 0 -> 400 before the VM is read.
    e.refused(
        &["restart", "--force", "--grace-period=5", "m"],
        "error force restarting VirtualMachine: For force restart, only gracePeriod=0 is supported for now",
        "answers 400 `For force restart, only gracePeriod=0 is supported for now`",
    )
    .await;
    e.unchanged("m", &rebooted, "restart --force --grace-period=5 m")
        .await;

    // RestartVMRequestHandler: Manual with a VMI -> getChangeRequestJson [{Stop, uid}, {Start}], 202.
    // virt-controller stops that VMI (the Stop stays while it shuts down), then starts a new one.
    let old = running.vmi_uid();
    e.accepted(
        &["restart", "m"],
        "VM m was scheduled to restart",
        "accepts a restart of a running Manual VM (202, Stop and Start requests)",
    )
    .await;
    let restarting = e.seen("m").await;
    assert_eq!(
        restarting.requests,
        [
            ("Stop".to_owned(), Some(old.clone())),
            ("Start".to_owned(), None)
        ],
        "`virtctl restart m`: KubeVirt writes stateChangeRequests [Stop (the VMI's uid), Start]; \
         got {restarting:#?}"
    );
    let restarted = e
        .wait(
            "m",
            "Running with a new VMI after `virtctl restart m`",
            |s| s.running() && s.vmi_uid() != old,
        )
        .await;
    assert_eq!(
        restarted.run_strategy, "Manual",
        "`virtctl restart m`: KubeVirt restarts with Stop and Start requests; runStrategy stays Manual"
    );

    // RestartVMRequestHandler: gracePeriodSeconds 0 -> the same requests, then the launcher pod is
    // deleted with a 1 s grace period (v1.8): the guest does not get its ACPI shutdown.
    let old = restarted.vmi_uid();
    e.accepted(
        &["restart", "--force", "--grace-period=0", "m"],
        "VM m was scheduled to restart",
        "accepts a forced restart with gracePeriodSeconds 0 (202; the launcher pod is deleted)",
    )
    .await;
    let restarted = e
        .wait(
            "m",
            "Running with a new VMI after `virtctl restart --force --grace-period=0 m`",
            |s| s.running() && s.vmi_uid() != old,
        )
        .await;

    // StopVMRequestHandler: Manual with a live VMI -> patchVMStatusStopped [{Stop, uid}], 202;
    // virt-controller deletes the VMI, the guest shuts down by ACPI, the request is trimmed.
    e.accepted(
        &["stop", "m"],
        "VM m was scheduled to stop",
        "accepts a stop of a running Manual VM (202, a Stop request for its VMI)",
    )
    .await;
    let stopping = e.seen("m").await;
    assert_eq!(
        stopping.requests,
        [("Stop".to_owned(), Some(restarted.vmi_uid()))],
        "`virtctl stop m`: KubeVirt writes stateChangeRequests [Stop (the VMI's uid)]; got {stopping:#?}"
    );
    let stopped = e
        .wait(
            "m",
            "Stopped, VMI gone, after `virtctl stop m`",
            Seen::stopped,
        )
        .await;
    assert_eq!(
        stopped.run_strategy, "Manual",
        "`virtctl stop m`: KubeVirt stops a Manual VM with a Stop request; runStrategy stays Manual"
    );
}

/// `stop --force --grace-period=N`: virt-api patches the VMI's terminationGracePeriodSeconds first.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn forced_stops_patch_the_vmi_grace_period_first() {
    let e = Env::new().await;
    e.vm("f", "Manual", &[]).await;
    e.wait("f", "a new Manual VM reads Stopped", Seen::stopped)
        .await;
    e.accepted(
        &["start", "f"],
        "VM f was scheduled to start",
        "accepts a start of a stopped Manual VM",
    )
    .await;
    let running = e.wait("f", "Running after start", Seen::running).await;

    // StopVMRequestHandler: gracePeriod set and a live VMI -> JSON patch test+replace of the VMI's
    // /spec/terminationGracePeriodSeconds, then (Manual) patchVMStatusStopped [{Stop, uid}], 202.
    e.accepted(
        &["stop", "--force", "--grace-period=10", "f"],
        "VM f was scheduled to stop",
        "accepts a forced stop with gracePeriod 10 (202) after patching the VMI's grace period",
    )
    .await;
    let stopping = e.seen("f").await;
    assert!(
        stopping.vmi.as_ref().is_some_and(|v| v.grace == Some(10))
            && stopping.requests == [("Stop".to_owned(), Some(running.vmi_uid()))],
        "`virtctl stop --force --grace-period=10 f`: KubeVirt sets the VMI's \
         terminationGracePeriodSeconds to 10 and writes [Stop (the VMI's uid)]; got {stopping:#?}"
    );
    let stopped = e
        .wait(
            "f",
            "Stopped after the forced stop (grace 10 s)",
            Seen::stopped,
        )
        .await;
    assert_eq!(
        stopped.run_strategy, "Manual",
        "`virtctl stop --force --grace-period=10 f`: a Stop request; runStrategy stays Manual"
    );

    e.accepted(
        &["start", "f"],
        "VM f was scheduled to start",
        "accepts a start of a stopped Manual VM",
    )
    .await;
    let running = e.wait("f", "Running after start", Seen::running).await;

    // StopVMRequestHandler with gracePeriod 0: the VMI's grace becomes 0 and virt-handler kills the
    // domain at once instead of waiting for an ACPI shutdown (4 s in the simulator).
    let started = Instant::now();
    e.accepted(
        &["stop", "--force", "--grace-period=0", "f"],
        "VM f was scheduled to stop",
        "accepts a forced stop with gracePeriod 0 (202) after patching the VMI's grace period",
    )
    .await;
    let stopping = e.seen("f").await;
    if let Some(vmi) = stopping.vmi.as_ref().filter(|v| v.uid == running.vmi_uid()) {
        assert_eq!(
            vmi.grace,
            Some(0),
            "`virtctl stop --force --grace-period=0 f`: KubeVirt sets the VMI's \
             terminationGracePeriodSeconds to 0; got {stopping:#?}"
        );
    }
    e.wait(
        "f",
        "Stopped after the forced stop (grace 0)",
        Seen::stopped,
    )
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "`virtctl stop --force --grace-period=0 f`: killed at once, not after an ACPI shutdown; \
         took {took:?}"
    );

    // StopVMRequestHandler: Manual without a VMI -> 409 "VM is not running"; forced: virtctl's
    // errorFmt "error force stopping VirtualMachine: %v".
    let before = e.seen("f").await;
    e.refused(
        &["stop", "--force", "--grace-period=0", "f"],
        r#"error force stopping VirtualMachine: Operation cannot be fulfilled on virtualmachine.kubevirt.io "f": VM is not running"#,
        "answers 409 `VM is not running` to a forced stop of a stopped Manual VM",
    )
    .await;
    e.unchanged("f", &before, "stop --force --grace-period=0 f")
        .await;
}

/// Halted VMs: the refusals, a start that switches them to Always, a paused start (Halted and
/// Manual).
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn halted_vms_refuse_then_start_and_start_paused() {
    let e = Env::new().await;
    e.vm("h", "Halted", &[]).await;
    e.vm("hp", "Halted", &[]).await;
    e.vm("mp", "Manual", &[]).await;
    let stopped = e
        .wait("h", "a new Halted VM reads Stopped", Seen::stopped)
        .await;

    // PauseVMIRequestHandler -> 404 VMI; virtctl's handleNotFoundError: RunStrategy Halted.
    e.refused(
        &["pause", "vm", "h"],
        "Error pausing VirtualMachineInstance h. VirtualMachine h is not set to run",
        "answers 404 virtualmachineinstance not found to a pause of a Halted VM",
    )
    .await;
    e.unchanged("h", &stopped, "pause vm h").await;

    // RestartVMRequestHandler: Halted -> 409 "RunStategy Halted does not support manual restart
    // requests" (KubeVirt's spelling).
    e.refused(
        &["restart", "h"],
        r#"error restarting VirtualMachine: Operation cannot be fulfilled on virtualmachine.kubevirt.io "h": RunStategy Halted does not support manual restart requests"#,
        "answers 409 `RunStategy Halted does not support manual restart requests`",
    )
    .await;
    e.unchanged("h", &stopped, "restart h").await;

    // StopVMRequestHandler: Halted without a VMI -> 409 "VM is not running".
    e.refused(
        &["stop", "h"],
        r#"error stopping VirtualMachine Operation cannot be fulfilled on virtualmachine.kubevirt.io "h": VM is not running"#,
        "answers 409 `VM is not running` to a stop of a Halted VM without a VMI",
    )
    .await;
    e.unchanged("h", &stopped, "stop h").await;

    // StartVMRequestHandler: Halted, not paused -> getRunningPatch(vm, true): /spec/runStrategy
    // replaced by Always (by virt-api itself, before it answers 202).
    e.accepted(
        &["start", "h"],
        "VM h was scheduled to start",
        "accepts a start of a Halted VM (202, runStrategy patched to Always)",
    )
    .await;
    let started = e.seen("h").await;
    assert_eq!(
        started.run_strategy, "Always",
        "`virtctl start h`: KubeVirt's getRunningPatch sets spec.runStrategy Always; got {started:#?}"
    );
    e.wait("h", "Running after `virtctl start h`", Seen::running)
        .await;

    // StartVMRequestHandler: Halted and paused -> getChangeRequestJson [{Start, data: {paused:
    // "true"}}], 202; virt-controller (syncRunStrategy) turns the VM Always and the VMI starts
    // with startStrategy Paused.
    e.wait("hp", "a new Halted VM reads Stopped", Seen::stopped)
        .await;
    e.accepted(
        &["start", "--paused", "hp"],
        "VM hp was scheduled to start",
        "accepts a paused start of a Halted VM (202, a Start request with data paused)",
    )
    .await;
    let paused = e
        .wait(
            "hp",
            "Paused (VMI condition Paused=True) after `virtctl start --paused hp`",
            Seen::paused,
        )
        .await;
    assert_eq!(
        paused.run_strategy, "Always",
        "`virtctl start --paused hp`: virt-controller switches a Halted VM to Always"
    );

    // StartVMRequestHandler: Manual, no VMI -> [{Start, data: {paused: "true"}}]; the strategy
    // stays Manual.
    e.wait("mp", "a new Manual VM reads Stopped", Seen::stopped)
        .await;
    e.accepted(
        &["start", "--paused", "mp"],
        "VM mp was scheduled to start",
        "accepts a paused start of a Manual VM (202, a Start request with data paused)",
    )
    .await;
    let paused = e
        .wait(
            "mp",
            "Paused (VMI condition Paused=True) after `virtctl start --paused mp`",
            Seen::paused,
        )
        .await;
    assert_eq!(
        paused.run_strategy, "Manual",
        "`virtctl start --paused mp`: a Manual VM stays Manual"
    );
    // And it unpauses like any paused VMI (UnpauseVMIRequestHandler: 200).
    e.accepted(
        &["unpause", "vm", "mp"],
        "VMI mp was scheduled to unpause",
        "accepts an unpause of a VMI started paused",
    )
    .await;
    e.wait("mp", "Running after `virtctl unpause vm mp`", Seen::running)
        .await;
}

/// Always VMs: no manual start, a stop that switches them to Halted; and a pause KubeVirt forbids.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn always_vms_refuse_a_start_and_stop_by_turning_halted() {
    let e = Env::new().await;
    e.vm("a", "Always", &[]).await;
    // A failed DataVolume: KubeVirt creates no VMI, so a start gets past "already running".
    e.vm(
        "a-dv",
        "Always",
        &[(annotations::DATA_VOLUME_ERROR, "true")],
    )
    .await;
    e.vm(
        "a-probe",
        "Always",
        &[(annotations::LIVENESS_PROBE, "true")],
    )
    .await;
    let running = e
        .wait("a", "a new Always VM starts by itself", Seen::running)
        .await;

    // StartVMRequestHandler: the running check comes first -> 409 "VM is already running".
    e.refused(
        &["start", "a"],
        r#"Error starting VirtualMachine Operation cannot be fulfilled on virtualmachine.kubevirt.io "a": VM is already running"#,
        "answers 409 `VM is already running` to a start of a running Always VM",
    )
    .await;
    e.unchanged("a", &running, "start a").await;

    // StartVMRequestHandler: Always without a VMI -> 409 "Always does not support manual start
    // requests".
    let no_vmi = e
        .wait(
            "a-dv",
            "an Always VM with a failed DataVolume reads DataVolumeError, no VMI",
            |s| s.printable == "DataVolumeError" && s.vmi.is_none(),
        )
        .await;
    e.refused(
        &["start", "a-dv"],
        r#"Error starting VirtualMachine Operation cannot be fulfilled on virtualmachine.kubevirt.io "a-dv": Always does not support manual start requests"#,
        "answers 409 `Always does not support manual start requests` to a start of an Always VM \
         without a VMI",
    )
    .await;
    e.unchanged("a-dv", &no_vmi, "start a-dv").await;

    // PauseVMIRequestHandler: a VMI with a liveness probe -> 403 "Pausing VMIs with LivenessProbe
    // is currently not supported".
    let probed = e
        .wait("a-probe", "a new Always VM starts by itself", Seen::running)
        .await;
    e.refused(
        &["pause", "vm", "a-probe"],
        r#"Error pausing VirtualMachineInstance a-probe: virtualmachineinstance.kubevirt.io "a-probe" is forbidden: Pausing VMIs with LivenessProbe is currently not supported"#,
        "answers 403 `Pausing VMIs with LivenessProbe is currently not supported`",
    )
    .await;
    e.unchanged("a-probe", &probed, "pause vm a-probe").await;

    // StopVMRequestHandler: Always -> getRunningPatch(vm, false): /spec/runStrategy replaced by
    // Halted (by virt-api, before it answers 202); virt-controller then stops the VMI.
    e.accepted(
        &["stop", "a"],
        "VM a was scheduled to stop",
        "accepts a stop of an Always VM (202, runStrategy patched to Halted)",
    )
    .await;
    let halted = e.seen("a").await;
    assert_eq!(
        halted.run_strategy, "Halted",
        "`virtctl stop a`: KubeVirt's getRunningPatch sets spec.runStrategy Halted; got {halted:#?}"
    );
    e.wait("a", "Stopped after `virtctl stop a`", Seen::stopped)
        .await;
}

/// A VM that does not exist: virt-api's own 404 for its calls, kube-apiserver's for virtctl's GET.
#[tokio::test]
#[ignore = "needs ./dev/cluster up"]
async fn an_unknown_vm_is_not_found() {
    let e = Env::new().await;
    // StopVMRequestHandler, StartVMRequestHandler, RestartVMRequestHandler: fetchVirtualMachine ->
    // errors.NewNotFound(v1.Resource("virtualmachine"), name).
    for (args, says) in [
        (
            &["stop", "nope"][..],
            r#"error stopping VirtualMachine virtualmachine.kubevirt.io "nope" not found"#,
        ),
        (
            &["stop", "--force", "--grace-period=0", "nope"][..],
            r#"error force stopping VirtualMachine: virtualmachine.kubevirt.io "nope" not found"#,
        ),
        (
            &["start", "nope"][..],
            r#"Error starting VirtualMachine virtualmachine.kubevirt.io "nope" not found"#,
        ),
        (
            &["restart", "nope"][..],
            r#"error restarting VirtualMachine: virtualmachine.kubevirt.io "nope" not found"#,
        ),
        (
            &["restart", "--force", "--grace-period=0", "nope"][..],
            r#"error force restarting VirtualMachine: virtualmachine.kubevirt.io "nope" not found"#,
        ),
    ] {
        e.refused(
            args,
            says,
            "answers 404 virtualmachine.kubevirt.io not found (fetchVirtualMachine)",
        )
        .await;
    }
    // RestartVMRequestHandler checks gracePeriodSeconds before it reads the VM: 400, not 404.
    e.refused(
        &["restart", "--force", "--grace-period=5", "nope"],
        "error force restarting VirtualMachine: For force restart, only gracePeriod=0 is supported for now",
        "answers 400 before it reads the VM (RestartVMRequestHandler's first check)",
    )
    .await;
    // SoftRebootVMIRequestHandler -> putRequestHandler: FetchVirtualMachineInstance 404.
    e.refused(
        &["soft-reboot", "nope"],
        r#"Error soft rebooting VirtualMachineInstance nope: virtualmachineinstance.kubevirt.io "nope" not found"#,
        "answers 404 virtualmachineinstance.kubevirt.io not found",
    )
    .await;
    // pause/unpause vm: virtctl first GETs the VirtualMachine from kube-apiserver (plural resource
    // name), so virt-api is never asked.
    e.refused(
        &["pause", "vm", "nope"],
        r#"Error getting VirtualMachine nope: virtualmachines.kubevirt.io "nope" not found"#,
        "is not asked: kube-apiserver answers virtctl's GET of the VM with 404",
    )
    .await;
    e.refused(
        &["unpause", "vm", "nope"],
        r#"Error getting VirtualMachine nope: virtualmachines.kubevirt.io "nope" not found"#,
        "is not asked: kube-apiserver answers virtctl's GET of the VM with 404",
    )
    .await;
    assert!(
        e.vms.get_opt("nope").await.expect("list").is_none(),
        "404s create nothing: no VirtualMachine `nope`"
    );
}
