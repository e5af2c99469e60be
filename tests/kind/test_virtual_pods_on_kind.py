"""Virtual pods stay virtual on a real cluster: catalogue tests run against a kind cluster
(``--cluster existing``, the EPP as a local process) while a watch records every version of every
pod they create. No pod is ever bound to a node, nothing but the harness writes a pod's status, and
once the run is over no namespace of the suite is left. On a cluster whose controller-manager runs
the pod garbage collector (kind-config.yaml's clusters do not), that collector may mark a
terminating pod Failed, and nothing else may write.

The cluster is the one ``$EPPCONF_KIND_KUBECONFIG`` names, else one created for this module (skipped
without Docker, the kind CLI or the node image; ``EPPCONF_REQUIRE_KIND=1`` fails instead).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kind_helpers import KIND_TEST_MARKS, kind_unavailable, run_suite, skip_unless
from kubernetes import client, config, watch

from conformance.plugin import _kebab
from eppconf.kind import KindCluster

pytestmark = KIND_TEST_MARKS

KUBECONFIG_ENV = "EPPCONF_KIND_KUBECONFIG"
TESTS = ("TargetPortsFallback", "UnreadyPodLosesEndpoints", "PodIpChangeMovesEndpoints",
         "TerminatingPodLosesEndpoints", "OtherNamespacePodsIgnored")
"""Catalogue tests that create, relabel, re-address, unready, terminate and delete pods, in two namespaces."""
PREFIXES = tuple(f"eppconf-{_kebab(name)}-" for name in TESTS)
"""How the names of the run's namespaces start (conformance.plugin names them so)."""
VIRTUAL_POD = "eppconf.dev/virtual-pod"
"""The annotation every pod of the harness carries (conformance/manifests/pod.yaml)."""
SUITE_LABEL = "eppconf.dev/conformance=true"
POD_GC = "kube-controller-manager"
"""The field manager of the pod garbage collector's status writes."""
NAMESPACES_GONE_TIMEOUT = 300.0
"""Seconds the cluster's namespace controller gets to finish deleting the suite's namespaces."""


@dataclass(frozen=True)
class PodVersion:
    """What one watch event showed of a pod."""

    namespace: str
    name: str
    node_name: str | None
    phase: str | None
    terminating: bool
    status_writers: frozenset[str]
    """Field managers that own fields of the pod's status subresource."""
    writers: frozenset[str]
    """Field managers of everything else."""


class PodRecorder:
    """Records every version of every harness pod, cluster-wide, from ``start`` until ``stop``."""

    def __init__(self, api: client.ApiClient) -> None:
        self._core = client.CoreV1Api(api)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pod-recorder", daemon=True)
        self._error: BaseException | None = None
        self.versions: list[PodVersion] = []

    def start(self) -> None:
        self._resource_version = self._core.list_pod_for_all_namespaces().metadata.resource_version
        self._thread.start()

    def stop(self) -> list[PodVersion]:
        """Stop watching; every version seen. A watch that failed fails here."""
        self._stopping.set()
        self._thread.join(timeout=30)
        if self._error is not None:
            raise self._error
        return self.versions

    def _watch(self) -> None:
        try:
            while not self._stopping.is_set():
                stream = watch.Watch().stream(self._core.list_pod_for_all_namespaces, timeout_seconds=2,
                                              resource_version=self._resource_version)
                for event in stream:
                    pod = event["object"]
                    self._resource_version = pod.metadata.resource_version
                    if VIRTUAL_POD in (pod.metadata.annotations or {}):
                        self.versions.append(_version(pod))
        except BaseException as err:  # noqa: BLE001 - handed to the test in stop()
            self._error = err


def _version(pod: client.V1Pod) -> PodVersion:
    entries = pod.metadata.managed_fields or []
    return PodVersion(pod.metadata.namespace, pod.metadata.name, pod.spec.node_name, pod.status.phase,
                      pod.metadata.deletion_timestamp is not None,
                      frozenset(e.manager for e in entries if e.subresource == "status"),
                      frozenset(e.manager for e in entries if e.subresource != "status"))


@pytest.fixture(scope="module")
def kubeconfig() -> Iterator[Path]:
    given = os.environ.get(KUBECONFIG_ENV)
    if given:
        yield Path(given)
        return
    skip_unless(kind_unavailable())
    with KindCluster(f"eppconf-test-{os.getpid()}") as kind:
        yield kind.kubeconfig


def _runs_pod_gc(core: client.CoreV1Api) -> bool:
    """Whether the cluster's controller-manager runs the pod garbage collector (if it is not a pod
    of kube-system, as on kubeadm and kind clusters, it is taken to run it)."""
    pods = core.list_namespaced_pod("kube-system", label_selector="component=kube-controller-manager").items
    return not pods or "--controllers=*,-pod-garbage-collector-controller" not in pods[0].spec.containers[0].command


def _suite_namespaces(core: client.CoreV1Api) -> set[str]:
    return {ns.metadata.name for ns in core.list_namespace(label_selector=SUITE_LABEL).items}


def _of_this_run(namespace: str) -> bool:
    """Whether the namespace is one the run's tests make (``eppconf-<test in kebab case>-...``);
    a shared cluster may hold other runs' too."""
    return namespace.startswith(PREFIXES)


def _namespaces_left(core: client.CoreV1Api, before: set[str]) -> set[str]:
    """The run's namespaces that were not there ``before``, once none is left or time is up."""
    deadline = time.monotonic() + NAMESPACES_GONE_TIMEOUT
    while (left := {ns for ns in _suite_namespaces(core) - before if _of_this_run(ns)}) and \
            time.monotonic() < deadline:
        time.sleep(2)
    return left


def test_virtual_pods_are_never_bound_nor_run_and_their_namespaces_go(kubeconfig: Path, tmp_path: Path) -> None:
    api = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(api)
    before = _suite_namespaces(core)
    recorder = PodRecorder(api)
    recorder.start()
    try:
        result = run_suite(tmp_path, "--cluster", "existing", "--cluster-kubeconfig", str(kubeconfig),
                           "-k", " or ".join(TESTS))
    finally:
        versions = [v for v in recorder.stop() if _of_this_run(v.namespace)]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{len(TESTS)} passed" in output, output

    pods = {(v.namespace, v.name) for v in versions}
    assert len(pods) >= 2 * len(TESTS), f"the watch saw only {sorted(pods)}"
    bound = sorted({(v.namespace, v.name, v.node_name) for v in versions if v.node_name})
    assert bound == [], f"pods bound to a node: {bound}"
    harness = frozenset.union(*(v.writers for v in versions))
    foreign = {(v.namespace, v.name, writer, v.terminating) for v in versions for writer in v.status_writers - harness}
    if _runs_pod_gc(core):
        foreign = {(ns, name, writer, terminating) for ns, name, writer, terminating in foreign
                   if not (writer == POD_GC and terminating)}
    assert foreign == set(), f"pod status written by others than the harness ({sorted(harness)}): {sorted(foreign)}"
    assert {v.phase for v in versions if not v.terminating} <= {None, "Pending", "Running"}
    assert _namespaces_left(core, before) == set()
    api.close()
