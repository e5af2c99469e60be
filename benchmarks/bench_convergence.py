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
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from conformance.harness.cluster import LocalCluster, create_namespace, delete_namespace
from conformance.harness.epp import ProcessEpp
from conformance.harness.kubelet import AddressPool, Kubelet, Pod
from conformance.harness.session import Harness, HarnessSettings
from conformance.implementations import get_implementation
from fakes import FakeRuntime, PortConfig

TARGET_P99 = 1.0
CHANGE_TIMEOUT = 10.0


def routed_after_change(h: Harness, pod: Pod, port: int) -> float:
    """Patch the annotation to ``[port]``; seconds until the EPP routes a hinted request there."""
    assert h.gateway is not None
    wanted = pod.endpoint(port)
    start = time.monotonic()
    h.set_port_discovery(pod, [port])
    while time.monotonic() - start < CHANGE_TIMEOUT:
        if h.gateway.decide(h.settings.observer.model, subset=[wanted]).endpoint == wanted:
            return time.monotonic() - start
    raise TimeoutError(f"the EPP did not route to {wanted} within {CHANGE_TIMEOUT} s of the change")


def measure(epp: str, changes: int) -> list[float]:
    """Convergence latencies of ``changes`` annotation flips against the ``epp`` preset."""
    preset = get_implementation(epp)
    with ExitStack() as stack:
        cluster = LocalCluster()
        cluster.start()
        stack.callback(cluster.close)
        runtime = stack.enter_context(FakeRuntime())
        namespace = create_namespace(cluster.api, prefix="eppconf-bench")
        stack.callback(delete_namespace, cluster.api, namespace)
        kubelet = Kubelet(cluster.api, namespace=namespace, runtime=runtime, addresses=AddressPool(),
                          server_config=PortConfig())
        stack.callback(kubelet.close)
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eppconf-bench-")))
        launcher = ProcessEpp(preset.command_template(), log_dir=log_dir, name=preset.name, tls=preset.tls,
                              health_service=preset.health_service)
        h = stack.enter_context(Harness(cluster=cluster, namespace=namespace, kubelet=kubelet,
                                        launcher=launcher, settings=HarnessSettings()))
        h.create_pool(target_ports=[8000])
        pod = h.create_pod("flipping", port_discovery=[8001, 8002])
        h.endpoints_must_converge(pod.endpoints(8001, 8002))
        return [routed_after_change(h, pod, 8001 + index % 2) for index in range(changes)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100, help="annotation changes to time (default 100)")
    parser.add_argument("--epp", default="reference", help="EPP preset (default reference)")
    args = parser.parse_args()
    latencies = sorted(measure(args.epp, args.changes))
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(f"convergence over {len(latencies)} annotation changes ({args.epp}):"
          f" p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
          f" max {latencies[-1] * 1000:.0f} ms (target p99 <= {TARGET_P99 * 1000:.0f} ms)")
    return 0 if p99 <= TARGET_P99 else 1


if __name__ == "__main__":
    sys.exit(main())
