"""Wall time of the first conformance tests against the reference EPP on a local control plane.

Runs ``pytest conformance`` in a subprocess (as a user would) a few times and prints, per run, the
total wall time and pytest's per-phase durations of each test. Usage:

    .venv/bin/python benchmarks/bench_conformance.py [--runs N] [--epp PRESET]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = re.compile(r"^([\d.]+)s (setup|call|teardown) +\S*test_conformance\[(\w+)\]$")


def run_once(epp: str) -> tuple[float, list[tuple[str, str, float]], int]:
    """One suite run: wall seconds, ``(test, phase, seconds)`` rows and pytest's exit code."""
    argv = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "-q",
            "--durations=0", "--durations-min=0", "--epp", epp]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    rows = [(m[3], m[2], float(m[1])) for m in map(DURATION.match, done.stdout.splitlines()) if m]
    return wall, rows, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="suite runs to time (default 3)")
    parser.add_argument("--epp", default="reference", help="EPP preset (default reference)")
    args = parser.parse_args()
    walls = []
    for index in range(args.runs):
        wall, rows, code = run_once(args.epp)
        walls.append(wall)
        print(f"run {index + 1}: {wall:.2f}s wall, pytest exit {code}")
        for test, phase, seconds in rows:
            print(f"  {test:<30} {phase:<8} {seconds:6.2f}s")
    print(f"wall time over {args.runs} run(s): median {statistics.median(walls):.2f}s,"
          f" min {min(walls):.2f}s, max {max(walls):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
