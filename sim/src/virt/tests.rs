//! virt-controller and virt-handler over time, with the clock in the test's hand.

use super::*;
use KvRunStrategy::*;

const START: Request = Request::Start { paused: false };
const STOP: Request = Request::Stop { grace_period: None };
const RESTART: Request = Request::Restart {
    grace_period_seconds: None,
};
const fn stop_with(grace: i64) -> Request {
    Request::Stop {
        grace_period: Some(grace),
    }
}

/// The default timings, named here because the tests count on them (boot 3 s, ACPI shutdown 4 s,
/// kill 0.5 s, pause/unpause 1 s, release 0.3 s, back-off 10 s × n²): a change to the defaults
/// shows up as failing tests, which is the point.
const T: Timings = Timings::DEFAULT;

fn vm(rs: KvRunStrategy, guest: Guest) -> VirtVm {
    VirtVm::new(rs, None, guest, T)
}

/// Ticks until nothing is due before `until_ms`; returns the printable statuses seen.
fn run_until(vm: &mut VirtVm, until_ms: u64) -> Vec<&'static str> {
    let mut seen = vec![vm.printable_status()];
    while let Some(at) = vm.next_event_at().filter(|&at| at <= until_ms) {
        vm.tick(at);
        if seen.last() != Some(&vm.printable_status()) {
            seen.push(vm.printable_status());
        }
    }
    seen
}

#[test]
fn always_and_rerun_on_failure_start_on_creation_manual_and_halted_do_not() {
    for (rs, expect) in [
        (Always, "Running"),
        (RerunOnFailure, "Running"),
        (Once, "Running"),
        (Manual, "Stopped"),
        (Halted, "Stopped"),
    ] {
        let mut v = vm(rs, Guest::default());
        v.tick(0);
        run_until(&mut v, 10_000);
        assert_eq!(v.printable_status(), expect, "{rs}");
    }
}

#[test]
fn manual_start_goes_through_starting_to_running() {
    let mut v = vm(Manual, Guest::default());
    v.tick(0);
    v.request(START, "vm", 0).unwrap();
    assert_eq!(v.printable_status(), "Starting");
    assert!(v.state_change_requests().is_empty());
    assert_eq!(run_until(&mut v, 10_000), ["Starting", "Running"]);
    assert_eq!(v.request(START, "vm", 10_000).unwrap_err().code, 409);
}

#[test]
fn stop_under_always_halts_and_the_guest_powers_off_by_acpi() {
    let mut v = vm(Always, Guest::default());
    v.tick(0);
    run_until(&mut v, 5_000);
    v.request(STOP, "vm", 5_000).unwrap();
    assert_eq!(v.run_strategy(), Halted);
    assert_eq!(v.printable_status(), "Stopping");
    assert_eq!(v.next_event_at(), Some(9_000), "ACPI shutdown takes 4 s");
    assert_eq!(run_until(&mut v, 60_000), ["Stopping", "Stopped"]);
    assert_eq!(v.last_exit(), Some(Exit::ShutDown));
    assert!(v.vmi().is_none());
}

#[test]
fn a_guest_ignoring_acpi_is_killed_when_the_vmi_grace_runs_out() {
    let mut v = VirtVm::new(
        Manual,
        Some(10),
        Guest {
            ignores_acpi: true,
            ..Guest::default()
        },
        T,
    );
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 5_000);
    v.request(STOP, "vm", 5_000).unwrap();
    assert_eq!(v.next_event_at(), Some(15_000));
    // A shorter grace (the force stop) brings the kill forward.
    v.request(stop_with(0), "vm", 8_000).unwrap();
    assert_eq!(v.next_event_at(), Some(8_500));
    run_until(&mut v, 60_000);
    assert_eq!(v.printable_status(), "Stopped");
    assert_eq!(v.last_exit(), Some(Exit::Killed));
}

#[test]
fn restart_replaces_the_vmi() {
    let mut v = vm(Manual, Guest::default());
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 5_000);
    let first = v.vmi().unwrap().generation;
    v.request(RESTART, "vm", 5_000).unwrap();
    assert_eq!(v.printable_status(), "Stopping");
    assert_eq!(
        run_until(&mut v, 60_000),
        // The old VMI, final and being released, reads Stopped for a moment (KubeVirt does too).
        ["Stopping", "Stopped", "Starting", "Running"]
    );
    assert_eq!(v.vmi().unwrap().generation, first + 1);
    assert!(v.state_change_requests().is_empty());
}

#[test]
fn pause_and_unpause_take_their_time() {
    let mut v = vm(Always, Guest::default());
    v.tick(0);
    run_until(&mut v, 5_000);
    v.request(Request::Pause, "vm", 5_000).unwrap();
    assert_eq!(v.printable_status(), "Running");
    assert_eq!(run_until(&mut v, 60_000), ["Running", "Paused"]);
    assert_eq!(
        v.request(Request::Pause, "vm", 7_000).unwrap_err().code,
        409
    );
    v.request(Request::Unpause, "vm", 7_000).unwrap();
    assert_eq!(run_until(&mut v, 60_000), ["Paused", "Running"]);
}

#[test]
fn a_guest_failing_to_boot_crash_loops_under_always_and_stops_under_manual() {
    let broken = Guest {
        fails_boot: true,
        ..Guest::default()
    };
    let mut v = vm(Always, broken);
    v.tick(0);
    v.tick(3_000);
    assert_eq!(v.printable_status(), "CrashLoopBackOff");
    assert_eq!(v.start_failure(), Some((1, Some(13_000))));
    v.tick(3_300);
    assert!(v.vmi().is_none(), "the failed VMI is deleted");
    assert_eq!(
        v.next_event_at(),
        Some(13_000),
        "10 s back-off after one failure"
    );
    v.tick(13_000);
    assert_eq!(v.printable_status(), "Starting", "retried after back-off");
    v.tick(16_000);
    assert_eq!(
        v.start_failure(),
        Some((2, Some(56_000))),
        "40 s after two: 10 s × failures²"
    );
    v.tick(56_000);
    // Stopping a crash-looping Always VM halts it.
    v.request(STOP, "vm", 56_100).unwrap();
    run_until(&mut v, 60_000);
    assert_eq!(v.printable_status(), "Stopped");

    let mut m = vm(Manual, broken);
    m.request(START, "vm", 0).unwrap();
    run_until(&mut m, 60_000);
    assert_eq!(m.vmi().unwrap().phase, VmiPhase::Failed);
    assert_eq!(m.printable_status(), "Stopped");
    m.request(START, "vm", 60_000)
        .expect("a failed VMI is final: start is allowed");
}

#[test]
fn rerun_on_failure_stays_down_after_a_stop() {
    let mut v = vm(RerunOnFailure, Guest::default());
    v.tick(0);
    run_until(&mut v, 5_000);
    v.request(STOP, "vm", 5_000).unwrap();
    run_until(&mut v, 60_000);
    assert_eq!(v.printable_status(), "Stopped");
    v.tick(120_000);
    assert_eq!(v.printable_status(), "Stopped");
    v.request(START, "vm", 120_000).unwrap();
    run_until(&mut v, 200_000);
    assert_eq!(v.printable_status(), "Running");
}

#[test]
fn huge_grace_periods_are_accepted_as_given_and_counted_up_to_the_clamp() {
    let stubborn = Guest {
        ignores_acpi: true,
        ..Guest::default()
    };
    let mut v = VirtVm::new(Manual, None, stubborn, T);
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 5_000);
    v.request(stop_with(i64::MAX), "vm", 5_000)
        .expect("KubeVirt accepts any non-negative int64 grace period");
    assert_eq!(
        v.vmi().unwrap().grace_period_seconds,
        Some(i64::MAX),
        "the VMI gets the grace period as given"
    );
    let clamped_ms = u64::try_from(MAX_COUNTED_GRACE_SECONDS).unwrap() * 1000;
    assert_eq!(v.next_event_at(), Some(5_000 + clamped_ms));
    assert_eq!(v.printable_status(), "Stopping");
    // The force stop still brings the kill forward.
    v.request(stop_with(0), "vm", 6_000).unwrap();
    assert_eq!(v.next_event_at(), Some(6_500));
    run_until(&mut v, 10_000);
    assert_eq!(v.printable_status(), "Stopped");
    assert_eq!(v.last_exit(), Some(Exit::Killed));
}

#[test]
fn a_template_grace_of_int64_max_or_negative_never_overflows() {
    let stubborn = Guest {
        ignores_acpi: true,
        ..Guest::default()
    };
    // i64::MAX: the guest is killed at the clamped deadline, counted without overflow.
    let mut v = VirtVm::new(Manual, Some(i64::MAX), stubborn, T);
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 5_000);
    v.request(STOP, "vm", 5_000).unwrap();
    let clamped_ms = u64::try_from(MAX_COUNTED_GRACE_SECONDS).unwrap() * 1000;
    assert_eq!(v.next_event_at(), Some(5_000 + clamped_ms));
    run_until(&mut v, u64::MAX);
    assert_eq!(v.printable_status(), "Stopped");
    // Negative (KubeVirt's webhook would refuse it): counted as 0, killed at once.
    let mut v = VirtVm::new(Manual, Some(-1), Guest::default(), T);
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 5_000);
    v.request(STOP, "vm", 5_000).unwrap();
    assert_eq!(v.next_event_at(), Some(5_500));
    // KubeVirt does not refuse a negative grace period on stop (virtctl --force --grace-period=-1).
    assert_eq!(v.request(stop_with(-1), "vm", 5_100), Ok(202));
}

#[test]
fn deadlines_saturate_at_the_end_of_the_clock() {
    // Every transition started a moment before u64::MAX ms: due "never", no overflow.
    let end = u64::MAX - 10;
    let stubborn = Guest {
        ignores_acpi: true,
        ..Guest::default()
    };
    let mut v = VirtVm::new(Always, Some(i64::MAX), stubborn, T);
    v.tick(end);
    assert_eq!(v.next_event_at(), Some(u64::MAX), "boot due at the end");
    v.tick(u64::MAX);
    assert_eq!(v.printable_status(), "Running");
    v.request(Request::Pause, "vm", u64::MAX).unwrap();
    v.tick(u64::MAX);
    v.request(Request::Unpause, "vm", u64::MAX).unwrap();
    v.tick(u64::MAX);
    v.request(stop_with(i64::MAX), "vm", u64::MAX).unwrap();
    assert_eq!(v.next_event_at(), Some(u64::MAX));
    v.tick(u64::MAX);
    assert_eq!(v.printable_status(), "Stopped");
    // A crash-loop back-off near the end saturates too.
    let broken = Guest {
        fails_boot: true,
        ..Guest::default()
    };
    let mut b = VirtVm::new(Always, None, broken, T);
    b.tick(end);
    b.tick(u64::MAX);
    assert_eq!(b.printable_status(), "CrashLoopBackOff");
    assert_eq!(b.next_event_at(), Some(u64::MAX));
}

#[test]
fn halted_start_flips_to_always() {
    let mut v = vm(Halted, Guest::default());
    v.tick(0);
    v.request(START, "vm", 0).unwrap();
    assert_eq!(v.run_strategy(), Always);
    assert_eq!(run_until(&mut v, 60_000), ["Starting", "Running"]);
}

fn running_vm(rs: KvRunStrategy, guest: Guest) -> VirtVm {
    let mut v = vm(rs, guest);
    v.tick(0);
    if rs == Manual {
        v.request(START, "vm", 0).unwrap();
    }
    run_until(&mut v, 3_000);
    assert_eq!(v.printable_status(), "Running");
    v
}

#[test]
fn a_poweroff_inside_the_guest_leaves_a_succeeded_vmi_that_each_strategy_treats_its_way() {
    let guest = Guest {
        poweroff_after_ms: Some(10_000),
        ..Guest::default()
    };
    // Manual: the Succeeded VMI stays, the VM reads Stopped; start replaces it.
    let mut m = running_vm(Manual, guest);
    m.tick(13_000);
    assert_eq!(m.vmi().map(|vmi| vmi.phase), Some(VmiPhase::Succeeded));
    assert_eq!(m.last_exit(), Some(Exit::PoweredOff));
    assert_eq!(m.printable_status(), "Stopped");
    m.tick(100_000);
    assert!(m.vmi().is_some(), "kept until someone acts");
    m.request(START, "vm", 100_000).unwrap();
    run_until(&mut m, 104_000);
    assert_eq!(m.vmi().map(|vmi| vmi.generation), Some(2));
    assert_eq!(m.printable_status(), "Running");
    // RerunOnFailure: deleted, not restarted.
    let mut r = running_vm(RerunOnFailure, guest);
    run_until(&mut r, 20_000);
    assert!(r.vmi().is_none());
    assert_eq!(r.printable_status(), "Stopped");
    // Always: a new VMI.
    let mut a = running_vm(Always, guest);
    run_until(&mut a, 17_000);
    assert_eq!(a.vmi().map(|vmi| vmi.generation), Some(2));
}

#[test]
fn a_stop_killed_at_its_deadline_leaves_a_failed_vmi_for_a_moment_and_reads_stopped() {
    let stubborn = Guest {
        ignores_acpi: true,
        ..Guest::default()
    };
    let mut v = VirtVm::new(Manual, Some(5), stubborn, T);
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 3_000);
    v.request(STOP, "vm", 3_000).unwrap();
    v.tick(8_000);
    assert_eq!(v.vmi().map(|vmi| vmi.phase), Some(VmiPhase::Failed));
    assert_eq!(v.printable_status(), "Stopped");
    v.tick(8_300);
    assert!(v.vmi().is_none());
}

#[test]
fn v1_8_force_restart_kills_the_guest_within_a_second() {
    let stubborn = Guest {
        ignores_acpi: true,
        ..Guest::default()
    };
    let mut v = running_vm(Manual, stubborn);
    v.request(
        Request::Restart {
            grace_period_seconds: Some(0),
        },
        "vm",
        3_000,
    )
    .unwrap();
    assert_eq!(v.next_event_at(), Some(4_000));
    v.tick(4_000);
    assert_eq!(v.last_exit(), Some(Exit::Killed));
    run_until(&mut v, 10_000);
    assert_eq!(v.vmi().map(|vmi| vmi.generation), Some(2));
    assert_eq!(v.printable_status(), "Running");
}

#[test]
fn a_paused_start_comes_up_paused_and_a_halted_vm_turns_always() {
    let mut v = vm(Halted, Guest::default());
    v.tick(0);
    assert_eq!(v.request(Request::Start { paused: true }, "vm", 0), Ok(202));
    assert_eq!(v.run_strategy(), Always);
    run_until(&mut v, 5_000);
    assert_eq!(v.printable_status(), "Paused");
    assert!(v.state_change_requests().is_empty());
}

#[test]
fn spec_running_is_flipped_not_rewritten() {
    let mut v = VirtVm::new(Halted, None, Guest::default(), T).with_running_field(true);
    v.tick(0);
    v.request(START, "vm", 0).unwrap();
    assert!(v.uses_running_field());
    assert_eq!(v.run_strategy(), Always);
}

#[test]
fn a_start_problem_holds_the_vmi_until_it_is_cleared() {
    let pull = Guest {
        start_problem: Some(StartProblem::ErrImagePull),
        ..Guest::default()
    };
    let mut v = vm(Always, pull);
    v.tick(0);
    run_until(&mut v, 60_000);
    assert_eq!(v.printable_status(), "ErrImagePull");
    assert_eq!(v.vmi().map(|vmi| vmi.phase), Some(VmiPhase::Scheduling));
    // KubeVirt refuses a start (the VMI is not final) and accepts a stop.
    assert_eq!(v.request(START, "vm", 60_000).map_err(|e| e.code), Err(409));
    v.set_guest(Guest::default(), 61_000);
    assert_eq!(v.printable_status(), "Starting");
    run_until(&mut v, 65_000);
    assert_eq!(v.printable_status(), "Running");
}

#[test]
fn provisioning_shows_on_a_halted_vm_and_holds_a_start_back() {
    let importing = Guest {
        provisioning_ms: Some(20_000),
        ..Guest::default()
    };
    let mut v = vm(Halted, importing);
    v.tick(0);
    assert_eq!(v.printable_status(), "Provisioning");
    assert_eq!(run_until(&mut v, 30_000), ["Provisioning", "Stopped"]);
    let mut s = vm(Manual, importing);
    s.tick(0);
    s.request(START, "vm", 1_000).unwrap();
    assert!(s.vmi().is_none(), "no VMI before the DataVolume is ready");
    assert_eq!(s.printable_status(), "Provisioning");
    run_until(&mut s, 30_000);
    assert_eq!(s.printable_status(), "Running");
}

#[test]
fn a_migration_of_a_set_length_reads_migrating() {
    let moving = Guest {
        migration_ms: Some(5_000),
        ..Guest::default()
    };
    let mut v = vm(Always, moving);
    v.tick(0);
    assert_eq!(
        run_until(&mut v, 30_000),
        ["Starting", "Migrating", "Running"]
    );
}

#[test]
fn deleting_the_vm_reads_terminating_until_its_vmi_is_gone() {
    let mut v = running_vm(Always, Guest::default());
    v.set_deleting(3_000);
    assert_eq!(v.printable_status(), "Terminating");
    assert!(!v.gone());
    run_until(&mut v, 30_000);
    assert!(v.gone());
}

#[test]
fn stopping_a_paused_vm_reads_stopping() {
    let mut v = running_vm(Manual, Guest::default());
    v.request(Request::Pause, "vm", 3_000).unwrap();
    run_until(&mut v, 5_000);
    assert_eq!(v.printable_status(), "Paused");
    v.request(STOP, "vm", 5_000).unwrap();
    assert_eq!(v.printable_status(), "Stopping");
    run_until(&mut v, 60_000);
    assert_eq!(v.printable_status(), "Stopped");
}

#[test]
fn start_after_a_force_stop_runs_again_whenever_it_comes() {
    // 3 500: killed (final, being released until 3 800); later: gone.
    for start_at in [3_600, 3_900, 10_000] {
        let mut v = running_vm(Manual, Guest::default());
        v.request(stop_with(0), "vm", 3_000).unwrap();
        run_until(&mut v, start_at);
        let answer = v.request(START, "vm", start_at);
        if start_at < 3_800 {
            // KubeVirt's own window: the stop request stays until the VMI is gone.
            assert_eq!(answer.map_err(|e| e.code), Err(500), "{start_at}");
            continue;
        }
        assert_eq!(answer, Ok(202), "{start_at}");
        run_until(&mut v, start_at + 10_000);
        assert_eq!(v.printable_status(), "Running", "start at {start_at}");
    }
}

#[test]
fn a_longer_grace_during_a_shutdown_puts_the_kill_off_as_virt_handler_does() {
    let stubborn = Guest {
        ignores_acpi: true,
        ..Guest::default()
    };
    let mut v = VirtVm::new(Manual, Some(30), stubborn, T);
    v.request(START, "vm", 0).unwrap();
    run_until(&mut v, 5_000);
    v.request(STOP, "vm", 5_000).unwrap();
    assert_eq!(v.next_event_at(), Some(35_000));
    // Manual: the stop is accepted; the VMI's grace becomes 600 s, counted from the shutdown's start.
    v.request(stop_with(600), "vm", 6_000).unwrap();
    assert_eq!(v.next_event_at(), Some(605_000));
}
