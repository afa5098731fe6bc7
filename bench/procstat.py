"""CPU time and peak memory of a process tree, read from /proc (Linux only, no dependencies)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields is not None:
            kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def tree(root: int) -> list[int]:
    """The pid and all its live descendants (workers, reloaders, spawned helpers)."""
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of each live pid (all its threads) plus cutime + cstime of reaped children."""
    total = 0
    for pid in pids:
        f = _stat_fields(pid)
        if f is not None:
            # after the comm split, utime is index 11 (field 14 of proc(5)), stime 12, cutime 13, cstime 14
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / _TICK


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds and memory of a process tree at one instant."""

    cpu_s: float
    hwm_kb: int
    rss_kb: int
    nprocs: int


def snapshot(root: int) -> Snapshot:
    pids = tree(root)
    return Snapshot(
        cpu_s=cpu_seconds(pids),
        hwm_kb=sum(_status_kb(p, "VmHWM:") for p in pids),
        rss_kb=sum(_status_kb(p, "VmRSS:") for p in pids),
        nprocs=len(pids),
    )


def core_busy() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat, to tell whether the load core saturated."""
    out: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                nums = [int(v) for v in vals]
                idle = nums[3] + nums[4]
                out[int(name[3:])] = (sum(nums[:8]) - idle, sum(nums[:8]))
    return out


def busy_percent(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict[int, float]:
    res = {}
    for cpu, (b1, t1) in after.items():
        b0, t0 = before.get(cpu, (0, 0))
        res[cpu] = round(100.0 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else 0.0
    return res
