"""A kind cluster from the locally built node image: pods from a locally loaded image, DNS, Services.

Skipped when Docker, the kind CLI or the images are absent (scripts/build-kind-node.sh builds
them); with EPPCONF_REQUIRE_KIND=1 their absence fails instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from kind_helpers import KIND_TEST_MARKS, kind_unavailable, skip_unless
from kubernetes import client, config

from eppconf.kind import BASE_IMAGE, KindCluster
from eppconf.kind.cluster import image_present

pytestmark = KIND_TEST_MARKS

NAMESPACE = "eppconf-probe"
#: Resolves the Service by its cluster DNS name and fetches a page through it; prints "IP STATUS".
CLIENT = f"""
import socket, time, urllib.request
name = "web.{NAMESPACE}.svc.cluster.local"
deadline = time.time() + 120
while True:
    try:
        address = socket.gethostbyname(name)
        status = urllib.request.urlopen(f"http://{{name}}/", timeout=5).status
        print(address, status)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(1)
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[KindCluster]:
    reason = kind_unavailable()
    if reason is None and not image_present(BASE_IMAGE):
        reason = f"image {BASE_IMAGE} is not in Docker (scripts/build-kind-node.sh imports it)"
    skip_unless(reason)
    kind = KindCluster(name=f"eppconf-test-{os.getpid()}")
    kind.start()
    try:
        kind.load_images(BASE_IMAGE)
        with config.new_client_from_config(str(kind.kubeconfig)) as api:
            client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        yield kind
    finally:
        kind.stop()


def _pod(name: str, command: list[str], **spec: object) -> client.V1Pod:
    container = client.V1Container(name=name, image=BASE_IMAGE, image_pull_policy="Never", command=command,
                                   **spec)
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
                        spec=client.V1PodSpec(containers=[container], restart_policy="Never"))


def _wait_for_phase(core: client.CoreV1Api, name: str, phases: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        phase = core.read_namespaced_pod(name, NAMESPACE).status.phase
        if phase in phases or time.monotonic() > deadline:
            return phase
        time.sleep(1)


def test_a_pod_reaches_another_through_a_service_by_its_dns_name(cluster: KindCluster) -> None:
    core = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    core.create_namespaced_pod(NAMESPACE, _pod("web", ["python3", "-m", "http.server", "8080"],
                                               ports=[client.V1ContainerPort(container_port=8080)]))
    service = core.create_namespaced_service(NAMESPACE, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"},
                                  ports=[client.V1ServicePort(port=80, target_port=8080)])))
    core.create_namespaced_pod(NAMESPACE, _pod("client", ["python3", "-c", CLIENT]))

    phase = _wait_for_phase(core, "client", {"Succeeded", "Failed"}, timeout=240)
    logs = core.read_namespaced_pod_log("client", NAMESPACE)
    assert phase == "Succeeded", f"client pod {phase}: {logs}"
    assert logs.split() == [service.spec.cluster_ip, "200"]


def test_pods_get_cgroupfs_cgroups_not_systemd_slices(cluster: KindCluster) -> None:
    """The node's containerd uses the cgroupfs driver (scripts/build-kind-node.sh says why), and the
    kubelet follows it: a container's cgroups lie under ``/kubelet/kubepods/``, in no systemd slice."""
    core = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    core.create_namespaced_pod(NAMESPACE, _pod("cgroups", ["cat", "/proc/self/cgroup"]))

    phase = _wait_for_phase(core, "cgroups", {"Succeeded", "Failed"}, timeout=240)
    lines = core.read_namespaced_pod_log("cgroups", NAMESPACE).splitlines()
    assert phase == "Succeeded", f"cgroups pod {phase}: {lines}"
    paths = {line.split(":", 2)[2] for line in lines}
    assert all(path.startswith("/kubelet/kubepods/") and ".slice" not in path for path in paths), paths
