#!/usr/bin/env python3
"""Where the machine's cores go during one phase of ./dev/bench (docs/performance.md).

    cpu-share.py snapshot FILE name=pid ...     the CPU time so far of the machine and of each process
    cpu-share.py report FILE [--into JSON --key KEY]
                                                 the CPU each used since the snapshot, as seconds and as a
                                                 share of the busy time; "others" is everything else
                                                 (Chromium, Playwright, the bench itself, the system)

Reads /proc only (Linux): the machine's jiffies from /proc/stat, a process's utime + stime from
/proc/<pid>/stat. A process that is gone by the report counts as 0, and is named so.
"""
import json
import os
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def machine():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]), idle


def process(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: count fields after its last ')'.
    after = stat[stat.rindex(")") + 2:].split()
    return int(after[11]) + int(after[12])  # utime, stime (fields 14 and 15)


def snapshot(path, pairs):
    total, idle = machine()
    procs = {}
    for pair in pairs:
        name, _, pid = pair.partition("=")
        if pid.strip():
            procs[name] = {"pid": int(pid), "jiffies": process(int(pid))}
    json.dump({"at": time.time(), "total": total, "idle": idle, "procs": procs}, open(path, "w"))


def report(path, into=None, key=None):
    before = json.load(open(path))
    total, idle = machine()
    seconds = time.time() - before["at"]
    busy = (total - before["total"]) - (idle - before["idle"])
    out = {
        "seconds": round(seconds, 1),
        "cores": os.cpu_count(),
        "busy_cpu_seconds": round(busy / HZ, 1),
        "busy_share_of_cores": round(busy / max(total - before["total"], 1), 3),
        "by_process": {},
    }
    named = 0
    for name, p in before["procs"].items():
        now = process(p["pid"])
        if now is None or p["jiffies"] is None:
            out["by_process"][name] = {"cpu_seconds": None, "note": "not running at both ends"}
            continue
        used = now - p["jiffies"]
        named += used
        out["by_process"][name] = {
            "cpu_seconds": round(used / HZ, 1),
            "share_of_busy": round(used / max(busy, 1), 3),
        }
    others = max(busy - named, 0)
    out["by_process"]["others"] = {
        "cpu_seconds": round(others / HZ, 1),
        "share_of_busy": round(others / max(busy, 1), 3),
    }
    line = ", ".join(
        f'{n} {v["cpu_seconds"]} s' + (f' ({v["share_of_busy"]:.0%})' if v.get("share_of_busy") is not None else "")
        for n, v in out["by_process"].items()
    )
    print(f'CPU over {out["seconds"]} s: cores {out["busy_share_of_cores"]:.0%} busy; {line}')
    if into:
        result = json.load(open(into))
        result[key or "cpu"] = out
        json.dump(result, open(into, "w"), indent=2)


def main(argv):
    if len(argv) >= 2 and argv[0] == "snapshot":
        snapshot(argv[1], argv[2:])
    elif len(argv) >= 2 and argv[0] == "report":
        into = argv[argv.index("--into") + 1] if "--into" in argv else None
        key = argv[argv.index("--key") + 1] if "--key" in argv else None
        report(argv[1], into, key)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
