"""The harness kubelet for local mode: pods as API objects whose ports fake servers serve.

No real kubelet runs: the harness creates each Pod, sets its status itself (phase, a unique
loopback pod IP, the Ready condition) and serves the pod's ports with fake model servers bound
to that IP. Deleting a pod deletes the object but keeps its servers until the test ends, so an
EPP that keeps routing to it is still seen doing so: EPPs must follow the API, not connectivity.

A port the pod is said not to serve (``closed``) gets a decoy instead: a fake that logs every
request and fails it with 502, as a gateway would for a port nothing listens on, and that the
observer probes like any other, so that an EPP giving the pod an endpoint there is seen. Pods may
share an IP (host-network model servers); a port at that IP is served once, by the pod that
serves it first. A launcher pod runs the fake FMA launcher, whose children serve its ports.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client

from conformance import manifests
from conformance.harness.launcher import LauncherPod
from conformance.harness.observer import ServedPort
from eppconf.controlplane import release_address_block, reserve_address_block
from eppconf.portdiscovery import PORT_DISCOVERY_ANNOTATION
from fakes import FakeRuntime

#: The finalizer that holds a pod ``terminate_pod`` deleted until the kubelet closes.
HOLD_FINALIZER = "eppconf.dev/hold"
#: Seconds a pod creation waits for a new namespace's ``default`` ServiceAccount.
SERVICE_ACCOUNT_WAIT = 10.0


class ServerRuntime(Protocol):
    """What the kubelet needs of ``fakes.FakeRuntime``."""

    def serve(self, address: str, port: int, config: Any) -> Any: ...

    def close(self, port: Any) -> None: ...


class AddressPool:
    """Hands out unique pod IPs from a ``127.N.0.0/16`` (never 127.0.0.1) claimed for this process.

    Each pool claims a block no other live process holds (``reserve_address_block``), so
    concurrent conformance runs and their pytest-xdist workers never share an address. ``close``
    gives the block back; a block of a process that died is taken over by the next claim.
    """

    def __init__(self, block: ipaddress.IPv4Network | None = None) -> None:
        self._claimed = block is None
        self.block = reserve_address_block() if block is None else block
        self._hosts = self.block.hosts()
        self._lock = threading.Lock()

    def allocate(self) -> str:
        """The next unused address; avoids .0 and .255 in the last octet."""
        with self._lock:
            for host in self._hosts:
                if host.packed[3] not in (0, 255):
                    return str(host)
        raise RuntimeError(f"pod address block {self.block} exhausted")

    def close(self) -> None:
        """Release the block if this pool claimed it."""
        if self._claimed:
            release_address_block(self.block)
            self._claimed = False

    def __enter__(self) -> AddressPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Pod:
    """A pod the kubelet runs: its IP, the ports it serves and the fake servers on them."""

    name: str
    ip: str
    ports: tuple[int, ...]
    servers: dict[int, Any] = field(default_factory=dict)
    decoys: dict[int, Any] = field(default_factory=dict)
    """The decoys on its closed ports."""

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
        """Pods deleted, and pods' former IPs: their servers run on until ``close``."""
        self._held: list[str] = []
        self._launchers: list[LauncherPod] = []

    def sibling(self, namespace: str) -> Kubelet:
        """A kubelet for another namespace, sharing this one's server runtime and pod addresses."""
        return Kubelet(self._core.api_client, namespace=namespace, runtime=self._runtime,
                       addresses=self._addresses, server_config=self._server_config)

    def create_pod(self, name: str, *, ports: Iterable[int], labels: Mapping[str, str],
                   annotations: Mapping[str, str] | None = None, ready: bool = True,
                   closed: Iterable[int] = (), ip: str | None = None, with_ip: bool = True) -> Pod:
        """Create a pod serving ``ports`` but ``closed`` (decoys there), start its servers, then
        publish its IP and readiness. ``ip``: another pod's, to share it; default a new one.
        ``with_ip=False`` leaves ``status.podIP`` unset (``publish_ip`` sets it later)."""
        if name in self._pods:
            raise ValueError(f"pod {name!r} already exists in namespace {self._namespace}")
        if ip is not None and not any(pod.ip == ip for pod in self._pods.values()):
            raise ValueError(f"pod {name!r} cannot share IP {ip}: no pod of namespace {self._namespace} has it")
        pod = Pod(name=name, ip=ip or self._addresses.allocate(), ports=())
        self._pods[name] = pod
        closed = set(closed)
        self.serve(name, set(ports) - closed)
        for port in sorted(closed):
            self.close_port(name, port)
        self._create(self._manifest(pod, labels, annotations or {}))
        status = _running_status(pod.ip, ready=ready)
        if not with_ip:
            del status["podIP"], status["podIPs"]
        self._patch_status(name, status)
        return pod

    def create_pods(self, names: Sequence[str], **options: Any) -> list[Pod]:
        """``create_pod`` for each name, with the same options."""
        return [self.create_pod(name, **options) for name in names]

    def create_launcher_pod(self, name: str, *, ports: Iterable[int], labels: Mapping[str, str],
                            api_port: int) -> LauncherPod:
        """Create a pod running the fake FMA launcher on ``api_port``; its children may serve
        ``ports``, decoys until they do. The launcher keeps the pod's port-discovery annotation."""
        if not isinstance(self._runtime, FakeRuntime):
            raise TypeError("launcher pods need the fakes' FakeRuntime to run the launcher and its children")
        pod = self.create_pod(name, ports=(), labels=labels, closed=ports,
                              annotations={PORT_DISCOVERY_ANNOTATION: "[]"})
        launcher = LauncherPod.start(self._runtime, pod, api_port=api_port, core=self._core,
                                     namespace=self._namespace, open_port=lambda port: self._open(pod.ip, port),
                                     close_port=lambda port: self.close_port(name, port))
        self._launchers.append(launcher)
        return launcher

    def serve(self, name: str, ports: Iterable[int]) -> None:
        """Start fake servers on those of ``ports`` the pod does not serve yet (a decoy there goes),
        but not on a port another pod at its IP serves."""
        pod = self._pods[name]
        for port in sorted(set(ports) - set(pod.servers)):
            if self._served_at(pod.ip, port, by_others_than=pod):
                continue
            self._open(pod.ip, port)
            pod.servers[port] = self._runtime.serve(pod.ip, port, self._server_config)
        pod.ports = tuple(sorted(pod.servers))

    def close_port(self, name: str, port: int) -> None:
        """Put a decoy on ``port`` of the pod, unless something answers there already."""
        pod = self._pods[name]
        if self._served_at(pod.ip, port) or any(port in other.decoys for other in self._at(pod.ip)):
            return
        decoy = self._runtime.serve(pod.ip, port, self._server_config)
        decoy.inject_failure(status=502, message=f"nothing of pod {name} listens on port {port}")
        pod.decoys[port] = decoy

    def _open(self, ip: str, port: int) -> None:
        """Stop the decoy on ``ip:port``, if there is one."""
        for pod in self._at(ip):
            if port in pod.decoys:
                self._runtime.close(pod.decoys.pop(port))

    def _at(self, ip: str) -> list[Pod]:
        return [pod for pod in [*self._pods.values(), *self._deleted] if pod.ip == ip]

    def _served_at(self, ip: str, port: int, *, by_others_than: Pod | None = None) -> bool:
        """Whether a server (a pod's, or a launcher child) other than a decoy answers on ``ip:port``."""
        return (any(port in pod.servers for pod in self._at(ip) if pod is not by_others_than)
                or any(served.address == ip and served.port == port
                       for launcher in self._launchers for served in launcher.served_ports()))

    def annotate(self, name: str, annotations: Mapping[str, str | None]) -> None:
        """Merge ``annotations`` into the pod's metadata; a ``None`` value removes that key."""
        patch_metadata(self._core, self._namespace, name, annotations=annotations)

    def relabel(self, name: str, labels: Mapping[str, str | None]) -> None:
        """Merge ``labels`` into the pod's metadata; a ``None`` value removes that label."""
        patch_metadata(self._core, self._namespace, name, labels=labels)

    def set_ready(self, name: str, ready: bool) -> None:
        """Set the pod's Ready condition; its servers keep running either way."""
        self._patch_status(name, {"conditions": [_ready_condition(ready)]})

    def delete_pod(self, name: str) -> None:
        """Delete the Pod object; its servers run on until ``close``."""
        pod = self._pods.pop(name)
        self._deleted.append(pod)
        self._core.delete_namespaced_pod(name, self._namespace, grace_period_seconds=0)

    def terminate_pod(self, name: str) -> None:
        """Delete the pod while a finalizer holds it: it stays, with a ``deletionTimestamp``, until
        ``close`` removes the finalizer; its servers run on."""
        self._core.patch_namespaced_pod(name, self._namespace, {"metadata": {"finalizers": [HOLD_FINALIZER]}})
        self._held.append(name)
        self.delete_pod(name)

    def publish_ip(self, name: str) -> None:
        """Set ``status.podIP`` to the pod's address (for a pod created ``with_ip=False``)."""
        self._set_pod_ip(name, self._pods[name].ip)

    def move_pod(self, name: str) -> None:
        """Give the pod a new IP, serving its ports there; the old IP's servers run on until ``close``."""
        pod = self._pods[name]
        self._deleted.append(Pod(pod.name, pod.ip, pod.ports, pod.servers, pod.decoys))
        ports, closed = pod.ports, sorted(pod.decoys)
        pod.ip, pod.ports, pod.servers, pod.decoys = self._addresses.allocate(), (), {}, {}
        self.serve(name, ports)
        for port in closed:
            self.close_port(name, port)
        self._set_pod_ip(name, pod.ip)

    def clear_ip(self, name: str) -> None:
        """Remove ``status.podIP``; the pod's servers run on."""
        self._core.patch_namespaced_pod_status(name, self._namespace, [
            {"op": "remove", "path": "/status/podIP"}, {"op": "remove", "path": "/status/podIPs"}])

    def _set_pod_ip(self, name: str, ip: str) -> None:
        # A JSON patch: a strategic merge patch would merge podIPs, keeping the old IP too.
        self._core.patch_namespaced_pod_status(name, self._namespace, [
            {"op": "add", "path": "/status/podIP", "value": ip},
            {"op": "add", "path": "/status/podIPs", "value": [{"ip": ip}]}])

    def served_ports(self) -> list[ServedPort]:
        """Every running fake server (decoys and launcher children too), of live and deleted pods:
        what the observer probes."""
        pods = [*self._pods.values(), *self._deleted]
        return ([ServedPort(pod.ip, port, server) for pod in pods
                 for port, server in [*pod.servers.items(), *pod.decoys.items()]]
                + [served for launcher in self._launchers for served in launcher.served_ports()])

    def close(self) -> None:
        """Delete the pods still there and stop every server; keeps going past errors."""
        errors: list[Exception] = []
        for launcher in self._launchers:
            try:
                launcher.stop()
            except Exception as err:  # noqa: BLE001 - every launcher and server must get its close call
                errors.append(err)
        for name in list(self._pods):
            try:
                self.delete_pod(name)
            except client.ApiException as err:
                errors.append(err)
        for name in self._held:
            try:
                self._core.patch_namespaced_pod(name, self._namespace, {"metadata": {"finalizers": None}})
            except client.ApiException as err:
                if err.status != 404:
                    errors.append(err)
        for pod in self._deleted:
            for server in [*pod.servers.values(), *pod.decoys.values()]:
                try:
                    self._runtime.close(server)
                except Exception as err:  # noqa: BLE001 - every server must get its close call
                    errors.append(err)
            pod.servers.clear()
            pod.decoys.clear()
        if errors:
            raise errors[0]

    def _manifest(self, pod: Pod, labels: Mapping[str, str],
                  annotations: Mapping[str, str]) -> dict[str, Any]:
        (body,) = manifests.load("pod.yaml")
        metadata = body["metadata"]
        metadata.update(name=pod.name, namespace=self._namespace, labels=dict(labels),
                        annotations={**metadata["annotations"], **annotations})
        body["spec"]["containers"][0]["ports"] = [{"containerPort": port} for port in pod.ports]
        return body

    def _create(self, manifest: dict[str, Any]) -> None:
        create_pod_object(self._core, self._namespace, manifest)

    def _patch_status(self, name: str, status: dict[str, Any]) -> None:
        self._core.patch_namespaced_pod_status(name, self._namespace, {"status": status})


def create_pod_object(core: client.CoreV1Api, namespace: str, manifest: dict[str, Any]) -> None:
    """Create the Pod object, waiting out a fresh namespace whose ``default`` ServiceAccount a
    cluster's controller-manager has not made yet (admission refuses pods until it exists)."""
    deadline = time.monotonic() + SERVICE_ACCOUNT_WAIT
    while True:
        try:
            core.create_namespaced_pod(namespace, manifest)
            return
        except client.ApiException as err:
            if err.status != 403 or "serviceaccount" not in str(err.body) or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def patch_metadata(core: client.CoreV1Api, namespace: str, name: str, *,
                   annotations: Mapping[str, str | None] | None = None,
                   labels: Mapping[str, str | None] | None = None) -> None:
    """Merge ``annotations`` and ``labels`` into the pod's metadata; a ``None`` value removes that key."""
    metadata = {key: dict(values) for key, values in (("annotations", annotations), ("labels", labels))
                if values is not None}
    core.patch_namespaced_pod(name, namespace, {"metadata": metadata})


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
