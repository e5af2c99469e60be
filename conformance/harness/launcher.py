"""Launcher pods: the fake FMA launcher (what ``eppconf fake-launcher`` runs) in a pod of the kubelet.

The launcher serves FMA's instance API at the pod IP and keeps the pod's port-discovery annotation
equal to its children. A test drives it as FMA's controller does: children are started and
stopped through the launcher API, put to sleep and woken through their own vLLM endpoints.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubernetes import client

from conformance.harness.observer import ServedPort
from fakes import FakeRuntime
from fakes.launcher import FakeLauncher, PodAnnotator

if TYPE_CHECKING:
    from conformance.harness.kubelet import Pod

#: Seconds one call to the launcher or a child may take.
CALL_TIMEOUT = 30.0


class LauncherError(RuntimeError):
    """The launcher or a child refused a call; the message names the call and the answer."""


class LauncherPod:
    """A pod whose container is the fake launcher; its children serve some of the pod's ports.

    ``open_port`` and ``close_port`` tell the kubelet that a child is about to serve a port, or
    has stopped serving it (a decoy takes its place).
    """

    def __init__(self, pod: Pod, launcher: FakeLauncher, *, open_port: Callable[[int], None],
                 close_port: Callable[[int], None]) -> None:
        self.pod = pod
        self._launcher = launcher
        self._open_port = open_port
        self._close_port = close_port

    @classmethod
    def start(cls, runtime: FakeRuntime, pod: Pod, *, api_port: int, core: client.CoreV1Api, namespace: str,
              open_port: Callable[[int], None], close_port: Callable[[int], None]) -> LauncherPod:
        """Start the launcher API on ``pod.ip:api_port``; its children bind the pod IP too."""
        annotator = PodAnnotator(core, pod_name=pod.name, namespace=namespace)
        launcher = FakeLauncher(runtime, host=pod.ip, port=api_port, child_host=pod.ip, annotator=annotator)
        launcher.start()
        return cls(pod, launcher, open_port=open_port, close_port=close_port)

    def start_child(self, instance_id: str, *, port: int, pool: str) -> None:
        """Start a vLLM child on ``port`` for ``pool`` (``PUT /v2/vllm/instances/{id}``); returns once
        the launcher has written the annotation."""
        self._open_port(port)
        self._call("PUT", f"{self._launcher.base_url}/v2/vllm/instances/{instance_id}",
                   {"options": f"--port {port}", "inferencePool": pool})

    def stop_child(self, instance_id: str) -> None:
        """Stop a child (``DELETE /v2/vllm/instances/{id}``); a decoy then answers on its port."""
        port = self._child_port(instance_id)
        self._call("DELETE", f"{self._launcher.base_url}/v2/vllm/instances/{instance_id}")
        self._close_port(port)

    def sleep(self, instance_id: str, *, level: int = 1) -> None:
        """Put a child to sleep through its own ``POST /sleep``."""
        self._call("POST", f"{self._child_url(instance_id)}/sleep?level={level}")

    def wake_up(self, instance_id: str) -> None:
        """Wake a child through its own ``POST /wake_up``."""
        self._call("POST", f"{self._child_url(instance_id)}/wake_up")

    def endpoint(self, instance_id: str) -> str:
        """``ip:port`` of a running child."""
        return f"{self.pod.ip}:{self._child_port(instance_id)}"

    def served_ports(self) -> list[ServedPort]:
        """The running children, as the observer probes them."""
        return [ServedPort(self.pod.ip, instance.port.port, instance.port)
                for instance in list(self._launcher.instances.values())]

    def stop(self) -> None:
        """Stop every child and the launcher API."""
        self._launcher.stop()

    def _child_port(self, instance_id: str) -> int:
        instance = self._launcher.instances.get(instance_id)
        if instance is None:
            raise LauncherError(f"launcher pod {self.pod.name} has no child {instance_id!r} "
                                f"(children: {', '.join(self._launcher.instances) or 'none'})")
        return int(instance.port.port)

    def _child_url(self, instance_id: str) -> str:
        return f"http://{self.endpoint(instance_id)}"

    def _call(self, method: str, url: str, body: Any = None) -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=CALL_TIMEOUT):
                return
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            error.close()
            raise LauncherError(f"{method} {url} answered {error.code}: {detail}") from None
        except OSError as error:
            raise LauncherError(f"{method} {url} failed: {error}") from None
