//! Simulated KubeVirt: what virt-api answers ([`kubevirt`]) and what virt-controller, virt-handler
//! and a guest do over time ([`virt`]).
//!
//! The clock is passed in (milliseconds on any monotonic scale), so the behaviour is deterministic
//! and testable without sleeping. The KubeVirt simulator (`wukong-kubevirt-sim`) projects one
//! [`virt::VirtVm`] per VirtualMachine onto a real API server; the in-memory sandbox drives the same
//! model directly. Whether a *Wukong* action is allowed is never decided here: that is
//! `wukong_lifecycle::check`, used by the controller and the sandbox.

pub mod kubevirt;
pub mod status;
pub mod virt;

use kubevirt::StartProblem;

/// How long each transition takes. The defaults keep every transition within 10 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub boot_ms: u64,
    /// How long a guest that honours ACPI takes to shut down.
    pub acpi_shutdown_ms: u64,
    pub kill_ms: u64,
    pub pause_ms: u64,
    pub unpause_ms: u64,
    /// How long a VMI in a final phase that is being deleted stays before it is gone (virt-handler
    /// removes its finalizer).
    pub release_ms: u64,
    /// KubeVirt's crash-loop back-off: `unit × failures²`, at most `max` (`calculateStartBackoffTime`
    /// with its 300 s ceiling; KubeVirt adds up to half again at random, the simulator does not).
    pub backoff_unit_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings::DEFAULT
    }
}

impl Timings {
    /// The defaults.
    pub const DEFAULT: Timings = Timings {
        boot_ms: 3_000,
        acpi_shutdown_ms: 4_000,
        kill_ms: 500,
        pause_ms: 1_000,
        unpause_ms: 1_000,
        release_ms: 300,
        backoff_unit_ms: 10_000,
        backoff_max_ms: 300_000,
    };

    /// All durations divided by `factor` (tests and demos that want a faster cluster).
    pub fn scaled(self, factor: f64) -> Timings {
        // `as` from f64 saturates (NaN becomes 0), so no factor can overflow a duration.
        let f = |ms: u64| ((ms as f64) / factor.max(0.001)).round() as u64;
        Timings {
            boot_ms: f(self.boot_ms),
            acpi_shutdown_ms: f(self.acpi_shutdown_ms),
            kill_ms: f(self.kill_ms),
            pause_ms: f(self.pause_ms),
            unpause_ms: f(self.unpause_ms),
            release_ms: f(self.release_ms),
            backoff_unit_ms: f(self.backoff_unit_ms),
            backoff_max_ms: f(self.backoff_max_ms),
        }
    }

    /// The back-off before the next start after `failures` early failures.
    pub fn backoff_ms(&self, failures: u32) -> u64 {
        let n = u64::from(failures.max(1));
        self.backoff_unit_ms
            .saturating_mul(n.saturating_mul(n))
            .min(self.backoff_max_ms)
    }
}

/// How the simulated guest and its storage behave: set per VM with the `sim.novasphere.dev/*`
/// annotations ([`Guest::from_annotations`]), documented in `docs/kubevirt-conformance.md`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Guest {
    /// The guest ignores the ACPI shutdown signal: a graceful stop is forced at the grace deadline.
    pub ignores_acpi: bool,
    /// The guest never finishes booting (KubeVirt would show CrashLoopBackOff).
    pub fails_boot: bool,
    /// The guest powers itself off this long after it is running (each VMI): the VMI ends
    /// `Succeeded`, as after `poweroff` inside a real guest.
    pub poweroff_after_ms: Option<u64>,
    /// Each new VMI is stuck before it runs, for this reason, while it is set.
    pub start_problem: Option<StartProblem>,
    /// Each VMI live-migrates for this long once it is running.
    pub migration_ms: Option<u64>,
    /// The VMI has a `livenessProbe` (KubeVirt then refuses to pause it with a 403).
    pub liveness_probe: bool,
    /// A DataVolume imports for this long after the VM appears (printableStatus Provisioning); no
    /// VMI is created before it is done.
    pub provisioning_ms: Option<u64>,
    /// A PVC stays unbound for this long after the VM appears (WaitingForVolumeBinding).
    pub unbound_pvc_ms: Option<u64>,
    /// A DataVolume failed (DataVolumeError); no VMI can be created.
    pub data_volume_error: bool,
}

/// The annotations a VM (or, in the sandbox, a Wukong) sets to make the simulator behave so.
pub mod annotations {
    /// `"true"`: the guest ignores ACPI.
    pub const IGNORE_ACPI: &str = "sim.novasphere.dev/ignore-acpi";
    /// `"true"`: the guest never boots.
    pub const FAIL_BOOT: &str = "sim.novasphere.dev/fail-boot";
    /// Seconds: the guest powers itself off that long after it runs.
    pub const POWEROFF_AFTER: &str = "sim.novasphere.dev/poweroff-after-seconds";
    /// `ErrorUnschedulable`, `ErrImagePull`, `ImagePullBackOff` or `ErrorPvcNotFound`.
    pub const START_PROBLEM: &str = "sim.novasphere.dev/start-problem";
    /// Seconds: each VMI live-migrates that long once it runs.
    pub const MIGRATION: &str = "sim.novasphere.dev/migration-seconds";
    /// `"true"`: the VMI has a liveness probe.
    pub const LIVENESS_PROBE: &str = "sim.novasphere.dev/liveness-probe";
    /// Seconds: a DataVolume imports that long (Provisioning).
    pub const PROVISIONING: &str = "sim.novasphere.dev/provisioning-seconds";
    /// Seconds: a PVC stays unbound that long (WaitingForVolumeBinding).
    pub const UNBOUND_PVC: &str = "sim.novasphere.dev/unbound-pvc-seconds";
    /// `"true"`: a DataVolume failed (DataVolumeError).
    pub const DATA_VOLUME_ERROR: &str = "sim.novasphere.dev/datavolume-error";
}

impl Guest {
    /// Reads the guest's behaviour from a VM's annotations (`get` looks one up by name). Values
    /// that do not parse are ignored, as if the annotation were not there.
    pub fn from_annotations<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Guest {
        let flag = |name: &str| get(name).is_some_and(|v| v == "true");
        let seconds = |name: &str| {
            get(name)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .map(|s| u64::from(s) * 1000)
        };
        Guest {
            ignores_acpi: flag(annotations::IGNORE_ACPI),
            fails_boot: flag(annotations::FAIL_BOOT),
            poweroff_after_ms: seconds(annotations::POWEROFF_AFTER),
            start_problem: get(annotations::START_PROBLEM).and_then(StartProblem::parse),
            migration_ms: seconds(annotations::MIGRATION),
            liveness_probe: flag(annotations::LIVENESS_PROBE),
            provisioning_ms: seconds(annotations::PROVISIONING),
            unbound_pvc_ms: seconds(annotations::UNBOUND_PVC),
            data_volume_error: flag(annotations::DATA_VOLUME_ERROR),
        }
    }

    /// The annotations that make the simulator behave so (the inverse of
    /// [`Guest::from_annotations`]; durations in whole seconds).
    pub fn to_annotations(&self) -> Vec<(&'static str, String)> {
        let seconds = |ms: Option<u64>| ms.map(|ms| (ms / 1000).to_string());
        let flag = |on: bool| on.then(|| "true".to_owned());
        [
            (annotations::IGNORE_ACPI, flag(self.ignores_acpi)),
            (annotations::FAIL_BOOT, flag(self.fails_boot)),
            (annotations::POWEROFF_AFTER, seconds(self.poweroff_after_ms)),
            (
                annotations::START_PROBLEM,
                self.start_problem.map(|p| p.printable_status().to_owned()),
            ),
            (annotations::MIGRATION, seconds(self.migration_ms)),
            (annotations::LIVENESS_PROBE, flag(self.liveness_probe)),
            (annotations::PROVISIONING, seconds(self.provisioning_ms)),
            (annotations::UNBOUND_PVC, seconds(self.unbound_pvc_ms)),
            (annotations::DATA_VOLUME_ERROR, flag(self.data_volume_error)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_round_trip() {
        let guest = Guest {
            ignores_acpi: true,
            poweroff_after_ms: Some(5_000),
            start_problem: Some(StartProblem::ImagePullBackOff),
            migration_ms: Some(7_000),
            provisioning_ms: Some(30_000),
            data_volume_error: true,
            ..Guest::default()
        };
        let written = guest.to_annotations();
        let read = Guest::from_annotations(|name| {
            written
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        });
        assert_eq!(read, guest);
        assert_eq!(
            Guest::from_annotations(|_| Some("not a number")),
            Guest::default()
        );
    }
}
