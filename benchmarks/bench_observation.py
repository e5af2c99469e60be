"""Time of one endpoint observation, virtual pods against the in-cluster topology.

Both runs: one pool with targetPorts 8000 and 8001, four pods (eight endpoints, two probe rounds),
the reference EPP; once converged, ``--observations`` observations are timed one after another.
Virtual pods start a local control plane and the EPP as a process; ``--kubeconfig`` with
``--epp-image`` and ``--fakes-image`` runs the same in-cluster (pods, agent and EPP Deployment on
that cluster, everything reached through the agent's port-forward). Prints median and p90; the
in-cluster target is at most twice the virtual-pod median.

    .venv/bin/python benchmarks/bench_observation.py [--observations 20]
    .venv/bin/python benchmarks/bench_observation.py --kubeconfig K --epp-image I --fakes-image F
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchlib import percentile, preset_harness

from conformance.harness.cluster import ExistingCluster, LocalCluster, create_namespace, delete_namespace
from conformance.harness.incluster.agentpod import AgentPod
from conformance.harness.incluster.deployment import DeploymentEpp
from conformance.harness.incluster.kubelet import ClusterKubelet
from conformance.harness.session import Harness, HarnessSettings
from conformance.implementations import REFERENCE

PODS = 4
PORTS = (8000, 8001)


@contextmanager
def virtual_pods_harness() -> Iterator[Harness]:
    cluster = LocalCluster()
    cluster.start()
    try:
        with preset_harness(cluster, REFERENCE) as h:
            yield h
    finally:
        cluster.close()


@contextmanager
def in_cluster_harness(kubeconfig: Path, epp_image: str, fakes_image: str) -> Iterator[Harness]:
    with ExitStack() as stack:
        cluster = ExistingCluster(kubeconfig)
        stack.callback(cluster.close)
        cluster.start()
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eppconf-bench-")))
        agent = stack.enter_context(AgentPod(cluster.api, kubeconfig=kubeconfig, image=fakes_image,
                                             log_dir=log_dir))
        namespace = create_namespace(cluster.api, prefix="eppconf-bench")
        stack.callback(delete_namespace, cluster.api, namespace)
        kubelet = ClusterKubelet(cluster.api, namespace=namespace, image=fakes_image, proxy_url=agent.proxy_url)
        stack.callback(kubelet.close)
        launcher = DeploymentEpp(epp_image, REFERENCE.args_template(), api=cluster.api, agent=agent,
                                 name=REFERENCE.name, tls=REFERENCE.tls, health_service=REFERENCE.health_service)
        yield stack.enter_context(Harness(cluster=cluster, namespace=namespace, kubelet=kubelet, launcher=launcher,
                                          settings=HarnessSettings(), proxy=agent.proxy))


def observation_times(h: Harness, observations: int) -> list[float]:
    """Seconds of each of ``observations`` observations of a converged EPP."""
    h.create_pool(target_ports=PORTS)
    h.start_epp()
    pods = [h.create_pod(f"bench-{index}") for index in range(PODS)]
    h.endpoints_must_converge({endpoint for pod in pods for endpoint in pod.endpoints(*PORTS)})
    assert h.observer is not None
    times = []
    for _ in range(observations):
        started = time.perf_counter()
        h.observer.observe()
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=20, help="observations to time (default 20)")
    parser.add_argument("--kubeconfig", type=Path, help="a cluster to run in-cluster on")
    parser.add_argument("--epp-image", help="the reference EPP's image, on the cluster's nodes")
    parser.add_argument("--fakes-image", help="the fakes' image, on the cluster's nodes")
    args = parser.parse_args()
    runs = {"virtual pods": virtual_pods_harness}
    if args.kubeconfig is not None:
        if not (args.epp_image and args.fakes_image):
            parser.error("--kubeconfig needs --epp-image and --fakes-image")
        runs["in-cluster"] = lambda: in_cluster_harness(args.kubeconfig, args.epp_image, args.fakes_image)
    medians = {}
    for name, harness in runs.items():
        with harness() as h:
            times = observation_times(h, args.observations)
        medians[name] = statistics.median(times)
        print(f"{name}: one observation of {PODS * len(PORTS)} endpoints: median {medians[name] * 1000:.0f} ms,"
              f" p90 {percentile(times, 0.9) * 1000:.0f} ms over {len(times)}")
    if "in-cluster" not in medians:
        return 0
    ratio = medians["in-cluster"] / medians["virtual pods"]
    print(f"in-cluster / virtual pods: {ratio:.2f}x (target <= 2x)")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
