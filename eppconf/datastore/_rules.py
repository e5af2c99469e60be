"""The spec's rules as pure functions: which pods count, and the endpoints of one pod."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from eppconf.datastore._model import Endpoint, EndpointKey, PodInfo, PodProblem, PoolSpec, PortSource
from eppconf.portdiscovery import (
    ACTIVE_PORTS_ANNOTATION,
    LLMD_ACTIVE_PORTS_ANNOTATION,
    PORT_DISCOVERY_ANNOTATION,
    PortDiscoveryError,
    parse_active_ports,
    parse_port_discovery,
)

#: A pod's endpoints keyed by port, and its problem if its annotation is invalid.
PodResult = tuple[dict[int, Endpoint], PodProblem | None]
_NOTHING: PodResult = ({}, None)


def selected(pool: PoolSpec, pod: PodInfo) -> bool:
    """PD-10 (a, b): the pod is in the pool's namespace and matches its selector."""
    if pod.namespace != pool.namespace:
        return False
    labels = pod.labels
    return all(labels.get(key) == value for key, value in pool.selector.items())


def considered(pool: PoolSpec, pod: PodInfo) -> bool:
    """PD-10: selected, Ready, not terminating, with a pod IP."""
    return pod.ready and not pod.deleting and bool(pod.pod_ip) and selected(pool, pod)


def pod_endpoints(pool: PoolSpec | None, pod: PodInfo) -> PodResult:
    """The endpoints ``pod`` gives ``pool`` (PD-11..PD-16), and its problem (PD-9)."""
    if pool is None or not selected(pool, pod):
        return _NOTHING
    annotations = pod.annotations
    if PORT_DISCOVERY_ANNOTATION in annotations:
        return _from_port_discovery(pool, pod, annotations[PORT_DISCOVERY_ANNOTATION])
    if not considered(pool, pod):
        return _NOTHING
    for key, source in ((LLMD_ACTIVE_PORTS_ANNOTATION, PortSource.LLMD_ACTIVE_PORTS),
                        (ACTIVE_PORTS_ANNOTATION, PortSource.ACTIVE_PORTS)):
        if key in annotations:
            return _ranked(pool, pod, parse_active_ports(annotations[key], pool.target_ports), source), None
    return _ranked(pool, pod, pool.target_ports, PortSource.TARGET_PORTS), None


def compute_endpoints(pool: PoolSpec | None, pods: Iterable[PodInfo]) -> dict[EndpointKey, Endpoint]:
    """Every endpoint of ``pool`` computed from scratch from ``pods`` (the last pod of a name wins)."""
    latest = {pod.key: pod for pod in pods}
    return {ep.key: ep for pod in latest.values() for ep in pod_endpoints(pool, pod)[0].values()}


def _from_port_discovery(pool: PoolSpec, pod: PodInfo, value: str) -> PodResult:
    try:
        entries = parse_port_discovery(value)
    except PortDiscoveryError as error:
        return {}, PodProblem(pod.namespace, pod.name, error.problems)
    if not considered(pool, pod):
        return _NOTHING
    labels = pod.labels
    endpoints = {}
    for entry in entries:
        if entry.inference_pool != pool.name:
            continue
        merged = MappingProxyType({**labels, **entry.attributes}) if entry.attributes else _frozen(labels)
        endpoints[entry.number] = Endpoint(pod.namespace, pod.name, entry.number, f"{pod.name}-port-{entry.number}",
                                           pod.pod_ip or "", merged, PortSource.PORT_DISCOVERY)
    return endpoints, None


def _ranked(pool: PoolSpec, pod: PodInfo, ports: Iterable[int], source: PortSource) -> dict[int, Endpoint]:
    """Endpoints named ``<pod>-rank-<index>``, index = the port's position in targetPorts (PD-15)."""
    labels = _frozen(pod.labels)
    index = {port: i for i, port in enumerate(pool.target_ports)}
    return {port: Endpoint(pod.namespace, pod.name, port, f"{pod.name}-rank-{index[port]}", pod.pod_ip or "",
                           labels, source)
            for port in ports}


def _frozen(labels: Mapping[str, str]) -> Mapping[str, str]:
    return labels if isinstance(labels, MappingProxyType) else MappingProxyType(dict(labels))
