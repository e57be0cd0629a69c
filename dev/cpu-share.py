#!/usr/bin/env python3
"""Where the machine's cores go during one phase of ./dev/bench (docs/performance.md).

    cpu-share.py snapshot FILE      the CPU time so far of the machine and of every process
    cpu-share.py report FILE [--into JSON --key KEY]
                                    the CPU used since the snapshot, as seconds and as a share of the
                                    busy time, by program: the control plane, each Wukong process,
                                    Chromium, Playwright (node), and "others" for everything else

Reads /proc only (Linux): the machine's jiffies from /proc/stat, each process's utime + stime from
/proc/<pid>/stat, grouped by the program's name (a process is its pid and start time, so a reused
pid is a new process). A process started during the phase counts whole; one that ended before the
report is lost to "others" (the machine's busy time still has it): report while the programs of
interest still run. Per-process and machine accounting differ slightly, so shares may not add up
to exactly 100 %.
"""
import json
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")

# The kernel's process name (at most 15 characters) → the name reported.
PROGRAMS = [
    ("etcd", "etcd"),
    ("kube-apiserver", "kube-apiserver"),
    ("wukong-kubevirt", "kubevirt-sim"),
    ("wukong-controll", "controller"),
    ("wukong-console", "console"),
    ("wukong-bench", "wukong-bench"),
    ("chrom", "chromium"),
    ("node", "playwright (node)"),
]


def machine():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]), idle


def processes():
    """pid@starttime → (program, utime + stime) for every process of a program in PROGRAMS."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        program = next((name for prefix, name in PROGRAMS if comm.startswith(prefix)), None)
        if program is None:
            continue
        if program == "chromium":
            program = f"chromium ({chromium_part(pid)})"
        after = stat[stat.rindex(")") + 2:].split()
        # utime + stime (fields 14 and 15); the start time (field 22) tells a reused pid apart.
        out[f"{pid}@{after[19]}"] = (program, int(after[11]) + int(after[12]))
    return out


def chromium_part(pid):
    """Which of Chromium's processes: its --type (renderer, gpu-process, utility, zygote), or browser."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            # Processes forked by Chromium's zygote rewrite their command line, spaces for NULs.
            args = f.read().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return "gone"
    return next((a[len("--type="):] for a in args if a.startswith("--type=")), "browser")


def snapshot(path):
    total, idle = machine()
    json.dump({"at": time.time(), "total": total, "idle": idle, "procs": processes()}, open(path, "w"))


def report(path, into=None, key=None):
    before = json.load(open(path))
    total, idle = machine()
    seconds = time.time() - before["at"]
    elapsed = max(total - before["total"], 1)
    busy = elapsed - (idle - before["idle"])
    used = {}
    for pid, (program, jiffies) in processes().items():
        earlier = before["procs"].get(pid)
        start = earlier[1] if earlier else 0
        used[program] = used.get(program, 0) + max(jiffies - start, 0)
    named = sum(used.values())
    used["others"] = max(busy - named, 0)
    out = {
        "seconds": round(seconds, 1),
        "cores": os.cpu_count(),
        "busy_share_of_cores": round(busy / elapsed, 3),
        "busy_cpu_seconds": round(busy / HZ, 1),
        "by_program": {
            name: {"cpu_seconds": round(j / HZ, 1), "share_of_busy": round(j / max(busy, 1), 3)}
            for name, j in sorted(used.items(), key=lambda kv: -kv[1])
        },
    }
    line = ", ".join(f'{n} {v["cpu_seconds"]} s ({v["share_of_busy"]:.0%})' for n, v in out["by_program"].items())
    print(f'CPU over {out["seconds"]} s: cores {out["busy_share_of_cores"]:.0%} busy; {line}')
    if into:
        result = json.load(open(into)) if os.path.exists(into) else {}
        result[key or "cpu"] = out
        json.dump(result, open(into, "w"), indent=2)


def main(argv):
    if len(argv) == 2 and argv[0] == "snapshot":
        snapshot(argv[1])
    elif len(argv) >= 2 and argv[0] == "report":
        into = argv[argv.index("--into") + 1] if "--into" in argv else None
        key = argv[argv.index("--key") + 1] if "--key" in argv else None
        report(argv[1], into, key)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
