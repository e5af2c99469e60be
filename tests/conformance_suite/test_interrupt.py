"""Ctrl-C in the middle of a conformance run leaves no process behind.

The suite runs as a user runs it (``pytest conformance`` in a subprocess); once the EPP under test
is up, the run gets SIGINT, and every process it had started must be gone when it has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import conformance
from eppconf.controlplane import cache_root

pytestmark = pytest.mark.slow

SUITE_MODULE = str(Path(conformance.__file__).parent / "test_conformance.py")


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of ``root``: pid -> command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    pending = list(children.get(root, []))
    while pending:
        pid = pending.pop()
        found[pid] = command_line(pid)
        pending.extend(children.get(pid, []))
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its reaper does not count)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_mid_run_stops_every_process(tmp_path: Path) -> None:
    env = {**os.environ, "EPPCONF_CACHE": str(cache_root())}
    run = subprocess.Popen([sys.executable, "-m", "pytest", SUITE_MODULE, "-p", "no:cacheprovider",
                            "-k", "PodDeletionRemovesEndpoints"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        started: dict[int, str] = {}
        while not any("reference-epp" in line for line in started.values()):
            assert run.poll() is None, f"the run ended (exit {run.returncode}) before its EPP started"
            assert time.monotonic() < deadline, f"no EPP started within 90 s; processes: {started}"
            time.sleep(0.2)
            started = descendants(run.pid)
        assert any("kube-apiserver" in line for line in started.values()), started
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
        deadline = time.monotonic() + 10
        while (left := {pid: line for pid, line in started.items() if alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"processes outlived the interrupted run: {left}"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
