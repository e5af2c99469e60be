"""Conformance tests of invalid port-discovery annotations, driven by the schema's invalid vectors.

Every vector of ``schemas/vectors/port-discovery-invalid.json`` becomes one pod of a single test,
so a vector added to that file is a new case without new code, and one observation checks them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from conformance.catalogue import Registry
from conformance.features import Feature
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION, schemas_dir

if TYPE_CHECKING:
    from conformance.harness.kubelet import Pod
    from conformance.harness.session import Harness

tests = Registry()

VECTOR_POOL = "p"
"""The pool the invalid vectors' entries name: the test's pool has this name, so that an EPP that
reads an invalid value leniently is seen giving this pool an endpoint."""
TARGET_PORT = 8000
"""The pool's one targetPort (the port most vectors declare): an EPP that falls back to targetPorts
for an invalid annotation is seen there."""
MENTIONED_PORTS = 1
"""How many further ports a vector names (``1024``-``65535``, not the targetPort) its pod serves,
so that a lenient reading of them is seen too; one keeps an observation short."""
VALID_PORT = 8001


@cache
def invalid_vectors() -> tuple[Mapping[str, Any], ...]:
    """The invalid vectors, as the file lists them."""
    document = json.loads((schemas_dir() / "vectors" / "port-discovery-invalid.json").read_text(encoding="utf-8"))
    return tuple(document["vectors"])


def mentioned_ports(value: str) -> set[int]:
    """The first ``MENTIONED_PORTS`` distinct unprivileged port numbers but the targetPort written in ``value``."""
    numbers = (int(text) for text in re.findall(r"(?<![\w.])\d{4,5}(?![\w])", value))
    ports = [number for number in dict.fromkeys(numbers) if 1024 <= number <= 65535 and number != TARGET_PORT]
    return set(ports[:MENTIONED_PORTS])


def entry(port: int) -> dict[str, Any]:
    """A valid annotation entry for the test's pool."""
    return {"inferencePool": VECTOR_POOL, "number": port}


@tests.test(
    name="InvalidAnnotationsFailClosed",
    description="A pod whose port-discovery annotation is invalid (each invalid vector of the schema)"
                " gives no endpoint, not even on a targetPort, while the other pods keep serving; fixed or"
                " removed, it gives its endpoint; invalid again, it loses it.",
    features={Feature.PORT_DISCOVERY},
    rules=("PD-9", "PD-2", "PD-3", "PD-4", "PD-5", "PD-6", "PD-7"),
    faults=("invalid-annotation-as-absent", "lenient-annotation", "keep-endpoints-on-invalid-annotation"),
)
def invalid_annotations_fail_closed(h: Harness) -> None:
    pool = VECTOR_POOL
    h.create_pool(name=pool, target_ports=[TARGET_PORT])
    h.start_epp(pool=pool)
    by_target_ports = h.create_pod("by-target-ports", pool=pool)
    by_annotation = h.create_pod("by-annotation", pool=pool, port_discovery=[entry(VALID_PORT)])
    healthy = by_target_ports.endpoints(TARGET_PORT) | by_annotation.endpoints(VALID_PORT)
    h.endpoints_must_converge(healthy, pool=pool)

    vectors = {vector["name"]: vector["value"] for vector in invalid_vectors()}
    pods = {name: h.create_pod(f"invalid-{index}", pool=pool, annotations={PORT_DISCOVERY_ANNOTATION: value},
                               serving=mentioned_ports(value))
            for index, (name, value) in enumerate(vectors.items())}
    # Pod events arrive in order: once this pod shows, the EPP has seen every invalid pod.
    marker = h.create_pod("after-invalid", pool=pool, port_discovery=[entry(VALID_PORT)])
    healthy |= marker.endpoints(VALID_PORT)
    _must_not_leak(h, healthy, pods, "created with it")

    for index, pod in enumerate(pods.values()):  # fixed, or removed: either way the targetPort
        h.set_port_discovery(pod, [entry(TARGET_PORT)] if index % 2 else None)
    h.endpoints_must_converge(healthy | {pod.endpoint(TARGET_PORT) for pod in pods.values()}, pool=pool)

    for name, pod in pods.items():
        h.annotate(pod, {PORT_DISCOVERY_ANNOTATION: vectors[name]})
    marker_again = h.create_pod("after-invalid-again", pool=pool, port_discovery=[entry(VALID_PORT)])
    _must_not_leak(h, healthy | marker_again.endpoints(VALID_PORT), pods, "set back to it after a valid one")


def _must_not_leak(h: Harness, healthy: set[str], pods: Mapping[str, Pod], how: str) -> None:
    """The endpoints must converge to ``healthy``; otherwise name the vectors whose pods leaked."""
    try:
        h.endpoints_must_converge(healthy, pool=VECTOR_POOL)
    except AssertionError as err:
        observer = h.epp_of(VECTOR_POOL).observer
        seen = observer.last_observation.endpoints if observer.last_observation else frozenset()
        leaked = [f"{name} ({', '.join(found)})" for name, pod in pods.items() if (found := _at(pod.ip, seen))]
        if not leaked:
            raise
        raise AssertionError(f"pods with an invalid annotation ({how}) got endpoints; vectors: "
                             f"{'; '.join(leaked)}\n{err}") from None


def _at(ip: str, endpoints: frozenset[str]) -> list[str]:
    return sorted(endpoint for endpoint in endpoints if endpoint.rpartition(":")[0] == ip)
