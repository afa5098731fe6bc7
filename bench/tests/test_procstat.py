"""CPU and memory of a process tree, from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import procstat

SPIN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"


def test_cpu_of_a_tree_includes_a_busy_child() -> None:
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SPIN!r}]); time.sleep(30)"])
    try:
        time.sleep(0.1)
        deadline = time.time() + 10
        while time.time() < deadline and procstat.cpu_seconds(procstat.tree(parent.pid)) < 0.3:
            time.sleep(0.05)
        pids = procstat.tree(parent.pid)
        assert len(pids) == 2
        assert procstat.cpu_seconds(pids) >= 0.3
        assert procstat.snapshot(parent.pid).hwm_kb > 1000
    finally:
        for pid in procstat.tree(parent.pid)[1:]:
            os.kill(pid, 9)
        parent.kill()
        parent.wait()


def test_busy_percent_of_two_readings() -> None:
    before = {0: (100, 1000), 1: (0, 1000)}
    after = {0: (600, 2000), 1: (250, 2000)}
    assert procstat.busy_percent(before, after) == {0: 50.0, 1: 25.0}
