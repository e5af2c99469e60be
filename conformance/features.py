"""The feature and profile catalogue: what an EPP can support and how features group into profiles.

Importable without the harness (no Kubernetes, gRPC or pytest), so reports and tools can read it.
Choosing a profile makes its core features mandatory; its extended features are tried and the
report lists each as supported or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Feature(StrEnum):
    """One behaviour of an EPP that conformance tests check."""

    ENDPOINT_PER_TARGET_PORT = "EndpointPerTargetPort"
    """A pod yields one endpoint per ``spec.targetPorts`` entry of its pool."""
    POD_LIFECYCLE = "PodLifecycle"
    """Endpoints follow pod readiness and deletion in the Kubernetes API."""
    ACTIVE_PORTS = "ActivePorts"
    """The ``inference.networking.k8s.io/active-ports`` annotation filters targetPorts."""
    LLMD_ACTIVE_PORTS = "LlmdActivePorts"
    """The ``llm-d.ai/active-ports`` key is read like the GIE one."""
    PORT_DISCOVERY = "PortDiscovery"
    """The ``inference.networking.x-k8s.io/port-discovery`` annotation expands a pod per port."""
    PORT_ATTRIBUTES = "PortAttributes"
    """Per-port ``attributes`` of the port-discovery annotation reach the endpoint."""


@dataclass(frozen=True)
class Profile:
    """A named set of features: ``core`` ones must pass, ``extended`` ones are reported."""

    name: str
    core: frozenset[Feature]
    extended: frozenset[Feature] = frozenset()

    def covers(self, features: Iterable[Feature]) -> bool:
        """Whether every feature is core or extended in this profile."""
        return set(features) <= self.core | self.extended

    def is_core(self, features: Iterable[Feature]) -> bool:
        """Whether every feature is core in this profile."""
        return set(features) <= self.core


_BASE = frozenset({Feature.ENDPOINT_PER_TARGET_PORT, Feature.POD_LIFECYCLE})

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("TargetPorts", core=_BASE),
        Profile("ActivePorts", core=_BASE | {Feature.ACTIVE_PORTS},
                extended=frozenset({Feature.LLMD_ACTIVE_PORTS})),
        Profile("PortDiscovery", core=_BASE | {Feature.PORT_DISCOVERY},
                extended=frozenset({Feature.PORT_ATTRIBUTES})),
    )
}
"""Every profile by name, in report order."""


def profiles_named(names: Iterable[str]) -> tuple[Profile, ...]:
    """The profiles with these names; ``ValueError`` names the unknown one and the known ones."""
    chosen = []
    for name in names:
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}")
        chosen.append(PROFILES[name])
    return tuple(chosen)
