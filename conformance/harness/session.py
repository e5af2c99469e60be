"""The per-test ``Harness`` handed to every conformance test body, and its settings.

A test body sees a fresh namespace with one pool, a kubelet for its pods, the EPP under test,
the gateway client and the endpoint observer, plus assertion helpers that read as sentences.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from conformance import manifests
from conformance.harness.cluster import POOL_GROUP, POOL_PLURAL, POOL_VERSION, Cluster
from conformance.harness.epp import EppLauncher, RunningEpp
from conformance.harness.gateway import GatewayClient
from conformance.harness.kubelet import Kubelet, Pod
from conformance.harness.observer import EndpointObserver, ObserverSettings
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION

POOL_NAME = "pool"
POOL_LABEL = "eppconf.dev/pool"


@dataclass(frozen=True)
class HarnessSettings:
    """Timeouts and knobs of one conformance test."""

    convergence_timeout: float = 10.0
    """Seconds the EPP gets to reflect a change in the Kubernetes API (default 10)."""
    observer: ObserverSettings = field(default_factory=ObserverSettings)
    """How the endpoint observer probes (defaults suit EPPs scraping every 50 ms)."""


class Harness:
    """Everything one conformance test body talks to. Use as a context manager."""

    def __init__(self, *, cluster: Cluster, namespace: str, kubelet: Kubelet, launcher: EppLauncher,
                 settings: HarnessSettings) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.pool = POOL_NAME
        self.kubelet = kubelet
        self.settings = settings
        self._launcher = launcher
        self._objects = client.CustomObjectsApi(cluster.api)
        self._target_ports: tuple[int, ...] = ()
        self._cleanup = ExitStack()
        self.epp: RunningEpp | None = None
        self.gateway: GatewayClient | None = None
        self.observer: EndpointObserver | None = None

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cleanup.close()

    # -- the world of the test ---------------------------------------------------------------

    def create_pool(self, *, target_ports: Sequence[int]) -> None:
        """Create the test's InferencePool, then start the EPP for it."""
        (body,) = manifests.load("pool.yaml")
        body["metadata"].update(name=self.pool, namespace=self.namespace)
        body["spec"]["selector"]["matchLabels"] = {POOL_LABEL: self.pool}
        if target_ports:  # targetPorts is optional, but never an empty list
            body["spec"]["targetPorts"] = [{"number": port} for port in target_ports]
        self._objects.create_namespaced_custom_object(POOL_GROUP, POOL_VERSION, self.namespace,
                                                      POOL_PLURAL, body)
        self._cleanup.callback(self._delete_pool)
        self._target_ports = tuple(target_ports)
        self._start_epp()

    def create_pod(self, name: str, *, port_discovery: Iterable[int | Mapping[str, Any]] | None = None,
                   annotations: Mapping[str, str] | None = None, ready: bool = True) -> Pod:
        """Create a pod of the pool serving the pool's targetPorts and every annotated port.

        ``port_discovery`` entries are port numbers (an entry for this pool) or whole annotation
        entries; ``None`` leaves the annotation off. ``annotations`` are set as given.
        """
        annotations, ports = dict(annotations or {}), set(self._target_ports)
        if port_discovery is not None:
            value, declared = self._port_discovery(port_discovery)
            annotations[PORT_DISCOVERY_ANNOTATION] = value
            ports |= declared
        return self.kubelet.create_pod(name, ports=ports, labels={POOL_LABEL: self.pool},
                                       annotations=annotations, ready=ready)

    def set_port_discovery(self, pod: Pod, port_discovery: Iterable[int | Mapping[str, Any]] | None) -> None:
        """Replace the pod's annotation (``None`` removes it); newly declared ports get servers first."""
        value = None
        if port_discovery is not None:
            value, declared = self._port_discovery(port_discovery)
            self.kubelet.serve(pod.name, declared)
        self.annotate(pod, {PORT_DISCOVERY_ANNOTATION: value})

    def annotate(self, pod: Pod, annotations: Mapping[str, str | None]) -> None:
        """Merge ``annotations`` into the pod's; a ``None`` value removes that key."""
        self.kubelet.annotate(pod.name, annotations)

    def delete_pod(self, pod: Pod) -> None:
        """Delete the pod from the API; its servers keep answering until the test ends."""
        self.kubelet.delete_pod(pod.name)

    def set_ready(self, pod: Pod, ready: bool) -> None:
        """Set the pod's Ready condition."""
        self.kubelet.set_ready(pod.name, ready)

    # -- assertions --------------------------------------------------------------------------

    def endpoints_must_converge(self, expected: set[str]) -> None:
        """The EPP must route to exactly ``expected`` (``ip:port``) within the convergence timeout."""
        assert self.observer is not None, "create_pool() starts the EPP; call it first"
        self.observer.eventually(expected, timeout=self.settings.convergence_timeout)

    # -- plumbing ----------------------------------------------------------------------------

    def _port_discovery(self, items: Iterable[int | Mapping[str, Any]]) -> tuple[str, set[int]]:
        """The annotation value for ``items`` and the ports it declares."""
        entries = [self._entry(item) for item in items]
        return json.dumps(entries), {entry["number"] for entry in entries}

    def _entry(self, item: int | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(item, int):
            return {"inferencePool": self.pool, "number": item}
        return dict(item)

    def _start_epp(self) -> None:
        self.epp = self._launcher.start(pool=self.pool, namespace=self.namespace,
                                        kubeconfig=self.cluster.epp_kubeconfig)
        self._cleanup.callback(self.epp.stop)
        self.gateway = self._cleanup.enter_context(GatewayClient(self.epp.grpc_target, tls=self.epp.tls))
        self.observer = EndpointObserver(self.gateway, self.kubelet.served_ports,
                                        settings=self.settings.observer)

    def _delete_pool(self) -> None:
        self._objects.delete_namespaced_custom_object(POOL_GROUP, POOL_VERSION, self.namespace,
                                                      POOL_PLURAL, self.pool)
