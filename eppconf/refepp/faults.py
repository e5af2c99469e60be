"""Deliberately broken variants of the reference EPP (``--fault NAME``), for the project's own tests.

Each fault transforms the pod events the watch feeds to the datastore, the pool events, or both
(a ``Hooks``), and a few wrap the datastore as the reconciler sees it (never changing the
datastore itself), so that a conformance test can be shown to fail against the bug it is written
to catch:

- ``ignore-port-discovery``: pods behave as if the port-discovery annotation were absent.
- ``no-target-ports-fallback``: pods without the port-discovery annotation give no endpoints.
- ``keep-deleted-pods``: pod deletions and deletionTimestamp are ignored.
- ``ignore-readiness``: every pod is treated as Ready.
- ``ignore-pool-name``: port-discovery entries of every pool are used as if they named this pool.
- ``stale-annotation``: only the first port annotations ever seen for a pod are used.
- ``ignore-active-ports``: pods behave as if neither active-ports annotation were present.
- ``ignore-llmd-active-ports``: only the ``llm-d.ai/active-ports`` key is ignored.
- ``ignore-pool-updates``: the pool keeps the selector and targetPorts it was first seen with.
- ``ignore-selector-updates``: the pool keeps the selector it was first seen with.
- ``no-resync-on-pool-change``: after a pool change, each pod keeps the endpoints the old pool gave
  it until its next event.
- ``resync-drops-annotations``: a pool change re-evaluates every pod as if it had no annotations.
- ``keep-endpoints-without-pool``: pool deletions are ignored.
- ``drop-pod-events-without-pool``: pod events that arrive while there is no pool are lost.
- ``pool-read-once``: only the pool as first listed counts; later pool events are ignored.
- ``container-ports-without-target-ports``: in a pool without targetPorts, a pod without the
  port-discovery annotation gives its container ports.
- ``miss-some-deletes``: every third pod deletion is lost, its deletionTimestamp updates with it.
- ``drop-events-under-load``: a pod event is lost when ten or more arrived in the second before it.
- ``invalid-annotation-as-absent``: an invalid port-discovery annotation is dropped, so the pod
  falls back to active-ports or targetPorts.
- ``lenient-annotation``: the port-discovery annotation is read leniently: any JSON (``NaN`` and
  repeated members too), an object taken as a one-entry list, unknown members and attributes
  dropped, pool names trimmed and lower-cased, numbers taken from strings and fractions, entries
  still unusable skipped, duplicates and entries past the 64th dropped.
- ``keep-endpoints-on-invalid-annotation``: a port-discovery annotation that turns invalid is
  replaced by the pod's last valid one.
- ``ignore-namespace``: pods of every namespace are watched and count as pods of the pool's
  namespace (once a pool event has said which it is).
- ``ignore-deletion-timestamp``: a pod's deletionTimestamp is ignored (deletions still count).
- ``host-ip-fallback``: a pod without podIP is addressed at its status.hostIP.
- ``stale-labels``: only the first labels ever seen for a pod are used.
- ``stale-pod-ip``: each pod keeps the first podIP seen for it, also when it changes or is cleared.
- ``recreate-on-change``: every update of a pod already seen removes its endpoints; the update is
  applied (past any later fault) ``RECREATE_DELAY`` seconds later.
- ``ports-from-first-pod``: every pod gets the port annotations of the first pod seen: one port
  list for the whole pool, as targetPorts is (llm-d-router issue 2296).
- ``declared-ports-need-target-ports``: port-discovery entries only filter targetPorts, as
  active-ports does: a declared port outside targetPorts gives nothing (GIE issue 2562).
- ``endpoints-by-ip``: pods are told apart by IP, not by name: pods sharing an IP replace each
  other's endpoints, and deleting one removes the other's (GIE issue 2562).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from eppconf.datastore import Diff, Endpoint, EndpointKey, PodInfo, PodProblem, PoolSpec
from eppconf.portdiscovery import (
    ACTIVE_PORTS_ANNOTATION,
    LLMD_ACTIVE_PORTS_ANNOTATION,
    MAX_ENTRIES,
    PORT_DISCOVERY_ANNOTATION,
    PortDiscoveryError,
    parse_port_discovery,
)

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


Replay = Callable[[PodEvent], None]
#: Seconds ``recreate-on-change`` keeps a changed pod's endpoints away.
RECREATE_DELAY = 2.0


@runtime_checkable
class Replaying(Protocol):
    """A pod fault that applies some events later, through the reconciler's ``replay``."""

    def bind(self, replay: Replay) -> None: ...


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """The pool to set in, or delete from, the datastore (a Kubernetes JSON object)."""

    kind: Literal["set", "delete"]
    pool: Manifest


class PoolFault(Protocol):
    """A transform of pool events; returning None drops the event."""

    def __call__(self, event: PoolEvent) -> PoolEvent | None: ...


E = TypeVar("E", PodEvent, PoolEvent)


class Store(Protocol):
    """The datastore as the reconciler writes to it (``eppconf.datastore.Datastore``)."""

    @property
    def pool(self) -> PoolSpec | None: ...

    def set_pool(self, pool: PoolSpec) -> Diff: ...

    def delete_pool(self) -> Diff: ...

    def upsert_pod(self, pod: PodInfo) -> Diff: ...

    def delete_pod(self, namespace: str, name: str) -> Diff: ...

    def endpoints(self) -> Mapping[EndpointKey, Endpoint]: ...

    def problems(self) -> tuple[PodProblem, ...]: ...

    def pods(self) -> tuple[PodInfo, ...]: ...


@dataclass(frozen=True)
class Hooks:
    """A fault that reaches past pod events: any of a pod transform, a pool transform and a
    wrapper of the store."""

    pod: Fault | None = None
    pool: PoolFault | None = None
    store: Callable[[Store], Store] | None = None


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


def _port_discovery_entries(annotations: Mapping[str, str]) -> list[Any] | None:
    """The port-discovery annotation's JSON list; None when it is absent or not a JSON list."""
    try:
        entries = json.loads(annotations[PORT_DISCOVERY_ANNOTATION])
    except (KeyError, ValueError):
        return None
    return entries if isinstance(entries, list) else None


def _ignore_pool_name(pool_name: str) -> Callable[[PodEvent], PodEvent]:
    def change(event: PodEvent) -> PodEvent:
        annotations = dict(_annotations(event.pod))
        entries = _port_discovery_entries(annotations)
        if entries is None:
            return event
        renamed = [{**entry, "inferencePool": pool_name} if isinstance(entry, dict) else entry for entry in entries]
        annotations[PORT_DISCOVERY_ANNOTATION] = json.dumps(renamed)
        return _with_annotations(event, annotations)
    return change


def _declared_ports_need_target_ports(pool_name: str) -> Callable[[PodEvent], PodEvent]:
    """Port-discovery entries of this pool rewritten as an active-ports list, which filters targetPorts."""
    def change(event: PodEvent) -> PodEvent:
        annotations = dict(_annotations(event.pod))
        entries = _port_discovery_entries(annotations)
        if entries is None:
            return event
        ports = [str(entry.get("number")) for entry in entries
                 if isinstance(entry, dict) and entry.get("inferencePool") == pool_name]
        others = {key: value for key, value in annotations.items() if key not in _PORT_ANNOTATIONS}
        return _with_annotations(event, {**others, ACTIVE_PORTS_ANNOTATION: ",".join(ports)})
    return change


def _endpoints_by_ip(event: PodEvent) -> PodEvent:
    """The pod renamed to its IP, so that pods sharing an IP replace (and delete) each other."""
    ip = _pod_ip(event.pod)
    if ip is None:
        return event
    pod = copy.deepcopy(event.pod)
    pod.setdefault("metadata", {})["name"] = ip
    return PodEvent(event.kind, pod)


class _Sticky:
    """Remembers a part of each pod as first seen (``read``; ``None`` is not remembered) and puts
    it back into every later upsert of that pod (``write``). Pods with the same ``key`` (default:
    the pod name) share what the first of them showed."""

    def __init__(self, read: Callable[[Manifest], Any], write: Callable[[Manifest, Any], None], *,
                 key: Callable[[Manifest], str] | None = None) -> None:
        self._read = read
        self._write = write
        self._key = key or _pod_name
        self._first: dict[str, Any] = {}

    def __call__(self, event: PodEvent) -> PodEvent:
        name = self._key(event.pod)
        seen = self._read(event.pod)
        if seen is not None:
            self._first.setdefault(name, seen)
        if name not in self._first:
            return event
        pod = copy.deepcopy(event.pod)
        self._write(pod, self._first[name])
        return PodEvent(event.kind, pod)


def _pod_name(pod: Manifest) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def _port_annotations(pod: Manifest) -> dict[str, str]:
    annotations = _annotations(pod)
    return {key: annotations[key] for key in _PORT_ANNOTATIONS if key in annotations}


def _set_port_annotations(pod: Manifest, first: dict[str, str]) -> None:
    others = {key: value for key, value in _annotations(pod).items() if key not in _PORT_ANNOTATIONS}
    pod.setdefault("metadata", {})["annotations"] = {**others, **first}


def _labels(pod: Manifest) -> dict[str, str]:
    return dict((pod.get("metadata") or {}).get("labels") or {})


def _set_labels(pod: Manifest, labels: dict[str, str]) -> None:
    pod.setdefault("metadata", {})["labels"] = dict(labels)


def _pod_ip(pod: Manifest) -> str | None:
    return (pod.get("status") or {}).get("podIP") or None


def _set_pod_ip(pod: Manifest, ip: str) -> None:
    status = pod.setdefault("status", {})
    status["podIP"], status["podIPs"] = ip, [{"ip": ip}]


class _KeepFirstSpec:
    """Pool events keep the ``fields`` of ``spec`` as the first pool event had them."""

    def __init__(self, *fields: str) -> None:
        self._fields = fields
        self._first: dict[str, Any] | None = None

    def __call__(self, event: PoolEvent) -> PoolEvent:
        if event.kind != "set":
            return event
        pool = copy.deepcopy(event.pool)
        spec = pool.setdefault("spec", {})
        if self._first is None:
            self._first = {name: copy.deepcopy(spec[name]) for name in self._fields if name in spec}
            return event
        for name in self._fields:
            spec.pop(name, None)
        spec.update(copy.deepcopy(self._first))
        return PoolEvent(event.kind, pool)


def _first_pool_event_only() -> PoolFault:
    seen = False

    def fault(event: PoolEvent) -> PoolEvent | None:
        nonlocal seen
        if seen:
            return None
        seen = True
        return event
    return fault


class _PoolTracker:
    """Remembers the last pool event that got through (None: no pool)."""

    def __init__(self) -> None:
        self.spec: Manifest | None = None

    def __call__(self, event: PoolEvent) -> PoolEvent:
        self.spec = (event.pool.get("spec") or {}) if event.kind == "set" else None
        return event


def _drop_pod_events_without_pool() -> Hooks:
    pool = _PoolTracker()
    return Hooks(pod=lambda event: event if pool.spec is not None else None, pool=pool)


def _container_ports_without_target_ports(pool_name: str) -> Hooks:
    pool = _PoolTracker()

    def change(event: PodEvent) -> PodEvent:
        annotations = dict(_annotations(event.pod))
        if pool.spec is None or pool.spec.get("targetPorts") or PORT_DISCOVERY_ANNOTATION in annotations:
            return event
        containers = (event.pod.get("spec") or {}).get("containers") or []
        ports = [port.get("containerPort") for container in containers for port in container.get("ports") or []]
        annotations[PORT_DISCOVERY_ANNOTATION] = json.dumps([{"inferencePool": pool_name, "number": port}
                                                             for port in ports if isinstance(port, int)])
        return _with_annotations(event, annotations)
    return Hooks(pod=_on_upsert(change), pool=pool)


class _MissEveryNthDelete:
    """Loses every ``n``-th pod deletion whole: the deletionTimestamp updates and the delete event,
    as a handler that ignores the tombstone of a delete its watch missed."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._deletions = 0
        self._lost: dict[str, bool] = {}
        """Pods being deleted -> whether their deletion is lost."""

    def __call__(self, event: PodEvent) -> PodEvent | None:
        name = _pod_name(event.pod)
        if event.kind == "upsert" and not (event.pod.get("metadata") or {}).get("deletionTimestamp"):
            self._lost.pop(name, None)
            return event
        if name not in self._lost:
            self._deletions += 1
            self._lost[name] = self._deletions % self._n == 0
        lost = self._lost.pop(name) if event.kind == "delete" else self._lost[name]
        return None if lost else event


class _DropUnderLoad:
    """Loses a pod event when ``limit`` or more events arrived in the ``window`` seconds before it."""

    def __init__(self, *, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._arrivals: deque[float] = deque()

    def __call__(self, event: PodEvent) -> PodEvent | None:
        now = self._clock()
        while self._arrivals and self._arrivals[0] < now - self._window:
            self._arrivals.popleft()
        loaded = len(self._arrivals) >= self._limit
        self._arrivals.append(now)
        return None if loaded else event


class _StoreWrapper:
    """Passes every call to the wrapped store; subclasses change some."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    @property
    def pool(self) -> PoolSpec | None:
        return self._inner.pool

    def set_pool(self, pool: PoolSpec) -> Diff:
        return self._inner.set_pool(pool)

    def delete_pool(self) -> Diff:
        return self._inner.delete_pool()

    def upsert_pod(self, pod: PodInfo) -> Diff:
        return self._inner.upsert_pod(pod)

    def delete_pod(self, namespace: str, name: str) -> Diff:
        return self._inner.delete_pod(namespace, name)

    def endpoints(self) -> Mapping[EndpointKey, Endpoint]:
        return self._inner.endpoints()

    def problems(self) -> tuple[PodProblem, ...]:
        return self._inner.problems()

    def pods(self) -> tuple[PodInfo, ...]:
        return self._inner.pods()


class _NoResyncOnPoolChange(_StoreWrapper):
    """On a change of an existing pool, every pod's endpoints are frozen until its next event."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self._frozen: dict[str, list[Endpoint]] = {}

    def set_pool(self, pool: PoolSpec) -> Diff:
        if self._inner.pool is not None:
            current: dict[str, list[Endpoint]] = {pod.name: [] for pod in self._inner.pods()}
            for endpoint in self._inner.endpoints().values():
                current.setdefault(endpoint.pod_name, []).append(endpoint)
            for name, endpoints in current.items():
                self._frozen.setdefault(name, endpoints)
        return self._inner.set_pool(pool)

    def delete_pool(self) -> Diff:
        self._frozen.clear()
        return self._inner.delete_pool()

    def upsert_pod(self, pod: PodInfo) -> Diff:
        self._frozen.pop(pod.name, None)
        return self._inner.upsert_pod(pod)

    def delete_pod(self, namespace: str, name: str) -> Diff:
        self._frozen.pop(name, None)
        return self._inner.delete_pod(namespace, name)

    def endpoints(self) -> Mapping[EndpointKey, Endpoint]:
        live = {key: e for key, e in self._inner.endpoints().items() if e.pod_name not in self._frozen}
        return live | {endpoint.key: endpoint for frozen in self._frozen.values() for endpoint in frozen}


class _ResyncDropsAnnotations(_StoreWrapper):
    """A change of an existing pool re-reads every pod without its annotations."""

    def set_pool(self, pool: PoolSpec) -> Diff:
        changed = self._inner.pool is not None
        diff = self._inner.set_pool(pool)
        if changed:
            for pod in self._inner.pods():
                self._inner.upsert_pod(dataclasses.replace(pod, annotations={}))
        return diff


def _is_valid(value: str) -> bool:
    try:
        parse_port_discovery(value)
    except PortDiscoveryError:
        return False
    return True


def _invalid_annotation_as_absent(event: PodEvent) -> PodEvent:
    value = _annotations(event.pod).get(PORT_DISCOVERY_ANNOTATION)
    if value is None or _is_valid(value):
        return event
    return _without(PORT_DISCOVERY_ANNOTATION)(event)


def _lenient_annotation(event: PodEvent) -> PodEvent:
    annotations = dict(_annotations(event.pod))
    try:
        parsed = json.loads(annotations[PORT_DISCOVERY_ANNOTATION])  # Python's json takes NaN, repeats
    except (KeyError, ValueError):
        return event
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    for item in parsed if isinstance(parsed, list) else [parsed]:
        entry = _lenient_entry(item)
        if entry is not None:
            entries.setdefault((entry["inferencePool"], entry["number"]), entry)
    annotations[PORT_DISCOVERY_ANNOTATION] = json.dumps(list(entries.values())[:MAX_ENTRIES])
    return _with_annotations(event, annotations)


def _lenient_entry(item: Any) -> dict[str, Any] | None:
    """A valid ``{"inferencePool", "number"}`` made from whatever ``item`` holds, if it can be."""
    if not isinstance(item, dict) or "inferencePool" not in item or "number" not in item:
        return None
    try:
        entry = {"inferencePool": str(item["inferencePool"]).strip().lower(), "number": int(float(item["number"]))}
    except (TypeError, ValueError, OverflowError):
        return None
    return entry if _is_valid(json.dumps([entry])) else None


class _KeepLastValidAnnotation:
    """Replaces an invalid port-discovery annotation by the pod's last valid one, if it had one."""

    def __init__(self) -> None:
        self._valid: dict[str, str] = {}

    def __call__(self, event: PodEvent) -> PodEvent:
        name, annotations = _pod_name(event.pod), dict(_annotations(event.pod))
        value = annotations.get(PORT_DISCOVERY_ANNOTATION)
        if value is not None and _is_valid(value):
            self._valid[name] = value
        elif value is not None and name in self._valid:
            annotations[PORT_DISCOVERY_ANNOTATION] = self._valid[name]
            return _with_annotations(event, annotations)
        return event


class _IntoNamespace:
    """Moves every pod into ``namespace`` once that is known; the watch lists all namespaces."""

    watches_all_namespaces = True

    def __init__(self) -> None:
        self.namespace: str | None = None

    def __call__(self, event: PodEvent) -> PodEvent:
        if self.namespace is None:
            return event
        pod = copy.deepcopy(event.pod)
        pod.setdefault("metadata", {})["namespace"] = self.namespace
        return PodEvent(event.kind, pod)


def _ignore_namespace() -> Hooks:
    into = _IntoNamespace()

    def learn(event: PoolEvent) -> PoolEvent:
        into.namespace = (event.pool.get("metadata") or {}).get("namespace") or into.namespace
        return event
    return Hooks(pod=into, pool=learn)


def _ignore_deletion_timestamp(event: PodEvent) -> PodEvent:
    pod = copy.deepcopy(event.pod)
    pod.get("metadata", {}).pop("deletionTimestamp", None)
    return PodEvent(event.kind, pod)


def _host_ip_fallback(event: PodEvent) -> PodEvent:
    status = event.pod.get("status") or {}
    if status.get("podIP") or not status.get("hostIP"):
        return event
    pod = copy.deepcopy(event.pod)
    _set_pod_ip(pod, status["hostIP"])
    return PodEvent(event.kind, pod)


class _RecreateOnChange:
    """Turns each upsert of a pod already seen into its deletion and replays the upsert
    ``RECREATE_DELAY`` seconds later, unless a newer event of that pod came meanwhile."""

    def __init__(self) -> None:
        self._delay = RECREATE_DELAY
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._pending: dict[str, PodEvent] = {}
        self._replay: Replay | None = None

    def bind(self, replay: Replay) -> None:
        self._replay = replay

    def __call__(self, event: PodEvent) -> PodEvent:
        name = _pod_name(event.pod)
        with self._lock:
            self._pending.pop(name, None)
            if event.kind == "delete":
                self._seen.discard(name)
                return event
            if name not in self._seen or self._replay is None:
                self._seen.add(name)
                return event
            self._pending[name] = event
        timer = threading.Timer(self._delay, self._restore, (name, event))
        timer.daemon = True
        timer.start()
        return PodEvent("delete", event.pod)

    def _restore(self, name: str, event: PodEvent) -> None:
        with self._lock:
            if self._pending.get(name) is not event:
                return
            del self._pending[name]
        assert self._replay is not None  # set before any event was held back
        self._replay(event)


#: fault name -> factory taking the pool name
FAULTS: dict[str, Callable[[str], Fault | Hooks]] = {
    "ignore-port-discovery": lambda _pool: _on_upsert(_without(PORT_DISCOVERY_ANNOTATION)),
    "no-target-ports-fallback": lambda _pool: _on_upsert(_no_target_ports_fallback),
    "keep-deleted-pods": lambda _pool: _keep_deleted_pods,
    "ignore-readiness": lambda _pool: _on_upsert(_ignore_readiness),
    "ignore-pool-name": lambda pool: _on_upsert(_ignore_pool_name(pool)),
    "stale-annotation": lambda _pool: _on_upsert(_Sticky(_port_annotations, _set_port_annotations)),
    "ignore-active-ports": lambda _pool: _on_upsert(_without(LLMD_ACTIVE_PORTS_ANNOTATION, ACTIVE_PORTS_ANNOTATION)),
    "ignore-llmd-active-ports": lambda _pool: _on_upsert(_without(LLMD_ACTIVE_PORTS_ANNOTATION)),
    "ignore-pool-updates": lambda _pool: Hooks(pool=_KeepFirstSpec("selector", "targetPorts")),
    "ignore-selector-updates": lambda _pool: Hooks(pool=_KeepFirstSpec("selector")),
    "no-resync-on-pool-change": lambda _pool: Hooks(store=_NoResyncOnPoolChange),
    "resync-drops-annotations": lambda _pool: Hooks(store=_ResyncDropsAnnotations),
    "keep-endpoints-without-pool": lambda _pool: Hooks(pool=lambda event: event if event.kind == "set" else None),
    "drop-pod-events-without-pool": lambda _pool: _drop_pod_events_without_pool(),
    "pool-read-once": lambda _pool: Hooks(pool=_first_pool_event_only()),
    "container-ports-without-target-ports": _container_ports_without_target_ports,
    "miss-some-deletes": lambda _pool: _MissEveryNthDelete(3),
    "drop-events-under-load": lambda _pool: _DropUnderLoad(limit=10, window=1.0),
    "invalid-annotation-as-absent": lambda _pool: _on_upsert(_invalid_annotation_as_absent),
    "lenient-annotation": lambda _pool: _on_upsert(_lenient_annotation),
    "keep-endpoints-on-invalid-annotation": lambda _pool: _on_upsert(_KeepLastValidAnnotation()),
    "ignore-namespace": lambda _pool: _ignore_namespace(),
    "ignore-deletion-timestamp": lambda _pool: _on_upsert(_ignore_deletion_timestamp),
    "host-ip-fallback": lambda _pool: _on_upsert(_host_ip_fallback),
    "stale-labels": lambda _pool: _on_upsert(_Sticky(_labels, _set_labels)),
    "stale-pod-ip": lambda _pool: _on_upsert(_Sticky(_pod_ip, _set_pod_ip)),
    "recreate-on-change": lambda _pool: _RecreateOnChange(),
    "ports-from-first-pod": lambda _pool: _on_upsert(_Sticky(_port_annotations, _set_port_annotations,
                                                             key=lambda _pod: "")),
    "declared-ports-need-target-ports": lambda pool: _on_upsert(_declared_ports_need_target_ports(pool)),
    "endpoints-by-ip": lambda _pool: _endpoints_by_ip,
}


class FaultChain:
    """The named faults applied in order; with no faults, events pass unchanged."""

    def __init__(self, names: Sequence[str], *, pool_name: str) -> None:
        unknown = [name for name in names if name not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
        self.names = tuple(names)
        made = [FAULTS[name](pool_name) for name in names]
        hooks = [fault if isinstance(fault, Hooks) else Hooks(pod=fault) for fault in made]
        self._faults = [h.pod for h in hooks if h.pod is not None]
        self._pool_faults = [h.pool for h in hooks if h.pool is not None]
        self._stores = [h.store for h in hooks if h.store is not None]
        self.watches_all_namespaces = any(getattr(fault, "watches_all_namespaces", False) for fault in self._faults)
        """Whether the watch must list pods of every namespace, not only the pool's."""

    def bind(self, replay: Replay) -> None:
        """Give the faults that apply events later the reconciler's way in (past all faults)."""
        for fault in self._faults:
            if isinstance(fault, Replaying):
                fault.bind(replay)

    def __call__(self, event: PodEvent) -> PodEvent | None:
        return _through(self._faults, event)

    def pool(self, event: PoolEvent) -> PoolEvent | None:
        """``event`` through every pool fault in order; None when one drops it."""
        return _through(self._pool_faults, event)

    def store(self, store: Store) -> Store:
        """``store`` wrapped by every store fault, the first one innermost."""
        for wrap in self._stores:
            store = wrap(store)
        return store


def _through(faults: Sequence[Callable[[E], E | None]], event: E) -> E | None:
    """``event`` through ``faults`` in order, stopping at the first that drops it."""
    current: E | None = event
    for fault in faults:
        if current is None:
            break
        current = fault(current)
    return current
