"""The harness kubelet for local mode: pods as API objects whose ports fake servers serve.

No real kubelet runs: the harness creates each Pod, sets its status itself (phase, a unique
loopback pod IP, the Ready condition) and serves the pod's ports with fake model servers bound
to that IP. Deleting a pod deletes the object but keeps its servers until the test ends, so an
EPP that keeps routing to it is still seen doing so: EPPs must follow the API, not connectivity.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client

from conformance import manifests
from conformance.harness.observer import ServedPort


#: Seconds a pod creation waits for a new namespace's ``default`` ServiceAccount.
SERVICE_ACCOUNT_WAIT = 10.0


class ServerRuntime(Protocol):
    """What the kubelet needs of ``fakes.FakeRuntime``."""

    def serve(self, address: str, port: int, config: Any) -> Any: ...

    def close(self, port: Any) -> None: ...


class AddressPool:
    """Hands out unique pod IPs from a /16 of 127/8 (never 127.0.0.1); one /16 per xdist worker."""

    def __init__(self, *, worker_index: int = 0, first_octet_base: int = 20) -> None:
        second = first_octet_base + worker_index
        if not 1 <= second <= 254:
            raise ValueError(f"worker index {worker_index} leaves no 127.x.0.0/16 block to allocate from")
        self._hosts = ipaddress.ip_network(f"127.{second}.0.0/16").hosts()
        self._lock = threading.Lock()

    def allocate(self) -> str:
        """The next unused address; avoids .0 and .255 in the last octet."""
        with self._lock:
            for host in self._hosts:
                if host.packed[3] not in (0, 255):
                    return str(host)
        raise RuntimeError("pod address block exhausted")


@dataclass
class Pod:
    """A pod the kubelet runs: its IP, the ports it serves and the fake servers on them."""

    name: str
    ip: str
    ports: tuple[int, ...]
    servers: dict[int, Any] = field(default_factory=dict)

    def endpoint(self, port: int) -> str:
        """``ip:port`` of one of its ports."""
        return f"{self.ip}:{port}"

    def endpoints(self, *ports: int) -> set[str]:
        """``ip:port`` of each of these ports."""
        return {self.endpoint(port) for port in ports}


class Kubelet:
    """Creates, readies, un-readies and deletes pods in one namespace and runs their servers."""

    def __init__(self, api: client.ApiClient, *, namespace: str, runtime: ServerRuntime,
                 addresses: AddressPool, server_config: Any) -> None:
        self._core = client.CoreV1Api(api)
        self._namespace = namespace
        self._runtime = runtime
        self._addresses = addresses
        self._server_config = server_config
        self._pods: dict[str, Pod] = {}
        self._deleted: list[Pod] = []

    def create_pod(self, name: str, *, ports: Iterable[int], labels: Mapping[str, str],
                   annotations: Mapping[str, str] | None = None, ready: bool = True) -> Pod:
        """Create a pod serving ``ports``, start its servers, then publish its IP and readiness."""
        if name in self._pods:
            raise ValueError(f"pod {name!r} already exists in namespace {self._namespace}")
        pod = Pod(name=name, ip=self._addresses.allocate(), ports=())
        self._pods[name] = pod
        self.serve(name, ports)
        self._create(self._manifest(pod, labels, annotations or {}))
        self._patch_status(name, _running_status(pod.ip, ready=ready))
        return pod

    def serve(self, name: str, ports: Iterable[int]) -> None:
        """Start fake servers on those of ``ports`` the pod does not serve yet."""
        pod = self._pods[name]
        for port in sorted(set(ports) - set(pod.ports)):
            pod.servers[port] = self._runtime.serve(pod.ip, port, self._server_config)
        pod.ports = tuple(sorted(pod.servers))

    def annotate(self, name: str, annotations: Mapping[str, str | None]) -> None:
        """Merge ``annotations`` into the pod's metadata; a ``None`` value removes that key."""
        self._core.patch_namespaced_pod(name, self._namespace, {"metadata": {"annotations": dict(annotations)}})

    def set_ready(self, name: str, ready: bool) -> None:
        """Set the pod's Ready condition; its servers keep running either way."""
        self._patch_status(name, {"conditions": [_ready_condition(ready)]})

    def delete_pod(self, name: str) -> None:
        """Delete the Pod object; its servers run on until ``close``."""
        pod = self._pods.pop(name)
        self._deleted.append(pod)
        self._core.delete_namespaced_pod(name, self._namespace, grace_period_seconds=0)

    def served_ports(self) -> list[ServedPort]:
        """Every running fake server, of live and deleted pods: what the observer probes."""
        return [ServedPort(pod.ip, port, server) for pod in [*self._pods.values(), *self._deleted]
                for port, server in pod.servers.items()]

    def close(self) -> None:
        """Delete the pods still there and stop every server; keeps going past errors."""
        errors: list[Exception] = []
        for name in list(self._pods):
            try:
                self.delete_pod(name)
            except client.ApiException as err:
                errors.append(err)
        for pod in self._deleted:
            for server in pod.servers.values():
                try:
                    self._runtime.close(server)
                except Exception as err:  # noqa: BLE001 - every server must get its close call
                    errors.append(err)
            pod.servers.clear()
        if errors:
            raise errors[0]

    def _manifest(self, pod: Pod, labels: Mapping[str, str],
                  annotations: Mapping[str, str]) -> dict[str, Any]:
        (body,) = manifests.load("pod.yaml")
        body["metadata"].update(name=pod.name, namespace=self._namespace, labels=dict(labels),
                                annotations=dict(annotations))
        body["spec"]["containers"][0]["ports"] = [{"containerPort": port} for port in pod.ports]
        return body

    def _create(self, manifest: dict[str, Any]) -> None:
        """Create the Pod object, waiting out a fresh namespace whose ``default`` ServiceAccount a
        cluster's controller-manager has not made yet (admission refuses pods until it exists)."""
        deadline = time.monotonic() + SERVICE_ACCOUNT_WAIT
        while True:
            try:
                self._core.create_namespaced_pod(self._namespace, manifest)
                return
            except client.ApiException as err:
                if err.status != 403 or "serviceaccount" not in str(err.body) or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def _patch_status(self, name: str, status: dict[str, Any]) -> None:
        self._core.patch_namespaced_pod_status(name, self._namespace, {"status": status})


def _ready_condition(ready: bool) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}


def _running_status(ip: str, *, ready: bool) -> dict[str, Any]:
    return {
        "phase": "Running",
        "hostIP": ip,
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": [_ready_condition(ready)],
    }
