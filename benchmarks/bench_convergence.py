"""Convergence latency of an EPP: from a port-discovery annotation change to changed routing.

Starts a local control plane, one pool and one pod whose fakes serve ports 8001 and 8002, and the
EPP under test (a preset, default the reference EPP). It then flips the pod's annotation between
``[8001]`` and ``[8002]`` N times and, after each patch, asks the EPP through ext_proc with the
subset hint ``[ip:new-port]`` until it routes there. Prints p50/p99/max against the 1 s target.

    .venv/bin/python benchmarks/bench_convergence.py [--changes 100] [--epp reference]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from benchlib import percentile, preset_harness, routes_to, seconds_until

from conformance.harness.cluster import LocalCluster
from conformance.harness.kubelet import Pod
from conformance.harness.session import Harness
from conformance.implementations import get_implementation

TARGET_P99 = 1.0


def routed_after_change(h: Harness, pod: Pod, port: int) -> float:
    """Patch the annotation to ``[port]``; seconds until the EPP routes a hinted request there."""
    assert h.gateway is not None
    gateway, wanted = h.gateway, pod.endpoint(port)
    return seconds_until(lambda: h.set_port_discovery(pod, [port]), lambda: routes_to(gateway, wanted),
                         what=f"the port-discovery change to [{port}]")


def measure(epp: str, changes: int) -> list[float]:
    """Convergence latencies of ``changes`` annotation flips against the ``epp`` preset."""
    cluster = LocalCluster()
    cluster.start()
    try:
        with preset_harness(cluster, get_implementation(epp)) as h:
            h.create_pool(target_ports=[8000])
            h.start_epp()
            pod = h.create_pod("flipping", port_discovery=[8001, 8002])
            h.endpoints_must_converge(pod.endpoints(8001, 8002))
            return [routed_after_change(h, pod, 8001 + index % 2) for index in range(changes)]
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100, help="annotation changes to time (default 100)")
    parser.add_argument("--epp", default="reference", help="EPP preset (default reference)")
    args = parser.parse_args()
    latencies = sorted(measure(args.epp, args.changes))
    p99 = percentile(latencies, 0.99)
    print(f"convergence over {len(latencies)} annotation changes ({args.epp}):"
          f" p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
          f" max {latencies[-1] * 1000:.0f} ms (target p99 <= {TARGET_P99 * 1000:.0f} ms)")
    return 0 if p99 <= TARGET_P99 else 1


if __name__ == "__main__":
    sys.exit(main())
