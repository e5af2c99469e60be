"""Wall time of the whole conformance catalogue against an EPP (default: the reference EPP), serial
and under pytest-xdist.

Runs ``pytest conformance`` in a subprocess as a user would: once serially and once with
``-n WORKERS --dist worksteal`` (each worker starts its own control plane and claims its own pod
address block). Prints per run the wall time, the CPU time of the run's processes (on a shared
machine the wall time depends on its load; CPU seconds over the cores bound what an idle machine
needs), pytest's result line and the slowest tests (setup, call and teardown summed), then the
parallel wall time against its target. Usage:

    .venv/bin/python benchmarks/bench_conformance.py [--workers 2] [--epp reference] [--only serial|parallel]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 180.0
"""The parallel run's target on a 2-core machine."""
DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown) +\S*test_conformance\[([^\]]+)\]$")
RESULT_LINE = re.compile(r"^=*\s*((?:\d+ \w+, )*\d+ \w+ in [\d.]+s\b.*?)\s*=*$")
"""pytest's last line, with or without ``-q`` (e.g. ``32 passed, 1 failed in 619.41s (0:10:19)``)."""


def run_once(epp: str, workers: int) -> tuple[float, float, str, dict[str, float], dict[str, float], int]:
    """One run of the catalogue: wall and CPU seconds (pytest and every process it started and
    reaped: workers, control planes, EPPs), pytest's result line, seconds per test and per phase
    (summed over the tests), exit code."""
    argv = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "-q",
            "--durations=0", "--durations-min=0", "--epp", epp]
    if workers:
        argv += ["-n", str(workers), "--dist", "worksteal"]
    start, cpu_before = time.monotonic(), _children_cpu()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - start, _children_cpu() - cpu_before
    per_test: dict[str, float] = defaultdict(float)
    per_phase: dict[str, float] = defaultdict(float)
    result = f"no result line (exit {done.returncode}); stderr: {done.stderr.strip()[-300:]}"
    for line in done.stdout.splitlines():
        if match := DURATION.match(line):
            per_test[match[3]] += float(match[1])
            per_phase[match[2]] += float(match[1])
        elif match := RESULT_LINE.match(line):
            result = match[1]
    return wall, cpu, result, dict(per_test), dict(per_phase), done.returncode


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers of the parallel run (default 2)")
    parser.add_argument("--epp", default="reference", help="EPP preset (default reference)")
    parser.add_argument("--only", choices=("serial", "parallel"), help="time one of the two runs only")
    parser.add_argument("--slowest", type=int, default=8, help="slowest tests listed per run (default 8)")
    args = parser.parse_args()
    runs = {"serial": 0, "parallel": args.workers}
    if args.only:
        runs = {args.only: runs[args.only]}
    walls: dict[str, float] = {}
    failed = False
    for label, workers in runs.items():
        load = os.getloadavg()[0]
        wall, cpu, result, per_test, per_phase, code = run_once(args.epp, workers)
        walls[label] = wall
        failed |= code != 0
        how = f"-n {workers}" if workers else "one process"
        phases = ", ".join(f"{phase} {seconds:.0f}s" for phase, seconds in sorted(per_phase.items()))
        print(f"{label} ({how}): {wall:.1f}s wall, {cpu:.0f}s CPU, machine load average {load:.1f} at the"
              f" start; {result}; summed over tests: {phases}")
        for test, seconds in sorted(per_test.items(), key=lambda item: -item[1])[:args.slowest]:
            print(f"  {test:<44} {seconds:7.1f}s")
    if "parallel" in walls:
        verdict = "met" if walls["parallel"] <= TARGET_SECONDS else "missed"
        print(f"parallel target {TARGET_SECONDS:g}s: {verdict} ({walls['parallel']:.1f}s)")
    if len(walls) == 2:
        print(f"speed-up: {walls['serial'] / walls['parallel']:.2f}x with {args.workers} workers")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
