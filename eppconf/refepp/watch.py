"""List+watch of the InferencePool and its namespace's Pods, feeding the reference datastore.

Each resource runs in its own thread: a list gives the full state and a resourceVersion, a watch
from that version streams changes (with bookmarks); a watch that expires (410 Gone) triggers a
fresh list, and any other failure a retry with capped exponential backoff. The pool is watched by
``metadata.name`` field selector; pods are watched across the pool's namespace (all namespaces for
a fault that asks) without a label selector, because the datastore decides which pods match
(also when the selector changes).

The :class:`Reconciler` turns those lists and events into datastore calls (pod and pool events
through the configured faults first, into the datastore as the faults wrap it) and publishes the
resulting endpoints to the shared state.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from eppconf.datastore import Datastore, Endpoint, ManifestError, pod_from_manifest, pool_from_manifest
from eppconf.refepp.faults import FaultChain, Manifest, PodEvent, PoolEvent
from eppconf.refepp.picker import Candidate
from eppconf.refepp.state import EndpointState

log = logging.getLogger(__name__)

#: Server-side lifetime of one watch request (seconds); the watch then resumes from its version.
WATCH_SECONDS = 60
#: Client read timeout of a watch (seconds): longer than the server's, to catch dead connections.
READ_TIMEOUT = WATCH_SECONDS + 30
CONNECT_TIMEOUT = 5.0


def candidate_from_endpoint(endpoint: Endpoint) -> Candidate:
    """The picker's view of one datastore endpoint."""
    return Candidate(name=endpoint.name, pod_name=endpoint.pod_name, ip=endpoint.ip, port=endpoint.port,
                     labels=endpoint.labels)


class Backoff:
    """Capped exponential backoff with jitter: 0.1 s doubling to 5 s."""

    def __init__(self, *, initial: float = 0.1, cap: float = 5.0) -> None:
        self._initial = initial
        self._cap = cap
        self._next = initial

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the following one."""
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self._next = self._initial


class Reconciler:
    """Applies pool and pod lists and events to the datastore and publishes the endpoints."""

    def __init__(self, datastore: Datastore, state: EndpointState, *, faults: FaultChain) -> None:
        self._datastore = faults.store(datastore)
        self._state = state
        self._faults = faults
        self._lock = threading.Lock()
        self._pods: set[str] = set()
        self._pool_present = False
        self._pods_listed = False
        faults.bind(self._replayed)

    @property
    def watches_all_namespaces(self) -> bool:
        """Whether a fault wants pods of every namespace listed, not only the pool's."""
        return self._faults.watches_all_namespaces

    def pool_listed(self, items: list[Manifest]) -> None:
        """A fresh list of the pool (zero or one item)."""
        if items:
            self.pool_event("ADDED", items[0])
        else:
            self.pool_event("DELETED", {})

    def pool_event(self, kind: str, pool: Manifest) -> None:
        """A pool added, modified or deleted."""
        with self._lock:
            event = self._faults.pool(PoolEvent("delete" if kind == "DELETED" else "set", pool))
            if event is None:
                return
            spec = None
            if event.kind == "set":
                try:
                    spec = pool_from_manifest(event.pool)
                except ManifestError as error:
                    log.warning("ignoring the pool until it is valid: %s", error)
            if spec is None:
                self._datastore.delete_pool()
            else:
                self._datastore.set_pool(spec)
            self._pool_present = spec is not None
            self._publish()

    def pods_listed(self, items: list[Manifest]) -> None:
        """A fresh list of the namespace's pods: upsert them all, delete the ones that vanished."""
        with self._lock:
            listed = {_name(item) for item in items}
            for item in items:
                self._apply(PodEvent("upsert", item))
            for name in sorted(self._pods - listed):
                self._apply(PodEvent("delete", {"metadata": {"name": name, "namespace": self._state.pool_namespace}}))
            self._pods_listed = True
            self._publish()

    def pod_event(self, kind: str, pod: Manifest) -> None:
        """A pod added, modified or deleted."""
        with self._lock:
            self._apply(PodEvent("delete" if kind == "DELETED" else "upsert", pod))
            self._publish()

    def _replayed(self, event: PodEvent) -> None:
        """A pod event a fault held back, applied past the faults."""
        with self._lock:
            self._store(event)
            self._publish()

    def _apply(self, event: PodEvent) -> None:
        changed = self._faults(event)
        if changed is not None:
            self._store(changed)

    def _store(self, changed: PodEvent) -> None:
        name = _name(changed.pod)
        if changed.kind == "upsert":
            try:
                self._datastore.upsert_pod(pod_from_manifest(changed.pod))
                self._pods.add(name)
                return
            except ManifestError as error:
                log.warning("treating an unreadable pod as absent: %s", error)
        self._datastore.delete_pod(self._state.pool_namespace, name)
        self._pods.discard(name)

    def _publish(self) -> None:
        self._state.publish((candidate_from_endpoint(e) for e in self._datastore.endpoints().values()),
                            problems=self._datastore.problems())
        self._state.mark_synced(self._pool_present and self._pods_listed)


def _name(manifest: Manifest) -> str:
    return str((manifest.get("metadata") or {}).get("name", ""))


class Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


class ResourceWatch:
    """List+watch of one resource in a thread; ``call(**kwargs)`` is a kubernetes list function."""

    def __init__(self, *, name: str, call: Callable[..., Any], on_list: Callable[[list[Manifest]], None],
                 on_event: Callable[[str, Manifest], None], stopping: threading.Event) -> None:
        self.name = name
        self._call = call
        self._on_list = on_list
        self._on_event = on_event
        self._stopping = stopping
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        """Start listing and watching in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Interrupt the watch (``stopping`` must be set) and wait for the thread."""
        response = self._response
        if response is not None:
            response.shutdown()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = Backoff()
        version: str | None = None
        while not self._stopping.is_set():
            try:
                if version is None:
                    version = self._list()
                    log.info("listed %s at resourceVersion %s", self.name, version)
                version = self._watch(version)
                backoff.reset()
            except Gone:
                log.info("watch of %s expired (410 Gone); listing again", self.name)
                version = None
            except ApiException as error:
                if error.status == 410:
                    version = None
                    continue
                self._wait(backoff, f"HTTP {error.status} {error.reason}")
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                self._wait(backoff, str(error) or type(error).__name__)

    def _wait(self, backoff: Backoff, reason: str) -> None:
        if self._stopping.is_set():
            return
        delay = backoff.next_delay()
        log.warning("cannot list/watch %s from the Kubernetes API (%s); retrying in %.1fs", self.name, reason, delay)
        self._stopping.wait(delay)

    def _list(self) -> str:
        response = self._call(_preload_content=False, _request_timeout=(CONNECT_TIMEOUT, 30))
        try:
            document = json.loads(response.data)
        finally:
            response.release_conn()
        self._on_list(list(document.get("items") or []))
        return str(document["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str:
        """Stream events from ``version``; the version to resume from when the stream ends."""
        response = self._call(watch=True, resource_version=version, allow_watch_bookmarks=True,
                              timeout_seconds=WATCH_SECONDS, _preload_content=False,
                              _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        self._response = response
        try:
            for event in _events(response):
                if self._stopping.is_set():
                    break
                version = self._handle(event) or version
        finally:
            self._response = None
            response.release_conn()
        return version

    def _handle(self, event: dict[str, Any]) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise ValueError(f"watch error: {obj.get('message', obj)}")
        if kind != "BOOKMARK":
            self._on_event(str(kind), obj)
        return (obj.get("metadata") or {}).get("resourceVersion")


def _events(response: Any) -> Iterator[dict[str, Any]]:
    for line in response:
        if line.strip():
            yield json.loads(line)


def api_client(kubeconfig: str | None) -> kubernetes.client.ApiClient:
    """A client from ``kubeconfig`` when given, else the in-cluster service account.

    urllib3's own retries are off: the watch loop retries with its own backoff and log line.
    """
    configuration = kubernetes.client.Configuration()
    if kubeconfig:
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    configuration.retries = False
    return kubernetes.client.ApiClient(configuration)


def pool_version(group: str) -> str:
    """The InferencePool API version served under ``group``."""
    return "v1" if group == "inference.networking.k8s.io" else "v1alpha2"


def start_watches(client: kubernetes.client.ApiClient, reconciler: Reconciler, *, pool_name: str,
                  pool_namespace: str, pool_group: str, stopping: threading.Event) -> list[ResourceWatch]:
    """Start the pool and pod watches; stop them with ``stopping.set()`` then ``stop()`` on each."""
    custom = kubernetes.client.CustomObjectsApi(client)
    core = kubernetes.client.CoreV1Api(client)

    def list_pool(**kwargs: Any) -> Any:
        return custom.list_namespaced_custom_object(pool_group, pool_version(pool_group), pool_namespace,
                                                    "inferencepools", field_selector=f"metadata.name={pool_name}",
                                                    **kwargs)

    def list_pods(**kwargs: Any) -> Any:
        if reconciler.watches_all_namespaces:
            return core.list_pod_for_all_namespaces(**kwargs)
        return core.list_namespaced_pod(pool_namespace, **kwargs)

    watches = [
        ResourceWatch(name=f"InferencePool {pool_namespace}/{pool_name}", call=list_pool,
                      on_list=reconciler.pool_listed, on_event=reconciler.pool_event, stopping=stopping),
        ResourceWatch(name=f"pods in {pool_namespace}", call=list_pods, on_list=reconciler.pods_listed,
                      on_event=reconciler.pod_event, stopping=stopping),
    ]
    for watch in watches:
        watch.start()
    return watches
