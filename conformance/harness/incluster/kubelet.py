"""``ClusterKubelet``: the in-cluster topology's kubelet, the harness kubelet's interface over real pods.

Each pod runs ``eppconf fake-server`` from the fakes' image on its pod IP, scheduled and run by
the cluster (``schedulerName`` default), Ready through a readiness probe on its pod-control port;
the harness flips that probe, opens ports and puts decoys on closed ones through the pod-control
API, and steers and reads each port through its control API, both through the agent.

What only the harness kubelet can do (choose, change or clear a pod IP, keep a deleted pod's
Ready condition, run launcher pods) raises ``VirtualPodsOnly``: a test that needs it declares so
in the catalogue and is reported not applicable to this topology instead of running.

A deleted pod's container goes with it, but its endpoints stay candidates of the observer: probes
with its ``ip:port`` as subset hint, without steering, so an EPP that keeps routing there is seen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import NoReturn

from kubernetes import client

from conformance.harness.incluster.pods import is_ready, running_with_ip, wait_for_pod
from conformance.harness.incluster.render import POD_CONTROL_PORT, model_server_pod
from conformance.harness.kubelet import Pod, create_pod_object, patch_metadata
from conformance.harness.launcher import LauncherPod
from conformance.harness.observer import ServedPort
from fakes import ControlClient, ControlError, PodControlClient, RequestRecord, ScrapeRecord

POD_START_TIMEOUT = 300.0
"""Seconds a pod gets to be Running with an IP (and Ready, if asked), and a readiness flip to show:
one created while a test beside it starts a hundred waits its turn on the node (a pod that cannot
start, its image missing say, fails at once)."""
POD_START_SHARE = 3.0
"""Seconds each pod of a batch adds to the time every pod of that batch gets beyond
``POD_START_TIMEOUT``: the pods start side by side, one Python interpreter each, and on 2 cores a
hundred of them take minutes, the first as long as the last."""


class VirtualPodsOnly(RuntimeError):
    """A test asked for what only the harness kubelet of the virtual-pod topology can do."""


class GoneControl:
    """The ``FakeControl`` of a port of a deleted pod: nothing serves it any more, so there is nothing
    to steer and no scrape or request to read; the observer still probes it with its subset hint."""

    def set_metrics(self, *, waiting: float | None = None, running: float | None = None,
                    kv_cache_usage: float | None = None) -> None:
        return None

    def clear_metrics(self) -> None:
        return None

    def scrapes(self, *, since: float = 0.0) -> list[ScrapeRecord]:
        return []

    def requests(self) -> list[RequestRecord]:
        return []

    def reset_logs(self) -> None:
        return None

    def sleep(self, level: int = 1) -> None:
        self._gone()

    def wake_up(self) -> None:
        self._gone()

    def is_sleeping(self) -> bool:
        self._gone()

    def inject_failure(self, *, scope: str = "inference", status: int = 500, latency: float = 0.0,
                       count: int | None = None, message: str = "injected failure") -> None:
        self._gone()

    def clear_failures(self) -> None:
        self._gone()

    @staticmethod
    def _gone() -> NoReturn:
        raise ControlError("the pod of this port was deleted; its servers went with it")


class ClusterKubelet:
    """Creates, readies, un-readies and deletes real pods in one namespace. ``proxy_url`` is the
    agent's proxy, through which every control call goes."""

    def __init__(self, api: client.ApiClient, *, namespace: str, image: str, proxy_url: str,
                 start_timeout: float = POD_START_TIMEOUT) -> None:
        self._core = client.CoreV1Api(api)
        self._namespace = namespace
        self._image = image
        self._proxy_url = proxy_url
        self._start_timeout = start_timeout
        self._pods: dict[str, Pod] = {}
        self._deleted: list[Pod] = []
        self._clients: dict[str, ControlClient] = {}
        """Every control client made, by base URL: each keeps a connection open until ``close``."""

    def sibling(self, namespace: str) -> ClusterKubelet:
        """A kubelet for another namespace, through the same agent."""
        return ClusterKubelet(self._core.api_client, namespace=namespace, image=self._image,
                              proxy_url=self._proxy_url, start_timeout=self._start_timeout)

    def create_pod(self, name: str, *, ports: Iterable[int], labels: Mapping[str, str],
                   annotations: Mapping[str, str] | None = None, ready: bool = True,
                   closed: Iterable[int] = (), ip: str | None = None, with_ip: bool = True) -> Pod:
        """Create a pod serving ``ports`` but ``closed`` (decoys there) and wait until it runs with an
        IP, its servers listen and its Ready condition is ``ready``."""
        (pod,) = self.create_pods([name], ports=ports, labels=labels, annotations=annotations, ready=ready,
                                  closed=closed, ip=ip, with_ip=with_ip)
        return pod

    def create_pods(self, names: Sequence[str], *, ports: Iterable[int], labels: Mapping[str, str],
                    annotations: Mapping[str, str] | None = None, ready: bool = True,
                    closed: Iterable[int] = (), ip: str | None = None, with_ip: bool = True) -> list[Pod]:
        """``create_pod`` for each name: every Pod object is created first, then each one awaited, so
        that the pods start side by side."""
        if ip is not None:
            _virtual_only("a pod sharing another pod's IP (host_ip_of)")
        if not with_ip:
            _virtual_only("a pod without a pod IP (with_ip=False)")
        taken = [name for name in names if name in self._pods]
        if taken or len(set(names)) != len(names):
            raise ValueError(f"pods {sorted(taken) or list(names)} already exist, or are named twice, in"
                             f" namespace {self._namespace}")
        closed = set(closed)
        serving = set(ports) - closed
        since = time.monotonic()
        for name in names:
            create_pod_object(self._core, self._namespace, model_server_pod(
                name=name, namespace=self._namespace, image=self._image, labels=labels,
                annotations=annotations or {}, serving=serving, decoys=closed, ready=ready))
        timeout = self._start_timeout + POD_START_SHARE * (len(names) - 1)
        return [self._await_start(name, serving=serving, closed=closed, ready=ready, since=since, timeout=timeout)
                for name in names]

    def _await_start(self, name: str, *, serving: set[int], closed: set[int], ready: bool, since: float,
                     timeout: float) -> Pod:
        """Wait until the created pod runs with an IP, its servers listen and it is Ready as asked;
        ``timeout`` seconds from ``since`` for the first of these."""
        started = wait_for_pod(self._core, self._namespace, name, what="it runs with an IP",
                               until=lambda pod: running_with_ip(pod) and (is_ready(pod) or not ready),
                               timeout=timeout, since=since)
        pod = Pod(name=name, ip=started.status.pod_ip, ports=tuple(sorted(serving)))
        self._pods[name] = pod
        self._wait_for_servers(pod)
        pod.servers = {port: self._control(pod, port) for port in serving}
        pod.decoys = {port: self._control(pod, port) for port in closed}
        return pod

    def create_launcher_pod(self, name: str, *, ports: Iterable[int], labels: Mapping[str, str],
                            api_port: int) -> LauncherPod:
        _virtual_only("a launcher pod")

    def serve(self, name: str, ports: Iterable[int]) -> None:
        """Start fake servers on those of ``ports`` the pod does not serve yet (a decoy there goes)."""
        pod = self._pods[name]
        new = set(ports) - set(pod.servers)
        if not new:
            return
        self._pod_control(pod).open_ports(serve=new)
        for port in new:
            pod.decoys.pop(port, None)
            pod.servers[port] = self._control(pod, port)
        pod.ports = tuple(sorted(pod.servers))

    def close_port(self, name: str, port: int) -> None:
        """Put a decoy on ``port`` of the pod, unless something answers there already."""
        pod = self._pods[name]
        if port in pod.servers or port in pod.decoys:
            return
        self._pod_control(pod).open_ports(close=[port])
        pod.decoys[port] = self._control(pod, port)

    def annotate(self, name: str, annotations: Mapping[str, str | None]) -> None:
        patch_metadata(self._core, self._namespace, name, annotations=annotations)

    def relabel(self, name: str, labels: Mapping[str, str | None]) -> None:
        patch_metadata(self._core, self._namespace, name, labels=labels)

    def set_ready(self, name: str, ready: bool) -> None:
        """Make the pod's readiness probe pass or fail, and wait until its Ready condition follows."""
        self._pod_control(self._pods[name]).set_ready(ready)
        wait_for_pod(self._core, self._namespace, name, until=lambda pod: is_ready(pod) == ready,
                     what=f"its Ready condition is {ready}", timeout=self._start_timeout)

    def delete_pod(self, name: str) -> None:
        """Delete the pod at once (grace period 0); its ports stay observer candidates."""
        pod = self._pods.pop(name)
        for control in [*pod.servers.values(), *pod.decoys.values(), self._pod_control(pod)]:
            control.close()
        gone = GoneControl()
        self._deleted.append(Pod(pod.name, pod.ip, pod.ports, dict.fromkeys(pod.servers, gone),
                                 dict.fromkeys(pod.decoys, gone)))
        self._core.delete_namespaced_pod(name, self._namespace, grace_period_seconds=0)

    def terminate_pod(self, name: str) -> None:
        _virtual_only("a deleted pod that keeps its Ready condition (terminate_pod)")

    def publish_ip(self, name: str) -> None:
        _virtual_only("publishing a pod IP (give_pod_ip)")

    def move_pod(self, name: str) -> None:
        _virtual_only("changing a pod's IP (move_pod)")

    def clear_ip(self, name: str) -> None:
        _virtual_only("clearing a pod's IP (clear_pod_ip)")

    def served_ports(self) -> list[ServedPort]:
        """Every port of live pods (servers and decoys) and of deleted ones: what the observer probes."""
        return [ServedPort(pod.ip, port, control) for pod in [*self._pods.values(), *self._deleted]
                for port, control in [*pod.servers.items(), *pod.decoys.items()]]

    def close(self) -> None:
        """Delete the pods still there (the namespace goes after the test anyway)."""
        errors: list[Exception] = []
        for name in list(self._pods):
            try:
                self.delete_pod(name)
            except client.ApiException as err:
                if err.status != 404:
                    errors.append(err)
        for control in self._clients.values():
            control.close()
        if errors:
            raise errors[0]

    def _wait_for_servers(self, pod: Pod) -> None:
        """Wait until the pod's fake-server answers its pod-control API (a pod not Ready may still be
        starting its interpreter)."""
        control = self._pod_control(pod)
        wait_for_pod(self._core, self._namespace, pod.name, until=lambda _: _answers(control),
                     what="its pod-control API answers", timeout=self._start_timeout)

    def _pod_control(self, pod: Pod) -> PodControlClient:
        url = f"http://{pod.ip}:{POD_CONTROL_PORT}"
        if url not in self._clients:
            self._clients[url] = PodControlClient(url, proxy=self._proxy_url)
        control = self._clients[url]
        assert isinstance(control, PodControlClient)
        return control

    def _control(self, pod: Pod, port: int) -> ControlClient:
        url = f"http://{pod.ip}:{port}"
        if url not in self._clients:
            self._clients[url] = ControlClient(url, proxy=self._proxy_url)
        return self._clients[url]


def _answers(control: PodControlClient) -> bool:
    try:
        control.ports()
    except ControlError:
        return False
    return True


def _virtual_only(what: str) -> NoReturn:
    raise VirtualPodsOnly(f"{what} needs the harness kubelet of the virtual-pod topology; a test that does"
                          " this must declare it in the catalogue (virtual_pods_only=...), so that the"
                          " in-cluster topology reports it not applicable")
