"""The per-test ``Harness`` handed to every conformance test body, and its settings.

A test body sees a fresh namespace with one pool, a kubelet for its pods, the EPP under test,
the gateway client and the endpoint observer, plus assertion helpers that read as sentences.
A test may add pools of other names, each with an EPP of its own (``name=`` and ``pool=``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from conformance import manifests
from conformance.harness.cluster import (
    POOL_GROUP,
    POOL_PLURAL,
    POOL_VERSION,
    Cluster,
    create_namespace,
    delete_namespace,
)
from conformance.harness.epp import EppLauncher, RunningEpp, check_running
from conformance.harness.gateway import GatewayClient
from conformance.harness.incluster.kubelet import ClusterKubelet
from conformance.harness.kubelet import Kubelet, Pod
from conformance.harness.launcher import LauncherPod
from conformance.harness.observer import EndpointObserver, ObserverSettings, ServedPort
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION

POOL_NAME = "pool"
POOL_LABEL = "eppconf.dev/pool"
LAUNCHER_API_PORT = 8001
"""Port of a launcher pod's instance API (the FMA launcher's default)."""
PodKubelet = Kubelet | ClusterKubelet
"""The kubelet of a topology: the harness kubelet (virtual pods) or the in-cluster one (real pods)."""


@dataclass(frozen=True)
class HarnessSettings:
    """Timeouts and knobs of one conformance test."""

    convergence_timeout: float = 10.0
    """Seconds the EPP gets to reflect a change in the Kubernetes API (default 10)."""
    observer: ObserverSettings = field(default_factory=ObserverSettings)
    """How the endpoint observer probes (defaults suit EPPs scraping every 50 ms)."""
    stay_window: float = 3.0
    """Seconds ``endpoints_must_stay`` keeps observing after its change (default 3)."""


@dataclass(frozen=True)
class PoolEpp:
    """The EPP under test started for one pool, the gateway client in front of it and its observer."""

    epp: RunningEpp
    gateway: GatewayClient
    observer: EndpointObserver


class Harness:
    """Everything one conformance test body talks to. Use as a context manager."""

    def __init__(self, *, cluster: Cluster, namespace: str, kubelet: PodKubelet, launcher: EppLauncher,
                 settings: HarnessSettings, proxy: tuple[str, int] | None = None) -> None:
        """``proxy``: the HTTP proxy (``host``, ``port``) that reaches the pods, when the harness cannot
        reach their IPs itself (the in-cluster agent)."""
        self.cluster = cluster
        self.namespace = namespace
        self.pool = POOL_NAME
        self.kubelet = kubelet
        self.settings = settings
        self._launcher = launcher
        self._proxy = proxy
        self._objects = client.CustomObjectsApi(cluster.api)
        self._target_ports: dict[str, tuple[int, ...]] = {}
        self._pools_cleaned: set[str] = set()
        self._cleanup = ExitStack()
        self._epps: dict[str, PoolEpp] = {}
        self._elsewhere: PodKubelet | None = None

    @property
    def epp(self) -> RunningEpp | None:
        """The EPP of the test's pool, once started."""
        started = self._epps.get(self.pool)
        return started.epp if started else None

    @property
    def gateway(self) -> GatewayClient | None:
        """The gateway client in front of the EPP of the test's pool, once started."""
        started = self._epps.get(self.pool)
        return started.gateway if started else None

    @property
    def observer(self) -> EndpointObserver | None:
        """The observer of the EPP of the test's pool, once started."""
        started = self._epps.get(self.pool)
        return started.observer if started else None

    def epp_of(self, pool: str | None = None) -> PoolEpp:
        """The EPP started for ``pool`` (default: the test's pool), its gateway client and observer."""
        name = pool or self.pool
        if name not in self._epps:
            raise RuntimeError(f"no EPP runs for pool {name!r}: start_epp(pool={name!r}) starts it")
        return self._epps[name]

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cleanup.close()

    # -- the world of the test ---------------------------------------------------------------

    def create_pool(self, *, target_ports: Sequence[int] = (),
                    selector: Mapping[str, str] | None = None, name: str | None = None) -> None:
        """Create the test's InferencePool, or another one named ``name`` (``start_epp`` starts the
        EPP for it, before or after).

        ``selector`` defaults to ``{POOL_LABEL: name}``, the label every pod of ``create_pod`` for
        that pool has; an empty ``target_ports`` leaves the optional field off.
        """
        name = name or self.pool
        body = self._pool_manifest(name, target_ports, selector)
        self._objects.create_namespaced_custom_object(POOL_GROUP, POOL_VERSION, self.namespace,
                                                      POOL_PLURAL, body)
        if name not in self._pools_cleaned:
            self._cleanup.callback(self._delete_pool_if_present, name)
            self._pools_cleaned.add(name)
        self._target_ports[name] = tuple(target_ports)

    def update_pool(self, *, target_ports: Sequence[int] | None = None,
                    selector: Mapping[str, str] | None = None, name: str | None = None) -> None:
        """Replace the pool's targetPorts and/or selector (``None`` keeps that field as it is).

        An empty ``target_ports`` removes the field. Pods created afterwards serve the new ports.
        ``name``: the pool (default: the test's).
        """
        name = name or self.pool
        current = self._objects.get_namespaced_custom_object(POOL_GROUP, POOL_VERSION, self.namespace,
                                                             POOL_PLURAL, name)
        spec = current["spec"]
        if selector is not None:
            spec["selector"] = {"matchLabels": dict(selector)}
        if target_ports is not None:
            self._target_ports[name] = tuple(target_ports)
            if target_ports:
                spec["targetPorts"] = [{"number": port} for port in target_ports]
            else:
                spec.pop("targetPorts", None)
        self._objects.replace_namespaced_custom_object(POOL_GROUP, POOL_VERSION, self.namespace,
                                                       POOL_PLURAL, name, current)

    def delete_pool(self, *, name: str | None = None) -> None:
        """Delete the pool (default: the test's); its EPP keeps running (``create_pool`` may bring
        the pool back)."""
        self._objects.delete_namespaced_custom_object(POOL_GROUP, POOL_VERSION, self.namespace,
                                                      POOL_PLURAL, name or self.pool)

    def start_epp(self, *, wait_until_serving: bool = True, pool: str | None = None) -> None:
        """Start the EPP under test for the pool (default: the test's) and its observer.

        By default this waits until the EPP reports SERVING; with ``wait_until_serving=False`` only
        until its health server answers, for an EPP started before its pool exists. Every observer
        probes every served port of the test, those of other pools' pods too.
        """
        name = pool or self.pool
        if name in self._epps:
            raise RuntimeError(f"the EPP of pool {name!r} is already running")
        epp = self._launcher.start(pool=name, namespace=self.namespace, kubeconfig=self.cluster.epp_kubeconfig,
                                   wait_until_serving=wait_until_serving)
        self._cleanup.callback(epp.stop)
        gateway = self._cleanup.enter_context(GatewayClient(epp.grpc_target, tls=epp.tls, proxy=self._proxy))
        observer = EndpointObserver(gateway, self._served_ports, settings=self.settings.observer,
                                    check=lambda: check_running(epp))
        self._epps[name] = PoolEpp(epp, gateway, observer)

    def create_pod(self, name: str, *, port_discovery: Iterable[int | Mapping[str, Any]] | None = None,
                   annotations: Mapping[str, str] | None = None, ready: bool = True,
                   serving: Iterable[int] = (), closed: Iterable[int] = (), host_ip_of: Pod | None = None,
                   pool: str | None = None, labels: Mapping[str, str] | None = None, with_ip: bool = True,
                   other_namespace: bool = False) -> Pod:
        """Create a pod of the pool (default: the test's) serving the pool's targetPorts, every
        annotated port and ``serving``, but not ``closed``.

        ``port_discovery`` entries are port numbers (an entry for this pool) or whole annotation
        entries; ``None`` leaves the annotation off. ``annotations`` are set as given. ``serving``
        names more ports its servers listen on (and its containers list), e.g. targetPorts to come.
        Nothing of the pod listens on a ``closed`` port: a decoy there logs and fails every request,
        and the observer sees an EPP that routes there. ``host_ip_of``: share that pod's IP, as
        host-network pods of one node do (a port the other pod serves stays the other pod's).
        ``labels`` replace the default ``{POOL_LABEL: pool}``. ``with_ip=False`` leaves its
        ``status.podIP`` unset (``give_pod_ip`` sets it). ``other_namespace=True`` creates it in a
        second namespace of the test, made on first use; the other pod methods do not reach it.
        """
        (pod,) = self.create_pods([name], port_discovery=port_discovery, annotations=annotations, ready=ready,
                                  serving=serving, closed=closed, host_ip_of=host_ip_of, pool=pool,
                                  labels=labels, with_ip=with_ip, other_namespace=other_namespace)
        return pod

    def create_pods(self, names: Sequence[str], *,
                    port_discovery: Iterable[int | Mapping[str, Any]] | None = None,
                    annotations: Mapping[str, str] | None = None, ready: bool = True,
                    serving: Iterable[int] = (), closed: Iterable[int] = (), host_ip_of: Pod | None = None,
                    pool: str | None = None, labels: Mapping[str, str] | None = None, with_ip: bool = True,
                    other_namespace: bool = False) -> list[Pod]:
        """Create one pod per name, each as ``create_pod`` would with these options; real pods (the
        in-cluster topology) start side by side rather than one after the other."""
        pool = pool or self.pool
        annotations = dict(annotations or {})
        ports = set(self._target_ports.get(pool, ())) | set(serving)
        if port_discovery is not None:
            value, declared = self._port_discovery(port_discovery, pool)
            annotations[PORT_DISCOVERY_ANNOTATION] = value
            ports |= declared
        kubelet = self._other_kubelet() if other_namespace else self.kubelet
        return kubelet.create_pods(names, ports=ports, labels={POOL_LABEL: pool} if labels is None else labels,
                                   annotations=annotations, ready=ready, closed=set(closed),
                                   ip=host_ip_of.ip if host_ip_of else None, with_ip=with_ip)

    def create_launcher_pod(self, name: str, *, ports: Iterable[int], pool: str | None = None) -> LauncherPod:
        """Create a pod of the pool (default: the test's) running the fake FMA launcher, whose
        children may serve ``ports`` (decoys until they do); it starts with no child and the
        annotation ``[]``, which the launcher then keeps equal to its children."""
        return self.kubelet.create_launcher_pod(name, ports=ports, labels={POOL_LABEL: pool or self.pool},
                                                api_port=LAUNCHER_API_PORT)

    def set_port_discovery(self, pod: Pod, port_discovery: Iterable[int | Mapping[str, Any]] | None) -> None:
        """Replace the pod's annotation (``None`` removes it); newly declared ports get servers first."""
        value = None
        if port_discovery is not None:
            value, declared = self._port_discovery(port_discovery, self.pool)
            self.kubelet.serve(pod.name, declared)
        self.annotate(pod, {PORT_DISCOVERY_ANNOTATION: value})

    def annotate(self, pod: Pod, annotations: Mapping[str, str | None]) -> None:
        """Merge ``annotations`` into the pod's; a ``None`` value removes that key."""
        self.kubelet.annotate(pod.name, annotations)

    def delete_pod(self, pod: Pod) -> None:
        """Delete the pod from the API. Virtual pods' servers keep answering until the test ends; a real
        pod's go with it, and the observer keeps probing its endpoints by subset hint."""
        self.kubelet.delete_pod(pod.name)

    def terminate_pod(self, pod: Pod) -> None:
        """Delete the pod while a finalizer holds it: it stays in the API with a ``deletionTimestamp``
        (and its Ready condition) until the test ends; its servers keep answering."""
        self.kubelet.terminate_pod(pod.name)

    def give_pod_ip(self, pod: Pod) -> None:
        """Publish the address of a pod created ``with_ip=False`` as its ``status.podIP``."""
        self.kubelet.publish_ip(pod.name)

    def move_pod(self, pod: Pod) -> None:
        """Change the pod's IP (``pod.ip`` becomes the new one); servers at the old IP keep answering."""
        self.kubelet.move_pod(pod.name)

    def clear_pod_ip(self, pod: Pod) -> None:
        """Remove the pod's ``status.podIP``; its servers keep answering."""
        self.kubelet.clear_ip(pod.name)

    def set_ready(self, pod: Pod, ready: bool) -> None:
        """Set the pod's Ready condition (a real pod's through its readiness probe; this returns once
        the condition shows it)."""
        self.kubelet.set_ready(pod.name, ready)

    def relabel_pod(self, pod: Pod, labels: Mapping[str, str | None]) -> None:
        """Merge ``labels`` into the pod's; a ``None`` value removes that label."""
        self.kubelet.relabel(pod.name, labels)

    # -- assertions --------------------------------------------------------------------------

    def epps_must_be_running(self) -> None:
        """Every EPP this test started still runs; ``EppExited`` (exit code, last output) otherwise."""
        for started in self._epps.values():
            check_running(started.epp)

    def endpoints_must_converge(self, expected: set[str], *, pool: str | None = None) -> None:
        """The EPP of the pool (default: the test's) must route to exactly ``expected`` (``ip:port``)
        within the convergence timeout."""
        self.epp_of(pool).observer.eventually(expected, timeout=self.settings.convergence_timeout)

    def endpoints_must_stay(self, expected: set[str], *, while_doing: Callable[[], None] | None = None,
                            for_seconds: float | None = None, pool: str | None = None) -> None:
        """The EPP of the pool (default: the test's) must route to exactly ``expected`` at every
        observation: one before ``while_doing`` runs, then each one for ``for_seconds`` after it
        (default: the stay window)."""
        duration = self.settings.stay_window if for_seconds is None else for_seconds
        self.epp_of(pool).observer.stays(expected, duration=duration, action=while_doing)

    # -- plumbing ----------------------------------------------------------------------------

    def _served_ports(self) -> list[ServedPort]:
        """What the observers probe: the servers of every kubelet of the test."""
        others = self._elsewhere.served_ports() if self._elsewhere is not None else []
        return [*self.kubelet.served_ports(), *others]

    def _other_kubelet(self) -> PodKubelet:
        """The kubelet of the test's second namespace, created with it on first use (both go at the end)."""
        if self._elsewhere is None:
            namespace = create_namespace(self.cluster.api, prefix=f"{self.namespace[:40]}-other")
            self._cleanup.callback(delete_namespace, self.cluster.api, namespace)
            self._elsewhere = self.kubelet.sibling(namespace)
            self._cleanup.callback(self._elsewhere.close)
        return self._elsewhere

    @staticmethod
    def _port_discovery(items: Iterable[int | Mapping[str, Any]], pool: str) -> tuple[str, set[int]]:
        """The annotation value for ``items`` (a bare port is an entry for ``pool``) and the ports it declares."""
        entries: list[dict[str, Any]] = [{"inferencePool": pool, "number": item} if isinstance(item, int)
                                         else dict(item) for item in items]
        return json.dumps(entries), {entry["number"] for entry in entries}

    def _pool_manifest(self, name: str, target_ports: Sequence[int],
                       selector: Mapping[str, str] | None) -> dict[str, Any]:
        (body,) = manifests.load("pool.yaml")
        body["metadata"].update(name=name, namespace=self.namespace)
        body["spec"]["selector"]["matchLabels"] = dict(selector if selector is not None
                                                       else {POOL_LABEL: name})
        if target_ports:  # targetPorts is optional, but never an empty list
            body["spec"]["targetPorts"] = [{"number": port} for port in target_ports]
        return body

    def _delete_pool_if_present(self, name: str) -> None:
        try:
            self.delete_pool(name=name)
        except client.ApiException as err:
            if err.status != 404:
                raise
