"""The reference datastore: a pool and pod events in, endpoints and per-event diffs out."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

from eppconf.datastore._model import Diff, Endpoint, EndpointKey, PodInfo, PodKey, PodProblem, PoolSpec
from eppconf.datastore._rules import pod_endpoints


class Datastore:
    """Endpoints of one pool, kept by the spec as pods and the pool change. Thread-safe.

    Every pod event is remembered (pods of any namespace or labels), so a pool change can resync
    from them as an informer cache would. Each pod event recomputes only that pod's endpoints.
    Reads return immutable snapshots: writers never change a snapshot a reader holds.
    """

    def __init__(self, pool: PoolSpec | None = None) -> None:
        self._lock = threading.Lock()
        self._pool: PoolSpec | None = None
        self._pods: dict[PodKey, PodInfo] = {}
        self._by_pod: dict[PodKey, dict[int, Endpoint]] = {}
        self._endpoints: dict[EndpointKey, Endpoint] = {}
        self._problems: dict[PodKey, PodProblem] = {}
        self._snapshot: Mapping[EndpointKey, Endpoint] | None = None
        if pool is not None:
            self.set_pool(pool)

    @property
    def pool(self) -> PoolSpec | None:
        return self._pool

    def set_pool(self, pool: PoolSpec) -> Diff:
        """Set or change the pool: every remembered pod is re-evaluated (PD-23)."""
        with self._lock:
            self._pool = pool
            return self._resync()

    def delete_pool(self) -> Diff:
        """The pool is gone: every endpoint is removed; pods stay remembered (PD-24)."""
        with self._lock:
            self._pool = None
            return self._resync()

    def upsert_pod(self, pod: PodInfo) -> Diff:
        """A pod was added or changed: only its endpoints are recomputed (PD-18..PD-21)."""
        with self._lock:
            self._pods[pod.key] = pod
            return self._apply(pod.key, pod)

    def delete_pod(self, namespace: str, name: str) -> Diff:
        """A pod is gone: all its endpoints are removed (PD-22)."""
        key = (namespace, name)
        with self._lock:
            self._pods.pop(key, None)
            return self._apply(key, None)

    def endpoints(self) -> Mapping[EndpointKey, Endpoint]:
        """An immutable snapshot of every endpoint, keyed by (namespace, pod, port)."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = MappingProxyType(dict(self._endpoints))
            return self._snapshot

    def problems(self) -> tuple[PodProblem, ...]:
        """Pods of the pool whose port-discovery annotation is invalid, with the reasons (PD-9)."""
        with self._lock:
            return tuple(self._problems.values())

    def pods(self) -> tuple[PodInfo, ...]:
        """Every remembered pod."""
        with self._lock:
            return tuple(self._pods.values())

    def _apply(self, key: PodKey, pod: PodInfo | None) -> Diff:
        """Replace one pod's endpoints and problem; the diff against what it had."""
        new, problem = pod_endpoints(self._pool, pod) if pod is not None else ({}, None)
        if problem is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = problem
        old = self._by_pod.pop(key, {})
        if new:
            self._by_pod[key] = new
        if not old and not new:
            return Diff()
        added: list[Endpoint] = []
        removed: list[Endpoint] = []
        changed: list[Endpoint] = []
        for port, endpoint in new.items():
            before = old.get(port)
            if before == endpoint:
                continue
            (added if before is None else changed).append(endpoint)
            self._endpoints[endpoint.key] = endpoint
        for port, endpoint in old.items():
            if port not in new:
                removed.append(endpoint)
                del self._endpoints[endpoint.key]
        diff = Diff(tuple(added), tuple(removed), tuple(changed))
        if diff:
            self._snapshot = None
        return diff

    def _resync(self) -> Diff:
        """Re-evaluate every pod; the combined diff."""
        added: list[Endpoint] = []
        removed: list[Endpoint] = []
        changed: list[Endpoint] = []
        for key in set(self._by_pod) | set(self._pods) | set(self._problems):
            diff = self._apply(key, self._pods.get(key))
            added.extend(diff.added)
            removed.extend(diff.removed)
            changed.extend(diff.changed)
        return Diff(tuple(added), tuple(removed), tuple(changed))
