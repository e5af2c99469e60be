"""The datastore's value types: a pool, a pod, an endpoint, a diff and a pod's problem."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from eppconf.portdiscovery import Problem

#: (namespace, pod name, port): what identifies an endpoint (PD-14).
EndpointKey = tuple[str, str, int]
#: (namespace, pod name).
PodKey = tuple[str, str]


class PortSource(str, Enum):  # noqa: UP042 - str() must keep giving the member name
    """Where an endpoint's port came from (PD-11..PD-13)."""

    PORT_DISCOVERY = "port-discovery"
    LLMD_ACTIVE_PORTS = "llm-d-active-ports"
    ACTIVE_PORTS = "active-ports"
    TARGET_PORTS = "target-ports"


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """An InferencePool as the datastore needs it; ``target_ports`` may be empty."""

    name: str
    namespace: str
    selector: Mapping[str, str]
    target_ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for index, port in enumerate(self.target_ports):
            if not (isinstance(port, int) and 1 <= port <= 65535):
                raise ValueError(f"pool {self.namespace}/{self.name}: targetPorts[{index}] must be a port "
                                 f"between 1 and 65535, got {port!r}")
            if port in self.target_ports[:index]:
                raise ValueError(f"pool {self.namespace}/{self.name}: targetPorts[{index}] repeats port {port}")


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What the datastore reads of a pod."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    pod_ip: str | None = None
    ready: bool = False
    deleting: bool = False

    @property
    def key(self) -> PodKey:
        return (self.namespace, self.name)


class Endpoint(NamedTuple):
    """One virtual pod: a model server at ``ip:port`` of a pod, with its labels.

    A named tuple rather than a dataclass: the datastore creates and compares eight of these
    per pod event, and tuples do both in C.
    """

    namespace: str
    pod_name: str
    port: int
    name: str
    ip: str
    labels: Mapping[str, str]
    source: PortSource

    @property
    def key(self) -> EndpointKey:
        return (self.namespace, self.pod_name, self.port)

    @property
    def address(self) -> str:
        """``ip:port``, with an IPv6 address in brackets (PD-15)."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class Diff:
    """What one event changed: endpoints added, removed (old values) and changed (new values)."""

    added: tuple[Endpoint, ...] = ()
    removed: tuple[Endpoint, ...] = ()
    changed: tuple[Endpoint, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class PodProblem:
    """A pod of the pool whose port-discovery annotation is invalid, and why (PD-9)."""

    namespace: str
    pod_name: str
    problems: tuple[Problem, ...]

    def __str__(self) -> str:
        reasons = "; ".join(str(p) for p in self.problems)
        return f"pod {self.namespace}/{self.pod_name}: invalid port-discovery annotation: {reasons}"
