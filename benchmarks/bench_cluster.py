"""Figures of the kind mode: image builds, kind cluster creation, and a catalogue subset's wall
time on the local control plane against a kind cluster.

One step after another, never two at once:

1. ``scripts/build-images.sh`` twice. The first run builds the images whose sources changed since
   the last build (``built``: wheels and ``docker build`` on the Debian base image, which, like
   pip's cache, is kept; the base image itself, about 2.5 min of debootstrap, is not timed), or
   finds them (``cached``); the second finds them all cached.
2. A kind cluster created from ``kind-config.yaml`` (``eppconf.kind.KindCluster``; ``kind create
   cluster --wait`` returns once the control plane is ready), deleted at the end, and the
   reference EPP's and the fakes' images loaded into it (``kind load docker-image``).
3. ``pytest conformance -k SUBSET`` once locally, once on that cluster with virtual pods
   (``--cluster kind --kind-cluster NAME --topology virtual-pods``) and once in-cluster
   (``--epp-image`` of the reference EPP, ``--fakes-image``: fake model servers and EPP as pods;
   kind finds the images loaded already).

Prints each figure and the kind runs' ratios to the local one. Without Docker, the kind CLI or
the node image it says why and exits 0. Usage:

    .venv/bin/python benchmarks/bench_cluster.py [--subset EXPR] [--no-in-cluster]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from eppconf.kind import KindCluster, unavailable_reason

ROOT = Path(__file__).resolve().parent.parent
BUILD_IMAGES = ROOT / "scripts" / "build-images.sh"
SUBSET = ("TargetPortsFallback or PodDeletionRemovesEndpoints or LabelsFollowSelector or PortDiscoveryExpandsPod"
          " or ActivePortsFiltersTargetPorts")
"""Catalogue tests that run in both topologies."""
RESULT_LINE = re.compile(r"^=*\s*((?:\d+ \w+, )*\d+ \w+ in [\d.]+s\b.*?)\s*=*$")


def build_images() -> tuple[float, str, dict[str, str]]:
    """One run of the build script: seconds, ``built`` or ``cached``, and its images by role."""
    start = time.monotonic()
    done = subprocess.run([str(BUILD_IMAGES)], capture_output=True, text=True, check=True)
    seconds = time.monotonic() - start
    images = dict(line.split(maxsplit=1) for line in done.stdout.splitlines() if line.strip())
    how = "built" if "] docker build " in done.stderr else "cached"
    return seconds, how, images


def run_subset(subset: str, *args: str) -> tuple[float, str]:
    """Wall seconds of ``pytest conformance -k subset args`` and pytest's result line."""
    argv = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "-q", "-k", subset, *args]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    result = next((match[1] for line in done.stdout.splitlines() if (match := RESULT_LINE.match(line))),
                  f"no result line (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return wall, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", default=SUBSET, help="pytest -k expression of the catalogue tests timed")
    parser.add_argument("--no-in-cluster", action="store_true", help="leave out the in-cluster run")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores); one step at a time")

    first, how, images = build_images()
    second, how_again, _ = build_images()
    print(f"images (scripts/build-images.sh): first run {first:.1f}s ({how}), second {second:.1f}s ({how_again})")

    kind = KindCluster(f"eppconf-bench-{os.getpid()}")
    kind.start()
    try:
        print(f"kind cluster create: {kind.create_seconds:.1f}s (node image {kind.image})")
        if not args.no_in_cluster:
            started = time.monotonic()
            kind.load_images(images["reference"], images["fakes"])
            print(f"kind load docker-image {images['reference']} {images['fakes']}: {time.monotonic() - started:.1f}s")
        on_kind = ("--cluster", "kind", "--kind-cluster", kind.name)
        runs = {"local control plane, virtual pods": (),
                "kind, virtual pods": (*on_kind, "--topology", "virtual-pods")}
        if not args.no_in_cluster:
            runs["kind, in-cluster"] = (*on_kind, "--topology", "in-cluster", "--epp-image", images["reference"],
                                        "--fakes-image", images["fakes"])
        walls: dict[str, float] = {}
        for label, extra in runs.items():
            load = os.getloadavg()[0]
            walls[label], result = run_subset(args.subset, *extra)
            print(f"catalogue subset, {label}: {walls[label]:.1f}s ({result}; load {load:.1f} before)")
    finally:
        started = time.monotonic()
        kind.stop()
        print(f"kind cluster delete: {time.monotonic() - started:.1f}s")
    local = walls["local control plane, virtual pods"]
    for label, wall in walls.items():
        if label.startswith("kind"):
            print(f"ratio {label} / local: {wall / local:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
