//! Simulated KubeVirt: what virt-api answers ([`kubevirt`]) and what virt-controller, virt-handler
//! and a guest do over time ([`virt`]).
//!
//! The clock is passed in (milliseconds on any monotonic scale), so the behaviour is deterministic
//! and testable without sleeping. The KubeVirt simulator (`wukong-kubevirt-sim`) projects one
//! [`virt::VirtVm`] per VirtualMachine onto a real API server; the in-memory sandbox drives the same
//! model directly. Whether a *Wukong* action is allowed is never decided here: that is
//! `wukong_lifecycle::check`, used by the controller and the sandbox.

pub mod kubevirt;
pub mod virt;

/// How long each transition takes. The defaults keep every transition within 10 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub boot_ms: u64,
    /// How long a guest that honours ACPI takes to shut down.
    pub acpi_shutdown_ms: u64,
    pub kill_ms: u64,
    pub pause_ms: u64,
    pub unpause_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            boot_ms: 3_000,
            acpi_shutdown_ms: 4_000,
            kill_ms: 500,
            pause_ms: 1_000,
            unpause_ms: 1_000,
        }
    }
}

impl Timings {
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
        }
    }
}

/// How the simulated guest behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Guest {
    /// The guest ignores the ACPI shutdown signal: a graceful stop is forced at the grace deadline.
    pub ignores_acpi: bool,
    /// The guest never finishes booting (KubeVirt would show CrashLoopBackOff).
    pub fails_boot: bool,
}
