"""Benchmark: local control-plane start and stop time over N runs, against the 10 s target.

Usage: python benchmarks/bench_controlplane.py [--runs N] [--control-plane-bin-dir DIR]
Exit code 1 when the slowest start misses the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from eppconf.controlplane import BinariesNotFound, ControlPlane, find_binaries

#: Seconds a start may take once the binaries exist.
START_TARGET = 10.0


def measure(bin_dir: Path, runs: int) -> tuple[list[float], list[float]]:
    """Start and stop times (seconds) of ``runs`` control planes, one after the other."""
    starts, stops = [], []
    for _ in range(runs):
        plane = ControlPlane(bin_dir=bin_dir)
        began = time.perf_counter()
        plane.start()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        plane.stop()
        stops.append(time.perf_counter() - began)
    return starts, stops


def _line(label: str, values: list[float]) -> str:
    return f"{label:<6} p50 {statistics.median(values):6.2f} s   max {max(values):6.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="control planes to start (default: 5)")
    parser.add_argument("--control-plane-bin-dir", type=Path, default=None, metavar="DIR")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        bin_dir = find_binaries(args.control_plane_bin_dir)
    except BinariesNotFound as error:
        print(error, file=sys.stderr)
        return 2
    starts, stops = measure(bin_dir, args.runs)
    verdict = "meets" if max(starts) <= START_TARGET else "MISSES"
    print(f"control plane ({bin_dir}), {args.runs} runs")
    print(_line("start", starts) + f"   target <= {START_TARGET:g} s: {verdict}")
    print(_line("stop", stops))
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
