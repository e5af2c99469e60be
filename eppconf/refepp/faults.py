"""Deliberately broken variants of the reference EPP (``--fault NAME``), for the project's own tests.

Each fault transforms the pod events the watch feeds to the datastore (never the datastore
itself), so that a conformance test can be shown to fail against the bug it is written to catch:

- ``ignore-port-discovery``: pods behave as if the port-discovery annotation were absent.
- ``no-target-ports-fallback``: pods without the port-discovery annotation give no endpoints.
- ``keep-deleted-pods``: pod deletions and deletionTimestamp are ignored.
- ``ignore-readiness``: every pod is treated as Ready.
- ``ignore-pool-name``: port-discovery entries of every pool are used as if they named this pool.
- ``stale-annotation``: only the first port annotations ever seen for a pod are used.
- ``ignore-active-ports``: pods behave as if neither active-ports annotation were present.
- ``ignore-llmd-active-ports``: only the ``llm-d.ai/active-ports`` key is ignored.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from eppconf.portdiscovery import ACTIVE_PORTS_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, PORT_DISCOVERY_ANNOTATION

EventKind = Literal["upsert", "delete"]
Manifest = dict[str, Any]

_PORT_ANNOTATIONS = (PORT_DISCOVERY_ANNOTATION, LLMD_ACTIVE_PORTS_ANNOTATION, ACTIVE_PORTS_ANNOTATION)


@dataclass(frozen=True, slots=True)
class PodEvent:
    """A pod to upsert into, or delete from, the datastore (a Kubernetes JSON object)."""

    kind: EventKind
    pod: Manifest


class Fault(Protocol):
    """A transform of pod events; returning None drops the event."""

    def __call__(self, event: PodEvent) -> PodEvent | None: ...


def _annotations(pod: Manifest) -> dict[str, str]:
    return (pod.get("metadata") or {}).get("annotations") or {}


def _with_annotations(event: PodEvent, annotations: dict[str, str]) -> PodEvent:
    pod = copy.deepcopy(event.pod)
    pod.setdefault("metadata", {})["annotations"] = annotations
    return PodEvent(event.kind, pod)


def _on_upsert(change: Callable[[PodEvent], PodEvent]) -> Fault:
    """A fault that rewrites upserts and lets deletions through."""
    return lambda event: change(event) if event.kind == "upsert" else event


def _without(*keys: str) -> Callable[[PodEvent], PodEvent]:
    """A change that removes the annotations ``keys``."""
    def change(event: PodEvent) -> PodEvent:
        annotations = {key: value for key, value in _annotations(event.pod).items() if key not in keys}
        return _with_annotations(event, annotations)
    return change


def _no_target_ports_fallback(event: PodEvent) -> PodEvent:
    annotations = dict(_annotations(event.pod))
    annotations.setdefault(PORT_DISCOVERY_ANNOTATION, "[]")
    return _with_annotations(event, annotations)


def _keep_deleted_pods(event: PodEvent) -> PodEvent | None:
    if event.kind == "delete":
        return None
    pod = copy.deepcopy(event.pod)
    pod.get("metadata", {}).pop("deletionTimestamp", None)
    return PodEvent(event.kind, pod)


def _ignore_readiness(event: PodEvent) -> PodEvent:
    pod = copy.deepcopy(event.pod)
    status = pod.setdefault("status", {})
    others = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    status["conditions"] = [*others, {"type": "Ready", "status": "True"}]
    return PodEvent(event.kind, pod)


def _ignore_pool_name(pool_name: str) -> Callable[[PodEvent], PodEvent]:
    def change(event: PodEvent) -> PodEvent:
        annotations = dict(_annotations(event.pod))
        try:
            entries = json.loads(annotations[PORT_DISCOVERY_ANNOTATION])
        except (KeyError, ValueError):
            return event
        if not isinstance(entries, list):
            return event
        renamed = [{**entry, "inferencePool": pool_name} if isinstance(entry, dict) else entry for entry in entries]
        annotations[PORT_DISCOVERY_ANNOTATION] = json.dumps(renamed)
        return _with_annotations(event, annotations)
    return change


class _StaleAnnotation:
    """Remembers each pod's port annotations as first seen and keeps serving those."""

    def __init__(self) -> None:
        self._first: dict[str, dict[str, str]] = {}

    def __call__(self, event: PodEvent) -> PodEvent:
        name = event.pod.get("metadata", {}).get("name", "")
        annotations = dict(_annotations(event.pod))
        seen = {key: annotations[key] for key in _PORT_ANNOTATIONS if key in annotations}
        first = self._first.setdefault(name, seen)
        for key in _PORT_ANNOTATIONS:
            annotations.pop(key, None)
        return _with_annotations(event, {**annotations, **first})


#: fault name -> factory taking the pool name
FAULTS: dict[str, Callable[[str], Fault]] = {
    "ignore-port-discovery": lambda _pool: _on_upsert(_without(PORT_DISCOVERY_ANNOTATION)),
    "no-target-ports-fallback": lambda _pool: _on_upsert(_no_target_ports_fallback),
    "keep-deleted-pods": lambda _pool: _keep_deleted_pods,
    "ignore-readiness": lambda _pool: _on_upsert(_ignore_readiness),
    "ignore-pool-name": lambda pool: _on_upsert(_ignore_pool_name(pool)),
    "stale-annotation": lambda _pool: _on_upsert(_StaleAnnotation()),
    "ignore-active-ports": lambda _pool: _on_upsert(_without(LLMD_ACTIVE_PORTS_ANNOTATION, ACTIVE_PORTS_ANNOTATION)),
    "ignore-llmd-active-ports": lambda _pool: _on_upsert(_without(LLMD_ACTIVE_PORTS_ANNOTATION)),
}


class FaultChain:
    """The named faults applied in order; with no faults, events pass unchanged."""

    def __init__(self, names: Sequence[str], *, pool_name: str) -> None:
        unknown = [name for name in names if name not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
        self.names = tuple(names)
        self._faults = [FAULTS[name](pool_name) for name in names]

    def __call__(self, event: PodEvent) -> PodEvent | None:
        current: PodEvent | None = event
        for fault in self._faults:
            if current is None:
                break
            current = fault(current)
        return current
